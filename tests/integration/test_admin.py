# SPDX-License-Identifier: MIT
"""rxmppctl's CMS verbs against a running node: each changes only what it
must in the configuration or call-bridges file, the node reloads, and the
effect is seen by real clients and call bridges."""

import json
import os
import socket

import pytest

from certs import issue_server_cert, serial_of
from raw import HEADER, Raw
from rxmpp_node import free_port, wait_until
from xmpp import connect_bridge, login, run


@pytest.fixture
def anode(node_factory):
    node = node_factory()
    for user in ("a", "b", "c"):
        node.add_user(user, "pw-" + user)
    return node.start()


def test_callbridge_add_then_del(anode):
    out = anode.ctl("callbridge", "add", "cb7").stdout
    assert "call bridge cb7 added" in out
    lines = out.strip().splitlines()
    secret = lines[[i for i, line in enumerate(lines) if "shown once" in line][0] + 1]
    assert len(secret) >= 24
    mode = os.stat(os.path.join(anode.dir, "callbridges.yaml")).st_mode & 0o777
    assert mode == 0o640
    listed = anode.ctl("callbridge", "list").stdout
    assert "cb7" in listed and "cb7.test.example" in listed and secret in listed

    async def bridge_logs_in():
        bridge = await connect_bridge(anode, "cb7", secret)
        await bridge.close()

    run(bridge_logs_in())
    assert "deleted" in anode.ctl("callbridge", "del", "cb7").stdout

    async def bridge_is_refused():
        with pytest.raises(ConnectionError):
            await connect_bridge(anode, "cb7", secret)

    run(bridge_is_refused())
    anode.wait_log(r"component stream for unknown address cb7\.test\.example")
    assert anode.ctl("callbridge", "del", "cb7", check=False).returncode == 1


def test_callbridge_add_secret_from_stdin(anode):
    result = anode.ctl_input(["callbridge", "add-secret", "cb8", "--stdin"], "entered-elsewhere-1\n")
    assert result.returncode == 0, result.stderr
    # The secret never appears in the command line, and works.
    async def bridge():
        peer = await connect_bridge(anode, "cb8", "entered-elsewhere-1")
        await peer.close()

    run(bridge())
    short = anode.ctl_input(["callbridge", "add-secret", "cb8", "--stdin"], "short\n")
    assert short.returncode == 1 and "the secret must be 8 to 255 characters" in short.stderr


def test_a_secret_with_yaml_characters_is_stored_escaped_and_works(anode):
    # Quotes, ": " and " #" would end or comment out an unescaped scalar.
    secret = "a\"b'c: #d\\e"
    path = os.path.join(anode.dir, "callbridges.yaml")
    with open(path, "w") as f:
        f.write("# bridges of this node\n")
    for entry in ("cb9", "cb10"):
        result = anode.ctl_input(["callbridge", "add-secret", "--stdin", entry], secret + "\n")
        assert result.returncode == 0, result.stderr
    # A second time: the existing entry's value is spliced, escaped too.
    result = anode.ctl_input(["callbridge", "add-secret", "cb9", "--stdin"], secret + "\n")
    assert result.returncode == 0, result.stderr
    text = open(path).read()
    assert text.startswith("# bridges of this node\n")
    assert 'cb9: "a\\"b\'c: #d\\\\e"' in text, text
    listed = json.loads(anode.ctl("callbridge", "list", "--json").stdout)
    assert {b["name"]: b["secret"] for b in listed} == {"cb9": secret, "cb10": secret}

    async def bridge():
        peer = await connect_bridge(anode, "cb9", secret)
        await peer.close()

    run(bridge())


def test_user_add_takes_name_at_the_nodes_domain_and_refuses_another(anode):
    result = anode.ctl_input(["user", "add", "dora@Test.Example", "--stdin"], "pw-dora\n")
    assert result.returncode == 0 and "user dora added" in result.stdout, result.stderr
    refused = anode.ctl_input(["user", "add", "erin@other.example", "--stdin"], "pw-erin\n")
    assert refused.returncode == 1
    assert ("erin@other.example is not an account of this node, whose domain is test.example"
            in refused.stderr), refused.stderr
    assert "erin" not in anode.ctl("user", "list").stdout.split()

    async def dora_logs_in():
        client = await login(anode, "dora", "pw-dora")
        await client.close()

    run(dora_logs_in())
    assert "user dora deleted" in anode.ctl("user", "del", "dora@test.example").stdout


def test_max_sessions_2_refuses_the_third_login(anode):
    text = open(anode.config).read()
    anode.ctl("max-sessions", "2")
    assert open(anode.config).read().startswith(text)  # only appended to

    async def scenario():
        first = await login(anode, "a", "pw-a")
        second = await login(anode, "b", "pw-b")
        with pytest.raises(ConnectionError):
            await login(anode, "c", "pw-c")
        await first.close()
        await second.close()

    run(scenario())
    anode.wait_log(r"stream error resource-constraint")
    anode.ctl("max-sessions", "none")
    assert "max_sessions: none" in open(anode.config).read()


def test_disable_and_enable(anode):
    anode.ctl("disable")
    sock = socket.create_connection(("127.0.0.1", anode.client_port), timeout=5)
    sock.settimeout(1.5)
    sock.sendall(HEADER)
    with pytest.raises(socket.timeout):
        sock.recv(100)  # queued by the kernel, never served while disabled
    sock.close()
    anode.ctl("enable")

    async def scenario():
        client = await login(anode, "a", "pw-a")
        await client.close()

    run(scenario())


