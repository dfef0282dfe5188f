# SPDX-License-Identifier: MIT
"""A silent death of the leader (issue 19, point 2): its machine freezes or
is cut off without closing anything, so no FIN or RST tells the others, and
only the heartbeat timeout notices.  Three nodes in network namespaces
(netns.py); clients of the two followers exchange numbered messages through
the leader; then nftables in the leader's namespace drops every packet in
and out, silently.  The survivors elect a new leader among themselves, and
every numbered message is delivered once or bounced to its sender with an
RFC 6120 error: none lost, none twice.  The longest gap the receivers saw
is printed, not asserted (tests check behaviour, not speed).  Needs root,
iproute2 and nft; without them it says SKIP with the reason."""

import asyncio
import json
import shutil
import subprocess
import time

import pytest

from netns import cannot_make_namespaces, cluster_network, cluster_node, in_netns
from rxmpp_node import wait_until
from test_cluster import with_accounts
from xmpp import login, run

COUNT = 300
# Drop rules: the node's network goes quiet in both directions, and no
# reject rule answers anything.
SILENCE = """table inet rxmpp_test_silence {
    chain input { type filter hook input priority -300; policy drop; }
    chain output { type filter hook output priority -300; policy drop; }
}
"""


@pytest.fixture
def network():
    reason = cannot_make_namespaces()
    if reason:
        pytest.skip(reason)
    if shutil.which("nft") is None:
        pytest.skip("needs nft (Debian package nftables) to drop packets silently")
    with cluster_network(3) as network:
        yield network


def status(node):
    return json.loads(node.ctl("cluster", "status", "--json").stdout)


def silence(namespace):
    subprocess.run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], input=SILENCE,
                   text=True, check=True, capture_output=True, timeout=30)


async def reachable(sender, receiver, to):
    """Probes until one reaches `receiver`: the leader knows both sessions."""
    for n in range(60):
        sender.send_message(mto=to, mbody=f"probe{n}", mtype="chat")
        try:
            while True:
                got = await asyncio.wait_for(receiver.inbox.get(), 0.5)
                if got["body"].startswith("probe"):
                    return
        except asyncio.TimeoutError:
            continue
    raise AssertionError(f"no probe reached {to}")


def test_leader_gone_silent_survivors_elect_and_lose_nothing(network, node_factory):
    bridge_ns, places = network
    nodes = [cluster_node(node_factory(), name, address).start() for name, address in places]
    assert "initialized" in nodes[0].ctl("cluster", "initialize").stdout
    for node in nodes[1:]:
        assert "joined" in node.ctl("cluster", "join", nodes[0].cluster_address).stdout
    wait_until(lambda: all(len(status(n)["members"]) == 3 for n in nodes), what="a formed cluster")
    with_accounts(nodes)
    leader = next(n for n in nodes if status(n)["state"] == "LEADER")
    one, two = [n for n in nodes if n is not leader]
    term = status(leader)["term"]
    silenced = {}

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a", address=one.address)
        bob = await login(two, "bob", "bob-pw", resource="b", address=two.address)
        await reachable(alice, bob, "bob@test.example/b")
        await reachable(bob, alice, "alice@test.example/a")
        # Per numbered message: where it ended ("delivered" at the
        # receiver, "bounced" back to its sender), each time it did.
        fate = {f"{p}{n}": [] for p in "ab" for n in range(COUNT)}
        arrivals = []

        async def collect(client):
            while sum(1 for f in fate.values() if f) < len(fate):
                message = await client.next_message(timeout=60)
                if message["body"].startswith("probe") or message["id"].startswith("probe"):
                    continue
                if message["type"] == "error":
                    fate[message["id"]].append("bounced")
                else:
                    fate[message["body"]].append("delivered")
                    arrivals.append(time.monotonic())

        collectors = [asyncio.ensure_future(collect(alice)), asyncio.ensure_future(collect(bob))]
        for n in range(COUNT):
            for client, to, prefix in ((alice, "bob@test.example/b", "a"),
                                       (bob, "alice@test.example/a", "b")):
                message = client.make_message(mto=to, mbody=f"{prefix}{n}", mtype="chat")
                message["id"] = f"{prefix}{n}"
                message.send()
            await asyncio.sleep(0.01)
            if n == COUNT // 3:
                await asyncio.get_event_loop().run_in_executor(None, silence, leader.namespace)
                silenced["at"] = time.monotonic()
        await asyncio.wait(collectors, timeout=90, return_when=asyncio.FIRST_COMPLETED)
        for task in collectors:
            task.cancel()
        # Nothing more comes: no duplicate is on its way.
        await asyncio.sleep(1.0)
        for client in (alice, bob):
            while not client.inbox.empty():
                late = client.inbox.get_nowait()
                key = late["id"] if late["type"] == "error" else late["body"]
                if key in fate:
                    fate[key].append("late")
        missing = [k for k, f in fate.items() if not f]
        twice = {k: f for k, f in fate.items() if len(f) > 1}
        bounced = [k for k, f in fate.items() if f == ["bounced"]]
        assert not missing, f"{len(missing)} messages neither delivered nor bounced: {missing[:20]}"
        assert not twice, f"messages seen more than once: {dict(list(twice.items())[:20])}"
        gap = max(b - a for a, b in zip(arrivals, arrivals[1:]))
        print(f"silent death: {2 * COUNT} numbered messages, {len(bounced)} bounced, none lost "
              f"or twice; longest gap at the receivers {gap * 1000:.0f} ms")
        await alice.close()
        await bob.close()

    in_netns(bridge_ns, lambda: run(scenario(), timeout=240))
    new = wait_until(lambda: next((n for n in (one, two) if status(n)["state"] == "LEADER"), None),
                     timeout=15, what="a leader among the survivors")
    assert status(new)["term"] > term
    elected = status(new)
    print(f"silent death: {new.address} leads in term {elected['term']} (was {term})")
    for node in (one, two):
        assert node.stop() == 0
