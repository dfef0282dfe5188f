# SPDX-License-Identifier: MIT
"""XEP-0198 stream management and XEP-0352 client state indication on one
node, with slixmpp's xep_0198 plugin and hand-driven streams: enable, acks
both ways, resumption after the TCP connection is cut (what was sent
meanwhile arrives exactly once), a wrong id (item-not-found, then a fresh
bind), expiry (what was held bounces to its sender), a client that never
acknowledges (stopped at its bound, everything returned to the sender), an
`h` beyond what was sent, and what an inactive client is spared."""

import asyncio
import json
import re
import socket

import pytest

from raw import Raw, stream_error
from rxmpp_node import wait_until
from test_offline import offline_count

SM = "urn:xmpp:sm:3"


def sm_figure(node, name):
    """A listener figure from rxmppctl stats (common/metrics.h)."""
    document = json.loads(node.ctl("stats", "--json").stdout)
    families = {f["name"]: f for f in document["metrics"]}
    samples = families[name]["samples"] if name in families else []
    return samples[0]["value"] if samples else 0


def sm_node(node_factory, extra=""):
    node = node_factory(extra="stream_management:\n" + extra if extra else "")
    node.start()
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    return node


async def sm_login(node, user, password, resource):
    """A slixmpp client with xep_0198, its session and SM enabled."""
    from xmpp import WAIT, Client

    client = Client(f"{user}@test.example/{resource}", password, node.certs["ca"])
    client.register_plugin("xep_0198")
    enabled = asyncio.get_event_loop().create_future()
    client.add_event_handler("sm_enabled", lambda e: enabled.done() or enabled.set_result(e))
    client.connect(address=("127.0.0.1", node.client_port))
    await asyncio.wait_for(client.started, WAIT)
    await asyncio.wait_for(enabled, WAIT)
    return client


def send_numbered(client, to, prefix, count):
    """Chat messages with ids and bodies prefix0, prefix1..."""
    for i in range(count):
        message = client.make_message(mto=to, mbody=f"{prefix}{i}", mtype="chat")
        message["id"] = f"{prefix}{i}"
        message.send()


async def drain(queue, quiet=1.0, limit=200):
    """What arrives until the queue stays empty for `quiet` seconds."""
    got = []
    while len(got) < limit:
        try:
            got.append(await asyncio.wait_for(queue.get(), quiet))
        except asyncio.TimeoutError:
            return got
    return got


def test_slixmpp_enables_acks_and_resumes_after_the_connection_is_cut(node_factory):
    from xmpp import WAIT, login, run

    node = sm_node(node_factory)

    async def scenario():
        alice = await login(node, "alice", "alice-pw", resource="a")
        bob = await sm_login(node, "bob", "bob-pw", "phone")
        sm = bob.plugin["xep_0198"]
        assert re.fullmatch(r"[0-9a-f]{32}", sm.sm_id), sm.sm_id
        # Acks of what bob sends: slixmpp asks every 5 stanzas.
        acked = asyncio.Queue()
        bob.add_event_handler("stanza_acked", acked.put_nowait)
        for i in range(5):
            bob.send_message(mto="alice@test.example/a", mbody=f"up {i}", mtype="chat")
        for i in range(5):
            assert (await alice.next_message())["body"] == f"up {i}"
        # Its presence and the five messages, acknowledged when it asks.
        sm.request_ack()
        for _ in range(6):
            await asyncio.wait_for(acked.get(), WAIT)
        assert sm.last_ack == 6 and not sm.unacked_queue
        # Before the cut, three that bob handles (its h will be 3).
        for i in range(3):
            alice.send_message(mto="bob@test.example/phone", mbody=f"before {i}", mtype="chat")
        for i in range(3):
            assert (await bob.next_message())["body"] == f"before {i}"
        mark = node.log_mark()
        # The connection dies under the client; the node notices the end.
        bob.transport.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        await asyncio.wait_for(bob.gone, WAIT)
        node.wait_log(r"client session bob@test\.example/phone keeps its place", start=mark)
        errors = asyncio.Queue()
        alice.add_event_handler("message_error", errors.put_nowait)
        for i in range(5):
            alice.send_message(mto="bob@test.example/phone", mbody=f"while away {i}",
                               mtype="chat")
        # Held, not bounced: routed to the detached session.
        assert await drain(errors, quiet=1.0) == []
        resumed = asyncio.get_event_loop().create_future()
        bob.add_event_handler("session_resumed",
                              lambda e: resumed.done() or resumed.set_result(e))
        bob.gone = asyncio.get_event_loop().create_future()
        bob.connect(address=("127.0.0.1", node.client_port))
        await asyncio.wait_for(resumed, WAIT)
        node.wait_log(r"resumed client session bob@test\.example/phone: 5 stanzas sent again",
                      start=mark)
        wait_until(lambda: sm_figure(node, "rxmpp_sm_resumptions_total") == 1, timeout=3,
                   what="the resumption counted")
        got = [m["body"] for m in await drain(bob.inbox, quiet=1.5)]
        # Exactly once each, in order; nothing of before the cut again.
        assert got == [f"while away {i}" for i in range(5)], got
        # The session goes on under the same full JID, both ways.
        alice.send_message(mto="bob@test.example/phone", mbody="after", mtype="chat")
        assert (await bob.next_message())["body"] == "after"
        bob.send_message(mto="alice@test.example/a", mbody="back", mtype="chat")
        assert (await alice.next_message())["body"] == "back"
        assert await drain(errors, quiet=0.5) == []
        await bob.close()
        await alice.close()

    run(scenario())


