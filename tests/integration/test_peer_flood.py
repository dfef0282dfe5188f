# SPDX-License-Identifier: MIT
"""Nobody unauthenticated can keep peers apart: idle TCP connections from
several loopback source addresses, held open (and opened again whenever a
node closes one) on both cluster ports of two nodes, do not stop a
restarted elector from rejoining, and the nodes log a bounded number of
lines about them, with counts of what they did not log."""

import os
import re
import selectors
import signal
import socket
import threading
import time

from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of, status

SOURCES = [f"127.0.0.{n}" for n in range(2, 6)]
PER_SOURCE_AND_PORT = 20  # more than the 64 slots a port once had
REOPEN_AFTER_S = 0.1  # an idle holder, not a flood: one reconnect per close
ATTACK_S = 60  # the longest the attack may run; the test stops it sooner


class IdleHolder(threading.Thread):
    """Keeps PER_SOURCE_AND_PORT idle connections from each source to each
    target, opening a new one REOPEN_AFTER_S after one is closed."""

    def __init__(self, targets):
        super().__init__(daemon=True)
        self.targets = targets
        self.stop = threading.Event()
        self.opened = 0

    def open_one(self, sel, source, target):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.setblocking(False)
        s.connect_ex(target)
        sel.register(s, selectors.EVENT_READ, (source, target))
        self.opened += 1

    def run(self):
        sel = selectors.DefaultSelector()
        reopen = []
        for source in SOURCES:
            for target in self.targets:
                for _ in range(PER_SOURCE_AND_PORT):
                    self.open_one(sel, source, target)
        deadline = time.monotonic() + ATTACK_S
        while not self.stop.is_set() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:  # closed by the node: hold another one soon
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    reopen.append((time.monotonic() + REOPEN_AFTER_S, key.data))
            now = time.monotonic()
            due = [r for r in reopen if r[0] <= now]
            reopen = [r for r in reopen if r[0] > now]
            for _, (source, target) in due:
                self.open_one(sel, source, target)
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()


OUTSIDER_LINE = re.compile(r"(cluster|stanza) link .*(closing it|refused|make room)")


def test_idle_connections_do_not_keep_a_restarted_elector_out(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    follower = next(n for n in nodes if n is not leader)
    marks = {id(n): n.log_mark() for n in nodes}
    targets = [("127.0.0.1", n.cluster_port + k) for n in (leader, follower) for k in (0, 1)]
    holder = IdleHolder(targets)
    holder.start()
    try:
        # The holders are in place on every port before the elector goes.
        wait_until(lambda: holder.opened >= len(SOURCES) * len(targets) * PER_SOURCE_AND_PORT,
                   what="the idle connections")
        time.sleep(1)
        elector = follower.children()["elector"]["pid"]
        os.kill(elector, signal.SIGKILL)
        follower.wait_child_back("elector", elector)
        wait_until(lambda: status(follower)["leader"] == status(leader)["node"], timeout=20,
                   what="the restarted elector to follow the leader despite the holders")
        assert status(leader)["state"] == "LEADER"
        # Long enough for a second interval of the log limit: a line with a count.
        wait_until(lambda: any("more like it since the last one" in line
                               for line in leader.lines[marks[id(leader)]:]
                               if OUTSIDER_LINE.search(line)),
                   timeout=25, interval=0.5, what="a log line with a count")
    finally:
        holder.stop.set()
        holder.join(timeout=10)
    assert holder.opened > 2 * len(SOURCES) * len(targets) * PER_SOURCE_AND_PORT
    for node in (leader, follower):
        lines = [line for line in node.lines[marks[id(node)]:] if OUTSIDER_LINE.search(line)]
        print(f"{len(lines)} lines about outsiders; {holder.opened} connections opened")
        # Per kind of line and process, LOG_LIMIT_BURST per 10 s interval.
        assert len(lines) <= 120, "\n".join(lines[:20])
