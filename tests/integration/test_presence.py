# SPDX-License-Identifier: MIT
"""Subscriptions and presence between two users on different nodes of a
cluster (RFC 6121 sections 3 and 4), with slixmpp clients that answer
nothing by themselves: alice asks bob, bob approves and asks back, alice
approves.  Each step changes both rosters in the cluster's state, pushes
them, and delivers the stanza; once subscribed, each sees the other's
presence, an unavailable when the other's session ends, and the other's
presence again (and gives its own) when it logs in anew on a third node.
A roster removal ends both subscriptions and tells the contact."""

import asyncio

from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of
from test_roster import get_roster, items, pushed, watch_pushes
from xmpp import WAIT, login, run

ALICE, BOB = "alice@test.example", "bob@test.example"


async def presence(client, sender, ptype):
    """The next presence of type `ptype` ("" for available) whose 'from'
    starts with `sender`; others are skipped."""
    deadline = asyncio.get_event_loop().time() + WAIT
    skipped = []
    while True:
        left = deadline - asyncio.get_event_loop().time()
        try:
            got = await asyncio.wait_for(client.presences.get(), max(left, 0.01))
        except asyncio.TimeoutError:
            raise AssertionError(f"no {ptype or 'available'} presence from {sender}; "
                                 f"got only {skipped}") from None
        kind = got["type"] if got["type"] not in ("available",) else ""
        if str(got["from"]).startswith(sender) and kind == ptype:
            return got
        skipped.append(str(got))


async def quiet_login(node, user, resource):
    client = await login(node, user, f"{user}-pw", resource=resource)
    client.auto_authorize = None  # nothing answered by the library
    client.auto_subscribe = False
    return client


def cluster_with_alice_and_bob(node_factory, certs):
    """Three nodes with alice and bob on every one: (nodes, the leader, the
    two followers)."""
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    first, second = [n for n in nodes if n is not leader]
    for user in ("alice", "bob"):
        leader.ctl_input(["user", "add", user, "--stdin"], f"{user}-pw\n")
    wait_until(lambda: all("bob" in n.ctl("user", "list").stdout for n in nodes),
               what="the accounts on every node")
    return nodes, leader, first, second


def test_two_users_subscribe_and_see_each_other_across_nodes(node_factory, certs):
    nodes, leader, first, second = cluster_with_alice_and_bob(node_factory, certs)

    async def scenario():
        alice = await quiet_login(first, "alice", "a")
        bob = await quiet_login(second, "bob", "b")
        alice_pushes, bob_pushes = watch_pushes(alice), watch_pushes(bob)

        # alice asks: her roster says bob, none + ask; bob gets the
        # request from her bare JID; his roster shows nothing yet.
        alice.send_presence(pto=BOB, ptype="subscribe")
        _, got = await pushed(alice_pushes)
        assert got == {BOB: (None, "none", [])}
        request = await presence(bob, ALICE, "subscribe")
        assert str(request["from"]) == ALICE
        assert items(await get_roster(bob)) == {}

        # bob approves: both rosters change; alice hears it and gets his
        # presence (RFC 6121 3.1.5).
        bob.send_presence(pto=ALICE, ptype="subscribed")
        _, got = await pushed(bob_pushes)
        assert got == {ALICE: (None, "from", [])}
        _, got = await pushed(alice_pushes)
        assert got == {BOB: (None, "to", [])}
        await presence(alice, BOB, "subscribed")
        await presence(alice, BOB + "/b", "")

        # And back: bob asks, alice approves; both are "both".
        bob.send_presence(pto=ALICE, ptype="subscribe")
        await presence(alice, BOB, "subscribe")
        alice.send_presence(pto=BOB, ptype="subscribed")
        await presence(bob, ALICE + "/a", "")
        wait_both = asyncio.get_event_loop().time() + WAIT
        while items(await get_roster(alice)) != {BOB: (None, "both", [])}:
            assert asyncio.get_event_loop().time() < wait_both
            await asyncio.sleep(0.2)
        assert items(await get_roster(bob)) == {ALICE: (None, "both", [])}

        # bob's session ends without a word: alice sees him go.
        await bob.close()
        await presence(alice, BOB + "/b", "unavailable")

        # He comes back on a third node: alice sees him, he sees her.
        again = await quiet_login(leader, "bob", "c")
        await presence(alice, BOB + "/c", "")
        await presence(again, ALICE + "/a", "")

        # alice removes bob (RFC 6121 2.5.2): her roster forgets him, his
        # says none, he hears unsubscribed, unsubscribe and her going.
        again_pushes = watch_pushes(again)
        remove = alice.Iq()
        remove["type"] = "set"
        remove["roster"]["items"] = {BOB: {"subscription": "remove"}}
        await remove.send(timeout=WAIT)
        await presence(again, ALICE, "unsubscribed")
        await presence(again, ALICE + "/a", "unavailable")
        await presence(again, ALICE, "unsubscribe")
        assert items(await get_roster(alice)) == {}
        wait_none = asyncio.get_event_loop().time() + WAIT
        while items(await get_roster(again)) != {ALICE: (None, "none", [])}:
            assert asyncio.get_event_loop().time() < wait_none
            await asyncio.sleep(0.2)
        # Two pushes: unsubscribed (his 'to' goes), then unsubscribe.
        _, got = await pushed(again_pushes)
        assert got == {ALICE: (None, "from", [])}
        _, got = await pushed(again_pushes)
        assert got == {ALICE: (None, "none", [])}
        await again.close()
        await alice.close()

    run(scenario())