def test_resume_with_an_unknown_id_fails_and_the_client_binds_afresh(node_factory):
    node = sm_node(node_factory)
    raw = Raw(node.client_port, node.certs["ca"])
    try:
        features = raw.authenticate("bob", "bob-pw")
        assert f"<sm xmlns='{SM}'/>".encode() in features
        assert b"<csi xmlns='urn:xmpp:csi:0'/>" in features
        raw.send(f"<resume xmlns='{SM}' previd='{'0' * 32}' h='0'/>".encode())
        failed = raw.read_until(b"</failed>")
        assert b"<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in failed
        raw.send(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 b"<resource>fresh</resource></bind></iq>")
        assert b"bob@test.example/fresh" in raw.read_until(b"</iq>")
        raw.send(f"<enable xmlns='{SM}' resume='true' max='60'/>".encode())
        enabled = raw.read_until(b"/>")
        assert re.search(rb"<enabled xmlns='urn:xmpp:sm:3' id='[0-9a-f]{32}' resume='true' "
                         rb"max='60'/>", enabled), enabled
        # Enabling twice is refused, and the stream goes on.
        raw.send(f"<enable xmlns='{SM}'/>".encode())
        assert b"<unexpected-request" in raw.read_until(b"</failed>")
        raw.send(f"<r xmlns='{SM}'/>".encode())
        assert raw.read_until(b"/>").endswith(f"<a xmlns='{SM}' h='0'/>".encode())
    finally:
        raw.close()


def test_another_users_session_cannot_be_resumed(node_factory):
    node = sm_node(node_factory)
    bob = Raw(node.client_port, node.certs["ca"])
    thief = Raw(node.client_port, node.certs["ca"])
    try:
        bob.login("bob", "bob-pw", resource="phone")
        bob.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
        sm_id = re.search(rb"id='([0-9a-f]{32})'", bob.read_until(b"/>")).group(1)
        thief.authenticate("alice", "alice-pw")
        thief.send(b"<resume xmlns='urn:xmpp:sm:3' previd='" + sm_id + b"' h='0'/>")
        assert b"<item-not-found" in thief.read_until(b"</failed>")
        # bob's stream is untouched.
        bob.send(f"<r xmlns='{SM}'/>".encode())
        assert bob.read_until(b"/>").endswith(f"<a xmlns='{SM}' h='0'/>".encode())
    finally:
        bob.close()
        thief.close()


