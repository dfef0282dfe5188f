# SPDX-License-Identifier: MIT
"""A network partition, for real: three nodes in network namespaces this
test makes (a bridge namespace and one namespace per node, on a private
subnet that exists only inside them).  The leader is cut off from the
majority: it stops leading (check-quorum), the majority elects a leader in
a newer term, and once the link is back exactly one leader remains.  Needs
root and iproute2; without them it says SKIP with the reason."""

import json
import time

import pytest

from netns import cannot_make_namespaces, cluster_network, cluster_node, ip
from rxmpp_node import wait_until


@pytest.fixture
def network():
    reason = cannot_make_namespaces()
    if reason:
        pytest.skip(reason)
    with cluster_network(3) as (_, nodes):
        yield nodes


def status(node):
    return json.loads(node.ctl("cluster", "status", "--json").stdout)


def test_leader_cut_off_steps_down_and_one_leader_after_healing(network, node_factory):
    nodes = []
    for name, address in network:
        node = cluster_node(node_factory(), name, address)
        nodes.append(node.start())
    assert "initialized" in nodes[0].ctl("cluster", "initialize").stdout
    for node in nodes[1:]:
        assert "joined" in node.ctl("cluster", "join", nodes[0].cluster_address).stdout
    wait_until(lambda: all(len(status(n)["members"]) == 3 for n in nodes), what="a formed cluster")

    leader = next(n for n in nodes if status(n)["state"] == "LEADER")
    others = [n for n in nodes if n is not leader]
    term = status(leader)["term"]
    cut_at = time.monotonic()
    ip("link", "set", "eth0", "down", ns=leader.namespace)

    # The majority side elects a leader in a newer term...
    new = wait_until(lambda: next((n for n in others if status(n)["state"] == "LEADER"), None),
                     timeout=15, what="a leader on the majority side")
    elected = time.monotonic() - cut_at
    assert status(new)["term"] > term
    # ...and the cut-off leader stops leading on its own.
    wait_until(lambda: status(leader)["state"] != "LEADER", timeout=15,
               what="the cut-off leader to step down")
    stepped_down = time.monotonic() - cut_at
    print(f"partition: majority leader after {elected * 1000:.0f} ms, "
          f"old leader stepped down after {stepped_down * 1000:.0f} ms")

    ip("link", "set", "eth0", "up", ns=leader.namespace)

    def one_leader():
        views = [status(n) for n in nodes]
        leaders = [v["node"] for v in views if v["state"] == "LEADER"]
        agreed = {v["leader"] for v in views}
        return len(leaders) == 1 and agreed == {leaders[0]}

    wait_until(one_leader, timeout=15, what="exactly one leader after healing")
    for node in nodes:
        assert node.stop() == 0
