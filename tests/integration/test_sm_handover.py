# SPDX-License-Identifier: MIT
"""XEP-0198 resumption on another node while the node that holds the
session is alive (issue 17, points 1 and 2: "on any node"): three real
nodes, client B on a follower (alice on the leader), or on the leader
(alice on a follower).  B's TCP connection is cut (a phone changing
networks) and B comes back to another node, as DNS SRV may send it: the
leader asks B's node (or its own listener) to hand the session over
(router/router_keep.h), and B resumes there with every message exactly
once and in order, both ways, including those sent to it while it was
away.  Then the same with B's old connection still open (B on a follower,
or on the leader): XEP-0198 section 5, the newer resumption wins and the
old connection gets the stream error conflict.  Before, all of them got
<item-not-found/>: the keeper resumed only sessions whose node had died."""

import asyncio
import re
import socket
import threading

import pytest

from raw import Raw
from rxmpp_node import wait_until
from test_cluster import cluster_with_accounts, until_reachable
from test_sm_failover import SM, SmClient, bodies
from test_stream_management import drain


def slixmpp_handover(node_factory, certs, b_on_leader):
    """B on a follower (kept by the leader), or on the leader (kept by a
    follower); alice on another node; B resumes on a third."""
    from xmpp import WAIT, Client, login, run

    leader, one, two = cluster_with_accounts(node_factory, certs)
    if b_on_leader:
        b_node, alice_node, new_node = leader, one, two
    else:
        b_node, alice_node, new_node = one, leader, two

    async def scenario():
        alice = await login(alice_node, "alice", "alice-pw", resource="a")
        bob = Client("bob@test.example/phone", "bob-pw", b_node.certs["ca"])
        bob.register_plugin("xep_0198")
        enabled = asyncio.get_event_loop().create_future()
        bob.add_event_handler("sm_enabled", lambda e: enabled.done() or enabled.set_result(e))
        bob.connect(address=("127.0.0.1", b_node.client_port))
        await asyncio.wait_for(bob.started, WAIT)
        await asyncio.wait_for(enabled, WAIT)
        sm = bob["xep_0198"]
        await until_reachable(alice, bob, "bob@test.example/phone")
        await until_reachable(bob, alice, "alice@test.example/a")
        errors = asyncio.Queue()
        alice.add_event_handler("message_error", errors.put_nowait)
        from_b = []

        async def collect():
            while True:
                message = await alice.inbox.get()
                if (message["body"] or "").startswith("b"):
                    from_b.append(message["body"])

        collector = asyncio.ensure_future(collect())
        to_b = []

        def take_b():
            while not bob.inbox.empty():
                body = bob.inbox.get_nowait()["body"] or ""
                if body.startswith("a"):
                    to_b.append(body)

        # Both ways before the cut; B's are acknowledged (slixmpp forgets
        # what it had not seen acknowledged when it resumes).
        for n in range(10):
            bob.send_message(mto="alice@test.example/a", mbody=f"b{n}", mtype="chat")
            alice.send_message(mto="bob@test.example/phone", mbody=f"a{n}", mtype="chat")
        await asyncio.sleep(0.5)
        sm.request_ack()
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_until(
            lambda: not sm.unacked_queue, timeout=WAIT, what="B's stanzas acknowledged"))
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_until(
            lambda: (take_b(), len(to_b) >= 10)[1], timeout=WAIT, what="a0..a9 at B"))
        mark_b, mark_leader, mark_new = b_node.log_mark(), leader.log_mark(), new_node.log_mark()
        # The connection dies under the client; its node notices the end.
        bob.transport.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        await asyncio.wait_for(bob.gone, WAIT)
        b_node.wait_log(r"client session bob@test\.example/phone keeps its place", start=mark_b)
        # Sent while B is away: held on B's node, which lives.
        for n in range(10, 20):
            alice.send_message(mto="bob@test.example/phone", mbody=f"a{n}", mtype="chat")
        await asyncio.sleep(0.5)
        resumed = asyncio.get_event_loop().create_future()
        bob.add_event_handler("session_resumed",
                              lambda e: resumed.done() or resumed.set_result(e))
        bob.gone = asyncio.get_event_loop().create_future()
        # B comes back to another node, as DNS SRV may send it.
        bob.connect(address=("127.0.0.1", new_node.client_port))
        try:
            await asyncio.wait_for(resumed, WAIT)
        except asyncio.TimeoutError:
            for node in (leader, one, two):
                print("\n".join(node.lines[-40:]))
            raise AssertionError("B did not resume on another node")
        b_node.wait_log(r"client session bob@test\.example/phone handed over to the node it "
                        r"resumes on \(\d+ stanzas not acknowledged go with it\)", start=mark_b)
        leader.wait_log(r"client session bob@test\.example/phone was handed over",
                        start=mark_leader)
        new_node.wait_log(r"resumed client session bob@test\.example/phone from what the "
                          r"cluster kept: 10 stanzas sent again", start=mark_new)
        # After: both ways on the new node.
        for n in range(10, 20):
            bob.send_message(mto="alice@test.example/a", mbody=f"b{n}", mtype="chat")
            alice.send_message(mto="bob@test.example/phone", mbody=f"a{n + 10}", mtype="chat")
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_until(
            lambda: (take_b(), len(to_b) >= 30 and len(from_b) >= 20)[1], timeout=WAIT,
            what="every message"))
        await asyncio.sleep(1.0)
        take_b()
        assert to_b == [f"a{n}" for n in range(30)], to_b
        assert from_b == [f"b{n}" for n in range(20)], from_b
        # Nothing went back to alice: the old node returned nothing.
        assert await drain(errors, quiet=0.5) == []
        assert not any("returned to their senders" in line for line in b_node.lines[mark_b:])
        collector.cancel()
        await bob.close()
        await alice.close()

    run(scenario(), timeout=180)



