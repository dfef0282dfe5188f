# SPDX-License-Identifier: MIT
"""Network namespaces for the tests that need a network of their own (root
and iproute2; without them the tests say SKIP with the reason).

cluster_network() makes a bridge namespace and one namespace per node, each
node's eth0 a veth whose other end is on the bridge, all on a private
subnet that exists only inside them; the bridge holds an address too, so
that the test's clients can join it (in_netns) and reach every node.
in_netns() runs a function in a thread that has joined a namespace: setns
affects only the calling thread, the rest of the test stays outside."""

import contextlib
import ctypes
import os
import shutil
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
PREFIX = f"rxt{os.getpid() % 100000}"
SUBNET = f"10.77.{os.getpid() % 250}"
# The bridge's own address on the subnet, where the test's clients live.
CLIENT_ADDRESS = f"{SUBNET}.254"


def ip(*args, ns=None):
    command = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


def cannot_make_namespaces():
    """Why this machine cannot make network namespaces, or None."""
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


@contextlib.contextmanager
def cluster_network(count):
    """Yields (bridge namespace, [(node namespace, node address)]); every
    namespace is deleted afterwards, whatever happened."""
    bridge_ns = f"{PREFIX}br"
    names = [f"{PREFIX}n{i}" for i in range(count)]
    try:
        subprocess.run(["ip", "netns", "add", bridge_ns], check=True, timeout=30)
        ip("link", "set", "lo", "up", ns=bridge_ns)
        ip("link", "add", "br0", "type", "bridge", ns=bridge_ns)
        ip("addr", "add", f"{CLIENT_ADDRESS}/24", "dev", "br0", ns=bridge_ns)
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
        yield bridge_ns, [(name, f"{SUBNET}.{i + 1}") for i, name in enumerate(names)]
    finally:
        for name in names + [bridge_ns]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def in_netns(ns, function):
    """Runs `function` in a thread that has joined namespace `ns`: every
    socket it makes is inside.  Returns its result or raises its error."""
    outcome = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            outcome["value"] = function()
        except BaseException as error:  # handed to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the namespace thread did not end"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def cluster_node(node, namespace, address, extra=""):
    """Configures a test node to run in `namespace`, listening for clients
    and cluster links on `address` only; returns it, not yet started."""
    node.write_config(text=node.config_text(extra=extra).replace("[127.0.0.1]", f"[{address}]") +
                      f"cluster:\n  enabled: true\n  port: 5224\n"
                      f"  trust_bundle: {node.certs['ca']}\n"
                      "  peer_names: [test.example]\n")
    node.wrapper = ["ip", "netns", "exec", namespace]
    node.namespace = namespace
    node.address = address
    node.cluster_address = f"{address}:5224"
    return node
