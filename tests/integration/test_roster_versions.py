# SPDX-License-Identifier: MIT
"""A roster set that changes nothing (the same item again) is pushed, as
RFC 6121 2.3.2 asks, with the roster's version: the one a get then
reports (XEP-0237: a ver never goes back).  It was pushed with the
write's index: '0' on a lone node, whose store writes nothing for it, and
in a cluster the index of a log entry that did not change the roster, so
the next get reported an older ver than the push (review18p #6)."""

import pytest

from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of
from test_roster import NS, get_roster, pushed, roster_iq, watch_pushes
from xmpp import login, run

BODY = f"<query xmlns='{NS}'><item jid='bob@test.example' name='Bob'/></query>"


async def the_same_set_twice(node):
    a = await login(node, "alice", "alice-pw", resource="one")
    b = await login(node, "alice", "alice-pw", resource="two")
    pushes = watch_pushes(b)
    await get_roster(b)
    assert (await roster_iq(a, "set", BODY).send(timeout=15))["type"] == "result"
    ver1, _ = await pushed(pushes)
    assert (await roster_iq(a, "set", BODY).send(timeout=15))["type"] == "result"
    ver2, got = await pushed(pushes)
    full = await get_roster(b)
    await a.close()
    await b.close()
    print("vers", ver1, ver2, full.get("ver"))
    assert "bob@test.example" in got
    assert ver2 == ver1, f"an unchanged roster pushed with ver {ver2} after {ver1}"
    assert full.get("ver") == ver2, f"pushed ver {ver2}, then a get says {full.get('ver')}"


@pytest.fixture
def inode(node_factory):
    node = node_factory()
    node.add_user("alice", "alice-pw")
    return node.start()


def test_an_identical_set_is_pushed_with_the_rosters_version_on_a_lone_node(inode):
    run(the_same_set_twice(inode))


def test_an_identical_set_is_pushed_with_the_rosters_version_in_a_cluster(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    follower = [n for n in nodes if n is not leader][0]
    leader.ctl_input(["user", "add", "alice", "--stdin"], "alice-pw\n")
    wait_until(lambda: all("alice" in n.ctl("user", "list").stdout for n in nodes),
               what="alice on every node")
    run(the_same_set_twice(follower), timeout=200)
