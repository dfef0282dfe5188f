# SPDX-License-Identifier: MIT
"""The users' data on a node in no cluster (issue 18): its elector keeps
them in state_directory/local/ (elector/elector_local.h), written through
the same PROPOSE of USERDATA_* commands as in a cluster (the production
write path the IM process takes; sent here on the control socket as
test_userdata.py does) and read with `rxmppctl user data`.  Versions are
the local log's indexes, strictly increasing across restarts and
snapshots; a user without an account is refused; `user del` clears the
data; a damaged local log keeps the node from starting, naming the file
and the reason; `cluster initialize` and `cluster join` carry the data
into the cluster's state (item by item: a key the cluster holds already
keeps the cluster's item; test_userdata_merge.py has the harder cases)."""

import os
import re
import shutil
import struct

from rxmpp_node import wait_until
from test_cluster import cluster_node, status
from test_cluster_log import APPLIED, propose
from test_userdata import (APPEND, IDENTICAL, META, OFFLINE, OK, PUT, REFUSED, ROSTER, TAKE,
                           VCARD, data, userdata)

LONE = "cluster:\n  snapshot_entries: 10\n"


def under_gdb_env():
    """The environment of a program run under gdb: LeakSanitizer cannot work
    under ptrace and fails the program at exit (SANITIZE=1 builds), so its
    leak check is off there; the same code runs without gdb elsewhere."""
    options = os.environ.get("ASAN_OPTIONS", "")
    return dict(os.environ, ASAN_OPTIONS=(options + ":" if options else "") + "detect_leaks=0")


def local_write(node, command):
    answer = propose(node, command)
    assert answer["status"] == APPLIED and answer["members"] == 0, answer
    return answer


def test_a_lone_node_keeps_user_data_across_restarts_and_snapshots(node_factory):
    node = node_factory(extra=LONE).start()
    node.add_user("alice", "alice-pw")

    put = local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    assert put["outcome"] == OK and put["outcome_text"] == "user alice: roster item added", put
    assert put["index"] >= 1
    roster = (1, len(b"bob@test.example") + len(b"item-1"), put["index"])
    assert data(node, "alice")["roster"] == roster
    assert os.path.exists(os.path.join(node.dir, "state", "local", "log"))

    # Nothing to change, or refused: answered, nothing written.
    again = local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    assert again["outcome"] == IDENTICAL and again["index"] == 0, again
    nobody = local_write(node, userdata(PUT, "nobody", ROSTER, b"x@y", b""))
    assert nobody["outcome"] == REFUSED and nobody["outcome_text"] == "no user nobody", nobody

    first = local_write(node, userdata(APPEND, "alice", OFFLINE, value=b"<message>1</message>"))
    second = local_write(node, userdata(APPEND, "alice", OFFLINE, value=b"<message>2</message>"))
    assert first["index"] < second["index"]
    taken = local_write(node, userdata(TAKE, "alice", OFFLINE, struct.pack(">Q", first["index"])))
    assert taken["outcome_text"] == "user alice: 1 offline item taken", taken
    offline = (1, 8 + 20, taken["index"])

    # rxmppctl prints where it went.
    result = node.ctl("user", "data", "alice")
    assert "roster" in result.stdout and str(put["index"]) in result.stdout

    node.stop()
    node.start()
    held = data(node, "alice")
    assert held["roster"] == roster and held["offline"] == offline, held

    # More writes than snapshot_entries: the log is compacted behind a
    # snapshot; versions go on from the last index after a restart.
    for i in range(12):
        meta = local_write(node, userdata(PUT, "alice", META, b"k", b"%d" % i))
        assert meta["outcome"] == OK, meta
    node.wait_log(r"local: snapshot at entry \d+", what="a snapshot of the local store")
    assert os.path.exists(os.path.join(node.dir, "state", "local", "snapshot"))
    node.stop()
    node.start()
    held = data(node, "alice")
    assert held["roster"] == roster and held["meta"] == (1, 3, meta["index"]), held
    later = local_write(node, userdata(PUT, "alice", ROSTER, b"carol@test.example", b"item-2"))
    assert later["index"] > meta["index"], later
    assert data(node, "alice")["roster"][2] == later["index"]


