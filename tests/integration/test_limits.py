# SPDX-License-Identifier: MIT
"""Hostile input and the limits that protect a node: every refusal is the
RFC 6120 stream error with one log line naming the peer, memory stays
bounded, and after each of them a fresh login still works."""

import asyncio
import json
import os
import re
import socket
import subprocess
import time

import pytest

from raw import HEADER, Raw, stream_error
from rxmpp_node import BUILD, wait_until
from xmpp import connect_bridge, login, run

LOAD = os.path.join(BUILD, "tests", "rxmpp-load")
LIMITS = ("limits:\n  max_stanza_size: 8KiB\n  max_depth: 8\n  max_attributes: 8\n")


@pytest.fixture
def lnode(node_factory):
    node = node_factory(extra=LIMITS)
    node.add_user("alice", "alice-pw")
    node.write_bridges({"cb1": "bridge-secret-1"})
    return node.start()


def fresh_login_works(node):
    async def scenario():
        client = await login(node, "alice", "alice-pw")
        await client["xep_0199"].ping("test.example", timeout=10)
        await client.close()

    run(scenario())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


HOSTILE_AFTER_TLS = {
    "comment": (b"<!-- hello -->", "restricted-xml"),
    "processing-instruction": (b"<?evil data?>", "restricted-xml"),
    "not-well-formed": (b"<message><body></message>", "not-well-formed"),
    "unbound-prefix": (b"<x:message/>", "not-well-formed"),
    "invalid-utf8": (b"<message><body>\xc3\x28</body></message>", "not-well-formed"),
    "oversized-stanza": (b"<message><body>" + b"x" * 20000 + b"</body></message>",
                         "policy-violation"),
    "endless-start-tag": (b"<message to='" + b"y" * 20000, "policy-violation"),
    "deep-nesting": (b"<message>" + b"<a>" * 12, "policy-violation"),
    "many-attributes": (b"<message " + b" ".join(b"a%d='1'" % i for i in range(12)) + b"/>",
                        "policy-violation"),
    "stanza-before-auth": (b"<message to='alice@test.example'><body>hi</body></message>",
                           "not-authorized"),
    "unknown-element": (b"<foo xmlns='urn:example:foo'/>", "unsupported-stanza-type"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_AFTER_TLS))
def test_hostile_input_gets_its_stream_error(lnode, case):
    payload, condition = HOSTILE_AFTER_TLS[case]
    raw = Raw(lnode.client_port, lnode.certs["ca"])
    raw.starttls()
    local = raw.sock.getsockname()[1]
    raw.send(payload)
    answer = raw.read_to_end()
    raw.close()
    assert stream_error(condition) in answer, answer[-300:]
    assert answer.endswith(b"</stream:stream>")
    lnode.wait_log(rf"\[127\.0\.0\.1\]:{local}: stream error {condition}")
    fresh_login_works(lnode)


HOSTILE_BEFORE_TLS = {
    "doctype-billion-laughs": (
        b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        b"<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>",
        "restricted-xml"),
    "wrong-root": (b"<html xmlns='http://www.w3.org/1999/xhtml'>", "invalid-namespace"),
    "wrong-content-namespace": (HEADER.replace(b"jabber:client", b"jabber:server"),
                                "invalid-namespace"),
    "wrong-domain": (HEADER.replace(b"test.example", b"other.example"), "host-unknown"),
    "old-version": (HEADER.replace(b"' version='1.0'>", b"'>"), "unsupported-version"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BEFORE_TLS))
def test_hostile_stream_openings(lnode, case):
    payload, condition = HOSTILE_BEFORE_TLS[case]
    raw = Raw(lnode.client_port, lnode.certs["ca"])
    raw.send(payload)
    answer = raw.read_to_end()
    raw.close()
    assert stream_error(condition) in answer, answer[-300:]
    # RFC 6120 4.9.1.1: the error comes inside a stream header of ours.
    assert answer.startswith(b"<?xml version='1.0'?><stream:stream ")
    fresh_login_works(lnode)


def test_oversized_stanza_after_login(lnode):
    raw = Raw(lnode.client_port, lnode.certs["ca"])
    raw.login("alice", "alice-pw")
    raw.send(b"<message to='alice@test.example'><body>" + b"z" * 9000 + b"</body></message>")
    answer = raw.read_to_end()
    raw.close()
    assert stream_error("policy-violation") in answer
    lnode.wait_log(r"stream error policy-violation: stanza larger than 8192 bytes")
    fresh_login_works(lnode)


