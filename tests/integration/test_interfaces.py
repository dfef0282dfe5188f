# SPDX-License-Identifier: MIT
"""Listening by interface name: the supervisor reads the interface's
addresses over rtnetlink and follows them as they come and go, telling the
running listener, so sessions on other addresses are untouched.

The tests that change interfaces run as root in a network namespace of their
own (ip netns, a veth pair: this kernel may lack the dummy driver); rxmppd
runs inside it, and the test's clients join it from a thread of their own
(setns affects only the calling thread).  Without root they are skipped
with the reason."""

import asyncio
import errno
import os
import socket
import subprocess

import pytest

from netns import in_netns
from rxmpp_node import wait_until
from xmpp import login, run

_namespaces = 0


def ip(*args, check=True):
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check:
        assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"
    return result


@pytest.fixture
def netns():
    """A network namespace with lo up and a veth pair rx0/rx1 up, rx0 holding
    10.77.0.1/24 and 2001:db8:77::1/64; deleted afterwards."""
    global _namespaces
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    _namespaces += 1
    name = f"rxmpp-test-{os.getpid()}-{_namespaces}"
    made = ip("netns", "add", name, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace: {made.stderr.strip()}")
    try:
        ip("-n", name, "link", "set", "lo", "up")
        make_veth(name)
        yield name
    finally:
        ip("netns", "del", name, check=False)


def make_veth(ns):
    ip("-n", ns, "link", "add", "rx0", "type", "veth", "peer", "name", "rx1")
    ip("-n", ns, "addr", "add", "10.77.0.1/24", "dev", "rx0")
    # nodad: usable at once, instead of tentative for a second or two.
    ip("-n", ns, "addr", "add", "2001:db8:77::1/64", "dev", "rx0", "nodad")
    ip("-n", ns, "link", "set", "rx0", "up")
    ip("-n", ns, "link", "set", "rx1", "up")


def listening(node, kind="client"):
    """(address, interface) of each socket of `kind` rxmppd holds now."""
    return {(s["address"], s["interface"]) for s in node.status()["listening"]
            if s["kind"] == kind}


def connect_error(address, port):
    """0 when a TCP connection to address:port is accepted, else the errno."""
    if ":" not in address:
        family, where = socket.AF_INET, (address, port)
    else:
        plain, _, zone = address.partition("%")
        family, where = socket.AF_INET6, (plain, port, 0,
                                          socket.if_nametoindex(zone) if zone else 0)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        return s.connect_ex(where)


async def exchange(sender, receiver, body):
    sender.send_message(mto=receiver.boundjid.full, mbody=body, mtype="chat")
    message = await receiver.next_message()
    assert message["body"] == body


@pytest.fixture
def nsnode(node_factory, netns):
    def make(addresses, extra=""):
        node = node_factory()
        node.wrapper = ["ip", "netns", "exec", netns]
        text = node.config_text(extra=extra).replace("addresses: [127.0.0.1]",
                                                     f"addresses: [{addresses}]")
        node.write_config(text=text)
        node.add_user("alice", "alice-secret")
        node.add_user("bob", "bob-secret")
        node.add_user("carol", "carol-secret")
        return node.start()

    return make


def test_interface_addresses_come_and_go_while_sessions_stay(nsnode, netns):
    node = nsnode("127.0.0.1, rx0")
    port = node.client_port
    assert listening(node) == {("127.0.0.1", None), ("10.77.0.1", "rx0"),
                               ("2001:db8:77::1", "rx0")}
    assert listening(node, "component") == listening(node)
    text = node.ctl("status").stdout
    assert f"listening: 10.77.0.1 port {port} (client, interface rx0)" in text

    async def scenario():
        # alice stays on the configured address the whole time.
        alice = await login(node, "alice", "alice-secret", address="127.0.0.1")
        bob = await login(node, "bob", "bob-secret", address="10.77.0.1")
        await exchange(alice, bob, "over rx0")
        listener = node.children()["listener"]["pid"]

        mark = node.log_mark()
        ip("-n", netns, "addr", "add", "10.77.0.2/24", "dev", "rx0")
        await asyncio.to_thread(wait_until, lambda: ("10.77.0.2", "rx0") in listening(node),
                                what="the new address in the status")
        node.wait_log(r"listener\[\d+\]: accepting on 10\.77\.0\.2 port %d of rx0" % port,
                      start=mark)
        carol = await login(node, "carol", "carol-secret", address="10.77.0.2")
        await exchange(alice, carol, "to the new address")
        await exchange(carol, bob, "between interface addresses")

        # The address moves to rx1, which rxmppd does not follow: a
        # connection to it is now refused at once.
        mark = node.log_mark()
        ip("-n", netns, "addr", "del", "10.77.0.2/24", "dev", "rx0")
        await asyncio.to_thread(wait_until,
                                lambda: ("10.77.0.2", "rx0") not in listening(node),
                                what="the address to leave the status")
        node.wait_log(r"listener\[\d+\]: no longer accepting on 10\.77\.0\.2 port %d" % port,
                      start=mark)
        ip("-n", netns, "addr", "add", "10.77.0.2/24", "dev", "rx1")
        assert connect_error("10.77.0.2", port) == errno.ECONNREFUSED
        assert connect_error("10.77.0.1", port) == 0

        # The sessions on the other addresses never noticed.
        await exchange(bob, alice, "still here")
        await exchange(alice, bob, "and back")
        assert node.children()["listener"]["pid"] == listener
        for client in (alice, bob, carol):
            await client.close()

    in_netns(netns, lambda: run(scenario()))
    assert ("10.77.0.2", "rx1") not in listening(node)
    assert ("10.77.0.2", None) not in listening(node)


def test_link_local_addresses_only_when_asked(nsnode, netns):
    node = nsnode("rx0")
    # The kernel gives rx0 a link-local address once duplicate address
    # detection has passed; rxmppd hears of it and leaves it alone.
    def link_local():
        shown = ip("-n", netns, "-6", "addr", "show", "dev", "rx0", "scope", "link").stdout
        return "fe80::" in shown and "tentative" not in shown

    wait_until(link_local, what="rx0's link-local address")
    mark = node.log_mark()
    ip("-n", netns, "addr", "add", "10.77.0.3/24", "dev", "rx0")
    node.wait_log(r"accepting on 10\.77\.0\.3 port", start=mark)
    assert not any(address.startswith("fe80") for address, _ in listening(node))

    text = open(node.config).read().replace("listen:\n", "listen:\n  link_local: true\n")
    node.write_config(text=text)
    result = node.ctl("reload")
    assert "nothing restarted" in result.stdout
    assert "listening on [fe80::" in result.stdout
    scoped = [address for address, _ in listening(node) if address.startswith("fe80")]
    assert len(scoped) == 1 and scoped[0].endswith("%rx0"), scoped
    assert in_netns(netns, lambda: connect_error(scoped[0], node.client_port)) == 0


def test_vanished_interface_is_a_warning_and_followed_when_back(nsnode, netns):
    node = nsnode("127.0.0.1, rx0")
    port = node.client_port

    async def scenario():
        alice = await login(node, "alice", "alice-secret", address="127.0.0.1")
        bob = await login(node, "bob", "bob-secret", address="127.0.0.1")
        mark = node.log_mark()
        ip("-n", netns, "link", "del", "rx0")
        node.wait_log(r"rxmppd\[\d+\]: interface rx0 vanished", start=mark)
        await asyncio.to_thread(wait_until, lambda: listening(node) == {("127.0.0.1", None)},
                                what="rx0's addresses to leave the status")
        await exchange(alice, bob, "rx0 is gone")

        mark = node.log_mark()
        make_veth(netns)
        node.wait_log(r"rxmppd\[\d+\]: interface rx0 is there", start=mark)
        await asyncio.to_thread(wait_until, lambda: ("10.77.0.1", "rx0") in listening(node),
                                what="rx0's address to be listened on again")
        node.wait_log(r"listener\[\d+\]: accepting on 10\.77\.0\.1 port %d" % port, start=mark)
        carol = await login(node, "carol", "carol-secret", address="10.77.0.1")
        await exchange(carol, alice, "rx0 is back")
        for client in (alice, bob, carol):
            await client.close()

    in_netns(netns, lambda: run(scenario()))
    assert node.proc.poll() is None


def test_interface_names_are_checked(node_factory):
    """No namespace needed: `lo` is on every host, the other name on none."""
    node = node_factory()
    text = node.config_text().replace("addresses: [127.0.0.1]", "addresses: [lo]")
    node.write_config(text=text)
    node.add_user("alice", "alice-secret")
    node.start()
    assert ("127.0.0.1", "lo") in listening(node)

    async def scenario():
        alice = await login(node, "alice", "alice-secret", address="127.0.0.1")
        await alice.close()

    run(scenario())
    bad = node.ctl("listen", "127.0.0.1", "rxmppnosuch0", check=False)
    assert bad.returncode == 1
    assert "there is no interface named 'rxmppnosuch0' on this host" in bad.stderr
    assert ("127.0.0.1", "lo") in listening(node)
    bad = node.ctl("listen", "eth0/1", check=False)
    assert "expected an IPv4 or IPv6 address, an interface name, or any" in bad.stderr
    check = subprocess.run([os.path.join(node.bin, "rxmppd"), "-n", "--config", node.config],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    text = open(node.config).read().replace("addresses: [lo]", "addresses: [rxmppnosuch0]")
    node.write_config(text=text)
    check = subprocess.run([os.path.join(node.bin, "rxmppd"), "-n", "--config", node.config],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode != 0
    line = text[:text.index("rxmppnosuch0")].count("\n") + 1
    assert f":{line}:" in check.stderr and "no interface named 'rxmppnosuch0'" in check.stderr
