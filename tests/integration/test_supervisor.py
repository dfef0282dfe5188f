# SPDX-License-Identifier: MIT
"""rxmppd and its children as real processes: start-up and readiness,
restarts after kill -9, listening sockets kept across a listener restart,
throttling of a child that dies at once, reloads good and bad, orderly
shutdown, and the sd_notify handshake."""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from rxmpp_node import BIN, copy_bin_with, process_alive, wait_until

CHILDREN = ["certworker", "elector", "im", "router", "listener"]


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_starts_every_child_and_reports_ready(node):
    status = node.status()
    assert status["ready"] is True
    assert status["domain"] == "test.example"
    names = [p["name"] for p in status["processes"]]
    assert names == CHILDREN
    for p in status["processes"]:
        assert p["state"] == "ready"
        assert p["generation"] == 1
        assert p["restarts"] == 0
        assert process_alive(p["pid"])
    # The router reached both of its peers over the channels rxmppd wired.
    node.wait_log(r"router\[\d+\]: connected to listener")
    node.wait_log(r"router\[\d+\]: connected to elector")
    node.wait_log(r"listener\[\d+\]: connected to router")
    # The listening sockets are open.
    for port in (node.client_port, node.component_port):
        connect(port).close()
    text = node.ctl("status").stdout
    assert "ready" in text and "listener" in text


@pytest.mark.parametrize("victim", CHILDREN)
def test_killed_child_is_back_at_once_and_alone(node, victim):
    before = node.children()
    mark = node.log_mark()
    killed_at = time.monotonic()
    os.kill(before[victim]["pid"], signal.SIGKILL)
    back = node.wait_child_back(victim, before[victim]["pid"])
    elapsed = time.monotonic() - killed_at
    print(f"{victim} back after {elapsed * 1000:.0f} ms")
    # A first death after a good run is restarted without delay.
    node.wait_log(rf"{victim} \(pid \d+\) was killed by signal 9.*restarting in 0 ms", start=mark)
    assert back["generation"] == 2
    assert back["restarts"] == 1
    after = node.children()
    for name in CHILDREN:
        if name == victim:
            continue
        assert after[name]["pid"] == before[name]["pid"], f"{name} was restarted too"
        assert after[name]["generation"] == 1
        assert after[name]["restarts"] == 0
    # Its peers got fresh channels to the new process.
    peers = {"listener": ["router"], "router": ["listener", "elector", "im"],
             "elector": ["router", "im"], "im": ["router", "elector"]}
    for peer in peers.get(victim, []):
        node.wait_log(rf"{peer}\[\d+\]: connected to {victim} \(pid {back['pid']}, generation 2\)",
                      start=mark)
    assert node.status()["ready"] is True


