# SPDX-License-Identifier: MIT
"""Offline messages (XEP-0160 behaviour, RFC 6121 8.5.2.2.1, XEP-0203
delay) with slixmpp clients.  On three nodes: bob is offline, alice (on a
follower) sends three chat messages and a headline; the three are in the
cluster's state, the leader is killed (-9), bob logs in on another node
and gets the three in order, each with a <delay/> from the domain, and not
the headline; a second login gets none.  On a lone node: the quota (the
201st message bounces service-unavailable, nothing is dropped silently)
and a message to an account that does not exist."""

import asyncio

from raw import Raw
from rxmpp_node import wait_until
from test_cluster import kill_node, leader_of
from test_presence import cluster_with_alice_and_bob
from test_roster import get_roster
from test_userdata import data
from xmpp import login, run

BOB = "bob@test.example"
DELAY = "{urn:xmpp:delay}delay"


async def sender(node, user, resource):
    """A client whose inbox also gets the errors that bounce its messages
    (slixmpp gives them to "message_error" handlers only)."""
    client = await login(node, user, f"{user}-pw", resource=resource)
    client.add_event_handler("message_error", client.inbox.put_nowait)
    return client


def offline_count(node, user):
    got = data(node, user)
    return got["offline"][0] if isinstance(got, dict) else None


async def nothing_more(client):
    """A roster get is answered by im after any offline delivery it had
    queued before it (one job at a time, one channel to the router): an
    empty inbox then means no further message is on its way."""
    await get_roster(client)
    assert client.inbox.empty(), client.inbox.get_nowait()


def test_offline_messages_survive_the_leader_and_come_with_a_delay(node_factory, certs):
    nodes, leader, first, second = cluster_with_alice_and_bob(node_factory, certs)

    async def store():
        alice = await sender(first, "alice", "a")
        for n, body in enumerate(("one", "two", "three")):
            m = alice.make_message(mto=BOB, mbody=body, mtype="chat")
            m["id"] = f"o{n}"
            m.send()
        headline = alice.make_message(mto=BOB, mbody="news", mtype="headline")
        headline.send()
        # Each is committed (no answer to the sender means stored).
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: wait_until(lambda: offline_count(second, "bob") == 3,
                                     what="three offline messages in the state"))
        assert alice.inbox.empty(), alice.inbox.get_nowait()
        await alice.close()

    run(store())
    kill_node(leader)
    wait_until(lambda: leader_of([first, second]) is not None, timeout=20, what="a new leader")
    assert offline_count(first, "bob") == 3

    async def deliver():
        deadline = asyncio.get_event_loop().time() + 30
        while True:
            try:
                bob = await login(second, "bob", "bob-pw", resource="b")
                got = [await bob.next_message() for _ in range(3)]
                break
            except (asyncio.TimeoutError, ConnectionError):
                # The new leader may still be taking over.
                assert asyncio.get_event_loop().time() < deadline
                await asyncio.sleep(1)
        assert [m["body"] for m in got] == ["one", "two", "three"]
        assert [m["id"] for m in got] == ["o0", "o1", "o2"]
        for m in got:
            assert m["type"] == "chat"
            assert str(m["from"]) == "alice@test.example/a"
            delay = m.xml.find(DELAY)
            assert delay is not None, m
            assert delay.get("from") == "test.example"
            assert len(delay.get("stamp")) == 20 and delay.get("stamp").endswith("Z")
        await nothing_more(bob)  # not the headline
        await bob.close()
        wait_until(lambda: offline_count(first, "bob") == 0, what="the messages taken")
        again = await login(first, "bob", "bob-pw", resource="c")
        await nothing_more(again)
        await again.close()

    run(deliver())


def test_a_full_queue_and_an_unknown_account_bounce(node):
    node.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    node.ctl_input(["user", "add", "bob", "--stdin"], "bob-pw\n")

    async def scenario():
        alice = await sender(node, "alice", "a")
        # 200 messages fit the default quota; the 201st bounces.
        for n in range(201):
            m = alice.make_message(mto=BOB, mbody=f"m{n}", mtype="normal")
            m["id"] = f"q{n}"
            m.send()
        error = await alice.next_message(timeout=60)
        assert error["type"] == "error" and error["id"] == "q200", error
        assert error["error"]["condition"] == "service-unavailable"
        assert str(error["from"]) == BOB

        # No such account: the same answer, as before offline storage.
        m = alice.make_message(mto="nobody@test.example", mbody="hi", mtype="chat")
        m["id"] = "nobody"
        m.send()
        error = await alice.next_message()
        assert error["id"] == "nobody" and error["error"]["condition"] == "service-unavailable"
        await alice.close()

        # XEP-0160 4: not to a resource of negative priority.
        shy = Raw(node.client_port, node.certs["ca"])
        try:
            shy.login("bob", "bob-pw", resource="shy")
            shy.send(b"<presence><priority>-1</priority></presence>"
                     b"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
            # Answered after anything im queued for it before (one job at
            # a time, one channel to the router).
            seen = await asyncio.get_event_loop().run_in_executor(None, shy.read_until, b"r1")
            assert b"<message" not in seen, seen
        finally:
            shy.close()
        bob = await login(node, "bob", "bob-pw", resource="b")
        got = [await bob.next_message() for _ in range(200)]
        assert [m["body"] for m in got] == [f"m{n}" for n in range(200)]
        await nothing_more(bob)
        await bob.close()

    run(scenario(), timeout=180)
    assert offline_count(node, "bob") == 0


def test_the_offline_quota_is_configured(node_factory):
    """limits.max_offline_messages: the fourth of three bounces."""
    node = node_factory(extra="limits:\n  max_offline_messages: 3\n").start()
    node.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    node.ctl_input(["user", "add", "bob", "--stdin"], "bob-pw\n")

    async def scenario():
        alice = await sender(node, "alice", "a")
        for n in range(4):
            m = alice.make_message(mto=BOB, mbody=f"m{n}", mtype="chat")
            m["id"] = f"c{n}"
            m.send()
        error = await alice.next_message()
        assert error["id"] == "c3" and error["error"]["condition"] == "service-unavailable"
        await alice.close()

    run(scenario())
    assert offline_count(node, "bob") == 3