def test_memory_stays_bounded_under_endless_input(node_factory):
    # Under AddressSanitizer freed memory waits in a quarantine, which would
    # look like growth; without it the bound below holds for both builds.
    lnode = node_factory(extra=LIMITS)
    lnode.add_user("alice", "alice-pw")
    lnode.start(env=dict(os.environ, ASAN_OPTIONS="quarantine_size_mb=0"))
    listener = lnode.children()["listener"]["pid"]
    before = rss_kib(listener)
    # 40 connections each pushing a start tag that never ends, far past the limit.
    raws = []
    for _ in range(40):
        raw = Raw(lnode.client_port, lnode.certs["ca"])
        raw.starttls()
        raws.append(raw)
    for raw in raws:
        try:
            for _ in range(64):
                raw.send(b"<message to='" + b"q" * 16384)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # cut off, as it should be
    for raw in raws:
        raw.read_to_end()
        raw.close()
    after = rss_kib(listener)
    print(f"listener RSS {before} KiB before, {after} KiB after 40 x 1 MiB of hostile input")
    # Each connection may hold at most about one stanza limit of input.
    assert after - before < 40 * 64 + 8 * 1024
    fresh_login_works(lnode)


def test_timeouts_for_tls_auth_and_idle(node_factory):
    node = node_factory(extra="limits:\n  tls_handshake_timeout: 500ms\n  auth_timeout: 1s\n"
                              "  idle_timeout: 2s\n  keepalive_interval: 1s\n")
    node.add_user("alice", "alice-pw")
    node.write_bridges({"cb1": "bridge-secret-1"})
    node.start()
    # No TLS handshake on a direct-TLS port (the component port by default).
    silent = socket.create_connection(("127.0.0.1", node.component_port), timeout=10)
    assert silent.recv(1) == b""
    silent.close()
    node.wait_log(r"no TLS handshake within 500 ms; closing")
    # Connected but never authenticated.
    raw = Raw(node.client_port, node.certs["ca"])
    raw.starttls()
    assert stream_error("connection-timeout") in raw.read_to_end()
    raw.close()
    node.wait_log(r"stream error connection-timeout: not authenticated in time")
    # Authenticated and silent: whitespace keepalives, then the idle limit.
    raw = Raw(node.client_port, node.certs["ca"])
    raw.login("alice", "alice-pw")
    answer = raw.read_to_end()
    raw.close()
    assert answer.startswith(b" "), answer[:50]
    assert stream_error("connection-timeout") in answer
    node.wait_log(r"stream error connection-timeout: idle for too long")


def test_max_sessions_refuses_the_next_login(node_factory):
    node = node_factory(extra="limits:\n  max_sessions: 2\n")
    for user in ("a", "b", "c"):
        node.add_user(user, "pw-" + user)
    node.start()

    async def scenario():
        first = await login(node, "a", "pw-a")
        second = await login(node, "b", "pw-b")
        with pytest.raises(ConnectionError):
            await login(node, "c", "pw-c")
        await second.close()
        # A freed place can be taken again.
        third = await login(node, "c", "pw-c")
        await first.close()
        await third.close()

    run(scenario())
    node.wait_log(r"refused c: max_sessions \(2\) reached")
    node.wait_log(r"stream error resource-constraint")