STREAM_HEADER = (b"<?xml version='1.0'?><stream:stream to='test.example' xmlns='jabber:client' "
                 b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")


def read_until(sock, marker, limit=65536):
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_connection_during_listener_restart_is_accepted_not_refused(node):
    old = node.children()["listener"]["pid"]
    # Freeze the listener so the connection can only wait in the kernel's
    # queue, then kill it: the kernel keeps queueing on rxmppd's socket.
    os.kill(old, signal.SIGSTOP)
    client = connect(node.client_port)
    local_port = client.getsockname()[1]
    os.kill(old, signal.SIGKILL)
    new = node.wait_child_back("listener", old)["pid"]
    # The new listener accepts the queued connection and serves its stream.
    client.settimeout(10)
    client.sendall(STREAM_HEADER)
    answer = read_until(client, b"</stream:features>")
    assert b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>" in answer
    client.close()
    node.wait_log(rf"listener\[{new}\]: connection from \[127\.0\.0\.1\]:{local_port} ")
    connect(node.client_port).close()


def test_sigterm_stops_every_process_in_order(node):
    pids = {p["name"]: p["pid"] for p in node.status()["processes"]}
    mark = node.log_mark()
    assert node.stop(signal.SIGTERM) == 0
    for name, pid in pids.items():
        assert not process_alive(pid), f"{name} (pid {pid}) survived"
    order = [line.split("stopping ")[1].split(" ")[0]
             for line in node.lines[mark:] if "rxmppd" in line and "]: stopping " in line]
    assert order == ["listener", "router", "im", "elector", "certworker"]
    assert not os.path.exists(node.control)
    with pytest.raises(ConnectionRefusedError):
        connect(node.client_port)


def test_sigint_stops_cleanly_too(node):
    pids = [p["pid"] for p in node.status()["processes"]]
    assert node.stop(signal.SIGINT) == 0
    assert not any(process_alive(pid) for pid in pids)


def test_child_dying_at_start_is_throttled(node_factory, tmp_path):
    bin_dir = copy_bin_with(tmp_path, "rxmpp-certworker", "#!/bin/sh\nexit 1\n")
    node = node_factory(bin_dir=bin_dir).start(wait_ready=False)
    node.wait_log(r"certworker died before it was ready 5 times in a row; throttling",
                  timeout=30)
    certworker = node.children()["certworker"]
    assert certworker["state"] == "throttled"
    assert certworker["next_start_ms"] > 30000
    generation = certworker["generation"]
    assert generation == 5
    # Not restarted at full speed: nothing new for a while.
    time.sleep(2)
    assert node.children()["certworker"]["generation"] == generation
    # The supervisor is alive and the others run; the node is not ready.
    status = node.status()
    assert status["ready"] is False
    for p in status["processes"]:
        if p["name"] != "certworker":
            assert p["state"] == "ready"
    assert node.stop() == 0


def test_sighup_with_broken_config_keeps_the_old_one(node):
    pids = {p["name"]: p["pid"] for p in node.status()["processes"]}
    good = open(node.config).read()
    line = good.count("\n") + 2
    node.write_config(good + "limits:\n  max_stanza_size: huge\n")
    mark = node.log_mark()
    node.proc.send_signal(signal.SIGHUP)
    node.wait_log(r"new configuration is invalid; keeping the running one", start=mark)
    node.wait_log(rf"rxmpp\.yaml:{line}:20: limits\.max_stanza_size: expected a size", start=mark)
    assert node.proc.poll() is None
    assert {p["name"]: p["pid"] for p in node.status()["processes"]} == pids
    connect(node.client_port).close()

    # A good file is then taken, and the children confirm it.
    node.write_config(log_level="info")
    mark = node.log_mark()
    node.proc.send_signal(signal.SIGHUP)
    node.wait_log(r"rxmppd\[\d+\]: configuration reloaded", start=mark)
    assert {p["name"]: p["pid"] for p in node.status()["processes"]} == pids


def test_rxmppctl_reload_reports_errors_and_success(node):
    good = open(node.config).read()
    node.write_config(good + "bogus_key: 1\n")
    result = node.ctl("reload", check=False)
    assert result.returncode == 1
    assert f"rxmpp.yaml:{good.count(chr(10)) + 1}:1: unknown key 'bogus_key'" in result.stderr
    node.write_config(good)
    result = node.ctl("reload")
    assert "configuration reloaded" in result.stdout


def test_reloads_keep_the_children_s_descriptors(node):
    # A live reload sends the configuration only: listening sockets go to a
    # child once, when it starts, so repeated reloads open nothing new.
    def open_descriptors():
        return {p["name"]: len(os.listdir(f"/proc/{p['pid']}/fd"))
                for p in node.status()["processes"]}

    before = open_descriptors()
    for _ in range(5):
        assert "nothing restarted" in node.ctl("reload").stdout
    assert open_descriptors() == before
    connect(node.client_port).close()


def test_reload_with_a_new_port_restarts_nothing(node):
    before = node.children()
    old_port = node.client_port
    held = connect(old_port)  # accepted on the old port: must outlive it
    held.sendall(b"<?xml version='1.0'?><stream:stream to='test.example' version='1.0' "
                 b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    assert b"<stream:stream" in held.recv(4096)
    new_port = node.client_port = __import__("rxmpp_node").free_port()
    node.write_config(client_port=new_port)
    mark = node.log_mark()
    node.ctl("reload")
    node.wait_log(r"listener\[\d+\]: no longer accepting on 127\.0\.0\.1 port %d" % old_port,
                  start=mark)
    node.wait_log(r"listener\[\d+\]: accepting on 127\.0\.0\.1 port %d" % new_port,
                  start=mark)
    connect(new_port).close()
    with pytest.raises(ConnectionRefusedError):
        connect(old_port)
    # The stream accepted before the change still answers.
    held.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    answer = b""
    while b"<proceed" not in answer and b"</stream:stream>" not in answer:
        chunk = held.recv(4096)
        assert chunk, f"the held stream ended: {answer!r}"
        answer += chunk
    assert b"<proceed" in answer, answer
    held.close()
    after = node.children()
    for name in CHILDREN:
        assert after[name]["pid"] == before[name]["pid"]


def test_invalid_config_refuses_to_start(tmp_path):
    config = tmp_path / "rxmpp.yaml"
    config.write_text("domain: example.com\nlisten:\n  client_port: 0\n")
    result = subprocess.run([os.path.join(BIN, "rxmppd"), "-f", "-c", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 78
    assert f"{config}:3:16: listen.client_port: expected a whole number from 1 to 65535" \
        in result.stderr
    assert "not starting" in result.stderr


def test_check_mode_prints_a_canonical_config_that_checks_again(tmp_path):
    config = tmp_path / "rxmpp.yaml"
    config.write_text("domain: Example.org\nlimits:\n  idle_timeout: 120s\n")
    rxmppd = os.path.join(BIN, "rxmppd")
    first = subprocess.run([rxmppd, "-n", "-v", "-c", str(config)], capture_output=True,
                           text=True, timeout=30)
    assert first.returncode == 0, first.stderr
    assert 'domain: "example.org"' in first.stdout
    assert "idle_timeout: 2m" in first.stdout
    canonical = tmp_path / "canonical.yaml"
    canonical.write_text(first.stdout)
    second = subprocess.run([rxmppd, "-n", "-v", "-c", str(canonical)], capture_output=True,
                            text=True, timeout=30)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_second_daemon_on_the_same_control_socket_is_refused(node, node_factory):
    other = node_factory()
    other.write_config(node.config_text().replace(f"client_port: {node.client_port}",
                                                  f"client_port: {other.client_port}")
                       .replace(f"component_port: {node.component_port}",
                                f"component_port: {other.component_port}")
                       .replace("control_socket: control.sock",
                                f"control_socket: {node.control}"))
    other.start(wait_ready=False)
    assert other.proc.wait(timeout=10) == 1
    other.wait_log(rf"another rxmppd answers on {node.control}")
    assert node.status()["ready"] is True


def test_readiness_reaches_systemd_through_notify_socket(node_factory, tmp_path):
    path = str(tmp_path / "notify.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(path)
    sink.settimeout(15)
    try:
        node = node_factory()
        node.start(env=dict(os.environ, NOTIFY_SOCKET=path))
        message = sink.recv(4096).decode()
        assert "READY=1" in message.splitlines()
        assert f"MAINPID={node.proc.pid}" in message.splitlines()
        node.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in sink.recv(4096).decode().splitlines()
        assert node.stop() == 0
    finally:
        sink.close()


def test_garbage_on_the_control_socket_is_cut_off(node):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(node.control)
        s.settimeout(10)
        # A header announcing a frame larger than any control request.
        s.sendall(bytes([8, 0, 0, 0]) + (1 << 20).to_bytes(4, "little") + bytes(8))
        assert s.recv(16) == b""
    node.wait_log(r"control client: frame of type 8 with bad length")
    assert node.status()["ready"] is True


def test_rxmppctl_usage_and_unreachable_daemon(tmp_path):
    ctl = os.path.join(BIN, "rxmppctl")
    assert subprocess.run([ctl, "frobnicate"], capture_output=True, timeout=30).returncode == 2
    # No daemon: status says so, and what keeps the configuration from serving.
    config = tmp_path / "rxmpp.yaml"
    config.write_text("domain: none\n")
    result = subprocess.run([ctl, "--config", str(config), "--socket", str(tmp_path / "none.sock"),
                             "status"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"rxmppd is not running (nothing at {tmp_path / 'none.sock'})" in result.stdout
    assert f"{config}: domain: not set" in result.stdout, result.stdout
    assert "/etc/rxmpp/rxmpp.key: No such file or directory" in result.stdout, result.stdout
    as_json = subprocess.run([ctl, "--config", str(config), "--socket", str(tmp_path / "none.sock"),
                              "status", "--json"], capture_output=True, text=True, timeout=30)
    answer = json.loads(as_json.stdout)
    assert answer["running"] is False and answer["ready"] is False
    assert "domain: not set" in answer["problems"]
    # A socket that is there but answers nothing is a different failure.
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(tmp_path / "mute.sock"))
    listening.listen(1)
    mute = subprocess.run([ctl, "--config", str(config), "--socket", str(tmp_path / "mute.sock"),
                           "status"], capture_output=True, text=True, timeout=30)
    listening.close()
    assert mute.returncode == 1 and "no answer from rxmppd" in mute.stderr, mute.stderr


def test_status_of_a_stopped_node_with_a_ready_configuration(tmp_path, certs):
    config = tmp_path / "rxmpp.yaml"
    # Ready means the folders are there for the user it runs as too.
    (tmp_path / "state").mkdir()
    config.write_text(f"domain: test.example\nuser: root\nstate_directory: state\n"
                      f"tls:\n  key: {certs['key']}\n  certificate: {certs['cert']}\n")
    result = subprocess.run([os.path.join(BIN, "rxmppctl"), "--config", str(config), "--socket",
                             str(tmp_path / "none.sock"), "status"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"{config} is ready: start it with `systemctl start rxmpp`" in result.stdout, result.stdout
    assert "cannot start" not in result.stdout


def test_child_that_breaks_the_protocol_is_cut_off_and_restarted(node_factory, tmp_path):
    # A stand-in certworker that greets rxmppd with a frame far larger than
    # any message may be, then waits to be dealt with.
    script = ("#!/usr/bin/python3\n"
              "import os, time\n"
              "os.write(3, (1).to_bytes(2, 'little') + bytes(2) + (1 << 30).to_bytes(4, 'little')"
              " + bytes(8))\n"
              "time.sleep(60)\n")
    bin_dir = copy_bin_with(tmp_path, "rxmpp-certworker", script)
    node = node_factory(bin_dir=bin_dir).start(wait_ready=False)
    line = node.wait_log(r"rxmppd\[\d+\]: certworker: frame of type 1 with bad length 1073741824")
    assert "closing the channel" in line
    killed = node.wait_log(r"killing certworker \(pid (\d+)\) after a protocol error")
    pid = int(killed.split("pid ")[1].split(")")[0])
    node.wait_log(rf"certworker \(pid {pid}\) was killed by signal 9.*restarting")
    wait_until(lambda: node.children()["certworker"]["generation"] >= 2,
               what="certworker to be started again")
    assert not process_alive(pid)
    assert node.stop() == 0
