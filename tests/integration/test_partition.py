# SPDX-License-Identifier: MIT
"""A network partition, for real: three nodes in network namespaces this
test makes (a bridge namespace and one namespace per node, on a private
subnet that exists only inside them).  The leader is cut off from the
majority: it stops leading (check-quorum), the majority elects a leader in
a newer term, and once the link is back exactly one leader remains.  Needs
root and iproute2; without them it says SKIP with the reason."""

import json
import os
import shutil
import subprocess
import time

import pytest

from rxmpp_node import wait_until

PREFIX = f"rxt{os.getpid() % 100000}"
SUBNET = f"10.77.{os.getpid() % 250}"


def ip(*args, ns=None):
    command = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


def can_make_namespaces():
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    probe = f"{PREFIX}probe"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"ip netns add failed: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@pytest.fixture
def network():
    reason = can_make_namespaces()
    if reason:
        pytest.skip(reason)
    bridge_ns = f"{PREFIX}br"
    names = [f"{PREFIX}n{i}" for i in range(3)]
    try:
        subprocess.run(["ip", "netns", "add", bridge_ns], check=True, timeout=30)
        ip("link", "add", "br0", "type", "bridge", ns=bridge_ns)
        ip("link", "set", "br0", "up", ns=bridge_ns)
        for i, name in enumerate(names):
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
            ip("link", "set", "lo", "up", ns=name)
            # One end in the node's namespace, the other on the bridge.
            ip("link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", f"p{i}",
               "netns", bridge_ns)
            ip("link", "set", f"p{i}", "master", "br0", ns=bridge_ns)
            ip("link", "set", f"p{i}", "up", ns=bridge_ns)
            ip("addr", "add", f"{SUBNET}.{i + 1}/24", "dev", "eth0", ns=name)
            ip("link", "set", "eth0", "up", ns=name)
        yield names
    finally:
        for name in names + [bridge_ns]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def status(node):
    return json.loads(node.ctl("cluster", "status", "--json").stdout)


def test_leader_cut_off_steps_down_and_one_leader_after_healing(network, node_factory):
    nodes = []
    for i, name in enumerate(network):
        address = f"{SUBNET}.{i + 1}"
        node = node_factory()
        node.write_config(text=node.config_text().replace("[127.0.0.1]", f"[{address}]") +
                          f"cluster:\n  enabled: true\n  port: 5224\n"
                          f"  trust_bundle: {node.certs['ca']}\n"
                          "  peer_names: [test.example]\n")
        node.wrapper = ["ip", "netns", "exec", name]
        node.namespace = name
        node.cluster_address = f"{address}:5224"
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