def stream_opens(port):
    """Connects and sends a stream header: the open socket when the listener
    answers with its features, None when it closes the connection at once
    (a per-address refusal)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(HEADER)
        got = b""
        while b"</stream:features>" not in got:
            chunk = sock.recv(4096)
            if not chunk:
                sock.close()
                return None
            got += chunk
        return sock
    except (ConnectionResetError, BrokenPipeError):
        sock.close()
        return None


def test_connections_per_address_are_limited(node_factory):
    node = node_factory(extra="limits:\n  max_connections_per_address: 3\n")
    node.start()
    held = [stream_opens(node.client_port) for _ in range(3)]
    assert all(held)
    assert stream_opens(node.client_port) is None
    node.wait_log(r"refused: limits\.max_connections_per_address reached "
                  r"\(3 connections from 127\.0\.0\.1, 3 of them unauthenticated\)")
    held.pop().close()
    # With one closed, a new connection is served again (once the listener
    # has seen the close).
    def served():
        sock = stream_opens(node.client_port)
        if sock:
            sock.close()
        return sock is not None
    wait_until(served, what="a free connection slot")
    for sock in held:
        sock.close()


def test_a_flood_of_idle_unauthenticated_connections_is_cut(node_factory):
    """With the default limits, one address holds at most 256 connections
    that have not authenticated; the next is closed at once, and a slot
    comes back when one of them goes."""
    node = node_factory()
    node.add_user("alice", "alice-pw")
    node.start()
    held = []
    try:
        for _ in range(256):
            sock = stream_opens(node.client_port)
            assert sock is not None, f"refused after {len(held)}"
            held.append(sock)
        assert stream_opens(node.client_port) is None
        node.wait_log(r"refused: limits\.max_unauthenticated_per_address reached "
                      r"\(256 connections from 127\.0\.0\.1, 256 of them unauthenticated\)")
        held.pop().close()

        def served():
            sock = stream_opens(node.client_port)
            if sock:
                held.append(sock)
            return sock is not None
        wait_until(served, what="the freed slot")
        # Idle connections held nothing from one who authenticates: alice
        # is refused too until one of them goes (she is unauthenticated
        # while she logs in), then logs in.
        held.pop().close()
        fresh_login_works(node)
    finally:
        for sock in held:
            sock.close()


def test_connection_rate_is_limited_and_trusted_networks_are_exempt(node_factory):
    node = node_factory(extra="limits:\n  connection_rate_per_address: 1\n"
                              "  connection_burst_per_address: 3\n")
    node.start()
    began = time.monotonic()
    tried = [stream_opens(node.client_port) for _ in range(10)]
    elapsed = time.monotonic() - began
    served = [sock for sock in tried if sock is not None]
    # The burst of 3, and at most one a second after it.
    assert 3 <= len(served) <= 3 + int(elapsed) + 1, (len(served), elapsed)
    node.wait_log(r"refused: over limits\.connection_rate_per_address")
    for sock in served:
        sock.close()
    # The same limits, with loopback trusted: nothing is refused.
    node.write_config(extra="limits:\n  connection_rate_per_address: 1\n"
                            "  connection_burst_per_address: 3\n"
                            "  max_unauthenticated_per_address: 3\n"
                            "  trusted_networks: [192.0.2.0/24, 127.0.0.0/8]\n")
    node.ctl("reload")
    held = []
    try:
        for _ in range(20):
            sock = stream_opens(node.client_port)
            assert sock is not None, f"trusted peer refused after {len(held)}"
            held.append(sock)
    finally:
        for sock in held:
            sock.close()


def test_500_clients_from_one_address_log_in_with_the_default_limits(node_factory):
    """A conferencing web gateway logs all its users in from one address:
    500 real log-ins (TLS, SCRAM, bind) from 127.0.0.1, all held at once at
    the end (rxmpp-load setup closes them only then), with the default
    configuration; with the old default the 101st was refused."""
    node = node_factory()
    accounts = 20  # 25 resources each, under max_resources_per_user
    for i in range(accounts):
        node.add_user(f"bench{i}", "bench-password")
    node.start()
    result = subprocess.run(
        [LOAD, "setup", "--json", "--sessions", "500", "--concurrency", "20", "--accounts",
         str(accounts), "--port", str(node.client_port), "--ca", node.certs["ca"],
         "--server-root", str(node.proc.pid)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sessions"] == 500
    with node.lock:
        assert not [line for line in node.lines if "refused" in line]


def test_accounts_change_without_a_restart(node_factory):
    node = node_factory()
    node.add_user("alice", "alice-pw")
    node.start()
    listener = node.children()["listener"]["pid"]

    async def scenario():
        with pytest.raises(PermissionError):
            await login(node, "carol", "carol-pw")
        node.add_user("carol", "carol-pw")
        (await login(node, "carol", "carol-pw")).disconnect()
        result = node.ctl_input(["user", "passwd", "carol", "--stdin"], "carol-new\n")
        assert result.returncode == 0, result.stderr
        with pytest.raises(PermissionError):
            await login(node, "carol", "carol-pw")
        (await login(node, "carol", "carol-new")).disconnect()
        node.ctl("user", "del", "carol")
        with pytest.raises(PermissionError):
            await login(node, "carol", "carol-new")

    run(scenario())
    assert node.children()["listener"]["pid"] == listener
    mode = os.stat(os.path.join(node.dir, "state", "accounts")).st_mode & 0o777
    assert mode == 0o600


def test_direct_tls_port_and_plain_component_port(node_factory):
    from rxmpp_node import free_port
    direct = free_port()
    node = node_factory(extra=f"limits:\n  max_sessions: none\n")
    node.write_config(text=node.config_text().replace(
        "  component_port:", f"  direct_tls_port: {direct}\n  component_tls: plain\n"
        "  component_port:"))
    node.add_user("alice", "alice-pw")
    node.write_bridges({"cb1": "bridge-secret-1"})
    node.start()

    async def scenario():
        from xmpp import Client
        client = Client("alice@test.example", "alice-pw", node.certs["ca"])
        client.connect(address=("127.0.0.1", direct), use_ssl=True)
        await asyncio.wait_for(client.started, 15)
        bridge = await connect_bridge(node, "cb1", "bridge-secret-1", use_ssl=False)
        client.send_message(mto="cb1.test.example", mbody="over direct TLS")
        message = await asyncio.wait_for(bridge.inbox.get(), 15)
        assert message["body"] == "over direct TLS"
        await bridge.close()
        await client.close()

    run(scenario())


def test_bridge_conflict_refuse_keeps_the_first(node_factory):
    node = node_factory(extra="callbridge_conflict: refuse\n")
    node.add_user("alice", "alice-pw")
    node.write_bridges({"cb1": "bridge-secret-1"})
    node.start()

    async def scenario():
        first = await connect_bridge(node, "cb1", "bridge-secret-1")
        with pytest.raises(ConnectionError):
            await connect_bridge(node, "cb1", "bridge-secret-1")
        alice = await login(node, "alice", "alice-pw")
        alice.send_message(mto="cb1.test.example", mbody="still the first")
        message = await asyncio.wait_for(first.inbox.get(), 15)
        assert message["body"] == "still the first"
        await first.close()
        await alice.close()

    run(scenario())
    node.wait_log(r"call bridge cb1 is already connected from .*refusing the new connection")
