# SPDX-License-Identifier: MIT
"""rxmppctl dns check against a real DNS server: dnsmasq from Debian on
loopback, with its own configuration in the test's folder (no system
service), serving good and broken SRV records for test.example; the node
is a real rxmpp node on 127.0.0.1, so connections and certificates are
probed for real."""

import json
import os
import shutil
import subprocess

import pytest
from rxmpp_node import free_port, wait_until

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


@pytest.fixture
def dns(tmp_path):
    """Starts dnsmasq with the given records; ends it by PID."""
    started = []

    def serve(srv=(), hosts=()):
        port = free_port()
        conf = tmp_path / f"dnsmasq-{port}.conf"
        lines = [f"port={port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv",
                 "no-hosts", "no-negcache",
                 # The test zones are its own: names without data are NXDOMAIN.
                 "local=/test.example/", "local=/other.example/", f"log-facility={tmp_path}/dnsmasq.log", "log-queries"]
        lines += [f"srv-host={name},{target},{p},{priority},{weight}"
                  for name, target, p, priority, weight in srv]
        lines += [f"host-record={name},{address}" for name, address in hosts]
        conf.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen([DNSMASQ, "--keep-in-foreground", f"--conf-file={conf}",
                                    "--pid-file=", "--user=root"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(process)
        wait_until(lambda: process.poll() is not None or os.path.exists(f"{tmp_path}/dnsmasq.log")
                   and "started" in open(f"{tmp_path}/dnsmasq.log").read(),
                   what="dnsmasq to start")
        assert process.poll() is None, process.stderr.read().decode()
        return f"127.0.0.1:{port}"

    yield serve
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def dns_check(node, server, *args):
    return node.ctl("dns", "check", *args, "--server", server, check=False)


CLIENT = "_xmpp-client._tcp.test.example"
COMPONENT = "_xmpp-component._tcp.test.example"


def test_good_records_pass_and_show_the_order_clients_try(node, dns):
    server = dns(srv=[(CLIENT, "a.test.example", node.client_port, 10, 60),
                      (CLIENT, "b.test.example", node.client_port, 10, 40),
                      (CLIENT, "c.test.example", node.client_port, 20, 0),
                      (COMPONENT, "a.test.example", node.component_port, 0, 0)],
                 hosts=[("a.test.example", "127.0.0.1"), ("b.test.example", "127.0.0.1"),
                        ("c.test.example", "127.0.0.1")])
    result = dns_check(node, server)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ERROR" not in out and "WARNING" not in out, out
    for target in ["a", "b", "c"]:
        assert (f"OK       {CLIENT}: {target}.test.example (127.0.0.1:{node.client_port}) accepts "
                f"TLS; its certificate covers test.example") in out, out
    assert (f"OK       {COMPONENT}: a.test.example (127.0.0.1:{node.component_port}) accepts TLS"
            in out), out
    p = node.client_port
    assert (f"INFO     {CLIENT}: the order clients try: priority 10: a.test.example:{p} (60% first), "
            f"b.test.example:{p} (40% first); then priority 20: c.test.example:{p} (100% first) - "
            "one draw: ") in out, out
    assert out.rstrip().endswith("0 errors")


def test_broken_records_each_get_their_verdict(node, dns):
    server = dns(srv=[(CLIENT, "ghost.test.example", node.client_port, 10, 10),
                      (CLIENT, "stranger.test.example", node.client_port, 10, 10),
                      (COMPONENT, "node.test.example", node.component_port + 1, 10, 10)],
                 hosts=[("stranger.test.example", "127.0.0.2"), ("node.test.example", "127.0.0.1")])
    result = dns_check(node, server)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    wrong = node.component_port + 1
    expected = [
        f"ERROR    {CLIENT}: ghost.test.example has no address (no A or AAAA record)",
        f"WARNING  {CLIENT}: stranger.test.example has the address 127.0.0.2, which is not a cluster member",
        f"ERROR    {CLIENT}: stranger.test.example (127.0.0.2:{node.client_port}) does not accept a "
        "TCP connection (Connection refused)",
        f"ERROR    {CLIENT}: the cluster member 127.0.0.1 has no record pointing at it",
        f"ERROR    {COMPONENT}: node.test.example points at port {wrong}, but the nodes listen on port "
        f"{node.component_port}",
        f"ERROR    {COMPONENT}: node.test.example (127.0.0.1:{wrong}) does not accept a TCP connection",
    ]
    for line in expected:
        assert line in out, f"{line!r} not in:\n{out}"
    assert out.rstrip().endswith("5 errors"), out


def test_no_records_and_a_certificate_for_another_domain(node, dns):
    server = dns(srv=[("_xmpp-client._tcp.other.example", "node.other.example", node.client_port, 0, 0),
                      ("_xmpp-component._tcp.other.example", "node.other.example",
                       node.component_port, 0, 0)],
                 hosts=[("node.other.example", "127.0.0.1")])
    missing = dns_check(node, server)
    assert missing.returncode == 1
    assert f"ERROR    {CLIENT}: no SRV records: clients find no server by DNS" in missing.stdout
    assert f"ERROR    {COMPONENT}: no SRV records: call bridges find no server by DNS" in missing.stdout

    other = dns_check(node, server, "other.example", "--json")
    assert other.returncode == 1
    answer = json.loads(other.stdout)
    assert answer["domain"] == "other.example"
    texts = [(f["verdict"], f["service"], f["text"]) for f in answer["findings"]]
    # The client port refuses the domain in XMPP already; the component
    # port (TLS first) shows the certificate.
    assert ("error", "_xmpp-client._tcp.other.example",
            f"node.other.example (127.0.0.1:{node.client_port}) ends the stream with the error "
            "host-unknown") in texts, texts
    assert [t for t in texts if t[:2] == ("error", "_xmpp-component._tcp.other.example") and
            t[2].startswith(f"node.other.example (127.0.0.1:{node.component_port}) presents a "
                            "certificate") and t[2].endswith("that does not cover other.example")], texts
    assert answer["errors"] == sum(1 for verdict, _, _ in texts if verdict == "error")


def test_a_dns_server_that_does_not_answer_and_bad_usage(node):
    # A port nobody serves: the resolver gives up after its retries.
    silent = f"127.0.0.1:{free_port()}"
    result = dns_check(node, silent)
    assert result.returncode == 1
    assert f"ERROR    {CLIENT}: no answer from the DNS server for {CLIENT}" in result.stdout, result.stdout
    bad = dns_check(node, "dns.example:53")
    assert bad.returncode == 2 and "expected an IPv4 address" in bad.stderr
