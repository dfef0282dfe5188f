# SPDX-License-Identifier: MIT
"""Logs an administrator can read (issue 22, point 3): a foreground node's
lines carry the UTC time to the millisecond, unless stderr is the stream
systemd connected to the journal (JOURNAL_STREAM), which stamps lines
itself; every session's start and end is one info line with the JID, the
peer's address, the TLS version, how long it lasted and why it ended."""

import re

from rxmpp_node import LOG_LINE, LOG_STAMP
from test_xmpp import BRIDGE_SECRET, make_xnode
from xmpp import connect_bridge, login, run

STAMPED = re.compile(rf"^{LOG_STAMP}<\d>[\w.-]+\[\d+\]: ")


def test_foreground_lines_carry_the_time(node):
    lines = list(node.lines)
    assert lines
    for line in lines:
        assert STAMPED.match(line), line
    # Every process stamps: the supervisor and its children.
    titles = {re.match(rf"^{LOG_STAMP}<\d>([\w.-]+)\[", line).group(1) for line in lines}
    assert {"rxmppd", "listener", "router", "elector", "certworker"} <= titles, titles


def test_no_second_stamp_under_the_journal(node_factory):
    node = node_factory()
    # As systemd does: JOURNAL_STREAM names the device and inode of the
    # stream stderr is (here the test's pipe, found through /proc).
    node.wrapper = ["sh", "-c",
                    'export JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)"; exec "$@"',
                    "sh"]
    node.start()
    lines = list(node.lines)
    assert lines
    for line in lines:
        assert LOG_LINE.match(line) and not STAMPED.match(line), line


def test_session_starts_and_ends_are_logged(node_factory):
    node = make_xnode(node_factory).start()
    mark = node.log_mark()

    async def scenario():
        alice = await login(node, "alice", "alice-pw", resource="desk")
        bridge = await connect_bridge(node, "cb1", BRIDGE_SECRET)
        node.wait_log(r"client session alice@test\.example/desk from \[127\.0\.0\.1\]:\d+ started "
                      r"\(TLSv1\.[23]\)$", start=mark)
        node.wait_log(r"call bridge cb1 session cb1\.test\.example from \[127\.0\.0\.1\]:\d+ "
                      r"started \(TLSv1\.[23]\)$", start=mark)
        await alice.close()
        await bridge.close()

    run(scenario())
    line = node.wait_log(r"client session alice@test\.example/desk from \[127\.0\.0\.1\]:\d+ ended "
                         r"after \d+\.\d s: closed by the client$", start=mark)
    assert line.startswith("20") and "<6>listener[" in line, line
    node.wait_log(r"call bridge cb1 session cb1\.test\.example from \[127\.0\.0\.1\]:\d+ ended "
                  r"after \d+\.\d s: closed by the call bridge$", start=mark)
    # Secrets stay out of the log.
    assert not any("alice-pw" in l or BRIDGE_SECRET in l for l in node.lines)


def test_sessions_ended_by_the_node_say_why(node_factory):
    import asyncio

    node = make_xnode(node_factory).start()
    mark = node.log_mark()

    async def scenario():
        alice = await login(node, "alice", "alice-pw", resource="stays")
        await asyncio.get_event_loop().run_in_executor(None, node.stop)
        await asyncio.wait_for(alice.gone, 15)

    run(scenario())
    node.wait_log(r"client session alice@test\.example/stays from \[127\.0\.0\.1\]:\d+ ended after "
                  r"\d+\.\d s: stream error system-shutdown: the node is shutting down$",
                  start=mark)
