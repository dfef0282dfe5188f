# SPDX-License-Identifier: MIT
"""No user can switch routing off (issue 23, point 1).  One account with
hundreds of available resources, logged in from several source addresses,
sends one large presence to its own bare JID: the fan-out stops at
limits.max_fanout_bytes and the sender hears policy-violation; with that cap
raised, the router's channel to the listener fills beyond its budget and
applies backpressure instead of closing.  Clients that never read are shed
by limits.max_queued_bytes_total, a bind beyond max_resources_per_user gets
resource-constraint.  Throughout and afterwards two other users keep
exchanging messages, the listener and the router keep their pids and the
node stays ready.  A channel between two children that breaks anyway is
healed by the supervisor, which says the node is degraded until then."""

import ctypes
import os
import signal
import socket
import threading
import time

import pytest

from raw import Raw, stream_error
from rxmpp_node import wait_until

DOMAIN = "test.example"
RESOURCES = 270
SOURCES = [f"127.0.0.{n}" for n in range(2, 10)]
BIG_STATUS = b"x" * 250_000


class Conversation(threading.Thread):
    """Alice and Bob, raw TLS clients, send each other numbered messages
    until stopped; every one must arrive, none may bounce."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.alice = Raw(node.client_port, node.certs["ca"], timeout=20)
        assert b"type='result'" in self.alice.login("alice", "alice-pw", "desk")
        self.bob = Raw(node.client_port, node.certs["ca"], timeout=20)
        assert b"type='result'" in self.bob.login("bob", "bob-pw", "phone")
        self.halt = threading.Event()
        self.exchanged = 0
        self.failure = None

    def one_round(self, n):
        for sender, receiver, to in ((self.alice, self.bob, "bob@test.example/phone"),
                                     (self.bob, self.alice, "alice@test.example/desk")):
            body = f"round {n} to {to}".encode()
            sender.send(b"<message type='chat' to='" + to.encode() + b"'><body>" + body +
                        b"</body></message>")
            got = receiver.read_until(b"</message>")
            assert body in got and b"type='error'" not in got and b"error" not in got, got
            self.exchanged += 1

    def run(self):
        n = 0
        try:
            while not self.halt.is_set() and n < 100000:
                n += 1
                self.one_round(n)
                time.sleep(0.02)
        except Exception as error:  # reported by stop()
            self.failure = repr(error)

    def count_after(self, seconds):
        """Messages exchanged during the next `seconds`."""
        before = self.exchanged
        time.sleep(seconds)
        return self.exchanged - before

    def stop(self):
        self.halt.set()
        self.join(60)
        assert not self.is_alive(), "the conversation hung"
        assert self.failure is None, self.failure
        self.alice.close()
        self.bob.close()


def pids(node):
    children = node.children()
    return children["listener"]["pid"], children["router"]["pid"]


def assert_node_healthy(node, before):
    assert pids(node) == before, "the listener or the router restarted"
    status = node.status()
    assert status["ready"] is True and status["channels_down"] == 0, status


def login_resources(node, user, password, count, **kwargs):
    """`count` raw sessions of `user` spread over SOURCES, each available."""
    conns = []
    for i in range(count):
        raw = Raw(node.client_port, node.certs["ca"], timeout=20,
                  source=SOURCES[i % len(SOURCES)], **kwargs)
        answer = raw.login(user, password, f"r{i}")
        assert b"type='result'" in answer, answer
        conns.append(raw)
    return conns


def big_presence(user):
    return (f"<presence to='{user}@{DOMAIN}'><status>".encode() + BIG_STATUS +
            b"</status></presence>")


def test_one_presence_to_many_resources_cannot_switch_routing_off(node_factory):
    node = node_factory(extra="limits:\n  max_resources_per_user: none\n")
    for user in ("alice", "bob", "mallory"):
        node.add_user(user, f"{user}-pw")
    node.start()
    before = pids(node)
    talk = Conversation(node)
    talk.start()
    mallory = login_resources(node, "mallory", "mallory-pw", RESOURCES)
    for raw in mallory:
        raw.send(b"<presence/>")
    assert talk.count_after(0.5) > 0

    # The default cap: 4 MiB of copies, the rest not sent, the sender told.
    mark = node.log_mark()
    mallory[0].send(big_presence("mallory"))
    answer = mallory[0].read_until(b"</presence>", limit=4 << 20)
    assert b'type="error"' in answer and b"<policy-violation" in answer, answer[-300:]
    node.wait_log(r"a presence of \d+ bytes from mallory@test\.example/r0 to "
                  r"mallory@test\.example stopped after \d+ bytes of copies", start=mark)
    assert talk.count_after(1.0) > 0
    assert_node_healthy(node, before)

    # No cap on the fan-out: the router queues more than the channel's budget
    # for the listener in one turn; backpressure, refusals, no closing.
    node.write_config(text=node.config_text(
        extra="limits:\n  max_resources_per_user: none\n  max_fanout_bytes: 1024MiB\n"
              "  max_queued_bytes_total: 4095MiB\n"))
    node.ctl("reload")
    mark = node.log_mark()
    mallory[1].send(big_presence("mallory"))
    node.wait_log(r"router\[\d+\]: channel to listener congested", start=mark, timeout=30)
    node.wait_log(r"router\[\d+\]: channel to listener drained", start=mark, timeout=60)
    # Beyond the budget (64 MiB): refused, not closed.
    node.wait_log(r"cannot deliver to session \d+: the listener's queue is full", start=mark)
    assert talk.count_after(1.0) > 0
    assert_node_healthy(node, before)
    for line in node.lines[mark:]:
        assert "closing the channel" not in line and "service-unavailable" not in line, line

    for raw in mallory:
        raw.close()
    # Afterwards too.
    assert talk.count_after(2.0) > 0
    talk.stop()
    assert_node_healthy(node, before)


def test_resources_per_account_are_limited(node_factory):
    node = node_factory(extra="limits:\n  max_resources_per_user: 3\n")
    node.add_user("mallory", "mallory-pw")
    node.start()
    held = login_resources(node, "mallory", "mallory-pw", 3)
    extra = Raw(node.client_port, node.certs["ca"], source=SOURCES[0])
    answer = extra.login("mallory", "mallory-pw", "r3")
    assert b"type='error'" in answer and b"<resource-constraint" in answer, answer
    node.wait_log(r"refused a resource of mallory: max_resources_per_user \(3\) reached")
    extra.close()
    # A freed place can be taken again.
    held.pop().close()

    def bound_again():
        raw = Raw(node.client_port, node.certs["ca"], source=SOURCES[1])
        try:
            return b"type='result'" in raw.login("mallory", "mallory-pw", "again")
        finally:
            raw.close()
    wait_until(bound_again, what="a free resource")
    for raw in held:
        raw.close()


def test_clients_that_never_read_are_shed_not_the_node(node_factory):
    node = node_factory(extra="limits:\n  max_queued_bytes_total: 1MiB\n")
    for user in ("alice", "bob", "mallory"):
        node.add_user(user, f"{user}-pw")
    node.start()
    before = pids(node)
    talk = Conversation(node)
    talk.start()
    # Twelve available resources that never read, and one (unavailable,
    # so it gets no copies) that floods them.
    stalled = login_resources(node, "mallory", "mallory-pw", 12, rcvbuf=4096)
    for raw in stalled:
        raw.send(b"<presence/>")
    sender = Raw(node.client_port, node.certs["ca"], source=SOURCES[-1])
    assert b"type='result'" in sender.login("mallory", "mallory-pw", "flood")
    mark = node.log_mark()
    pattern = r"stream error resource-constraint: \d+ bytes wait for it"
    for _ in range(200):
        sender.send(f"<presence to='mallory@{DOMAIN}'><status>".encode() + b"y" * 200_000 +
                    b"</status></presence>")
        if any("limits.max_queued_bytes_total" in line for line in node.lines[mark:]):
            break
        time.sleep(0.05)
    node.wait_log(pattern, start=mark, timeout=30)
    # A shed client's stream ends (whatever it did not read comes first).
    assert any(raw_closed(raw) for raw in stalled), "no stalled client was closed"
    assert talk.count_after(1.0) > 0
    for raw in stalled:
        raw.close()
    sender.close()
    assert talk.count_after(1.0) > 0
    talk.stop()
    assert_node_healthy(node, before)


def raw_closed(raw):
    """Reads what is left; true when the server ended the connection."""
    raw.sock.settimeout(2)
    data = b""
    try:
        while len(data) < (64 << 20):
            chunk = raw.sock.recv(1 << 20)
            if not chunk:
                return True
            data += chunk
    except (TimeoutError, OSError):
        return stream_error("resource-constraint") in data
    return False


SYS_PIDFD_GETFD = 438  # x86_64 and aarch64 alike


def break_channel(pid, fd):
    """Shuts down the socket at descriptor `fd` of process `pid` (a child of
    ours, so ptrace rules allow it): both ends of that channel see it end,
    as when the kernel or a bug breaks it."""
    pidfd = os.pidfd_open(pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        assert copy >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    sock = socket.socket(fileno=copy)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def exchange(alice, bob, text):
    body = text.encode()
    alice.send(b"<message type='chat' to='bob@test.example/phone'><body>" + body +
               b"</body></message>")
    got = bob.read_until(b"</message>")
    assert body in got and b"error" not in got, got


def test_a_broken_channel_between_children_is_healed(node_factory, tmp_path):
    path = str(tmp_path / "notify.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(path)
    sink.settimeout(15)
    try:
        node = node_factory()
        for user in ("alice", "bob"):
            node.add_user(user, f"{user}-pw")
        node.start(env=dict(os.environ, NOTIFY_SOCKET=path))
        assert "READY=1" in sink.recv(4096).decode().splitlines()
        before = pids(node)
        alice = Raw(node.client_port, node.certs["ca"], timeout=20)
        assert b"type='result'" in alice.login("alice", "alice-pw", "desk")
        bob = Raw(node.client_port, node.certs["ca"], timeout=20)
        assert b"type='result'" in bob.login("bob", "bob-pw", "phone")
        exchange(alice, bob, "before")

        mark = node.log_mark()
        # The listener's channel to the router is at descriptor 4 (proc.c).
        break_channel(before[0], 4)
        node.wait_log(r"rxmppd\[\d+\]: listener reports its channel to router down", start=mark)
        assert sink.recv(4096).decode() == "STATUS=degraded: 1 channels between processes down"
        node.wait_log(r"the channel between listener and router is down; handing both a "
                      r"fresh one", start=mark)
        assert sink.recv(4096).decode() == "STATUS=serving test.example"
        node.wait_log(r"listener\[\d+\]: announced 2 sessions to the router", start=mark)
        exchange(alice, bob, "after")
        assert_node_healthy(node, before)
        alice.close()
        bob.close()
        # Channels that end in the shutdown are no degradation.
        node.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in sink.recv(4096).decode().splitlines()
        assert node.stop() == 0
        sink.settimeout(0.5)
        with pytest.raises(TimeoutError):
            print(sink.recv(4096))
    finally:
        sink.close()