def test_listen_and_domain_say_what_restarts(anode):
    before = anode.children()
    result = anode.ctl("listen", "127.0.0.1")
    assert "configuration reloaded; nothing restarted" in result.stdout
    result = anode.ctl("domain", "test.example")
    assert "nothing restarted" in result.stdout
    bad = anode.ctl("listen", "not/an-address", check=False)
    assert bad.returncode == 1
    assert "listen.addresses: expected an IPv4 or IPv6 address, an interface name" in bad.stderr
    assert anode.children()["listener"]["pid"] == before["listener"]["pid"]
    # The domain changes (the listener restarts for it), but the certificate
    # does not cover it: the certificate worker says so and rxmppctl fails.
    result = anode.ctl("domain", "other.example", check=False)
    assert result.returncode == 1
    assert "configuration reloaded; restarted: listener" in result.stderr
    assert "certworker refused it" in result.stderr
    assert "does not cover the domain other.example" in result.stderr
    wait_until(lambda: anode.children()["listener"]["pid"] != before["listener"]["pid"],
               what="a new listener")
    assert anode.status()["domain"] == "other.example"
    assert anode.status()["certificate"]["refused"] is True
    anode.ctl("domain", "test.example")
    assert anode.status()["certificate"]["refused"] is False
    port = free_port()
    text = open(anode.config).read().replace(f"client_port: {anode.client_port}",
                                              f"client_port: {port}")
    anode.write_config(text=text)
    # A new port reaches the running listener; its sessions stay.
    listener = anode.children()["listener"]["pid"]
    result = anode.ctl("reload")
    assert (f"nothing restarted; closed 127.0.0.1:{anode.client_port}; listening on "
            f"127.0.0.1:{port}") in result.stdout
    assert anode.children()["listener"]["pid"] == listener
    anode.client_port = port
    anode.add_user("dora", "dora-secret")

    async def new_port():
        client = await login(anode, "dora", "dora-secret")
        await client.close()

    run(new_port())


def test_verbs_have_help_and_usage_errors(anode):
    for verb in ("domain", "listen", "certs", "enable", "disable", "max-sessions", "config",
                 "callbridge", "user", "cluster"):
        result = anode.ctl(verb, "--help")
        assert "usage: rxmppctl" in result.stdout, verb
    assert anode.ctl("max-sessions", "zero", check=False).returncode == 2
    assert anode.ctl("domain", check=False).returncode == 2


def test_status_shows_service_sessions_bridges_and_certificate(anode):
    import json

    anode.write_bridges({"cb1": "bridge-secret-1"})
    anode.ctl("reload")

    async def scenario():
        client = await login(anode, "a", "pw-a")
        bridge = await connect_bridge(anode, "cb1", "bridge-secret-1")

        def counted():
            status = json.loads(anode.ctl("status", "--json").stdout)
            return status if status["sessions"] == 1 and \
                status["callbridges_connected"] == 1 else None

        status = wait_until(counted, what="the counts in the status")
        assert status["enabled"] is True
        assert status["client_port"] == anode.client_port
        assert 0 <= status["certificate_days_left"] <= 2  # the test certificate's life
        text = anode.ctl("status").stdout
        assert "sessions: 1 clients, 1 call bridges connected" in text
        assert "XMPP service: enabled" in text and "State: " in text
        await bridge.close()
        await client.close()

    run(scenario())


def test_concurrent_rxmppctl_edits_lose_nothing(anode):
    import subprocess

    ctl = os.path.join(anode.bin, "rxmppctl")
    runs = [subprocess.Popen([ctl, "--config", anode.config, "user", "add", f"u{i}", "--stdin"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for i in range(20)]
    for i, run_ in enumerate(runs):
        run_.stdin.write(f"pw{i}\n")
        run_.stdin.close()
    for run_ in runs:
        assert run_.wait(timeout=120) == 0, run_.stderr.read()
    listed = anode.ctl("user", "list").stdout.split()
    assert all(f"u{i}" in listed for i in range(20))


def test_certs_change_live_without_dropping_sessions(anode):
    key, cert = issue_server_cert(anode.dir, anode.certs["ca"], anode.certs["ca_key"], "renewed")
    def pids():
        return {name: child["pid"] for name, child in anode.children().items()}

    before = pids()

    async def scenario():
        a = await login(anode, "a", "pw-a")
        result = anode.ctl("certs", key, cert)
        assert "configuration reloaded; nothing restarted" in result.stdout
        anode.wait_log(r"listener\[\d+\]: TLS certificate replaced: CN=test.example from " + cert)
        raw = Raw(anode.client_port, anode.certs["ca"])
        raw.starttls()
        assert raw.sock.getpeercert()["serialNumber"].upper() == serial_of(cert)
        raw.close()
        # The session from before the change still carries traffic both ways.
        b = await login(anode, "b", "pw-b")
        a.send_message(mto="b@test.example", mbody="after the new certificate")
        assert (await b.next_message())["body"] == "after the new certificate"
        b.send_message(mto="a@test.example", mbody="and back")
        assert (await a.next_message())["body"] == "and back"
        await b.close()
        await a.close()

    run(scenario())
    assert pids() == before


def test_edits_before_the_first_start_are_kept_and_taken_at_start(node_factory):
    # Setting a node up before rxmppd runs is normal: the edit succeeds and
    # says so, and the daemon starts with it.
    node = node_factory()
    node.write_config()
    added = node.ctl("callbridge", "add", "cb9")
    assert "rxmppd is not running" in added.stdout
    secret = added.stdout.splitlines()[1]
    assert "rxmppd is not running" in node.ctl("max-sessions", "1").stdout
    node.start()

    async def scenario():
        bridge = await connect_bridge(node, "cb9", secret)
        await bridge.close()

    run(scenario())
    assert "max_sessions: 1" in open(node.config).read()
