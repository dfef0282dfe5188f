# SPDX-License-Identifier: MIT
"""The users' data in the cluster's state (issue 18) on three real nodes.
Nothing in rxmpp writes it yet but the IM process to come, which sends
PROTO_PROPOSE with elector_machine.h's USERDATA_* commands: the test sends
those same bytes on a node's control socket (the production write path,
as test_cluster_log.py does for bridges) and reads the result with
`rxmppctl user data` on the other nodes (PROTO_USERDATA_GET, answered by
each node's elector from memory).  Versions are the log indexes of the
writes; quotas and unknown users are refused; `user del` clears the data
in the same entry; a node restarted with its log snapshotted holds it
again; outside a cluster `user data` reads the node's own store."""

import json
import struct

from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of, status
from test_cluster_log import APPLIED, propose

# elector_machine.h's ops and outcomes, elector_userdata.h's collections.
PUT, DEL, APPEND, TAKE, CLEAR = 11, 12, 13, 14, 15
OK, IDENTICAL, REFUSED = 0, 1, 2
ROSTER, OFFLINE, VCARD, BLOCK, META = 1, 2, 3, 4, 5


def _str16(raw):
    return struct.pack(">H", len(raw)) + raw


def userdata(op, user, collection=None, key=None, value=None, limit=(1000, 1 << 20)):
    """A USERDATA_* command as elector_machine.h lays it out."""
    command = bytes([1, op]) + _str16(user.encode())
    if op == CLEAR:
        return command
    command += bytes([collection])
    if op in (PUT, APPEND):
        command += struct.pack(">II", *limit)
    if op in (PUT, DEL, TAKE):
        command += _str16(key)
    if op in (PUT, APPEND):
        command += _str16(value)
    return command


def data(node, name):
    result = node.ctl("user", "data", name, "--json", check=False)
    if result.returncode != 0:
        return result.stderr
    answer = json.loads(result.stdout)
    return {c["name"]: (c["items"], c["bytes"], c["version"]) for c in answer["collections"]}


def test_user_data_written_on_one_node_is_read_on_the_others(node_factory, certs):
    nodes = form_cluster(node_factory, certs, extra="  snapshot_entries: 10\n")
    wait_until(lambda: all(status(n)["protocol"] == 4 for n in nodes), timeout=15,
               what="every node to speak protocol 4")
    leader = leader_of(nodes)
    follower, third = [n for n in nodes if n is not leader]
    leader.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")

    # A roster item written through a follower, read on the third node.
    put = propose(follower, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    assert put["status"] == APPLIED and put["outcome"] == OK, put
    assert put["outcome_text"] == "user alice: roster item added"
    roster = (1, len(b"bob@test.example") + len(b"item-1"), put["index"])
    assert data(third, "alice")["roster"] == roster
    assert data(leader, "alice")["vcard"] == (0, 0, 0)
    text = third.ctl("user", "data", "alice").stdout
    assert "roster" in text and str(put["index"]) in text and "item-1" not in text

    # The same value again changes nothing, the version neither.
    again = propose(third, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    assert again["outcome"] == IDENTICAL, again
    assert data(follower, "alice")["roster"] == roster

    # Offline messages: a queue in log order, taken up to a key.
    first = propose(leader, userdata(APPEND, "alice", OFFLINE, value=b"<message>1</message>"))
    second = propose(follower, userdata(APPEND, "alice", OFFLINE, value=b"<message>2</message>"))
    assert first["outcome"] == OK and second["outcome"] == OK
    assert data(third, "alice")["offline"][0] == 2
    taken = propose(third, userdata(TAKE, "alice", OFFLINE, struct.pack(">Q", first["index"])))
    assert taken["outcome_text"] == "user alice: 1 offline item taken", taken
    assert data(leader, "alice")["offline"] == (1, 8 + 20, taken["index"])

    # Quotas and unknown users: refused, nothing changed.
    over = propose(leader, userdata(PUT, "alice", BLOCK, b"x@y", b"", limit=(1, 2)))
    assert over["outcome"] == REFUSED
    assert over["outcome_text"] == "user alice: the block quota of 2 bytes would be exceeded (3 bytes)"
    nobody = propose(leader, userdata(PUT, "nobody", ROSTER, b"x@y", b""))
    assert nobody["outcome"] == REFUSED and nobody["outcome_text"] == "no user nobody"
    assert data(third, "alice")["block"] == (0, 0, 0)

    # A node restarted holds the same, from a snapshot of format 2 (more
    # than snapshot_entries entries applied) and the log after it.
    for i in range(12):
        meta = propose(leader, userdata(PUT, "alice", META, b"k", b"%d" % i))
        assert meta["outcome"] == OK, meta
    third.wait_log(r"snapshot at entry \d+", timeout=15, what="a snapshot on the third node")
    third.stop()
    third.start()
    wait_until(lambda: isinstance(data(third, "alice"), dict) and
               data(third, "alice")["roster"] == roster, timeout=15,
               what="the restarted node to hold alice's data again")

    # The account deleted: its data goes in the same entry, everywhere.
    assert data(third, "alice")["meta"] == (1, 3, meta["index"])
    result = follower.ctl("user", "del", "alice")
    assert "with 3 items of user data" in result.stdout, result.stdout
    # Committed by a majority when rxmppctl answers; a member applies it
    # when the leader's next message tells it the entry is committed.
    for node in nodes:
        wait_until(lambda: data(node, "alice") == "rxmppctl: no user alice in the cluster's state\n",
                   timeout=15, what=f"alice's data gone on {node.cluster_address}")
    leader.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    wait_until(lambda: isinstance(data(third, "alice"), dict), timeout=15,
               what="the account made again on the third node")
    assert data(third, "alice")["roster"] == (0, 0, 0)


def test_user_data_outside_a_cluster(node):
    # The node's own store answers (test_userdata_local.py writes to it).
    node.add_user("alice", "alice-pw")
    result = node.ctl("user", "data", "alice")
    assert "in this node's own store (it is in no cluster)" in result.stdout, result.stdout
    assert data(node, "alice")["roster"] == (0, 0, 0)
    result = node.ctl("user", "data", "nobody", check=False)
    assert result.returncode == 1
    assert "no user nobody in this node's own store" in result.stderr, result.stderr
