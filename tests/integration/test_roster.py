# SPDX-License-Identifier: MIT
"""Rosters end to end (RFC 6121 section 2, XEP-0237) with slixmpp clients:
the IM process of the leader answers and writes them in the cluster's
replicated state, whatever node the user is on.  A roster set on a
follower is committed, answered, and pushed to the user's resources on
every node, with the write's log index as the version; a resource that
logs in on a third node gets the item; a get with the current version
gets an empty result; the roster is intact after a kill -9 of the leader;
a removal is pushed and the roster is empty again.  A node in no cluster
does the same with its own store, which keeps the roster across a
restart."""

import asyncio
import xml.etree.ElementTree as ET

from rxmpp_node import wait_until
from test_cluster import form_cluster, kill_node, leader_of, status
from xmpp import IqError, WAIT, login, run

NS = "jabber:iq:roster"
Q = "{%s}query" % NS
ITEM = "{%s}item" % NS
GROUP = "{%s}group" % NS


def watch_pushes(client):
    """A queue of the roster pushes `client` gets."""
    pushes = asyncio.Queue()
    client.add_event_handler(
        "roster_update", lambda iq: iq["type"] == "set" and pushes.put_nowait(iq))
    return pushes


def roster_iq(client, kind, payload):
    iq = client.Iq()
    iq["type"] = kind
    iq.append(ET.fromstring(payload))
    return iq


async def get_roster(client, ver=None):
    """The <query/> of the answer (None for an empty result)."""
    attr = f" ver='{ver}'" if ver is not None else ""
    answer = await roster_iq(client, "get", f"<query xmlns='{NS}'{attr}/>").send(timeout=WAIT)
    assert answer["type"] == "result"
    return answer.xml.find(Q)


def items(query):
    return {i.get("jid"): (i.get("name"), i.get("subscription"),
                           sorted(g.text for g in i.findall(GROUP)))
            for i in query.findall(ITEM)}


async def pushed(pushes):
    iq = await asyncio.wait_for(pushes.get(), WAIT)
    query = iq.xml.find(Q)
    return query.get("ver"), items(query)


def test_roster_set_push_get_and_removal_across_three_nodes(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    first, second = [n for n in nodes if n is not leader]
    leader.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    wait_until(lambda: all("alice" in n.ctl("user", "list").stdout for n in nodes),
               what="alice on every node")
    bob = ("Bob", "none", ["Friends"])

    async def scenario():
        a1 = await login(first, "alice", "alice-pw", resource="one")
        a2 = await login(second, "alice", "alice-pw", resource="two")
        pushes1, pushes2 = watch_pushes(a1), watch_pushes(a2)
        # XEP-0237's stream feature: versions are kept in a cluster.
        assert "rosterver" in a1.features
        # Nothing stored yet: an empty roster, with a version.
        empty = await get_roster(a1)
        assert empty is not None and items(empty) == {}
        assert empty.get("ver") is not None
        # Resources on two nodes must be known to the leader before the
        # push is fanned out: the second one's get goes the same way.
        await get_roster(a2)

        set_iq = roster_iq(a1, "set", f"<query xmlns='{NS}'><item jid='Bob@Test.Example' "
                                      f"name='Bob'><group>Friends</group></item></query>")
        answer = await set_iq.send(timeout=WAIT)
        assert answer["type"] == "result"
        ver1, got1 = await pushed(pushes1)
        ver2, got2 = await pushed(pushes2)
        assert got1 == got2 == {"bob@test.example": bob}
        assert ver1 == ver2 and int(ver1) > 0

        # A third resource, on the leader's node, gets the item and the
        # version of the push.
        a3 = await login(leader, "alice", "alice-pw", resource="three")
        full = await get_roster(a3)
        assert items(full) == {"bob@test.example": bob}
        assert full.get("ver") == ver1
        # Its copy is current: nothing to send (RFC 6121 2.6.3).
        assert await get_roster(a3, ver=ver1) is None
        # An older one gets the whole roster.
        assert items(await get_roster(a3, ver="1")) == {"bob@test.example": bob}
        await a3.close()

        # The leader dies (kill -9): the new leader's im answers from the
        # replicated state.  The clients' loop runs on meanwhile.
        def failover():
            kill_node(leader)
            wait_until(lambda: leader_of([first, second]) is not None, timeout=20,
                       what="a new leader")

        await asyncio.get_event_loop().run_in_executor(None, failover)
        deadline = asyncio.get_event_loop().time() + 20
        while True:
            try:
                full = await get_roster(a1)
                break
            except IqError:
                # A write or read may be refused while the leadership moves.
                assert asyncio.get_event_loop().time() < deadline
                await asyncio.sleep(0.5)
        assert items(full) == {"bob@test.example": bob}
        assert full.get("ver") == ver1

        remove = roster_iq(a1, "set", f"<query xmlns='{NS}'><item jid='bob@test.example' "
                                      f"subscription='remove'/></query>")
        assert (await remove.send(timeout=WAIT))["type"] == "result"
        for pushes in (pushes1, pushes2):
            ver, got = await pushed(pushes)
            assert got == {"bob@test.example": (None, "remove", [])}
            assert int(ver) > int(ver1)
        assert items(await get_roster(a2)) == {}
        await a1.close()
        await a2.close()

    run(scenario())


def test_bad_roster_sets_are_refused_with_the_rfc_error(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    follower = [n for n in nodes if n is not leader][0]
    leader.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    wait_until(lambda: "alice" in follower.ctl("user", "list").stdout, what="alice")

    async def scenario():
        a = await login(follower, "alice", "alice-pw")
        cases = [
            ("<item jid='a@test.example'/><item jid='b@test.example'/>", "bad-request"),
            ("<item jid='alice@test.example'/>", "not-allowed"),
            ("<item jid='nobody@test.example' subscription='remove'/>", "item-not-found"),
            ("<item jid='c@test.example'><group>g</group><group>g</group></item>",
             "bad-request"),
        ]
        for payload, condition in cases:
            try:
                await roster_iq(a, "set", f"<query xmlns='{NS}'>{payload}</query>").send(
                    timeout=WAIT)
                raise AssertionError(f"{payload} was accepted")
            except IqError as e:
                assert e.iq["error"]["condition"] == condition, (payload, e.iq)
        assert items(await get_roster(a)) == {}
        await a.close()

    run(scenario())
    assert status(leader)["state"] == "LEADER"


def test_a_lone_node_keeps_rosters_in_its_own_store(node):
    node.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    bob = ("Bob", "none", [])

    async def scenario():
        a = await login(node, "alice", "alice-pw", resource="one")
        b = await login(node, "alice", "alice-pw", resource="two")
        assert "rosterver" in a.features
        pushes = watch_pushes(b)
        assert items(await get_roster(a)) == {}
        set_iq = roster_iq(a, "set", f"<query xmlns='{NS}'><item jid='bob@test.example' "
                                     f"name='Bob'/></query>")
        assert (await set_iq.send(timeout=WAIT))["type"] == "result"
        ver, got = await pushed(pushes)
        assert got == {"bob@test.example": bob}
        full = await get_roster(b)
        assert items(full) == {"bob@test.example": bob} and full.get("ver") == ver
        await a.close()
        await b.close()
        return ver

    ver = run(scenario())
    # The node's own log keeps it across a restart.
    node.stop()
    node.start()

    async def again():
        a = await login(node, "alice", "alice-pw")
        full = await get_roster(a)
        assert items(full) == {"bob@test.example": bob} and full.get("ver") == ver
        assert await get_roster(a, ver=ver) is None
        await a.close()

    run(again())
