# SPDX-License-Identifier: MIT
"""A lone node's user data carried into a cluster (issue 18, review18l F1,
F2, F4): `cluster initialize`, `join` and `merge` carry it item by item
(rxmppctl/rxmppctl_userdata_merge.c), so a write in the cluster for the
same user, before or during the carry, keeps its own item and loses none
of the node's; a carry cut short and run again carries exactly the rest;
`cluster disable` on a member does not put an empty store in place of
the cluster's data.  rxmppctl runs under gdb so that a write, or its
death, lands at an exact point of the carry (userdata_propose.py is run
from gdb to write)."""

import os
import subprocess
import sys

from rxmpp_node import wait_until
from test_cluster import cluster_node, status
from test_cluster_log import APPLIED, propose
from test_cluster_log import REFUSED as NOT_COMMITTED
from test_userdata import APPEND, OFFLINE, OK, PUT, ROSTER, data, userdata
from test_userdata_local import local_write, under_gdb_env

HERE = os.path.dirname(os.path.abspath(__file__))


def ctl_under_gdb(node, gdb_commands, *args):
    cmd = ["gdb", "-q", "-batch", "-nx"]
    for c in gdb_commands:
        cmd += ["-ex", c]
    cmd += ["--args", os.path.join(node.bin, "rxmppctl"), "--config", node.config, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=under_gdb_env())


def write_from_gdb(node, command):
    return f"shell {sys.executable} {HERE}/userdata_propose.py {node.dir} {command.hex()}"


def local_folders(node):
    state = os.listdir(os.path.join(node.dir, "state"))
    return "local" in state, [d for d in state if d.startswith("local.merged-")]


def test_a_write_in_the_cluster_before_the_carry_loses_none_of_the_nodes_data(
        node_factory, certs):
    node = cluster_node(node_factory, certs).start()
    node.add_user("alice", "alice-pw")
    for contact in (b"a@test.example", b"b@test.example", b"c@test.example"):
        local_write(node, userdata(PUT, "alice", ROSTER, contact, b"item"))
    local_write(node, userdata(APPEND, "alice", OFFLINE, value=b"<message>kept</message>"))
    # The node is initialized; before rxmppctl gets to the user data, alice's
    # client sets two roster items in the cluster: a new one, and a newer
    # value of one this node holds.
    newer = userdata(PUT, "alice", ROSTER, b"d@test.example", b"item")
    same_key = userdata(PUT, "alice", ROSTER, b"a@test.example", b"renamed item")
    out = ctl_under_gdb(node, ["break rxmppctl_userdata_merge", "run",
                               write_from_gdb(node, newer), write_from_gdb(node, same_key),
                               "continue"],
                        "cluster", "initialize")
    print(out.stdout, out.stderr)
    assert out.stdout.count("userdata_propose: {'status': %d, 'outcome': %d" % (APPLIED, OK)) == 2
    assert "initialized" in out.stdout
    alice = data(node, "alice")
    # 4 roster items (a, b, c, d), a@ with the cluster's newer value, and the
    # offline message.
    item = len(b"x@test.example") + len(b"item")
    assert alice["roster"][:2] == (4, 4 * item + len(b"renamed ")), alice
    assert alice["offline"][0] == 1, alice
    assert "1 user, 3 items carried (" in out.stdout, out.stdout
    assert ("; 1 item the cluster's state held already under the same key (written there "
            "since) kept the cluster's") in out.stdout, out.stdout
    assert local_folders(node)[0] is False and local_folders(node)[1]


def test_a_carry_cut_short_and_run_again_carries_exactly_the_rest(node_factory, certs):
    node = cluster_node(node_factory, certs).start()
    node.add_user("alice", "alice-pw")
    contacts = [b"%c@test.example" % c for c in b"abcdef"]
    for contact in contacts:
        local_write(node, userdata(PUT, "alice", ROSTER, contact, b"item"))
    for n in range(3):
        local_write(node, userdata(APPEND, "alice", OFFLINE, value=b"<message>%d</message>" % n))
    # rxmppctl dies (Ctrl-C, ssh gone, OOM) as it is about to send its third
    # item: two are in the cluster.
    out = ctl_under_gdb(node, ["break rxmppctl_state_propose_silent", "run", "continue",
                               "continue", "kill"],
                        "cluster", "initialize")
    print(out.stdout, out.stderr)
    assert status(node)["members"], status(node)
    assert data(node, "alice")["roster"][0] == 2
    # Now it dies right after the cluster committed an item, before that item
    # is taken out of the node's store: the rerun finds it in the cluster.
    out = ctl_under_gdb(node, ["break elector_local_propose", "run", "kill"],
                        "cluster", "merge")
    print(out.stdout, out.stderr)
    assert data(node, "alice")["roster"][0] == 3
    assert local_folders(node)[0], "the folder stays while anything is left to carry"
    # Nothing reads local/ on a member: its elector says at start what is left
    # (c@, committed but not taken out, d@ e@ f@, 3 messages).
    node.stop()
    mark = node.log_mark()
    node.start()
    node.wait_log(r"local holds 7 items of this node's users' data .* not carried into the "
                  r"cluster's state: run `rxmppctl cluster merge`", start=mark)
    # What the failure message says to do: run cluster merge.
    again = node.ctl("cluster", "merge", check=False)
    print(again.stdout, again.stderr)
    assert again.returncode == 0, again.stderr
    assert "1 user, 6 items carried (" in again.stdout, again.stdout
    assert "; 1 item the cluster's state held already" in again.stdout, again.stdout
    alice = data(node, "alice")
    assert alice["roster"][0] == len(contacts) and alice["offline"][0] == 3, alice
    assert local_folders(node)[0] is False and local_folders(node)[1]


def test_cluster_disable_on_a_member_keeps_the_clusters_data_and_strands_nothing(
        node_factory, certs):
    node = cluster_node(node_factory, certs).start()
    node.add_user("alice", "alice-pw")
    assert "initialized" in node.ctl("cluster", "initialize").stdout
    wait_until(lambda: status(node)["protocol"] == 4, timeout=15, what="protocol 4")
    put = propose(node, userdata(PUT, "alice", ROSTER, b"a@test.example", b"in the cluster"))
    assert put["status"] == APPLIED and put["outcome"] == OK, put
    # "cluster disable: the node runs alone" -- but the users' data stays the
    # cluster's: not an empty store of this node's read in its place, nor
    # writes kept where the cluster never sees them.
    node.ctl("cluster", "disable")
    wait_until(lambda: "holds no cluster state" in str(data(node, "alice")), timeout=15,
               what="the elector back, disabled")
    meanwhile = propose(node, userdata(APPEND, "alice", OFFLINE, value=b"<message>x</message>"))
    print("write while disabled:", meanwhile)
    assert meanwhile["status"] == NOT_COMMITTED, meanwhile
    assert "holds a cluster's state" in meanwhile["text"], meanwhile
    node.ctl("cluster", "enable")
    wait_until(lambda: isinstance(data(node, "alice"), dict) and
               data(node, "alice")["roster"][0] == 1, timeout=15, what="cluster state back")
    assert data(node, "alice")["offline"][0] == 0