def test_user_del_on_a_lone_node_clears_the_data(node_factory):
    node = node_factory(extra=LONE).start()
    node.add_user("alice", "alice-pw")
    local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    result = node.ctl("user", "del", "alice")
    assert "user alice deleted" in result.stdout
    assert "user alice: user data cleared" in result.stdout, result.stdout
    node.add_user("alice", "alice-pw")
    assert data(node, "alice")["roster"] == (0, 0, 0)
    # And it stays so after a restart (the clear is in the log).
    node.stop()
    node.start()
    assert data(node, "alice")["roster"] == (0, 0, 0)

    # rxmppd stopped: rxmppctl clears it in the store itself, so that the
    # account made again before the next start does not find it.
    local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    node.stop()
    result = node.ctl("user", "del", "alice")
    assert "user alice: user data cleared" in result.stdout, result.stdout
    node.add_user("alice", "alice-pw")
    node.start()
    assert data(node, "alice")["roster"] == (0, 0, 0)


def test_a_damaged_local_log_keeps_the_node_from_starting(node_factory):
    node = node_factory(extra=LONE).start()
    node.add_user("alice", "alice-pw")
    local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    local_write(node, userdata(PUT, "alice", ROSTER, b"carol@test.example", b"item-2"))
    node.stop()
    log = os.path.join(node.dir, "state", "local", "log")
    with open(log, "r+b") as f:
        content = f.read()
        f.seek(content.index(b"bob@test.example"))
        f.write(b"X")
    node.start(wait_ready=False)
    assert node.proc.wait(timeout=30) != 0
    node.reader.join(timeout=10)
    text = "\n".join(node.lines)
    assert re.search(rf"{re.escape(log)}, byte \d+: the checksum of a record's bytes.*"
                     r"restore it from a backup, or move the folder away", text), text
    # rxmppctl says the same while the node is stopped.
    result = node.ctl("status", check=False)
    assert re.search(rf"{re.escape(log)}, byte \d+: the checksum", result.stdout), result.stdout


def test_initialize_carries_the_local_user_data_into_the_cluster(node_factory, certs):
    # cluster.enabled, neither initialized nor joined: still the node's own store.
    node = cluster_node(node_factory, certs).start()
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    put = local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    local_write(node, userdata(APPEND, "alice", OFFLINE, value=b"<message>1</message>"))
    local_write(node, userdata(PUT, "bob", META, b"k", b"v"))
    roster = (1, len(b"bob@test.example") + len(b"item-1"), put["index"])
    assert data(node, "alice")["roster"] == roster

    # Initialize: the data becomes the cluster's, with the cluster's versions.
    out = node.ctl("cluster", "initialize").stdout
    assert "merged this node's own user data into the cluster's state: 2 users, 3 items" in out, out
    state = os.path.join(node.dir, "state")
    assert not os.path.exists(os.path.join(state, "local"))
    assert [d for d in os.listdir(state) if d.startswith("local.merged-")], os.listdir(state)
    alice = data(node, "alice")
    assert alice["roster"][:2] == roster[:2] and alice["roster"][2] > 0, alice
    assert alice["offline"][0] == 1 and data(node, "bob")["meta"][0] == 1
    assert "in the cluster's state" in node.ctl("user", "data", "alice").stdout

    # The merged offline message queues before one stored since.
    merged_at = alice["offline"][2]
    wait_until(lambda: status(node)["protocol"] == 4, timeout=15, what="protocol 4")
    later = propose(node, userdata(APPEND, "alice", OFFLINE, value=b"<message>2</message>"))
    assert later["status"] == APPLIED and later["members"] == 1 and later["index"] > merged_at
    taken = propose(node, userdata(TAKE, "alice", OFFLINE, struct.pack(">Q", merged_at)))
    assert taken["outcome_text"] == "user alice: 1 offline item taken", taken
    assert data(node, "alice")["offline"][0] == 1

    # The node restarted holds the cluster's data, not a local store.
    node.stop()
    node.start()
    assert data(node, "alice")["roster"][:2] == roster[:2]
    assert not os.path.exists(os.path.join(state, "local"))


