# SPDX-License-Identifier: MIT
"""The replicated log on three real nodes, below the administrator's
commands: a write (PROTO_PROPOSE on the control socket, what rxmppctl's
user and callbridge commands send) on a follower goes to the leader, is
committed and applied on every node before it is answered; without a
quorum it is refused at once, naming the members that cannot be reached,
and is in no log; a node restarted reads its log back; a log damaged on
disk keeps the node from starting, naming the file and the byte."""

import os
import re
import socket
import struct

from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of, status

APPLIED, COMMITTED, REFUSED, UNKNOWN = range(4)


def _types():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "common", "proto.h")) as f:
        src = f.read()
    body = src[src.index("enum proto_type {"):src.index("PROTO_TYPE_END")]
    names = re.findall(r"\n\t(PROTO_[A-Z_]+)", body)
    return {n: i + 1 for i, n in enumerate(names)}


TYPES = _types()


def bridge_add(name, address, secret):
    """elector_machine.h's BRIDGE_ADD: format 1, op 4, three str8."""
    command = bytes([1, 4])
    for s in (name, address, secret):
        command += bytes([len(s)]) + s.encode()
    return command


def propose(node, command, timeout=20):
    """One PROPOSE on the node's control socket and its one answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(os.path.join(node.dir, "control.sock"))
        payload = struct.pack("<II", len(command), 0) + command
        s.sendall(struct.pack("<HHIQ", TYPES["PROTO_PROPOSE"], 0, 16 + len(payload), 0) +
                  payload)
        data = b""
        while len(data) < 16:
            chunk = s.recv(65536)
            assert chunk, "rxmppd closed the connection"
            data += chunk
        kind, _, length, _ = struct.unpack("<HHIQ", data[:16])
        while len(data) < length:
            chunk = s.recv(65536)
            assert chunk, "rxmppd closed the connection"
            data += chunk
    body = data[16:length]
    assert kind == TYPES["PROTO_PROPOSE_RESULT"], f"answered with type {kind}: {body!r}"
    st, outcome, index, term, applied, members, olen, tlen = struct.unpack("<IIQQIIII", body[:40])
    return {"status": st, "outcome": outcome, "index": index, "term": term, "applied": applied,
            "members": members, "outcome_text": body[40:40 + olen].decode(),
            "text": body[40 + olen:40 + olen + tlen].decode()}


def bridges_file(node):
    path = os.path.join(node.dir, "state", "cluster-callbridges")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def test_a_write_on_a_follower_is_applied_on_every_node(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    # Every member speaks protocol 4: the log leaves its membership-only mode.
    wait_until(lambda: all(status(n)["protocol"] == 4 for n in nodes), timeout=15,
               what="every node to speak protocol 4")
    leader = leader_of(nodes)
    follower = next(n for n in nodes if n is not leader)
    secret = "Aa1" * 8
    answer = propose(follower, bridge_add("cb1", "cb1.test.example", secret))
    assert answer["status"] == APPLIED, answer
    assert answer["outcome_text"] == "call bridge cb1 added"
    assert answer["applied"] == 3 and answer["members"] == 3
    # Answered only once applied everywhere: no waiting needed.
    for node in nodes:
        assert "cb1" in bridges_file(node), node.dir
    # The same again is the state machine's answer, the same from any node.
    again = propose(leader, bridge_add("cb1", "cb1.test.example", secret))
    assert again["status"] == APPLIED and again["index"] > answer["index"]
    assert "exists" in again["outcome_text"]
    assert secret not in again["outcome_text"] and secret not in again["text"]

    # A restarted node reads its log back and holds the same.
    follower.stop()
    os.unlink(os.path.join(follower.dir, "state", "cluster-callbridges"))
    follower.start()
    wait_until(lambda: "cb1" in bridges_file(follower), timeout=15,
               what="the restarted node to apply its log again")


def test_without_a_quorum_a_write_is_refused_and_in_no_log(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    wait_until(lambda: all(status(n)["protocol"] == 4 for n in nodes), timeout=15,
               what="every node to speak protocol 4")
    leader = leader_of(nodes)
    others = [n for n in nodes if n is not leader]
    for node in others:
        node.stop()
    log = os.path.join(leader.dir, "state", "log")
    before = os.path.getsize(log)
    answer = propose(leader, bridge_add("cb2", "cb2.test.example", "Bb2" * 8))
    assert answer["status"] == REFUSED, answer
    assert "nothing changed" in answer["text"]
    # Either the leader saw its quorum go (no leader any more) or it names
    # the members it cannot reach.
    assert ("cannot reach" in answer["text"] or "no leader" in answer["text"]), answer
    if "cannot reach" in answer["text"]:
        for node in others:
            assert node.cluster_address in answer["text"], answer
    assert answer["index"] == 0
    assert os.path.getsize(log) == before or "cb2" not in open(log, "rb").read().decode(
        "latin-1")
    assert "cb2" not in bridges_file(leader)


def test_a_damaged_log_keeps_the_node_from_starting(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    wait_until(lambda: all(status(n)["protocol"] == 4 for n in nodes), timeout=15,
               what="every node to speak protocol 4")
    follower = next(n for n in nodes if n is not leader_of(nodes))
    answer = propose(follower, bridge_add("cb3", "cb3.test.example", "Cc3" * 8))
    assert answer["status"] == APPLIED, answer
    follower.stop()
    log = os.path.join(follower.dir, "state", "log")
    with open(log, "r+b") as f:
        data = f.read()
        at = data.index(b"cb3.test.example")
        f.seek(at)
        f.write(b"X")
    follower.start(wait_ready=False)
    assert follower.proc.wait(timeout=30) == 78
    follower.reader.join(timeout=10)
    text = "\n".join(follower.lines)
    assert re.search(rf"{re.escape(log)}, byte \d+: the checksum of a record's bytes", text), text
    # rxmppctl says the same while the node is stopped.
    result = follower.ctl("status", check=False)
    assert re.search(rf"{re.escape(log)}, byte \d+: the checksum", result.stdout), result.stdout


def test_a_member_behind_the_snapshot_and_a_new_member_receive_it(node_factory, certs):
    # A snapshot every 10 entries: 25 writes compact the log twice.
    nodes = form_cluster(node_factory, certs, extra="  snapshot_entries: 10\n")
    wait_until(lambda: all(status(n)["protocol"] == 4 for n in nodes), timeout=15,
               what="every node to speak protocol 4")
    leader = leader_of(nodes)
    behind = next(n for n in nodes if n is not leader)
    behind.stop()
    mark = leader.log_mark()
    for i in range(25):
        answer = propose(leader, bridge_add(f"cb{i}", f"cb{i}.test.example", "Dd4" * 8))
        assert answer["status"] == APPLIED, answer
    leader.wait_log(r"elector\[\d+\]: snapshot at entry \d+ \(\d+ bytes\); the log behind it "
                    r"dropped", start=mark)
    # The member that missed the entries the snapshot replaced gets it, in
    # chunks, then the log after it.
    mark = behind.log_mark()
    behind.start()
    behind.wait_log(r"elector\[\d+\]: installed the leader's snapshot at entry \d+", start=mark,
                    timeout=15)
    wait_until(lambda: all(f"cb{i}" in bridges_file(behind) for i in range(25)), timeout=15,
               what="every bridge on the member that was behind")
    # A node that joins starts from the snapshot too.
    from test_cluster import cluster_node
    newcomer = cluster_node(node_factory, certs, extra="  snapshot_entries: 10\n").start()
    mark = newcomer.log_mark()
    assert "joined" in newcomer.ctl("cluster", "join", leader.cluster_address).stdout
    newcomer.wait_log(r"elector\[\d+\]: installed the leader's snapshot at entry \d+",
                      start=mark, timeout=15)
    wait_until(lambda: all(f"cb{i}" in bridges_file(newcomer) for i in range(25)), timeout=15,
               what="every bridge on the node that joined")