def test_a_session_not_resumed_in_time_stores_what_was_held_offline(node_factory):
    from xmpp import WAIT, login, run

    node = sm_node(node_factory, "  resume_timeout: 3s\n")
    bob = Raw(node.client_port, node.certs["ca"])
    bob.login("bob", "bob-pw", resource="phone")
    bob.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    assert b"max='3'" in bob.read_until(b"/>")
    mark = node.log_mark()
    bob.close()  # no </stream:stream>: the connection is simply gone
    node.wait_log(r"client session bob@test\.example/phone keeps its place for 3 s", start=mark)

    async def scenario():
        alice = await login(node, "alice", "alice-pw", resource="a")
        errors = asyncio.Queue()
        alice.add_event_handler("message_error", errors.put_nowait)
        send_numbered(alice, "bob@test.example/phone", "held", 3)
        # Held while the window lasts...
        assert await drain(errors, quiet=1.0) == []
        # ...as the node's figures show (reported about once a second).
        wait_until(lambda: sm_figure(node, "rxmpp_sm_unacked_bytes") > 0, timeout=3,
                   what="the held bytes in rxmppctl stats")
        assert sm_figure(node, "rxmpp_sm_waiting_sessions") == 1
        # ...then routed again once the window ends: bob has no resource
        # left, so they are stored offline (RFC 6121 8.5.3.2.1), not lost
        # and not bounced.
        await asyncio.get_event_loop().run_in_executor(None, lambda: node.wait_log(
            r"client session bob@test\.example/phone ended without its connection: "
            r"not resumed within 3 s; 3 stanzas returned", start=mark, timeout=WAIT))
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_until(
            lambda: offline_count(node, "bob") == 3, what="the 3 stored offline"))
        assert await drain(errors, quiet=0.5) == []
        await alice.close()

    run(scenario())
    wait_until(lambda: sm_figure(node, "rxmpp_sm_waiting_sessions") == 0 and
               sm_figure(node, "rxmpp_sm_unacked_bytes") == 0, timeout=3,
               what="rxmppctl stats to show nothing held")
    # The id is forgotten: resuming now fails.
    late = Raw(node.client_port, node.certs["ca"])
    try:
        late.authenticate("bob", "bob-pw")
        late.send(f"<resume xmlns='{SM}' previd='{'1' * 32}' h='0'/>".encode())
        assert b"<item-not-found" in late.read_until(b"</failed>")
    finally:
        late.close()


def test_a_session_waiting_to_be_resumed_still_counts(node_factory):
    """It holds memory and its full JID: max_resources_per_user and the
    session count of rxmppctl status include it until it ends."""
    node = sm_node(node_factory, "  resume_timeout: 2s\n" + "limits:\n"
                   "  max_resources_per_user: 1\n")
    bob = Raw(node.client_port, node.certs["ca"])
    bob.login("bob", "bob-pw", resource="phone")
    bob.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    bob.read_until(b"/>")
    mark = node.log_mark()
    bob.close()
    node.wait_log(r"bob@test\.example/phone keeps its place", start=mark)
    assert json.loads(node.ctl("status", "--json").stdout)["sessions"] == 1
    second = Raw(node.client_port, node.certs["ca"])
    try:
        assert b"<resource-constraint" in second.login("bob", "bob-pw", resource="tablet")
    finally:
        second.close()
    node.wait_log(r"bob@test\.example/phone ended without its connection", start=mark)
    wait_until(lambda: json.loads(node.ctl("status", "--json").stdout)["sessions"] == 0,
               timeout=5, what="the session to be counted no more")
    third = Raw(node.client_port, node.certs["ca"])
    try:
        assert b"bob@test.example/tablet" in third.login("bob", "bob-pw", resource="tablet")
    finally:
        third.close()


def test_a_draining_node_ends_the_sessions_waiting_to_be_resumed(node_factory):
    """They cannot be resumed on a node that redirects every new stream:
    what they held is routed again at once, not when their time runs out."""
    node = sm_node(node_factory)
    bob = Raw(node.client_port, node.certs["ca"])
    bob.login("bob", "bob-pw", resource="phone")
    bob.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    bob.read_until(b"/>")
    mark = node.log_mark()
    bob.close()
    node.wait_log(r"bob@test\.example/phone keeps its place for 300 s", start=mark)
    node.ctl("drain", "--no-wait", "--to", "127.0.0.1:5999")
    node.wait_log(r"client session bob@test\.example/phone ended without its connection: "
                  r"the node is draining", start=mark, timeout=5)
    wait_until(lambda: json.loads(node.ctl("status", "--json").stdout)["sessions"] == 0,
               timeout=5, what="no session left")