def test_slixmpp_cut_on_a_live_follower_resumes_on_the_other(node_factory, certs):
    slixmpp_handover(node_factory, certs, b_on_leader=False)


def test_slixmpp_cut_on_the_live_leader_resumes_on_a_follower(node_factory, certs):
    slixmpp_handover(node_factory, certs, b_on_leader=True)


@pytest.mark.parametrize("b_on", ["follower", "leader"])
def test_a_resumption_elsewhere_ends_the_live_connection_with_conflict(node_factory, certs, b_on):
    """B's old connection is still open (its server side has not noticed
    that it went, or the client opened a second one): the resumption on the
    other follower wins, the old connection gets the stream error conflict,
    and every message goes on once and in order.  B on a follower, or on
    the leader."""
    leader, one, two = cluster_with_accounts(node_factory, certs)
    a_node, b_node = (leader, one) if b_on == "follower" else (one, leader)
    a = SmClient(a_node.certs["ca"], "alice", "alice-pw", "a")
    a.connect(a_node)
    b = SmClient(b_node.certs["ca"], "bob", "bob-pw", "b")
    b.connect(b_node)
    # Probes from another resource of alice's: one sent before B's session
    # reached the leader comes back to it as an error, not to alice/a.
    probe = SmClient(a_node.certs["ca"], "alice", "alice-pw", "probe")
    probe.connect(a_node)
    wait_until(lambda: (probe.send(b.jid, "probe"), len(bodies(b.received, "probe")) > 0)[1],
               timeout=20, interval=0.5, what="alice reaching B across nodes")
    probe.close()
    for n in range(5):
        a.send(b.jid, f"x{n}")
        b.send(a.jid, f"y{n}")
    wait_until(lambda: len(bodies(b.received, "x")) == 5 and len(bodies(a.received, "y")) == 5,
               timeout=10, what="the first five both ways")
    # The old connection's stream, kept to see its end.
    old_raw, old_reader = b.raw, b.reader
    seen = bytearray()
    feed = b._feed

    def watch(data):
        seen.extend(data)
        feed(data)

    b._feed = watch
    mark_b = b_node.log_mark()
    new = Raw(two.client_port, b.ca, timeout=30)
    new.authenticate(b.user, b.password)
    new.send(f"<resume xmlns='{SM}' previd='{b.id}' h='{b.handled}'/>".encode())
    answer = new.read_until(b"/>")
    assert b"<resumed" in answer, f"resumption refused: {answer!r}"
    old_reader.join(10)
    assert not old_reader.is_alive(), "the old connection was not ended"
    assert b"<conflict" in bytes(seen), bytes(seen)[-300:]
    b_node.wait_log(r"resumed on another node", start=mark_b)
    # B goes on over the new connection, as SmClient.resume does.
    b._feed = feed
    old_raw.close()
    b.raw = new
    h = int(re.search(rb"h='(\d+)'", answer).group(1))
    b._acknowledged(h)
    new.sock.settimeout(None)
    leftover, new.received = new.received, b""
    b._start_reader(leftover)
    with b.lock:
        for _, data in b.unacked:
            b._write(data)
    for n in range(5, 10):
        a.send(b.jid, f"x{n}")
        b.send(a.jid, f"y{n}")
    wait_until(lambda: (b.request(), len(bodies(b.received, "x")) >= 10
                        and len(bodies(a.received, "y")) >= 10)[1],
               timeout=20, interval=0.5, what="every message")
    threading.Event().wait(1.0)
    assert bodies(b.received, "x") == [f"x{n}" for n in range(10)]
    assert bodies(a.received, "y") == [f"y{n}" for n in range(10)]
    assert [m for m in a.received + b.received if m[2] == "error"] == []
    a.close()
    b.close()
