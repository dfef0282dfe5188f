# SPDX-License-Identifier: MIT
"""A stanza of the leader's own stream-management client, for a client on
a third node (neither the leader nor the follower that keeps the
session), while the leader dies: it is not lost.

The stanza goes to the third node on one link and its handled count to
the keeper on another.  Three real nodes run in a network namespace this
test makes, on its loopback; inside it an nftables rule drops what the
leader's router sends on its stanza link to the third node (and only
that), so that the stanza cannot arrive while everything else flows.
Then B, on the leader, sends alice, on the third node, one message and
the leader is killed (kill -9 of all its processes).  The keeper must
not count a stanza the third node never had: B resumes on a survivor, the
`h` of `<resumed/>` does not cover the message, B sends it again and
alice gets it exactly once.  (With the count sent to the keeper at once,
as before router/router_counts.c, the keeper counts it, B never sends it
again, and alice never gets it.)  Needs root, iproute2 and nft; without
them it says SKIP with the reason."""

import asyncio
import re
import shutil
import subprocess

import pytest

from netns import PREFIX, cannot_make_namespaces, in_netns
from rxmpp_node import wait_until
from test_cluster import cluster_node, kill_node, leader_of, status, until_reachable, with_accounts
from test_sm_failover import SmClient, keeper_ready


@pytest.fixture
def namespace():
    reason = cannot_make_namespaces()
    if reason:
        pytest.skip(reason)
    if shutil.which("nft") is None:
        pytest.skip("needs nft (nftables)")
    name = f"{PREFIX}sm"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def in_ns(namespace, *command):
    return subprocess.run(["ip", "netns", "exec", namespace, *command], check=True,
                          capture_output=True, text=True, timeout=30).stdout


def stanza_link_port(namespace, leader, follower):
    """The port on the follower's end of its stanza link to the leader."""
    stanza_port = leader.cluster_port + 1
    router = follower.children()["router"]["pid"]
    for line in in_ns(namespace, "ss", "-tnpH", "state", "established").splitlines():
        fields = line.split()
        local, peer = fields[2], fields[3]
        if peer.endswith(f":{stanza_port}") and f"pid={router}," in line:
            return int(local.rsplit(":", 1)[1])
    raise AssertionError(f"no stanza link from router {router} to port {stanza_port}")


def test_a_message_of_the_leaders_client_to_a_third_node_is_not_lost(namespace, node_factory,
                                                                      certs):
    nodes = []
    for _ in range(3):
        node = cluster_node(node_factory, certs)
        node.wrapper = ["ip", "netns", "exec", namespace]
        nodes.append(node.start())
    assert "initialized" in nodes[0].ctl("cluster", "initialize").stdout
    for node in nodes[1:]:
        assert "joined" in node.ctl("cluster", "join", nodes[0].cluster_address).stdout
    wait_until(lambda: all(len(status(n)["members"]) == 3 for n in nodes),
               what="every node to list every member")
    with_accounts(nodes)
    leader = leader_of(nodes)
    followers = [n for n in nodes if n is not leader]
    ids = {status(n)["node"]: n for n in nodes}
    b = SmClient(leader.certs["ca"], "bob", "bob-pw", "b")

    async def scenario():
        from xmpp import login

        loop = asyncio.get_event_loop()
        mark = leader.log_mark()
        await loop.run_in_executor(None, b.connect, leader)
        # The follower that keeps the leader's sessions, and the third node.
        line = await loop.run_in_executor(None, lambda: leader.wait_log(
            r"client sessions of this node are kept by node [0-9a-f]+", start=mark,
            timeout=20))
        keeper = ids[re.search(r"kept by node ([0-9a-f]+)", line).group(1)]
        third = next(n for n in followers if n is not keeper)
        alice = await login(third, "alice", "alice-pw", resource="a")
        probe = await login(leader, "bob", "bob-pw", resource="probe")
        await until_reachable(probe, alice, "alice@test.example/a")
        await probe.close()
        b.send("alice@test.example/a", "before")
        assert (await asyncio.wait_for(alice.inbox.get(), 15))["body"] == "before"
        await loop.run_in_executor(None, lambda: wait_until(
            lambda: (b.request(), b.acked == b.sent)[1], timeout=20, interval=0.2,
            what="everything B sent so far acknowledged"))

        # The leader's stanza link to the third node goes silent; the
        # keeper's link and the elector's links do not.
        keeper_port = stanza_link_port(namespace, leader, keeper)
        in_ns(namespace, "nft", "add", "table", "inet", "cut")
        in_ns(namespace, "nft", "add", "chain", "inet", "cut", "out",
              "{ type filter hook output priority 0 ; }")
        in_ns(namespace, "nft", "add", "rule", "inet", "cut", "out", "tcp", "sport",
              str(leader.cluster_port + 1), "tcp", "dport", "!=", str(keeper_port), "drop")
        b.send("alice@test.example/a", "in the window")
        # Time for the count to reach the keeper, and its answer B, if the
        # count goes at once (it must not: alice has not had the message).
        for _ in range(10):
            b.request()
            await asyncio.sleep(0.2)
            if b.acked == b.sent:
                break
        acked_before_the_kill = b.acked
        marks = [n.log_mark() for n in followers]
        await loop.run_in_executor(None, kill_node, leader)
        await loop.run_in_executor(None, lambda: wait_until(b.gone, timeout=10,
                                                            what="B's connection to end"))
        print(await loop.run_in_executor(None, keeper_ready, followers, marks))
        h = await loop.run_in_executor(None, b.resume, keeper)
        print(f"B had {acked_before_the_kill} of {b.sent} acknowledged before the kill; "
              f"resumed with h={h}")

        got = []

        async def collect():
            while True:
                message = await alice.inbox.get()
                if message["body"] and message["body"] != "before":
                    got.append(message["body"])

        collector = asyncio.ensure_future(collect())
        await loop.run_in_executor(None, lambda: wait_until(
            lambda: got, timeout=20, interval=0.2, what="alice to get B's message"))
        # Nothing more comes: no second copy is on its way.
        await asyncio.sleep(1.0)
        assert got == ["in the window"]
        await loop.run_in_executor(None, lambda: wait_until(
            lambda: (b.request(), b.acked == b.sent)[1], timeout=20, interval=0.5,
            what="B's stanzas all acknowledged"))
        collector.cancel()
        b.close()
        await alice.close()

    from xmpp import run

    in_netns(namespace, lambda: run(scenario(), timeout=180))