def test_a_client_that_never_acknowledges_is_stopped_at_its_bound(node_factory):
    from xmpp import WAIT, login, run

    node = sm_node(node_factory, "  max_unacked_stanzas: 8\n  max_unacked_bytes: 256KiB\n")
    bob = Raw(node.client_port, node.certs["ca"])
    bob.login("bob", "bob-pw", resource="mute")
    bob.send(f"<enable xmlns='{SM}' resume='true'/>".encode())
    bob.read_until(b"/>")
    mark = node.log_mark()

    async def scenario():
        alice = await login(node, "alice", "alice-pw", resource="a")
        errors = asyncio.Queue()
        alice.add_event_handler("message_error", errors.put_nowait)
        send_numbered(alice, "bob@test.example/mute", "m", 20)
        # Every one of them is stored offline for bob (RFC 6121 8.5.3.2.1):
        # the 9 he never acknowledged when his session ended, the rest
        # because it had ended.  None comes back, none is lost.
        await asyncio.get_event_loop().run_in_executor(None, lambda: wait_until(
            lambda: offline_count(node, "bob") == 20, timeout=WAIT,
            what="the 20 stored offline"))
        assert errors.empty()
        await alice.close()

    run(scenario())
    seen = bob.read_to_end()
    bob.close()
    # Asked early (a quarter of the bound), then stopped at it.
    assert seen.count(f"<r xmlns='{SM}'/>".encode()) >= 1
    assert stream_error("policy-violation") in seen
    assert seen.count(b"<message") == 8, seen
    line = node.wait_log(r"bob@test\.example/mute did not acknowledge", start=mark)
    count, held = map(int, re.search(r"acknowledge (\d+) stanzas \((\d+) bytes\)", line).groups())
    assert count == 9 and held < 9 * 1024, line
    # Ended for a reason: not kept for resumption.
    assert not any("keeps its place" in line for line in node.lines[mark:])
    # Nothing of it is held any more.
    wait_until(lambda: sm_figure(node, "rxmpp_sm_unacked_bytes") == 0, timeout=3,
               what="rxmppctl stats to show nothing held")


def test_an_ack_beyond_what_was_sent_ends_the_stream(node_factory):
    node = sm_node(node_factory)
    raw = Raw(node.client_port, node.certs["ca"])
    try:
        raw.login("bob", "bob-pw")
        raw.send(f"<enable xmlns='{SM}'/>".encode())
        raw.read_until(b"/>")
        raw.send(f"<a xmlns='{SM}' h='5'/>".encode())
        end = raw.read_to_end()
        assert stream_error("undefined-condition") in end
        assert f"<handled-count-too-high xmlns='{SM}' h='5' send-count='0'/>".encode() in end
    finally:
        raw.close()


def test_an_inactive_client_gets_presence_and_chat_states_late_and_latest(node_factory):
    node = sm_node(node_factory)
    bob = Raw(node.client_port, node.certs["ca"], timeout=5)
    alice = Raw(node.client_port, node.certs["ca"], timeout=5)
    try:
        bob.login("bob", "bob-pw", resource="phone")
        alice.login("alice", "alice-pw", resource="a")
        bob.send(b"<inactive xmlns='urn:xmpp:csi:0'/>")
        bob.send(f"<r xmlns='{SM}'/>".encode())  # not enabled: a failure, in order
        bob.read_until(b"</failed>")
        to = b"to='bob@test.example/phone'"
        alice.send(b"<presence " + to + b"><show>away</show></presence>")
        alice.send(b"<message " + to + b"><composing "
                   b"xmlns='http://jabber.org/protocol/chatstates'/></message>")
        alice.send(b"<presence " + to + b"><show>dnd</show></presence>")
        # Nothing urgent yet: bob hears nothing.
        bob.sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            while True:
                chunk = bob.sock.recv(65536)
                assert chunk.strip() == b"", chunk
        bob.sock.settimeout(5)
        alice.send(b"<message " + to + b" type='chat'><body>wake up</body></message>")
        got = bob.read_until(b"wake up</body></message>")
        # In the order sent, but only the latest presence, where it came.
        assert b"away" not in got, got
        assert got.index(b"composing") < got.index(b"dnd") < got.index(b"wake up"), got
        # <active/> flushes what is held at once.
        bob.send(b"<inactive xmlns='urn:xmpp:csi:0'/>")
        alice.send(b"<presence " + to + b"><show>xa</show></presence>")
        alice.send(b"<iq type='get' id='v1' to='test.example'><query "
                   b"xmlns='jabber:iq:version'/></iq>")
        alice.read_until(b"</iq>")
        bob.send(b"<active xmlns='urn:xmpp:csi:0'/>")
        assert b"<show>xa</show>" in bob.read_until(b"</presence>")
    finally:
        bob.close()
        alice.close()


def test_the_features_are_not_offered_when_disabled(node_factory):
    node = sm_node(node_factory, "  enabled: false\n")
    raw = Raw(node.client_port, node.certs["ca"])
    try:
        features = raw.authenticate("bob", "bob-pw")
        assert b"urn:xmpp:sm:3" not in features and b"urn:xmpp:csi:0" not in features
        raw.send(f"<resume xmlns='{SM}' previd='{'0' * 32}' h='0'/>".encode())
        assert b"<unexpected-request" in raw.read_until(b"</failed>")
    finally:
        raw.close()