def test_join_carries_the_local_user_data_and_keeps_the_clusters(node_factory, certs):
    first = cluster_node(node_factory, certs).start()
    first.add_user("carol", "carol-pw")
    joiner = cluster_node(node_factory, certs)
    # The same account, keys and all, on both: the join merges it as identical.
    shutil.copy(os.path.join(first.dir, "state", "accounts"),
                os.path.join(joiner.dir, "state", "accounts"))
    joiner.start()
    joiner.add_user("bob", "bob-pw")
    assert "initialized" in first.ctl("cluster", "initialize").stdout
    wait_until(lambda: status(first)["protocol"] == 4, timeout=15, what="protocol 4")
    held = propose(first, userdata(PUT, "carol", ROSTER, b"x@test.example", b"the cluster's"))
    assert held["status"] == APPLIED and held["outcome"] == OK, held

    local_write(joiner, userdata(PUT, "carol", ROSTER, b"z@test.example", b"the node's"))
    local_write(joiner, userdata(PUT, "carol", ROSTER, b"x@test.example", b"the node's old"))
    local_write(joiner, userdata(PUT, "bob", VCARD, b"v", b"card"))
    local_write(joiner, userdata(APPEND, "bob", OFFLINE, value=b"<message>1</message>"))

    out = joiner.ctl("cluster", "join", first.cluster_address).stdout
    assert "joined" in out
    # Item by item: carol's x@ is the cluster's (written there, later), her
    # z@ is carried.
    assert "merged this node's own user data into the cluster's state: 2 users, 3 items" in out
    assert ("; 1 item the cluster's state held already under the same key (written there "
            "since) kept the cluster's") in out, out
    carol = (2, len(b"x@test.example") * 2 + len(b"the cluster's") + len(b"the node's"))
    for node in (first, joiner):
        wait_until(lambda: isinstance(data(node, "bob"), dict) and
                   data(node, "bob")["offline"][0] == 1, timeout=15,
                   what="bob's data on every node")
        assert data(node, "carol")["roster"][:2] == carol
        assert data(node, "carol")["roster"][2] > held["index"]
        assert data(node, "bob")["vcard"][0] == 1
    state = os.listdir(os.path.join(joiner.dir, "state"))
    assert "local" not in state and [d for d in state if d.startswith("local.merged-")], state


def test_a_write_while_user_del_runs_does_not_reach_the_account_made_again(node_factory):
    # review18l F3: the still logged-in user's client writes while `user
    # del` runs (gdb holds rxmppctl as it saves the accounts file).  The old
    # order (clear, then the file) let that write survive into an account
    # made again at once; the file goes first now, and the clear after it.
    import subprocess
    import sys
    node = node_factory(extra=LONE).start()
    node.add_user("alice", "alice-pw")
    local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    write = userdata(PUT, "alice", ROSTER, b"carol@test.example", b"item-2")
    helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "userdata_propose.py")
    out = subprocess.run(
        ["gdb", "-q", "-batch", "-nx", "-ex", "break accounts_save", "-ex", "run",
         "-ex", f"shell {sys.executable} {helper} {node.dir} {write.hex()}", "-ex", "continue",
         "--args", os.path.join(node.bin, "rxmppctl"), "--config", node.config,
         "user", "del", "alice"], capture_output=True, text=True, timeout=120,
        env=under_gdb_env())
    print(out.stdout, out.stderr)
    assert "user alice deleted" in out.stdout
    assert "userdata_propose:" in out.stdout
    node.add_user("alice", "alice-pw")
    assert data(node, "alice")["roster"] == (0, 0, 0)


def test_user_del_whose_clear_cannot_be_done_keeps_the_account(node_factory):
    # rxmppd stopped and local/ held by another writer (its flock, as the
    # elector of an rxmppd starting meanwhile holds it): the data cannot be
    # cleared, so the account is put back and the deletion refused -- deleted,
    # it could be made again and find the old roster.
    import fcntl
    node = node_factory(extra=LONE).start()
    node.add_user("alice", "alice-pw")
    local_write(node, userdata(PUT, "alice", ROSTER, b"bob@test.example", b"item-1"))
    node.stop()
    folder = os.open(os.path.join(node.dir, "state", "local"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        result = node.ctl("user", "del", "alice", check=False)
    finally:
        os.close(folder)
    print(result.stdout, result.stderr)
    assert result.returncode == 1
    assert "in use by another process" in result.stderr, result.stderr
    assert "user alice not deleted: its data could not be cleared" in result.stderr
    assert "alice" in node.ctl("user", "list").stdout
    node.start()
    assert data(node, "alice")["roster"][0] == 1
