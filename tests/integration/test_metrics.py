# SPDX-License-Identifier: MIT
"""The Prometheus endpoint (metrics.listen) and rxmppctl stats: off by
default (nothing more listens), output that `promtool check metrics`
accepts, counters that move after a log-in, a message and a wrong password,
the same figures from rxmppctl stats (--json), an endpoint that keeps
answering while the listener is killed and restarted, no HTTP on the
client ports, and role, term, leader and elections moving when a
3-node cluster's leader is killed."""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from rxmpp_node import free_port, wait_until
from test_cluster import cluster_node, kill_node, leader_of
from xmpp import login, run

PROMTOOL = shutil.which("promtool")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def with_metrics(node_factory, extra=""):
    port = free_port()
    node = node_factory(extra=f"metrics:\n  listen: 127.0.0.1:{port}\n" + extra)
    node.metrics_port = port
    return node


def scrape_text(node, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics",
                                timeout=timeout) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return answer.read().decode()


def parse(text):
    """{(name, ((label, value), ...)): float}"""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def scrape(node):
    return parse(scrape_text(node))


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def listening_ports(pids):
    """TCP ports in LISTEN held by any of `pids` (ss from iproute2)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


def node_pids(node):
    return [node.proc.pid] + [c["pid"] for c in node.children().values() if c["pid"]]


def test_off_by_default_nothing_more_listens(node):
    assert "metrics" not in open(node.config).read()
    assert listening_ports(node_pids(node)) == {node.client_port, node.component_port}
    # rxmppctl stats needs no endpoint: it asks the control socket.
    out = node.ctl("stats").stdout
    assert "rxmpp_client_sessions" in out


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) missing")
def test_promtool_accepts_and_counters_move(node_factory):
    node = with_metrics(node_factory)
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    node.start()
    assert node.metrics_port in listening_ports([node.proc.pid])
    before = scrape(node)

    async def scenario():
        alice = await login(node, "alice", "alice-pw")
        bob = await login(node, "bob", "bob-pw")
        alice.send_message(mto="bob@test.example", mbody="counted", mtype="chat")
        got = await bob.next_message()
        assert got["body"] == "counted"
        with pytest.raises(PermissionError):
            await login(node, "alice", "Not-Alices-Password", mech="SCRAM-SHA-256")
        # Figures reach the supervisor within a second; both are still in
        # (polled without blocking the clients' loop).
        for _ in range(100):
            if value(scrape(node), "rxmpp_client_sessions") == 2:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("two client sessions never showed in the metrics")
        await alice.close()
        await bob.close()

    run(scenario())

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # Each child reports on its own second: wait until every figure is in.
    def settled():
        nonlocal after, text
        text = scrape_text(node)
        after = parse(text)
        return (moved("rxmpp_logins_total", kind="client") >= 2
                and moved("rxmpp_login_failures_total", reason="not_authorized") >= 1
                and moved("rxmpp_stanzas_routed_total", kind="message") >= 1
                and value(after, "rxmpp_client_sessions") == 0)

    after, text = {}, ""
    wait_until(settled, what="the log-ins, the failure and the message in the metrics")
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert moved("rxmpp_logins_total", kind="client") == 2
    assert moved("rxmpp_login_failures_total", reason="not_authorized") == 1
    assert moved("rxmpp_login_failures_total", reason="temporary_auth_failure") == 0
    assert moved("rxmpp_stanzas_routed_total", kind="message") >= 1
    assert moved("rxmpp_tls_handshakes_total") >= 3
    assert moved("rxmpp_tls_failures_total") == 0
    assert value(after, "rxmpp_child_up", process="listener") == 1
    assert value(after, "rxmpp_certificate_expiry_seconds", certificate="node",
                 subject="CN=test.example") > 0
    assert value(after, "rxmpp_process_resident_memory_bytes", process="listener") > 0
    assert re.search(r'^rxmpp_build_info\{version="[0-9.]+"\} 1$', text, re.M)

    # rxmppctl stats says the same, for people and for scripts.
    human = node.ctl("stats").stdout
    assert re.search(r"rxmpp_logins_total\n.*\n\s+kind=client\s+2\n", human), human
    document = json.loads(node.ctl("stats", "--json").stdout)
    families = {f["name"]: f for f in document["metrics"]}
    logins = families["rxmpp_logins_total"]
    assert logins["type"] == "counter"
    assert {"labels": {"kind": "client"}, "value": 2} in logins["samples"]
    failures = families["rxmpp_login_failures_total"]["samples"]
    assert {"labels": {"reason": "not_authorized"}, "value": 1} in failures


def test_answers_while_the_listener_is_killed_and_restarted(node_factory):
    node = with_metrics(node_factory)
    node.add_user("alice", "alice-pw")
    node.start()

    async def one_login():
        client = await login(node, "alice", "alice-pw")
        await client.close()

    run(one_login())
    wait_until(lambda: value(scrape(node), "rxmpp_logins_total", kind="client") == 1,
               what="the log-in counted")
    restarts = 3
    for round_ in range(restarts):
        pid = node.children()["listener"]["pid"]
        os.kill(pid, signal.SIGKILL)
        # Scraped at once and all the while the listener is away.
        answers = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            samples = scrape(node)
            answers += 1
            if value(samples, "rxmpp_child_restarts_total", process="listener") == round_ + 1:
                break
        assert answers >= 1
        node.wait_child_back("listener", pid)
    wait_until(lambda: value(scrape(node), "rxmpp_child_up", process="listener") == 1,
               what="the listener up again in the metrics")
    samples = scrape(node)
    assert value(samples, "rxmpp_child_restarts_total", process="listener") == restarts
    # The dead listeners' counters stay in the node's: counters only grow.
    assert value(samples, "rxmpp_logins_total", kind="client") == 1
    assert value(samples, "rxmpp_tls_handshakes_total") >= 1


def test_not_reachable_on_the_client_ports(node_factory):
    node = with_metrics(node_factory).start()
    assert "rxmpp_build_info" in scrape_text(node)
    for port in (node.client_port, node.component_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.settimeout(5)
            got = b""
            try:
                while len(got) < 65536:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except (socket.timeout, ConnectionResetError):
                pass
        assert b"HTTP/" not in got and b"rxmpp_" not in got, got[:200]
    # Nor is the metrics port an XMPP port: it speaks only HTTP.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/", timeout=5)
    assert refused.value.code == 404


def test_bad_address_refused_at_start(node_factory):
    node = node_factory(extra="metrics:\n  listen: metrics.example:9300\n")
    check = subprocess.run([os.path.join(node.bin, "rxmppd"), "-n", "--config", node.config],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode != 0
    assert "metrics.listen: metrics.example is not an IPv4 or IPv6 address" in check.stderr


def test_leader_killed_role_term_and_elections_move(node_factory, certs):
    nodes = []
    for _ in range(3):
        port = free_port()
        node = cluster_node(node_factory, certs, extra=f"metrics:\n  listen: 127.0.0.1:{port}\n")
        node.metrics_port = port
        nodes.append(node.start())
    nodes[0].ctl("cluster", "initialize")
    for node in nodes[1:]:
        node.ctl("cluster", "join", nodes[0].cluster_address)
    def ages(samples):
        return [v for (name, _), v in samples.items()
                if name == "rxmpp_cluster_heartbeat_age_seconds"]

    wait_until(lambda: all(value(scrape(n), "rxmpp_cluster_members") == 3 for n in nodes),
               timeout=20, what="three members in every node's metrics")
    old = leader_of(nodes)
    # The leader hears every member; a follower at least the leader.
    wait_until(lambda: len(ages(scrape(old))) == 2, timeout=10, what="the leader's two ages")
    before = {id(n): scrape(n) for n in nodes}
    assert value(before[id(old)], "rxmpp_cluster_role", role="leader") == 1
    term = value(before[id(old)], "rxmpp_cluster_term")
    leaders = {labels for (name, labels) in before[id(old)] if name == "rxmpp_cluster_leader_info"}
    assert len(leaders) == 1
    for n in nodes:
        links = [k for k in before[id(n)] if k[0] == "rxmpp_cluster_peer_link_up"]
        assert len(ages(before[id(n)])) >= 1 and len(links) == 2, before[id(n)]
    kill_node(old)
    survivors = [n for n in nodes if n is not old]
    wait_until(lambda: leader_of(survivors) is not None, timeout=20, what="a new leader")
    new = leader_of(survivors)

    def settled():
        after = scrape(new)
        return (value(after, "rxmpp_cluster_role", role="leader") == 1
                and value(after, "rxmpp_cluster_term") > term)

    wait_until(settled, timeout=10, what="the new leader's metrics")
    after = scrape(new)
    moved = value(after, "rxmpp_cluster_elections_won_total") - value(
        before[id(new)], "rxmpp_cluster_elections_won_total")
    assert moved == 1
    assert value(after, "rxmpp_cluster_elections_started_total") > value(
        before[id(new)], "rxmpp_cluster_elections_started_total")
    new_leaders = {labels for (name, labels) in after if name == "rxmpp_cluster_leader_info"}
    assert new_leaders and new_leaders != leaders
    # The dead member: its link down on both survivors, and no fresh
    # heartbeat age for it (absent, or older than an election timeout).
    (dead_label,) = leaders
    dead = dict(dead_label)["leader"]
    for n in survivors:
        wait_until(lambda: value(scrape(n), "rxmpp_cluster_peer_link_up", member=dead) == 0
                   and (("rxmpp_cluster_peer_link_up", (("member", dead),)) in scrape(n)),
                   timeout=10, what="the dead member's link down")
        age = scrape(n).get(("rxmpp_cluster_heartbeat_age_seconds", (("member", dead),)))
        assert age is None or age > 0.5, age
