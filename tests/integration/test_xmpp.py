# SPDX-License-Identifier: MIT
"""One node serving real XMPP clients and call bridges (slixmpp): STARTTLS
and each SASL mechanism, wrong passwords, messages with awkward text,
directed presence, the server's iqs, components with right and wrong
secrets, traffic between users and components, and many clients at once."""

import asyncio

import pytest

from raw import Raw
from xmpp import IqError, connect_bridge, login, run

BRIDGE_SECRET = "s3cret-for-cb1-bridge"


def make_xnode(node_factory, extra=""):
    node = node_factory(extra=extra)
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    node.write_bridges({"cb1": BRIDGE_SECRET})
    return node


@pytest.fixture
def xnode(node_factory):
    return make_xnode(node_factory).start()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
def test_login_with_each_mechanism(xnode, mech):
    async def scenario():
        client = await login(xnode, "alice", "alice-pw", mech=mech)
        assert str(client.boundjid.bare) == "alice@test.example"
        assert client.boundjid.resource  # the server made one
        await client.close()

    run(scenario())
    xnode.wait_log(rf"authenticated as alice with {mech}$")


def test_wrong_password_and_unknown_user_are_refused(xnode):
    async def scenario():
        for user, password in [("alice", "N0t-Alices-Passw0rd"), ("nobody", "Any-Passw0rd-At-All")]:
            with pytest.raises(PermissionError):
                await login(xnode, user, password, mech="SCRAM-SHA-256")
        # A good login still works afterwards.
        client = await login(xnode, "bob", "bob-pw")
        await client.close()

    run(scenario())
    xnode.wait_log(r"authentication as alice with SCRAM-SHA-256 failed: not-authorized")
    xnode.wait_log(r"authentication as nobody with SCRAM-SHA-256 failed: not-authorized")
    leaked = [line for line in xnode.lines if "Passw0rd" in line or "alice-pw" in line]
    assert not leaked, f"a password reached the log: {leaked}"


def test_message_with_non_ascii_and_markup_characters(xnode):
    body = "Grüße, 你好 — <tag> & \"quotes\" 'apos' ]]> 😀"

    async def scenario():
        alice = await login(xnode, "alice", "alice-pw", resource="laptop")
        bob = await login(xnode, "bob", "bob-pw", resource="phone")
        alice.send_message(mto="bob@test.example/phone", mbody=body, mtype="chat")
        message = await bob.next_message()
        assert message["body"] == body
        assert str(message["from"]) == "alice@test.example/laptop"
        # To the bare JID: the one available resource gets it.
        bob.send_message(mto="alice@test.example", mbody="reply", mtype="chat")
        message = await alice.next_message()
        assert message["body"] == "reply"
        assert str(message["from"]) == "bob@test.example/phone"
        await alice.close()
        await bob.close()

    run(scenario())


def test_sender_cannot_forge_from(xnode):
    async def scenario():
        alice = await login(xnode, "alice", "alice-pw", resource="a")
        bob = await login(xnode, "bob", "bob-pw", resource="b")
        message = alice.make_message(mto="bob@test.example/b", mbody="forged?", mtype="chat")
        message["from"] = "bob@test.example/evil"
        message.send()
        received = await bob.next_message()
        assert str(received["from"]) == "alice@test.example/a"
        await alice.close()
        await bob.close()

    run(scenario())


def test_directed_presence_between_users(xnode):
    async def scenario():
        alice = await login(xnode, "alice", "alice-pw", resource="a")
        bob = await login(xnode, "bob", "bob-pw", resource="b")
        alice.send_presence(pto="bob@test.example", pstatus="in a meeting", pshow="dnd")
        while True:
            presence = await asyncio.wait_for(bob.presences.get(), 15)
            if str(presence["from"]) == "alice@test.example/a":
                break
        assert presence["status"] == "in a meeting"
        assert presence["show"] == "dnd"
        await alice.close()
        await bob.close()

    run(scenario())


def test_server_iqs_ping_disco_version(xnode):
    async def scenario():
        alice = await login(xnode, "alice", "alice-pw")
        bridge = await connect_bridge(xnode, "cb1", BRIDGE_SECRET)
        await alice["xep_0199"].ping("test.example", timeout=10)
        info = await alice["xep_0030"].get_info(jid="test.example", timeout=10)
        features = info["disco_info"]["features"]
        assert "urn:xmpp:ping" in features
        assert "http://jabber.org/protocol/disco#info" in features
        identities = info["disco_info"]["identities"]
        assert any(i[0] == "server" and i[1] == "im" for i in identities)
        items = await alice["xep_0030"].get_items(jid="test.example", timeout=10)
        assert ("cb1.test.example", None, None) in items["disco_items"]["items"]
        version = await alice["xep_0092"].get_version("test.example", timeout=10)
        assert version["software_version"]["name"] == "rxmpp"
        # Unknown namespaces and absent users get the RFC 6120 errors.
        iq = alice.make_iq_get(queryxmlns="urn:example:nothing", ito="test.example")
        with pytest.raises(IqError) as error:
            await iq.send(timeout=10)
        assert error.value.iq["error"]["condition"] == "service-unavailable"
        with pytest.raises(IqError) as error:
            await alice["xep_0199"].ping("bob@test.example/nowhere", timeout=10)
        assert error.value.iq["error"]["condition"] == "service-unavailable"
        with pytest.raises(IqError) as error:
            await alice["xep_0199"].ping("elsewhere.example.org", timeout=10)
        assert error.value.iq["error"]["condition"] == "remote-server-not-found"
        await bridge.close()
        await alice.close()

    run(scenario())


def test_server_answer_keeps_white_space_in_the_id(xnode):
    # An id is any string (RFC 6120 8.1.3).  The router writes its own
    # answers; a tab, line feed or carriage return written there as it is
    # would reach the client as a space (XML 1.0 3.3.3) and the answer
    # would not match its request.  (slixmpp cannot send such an id: its
    # writer does not escape them.)
    raw = Raw(xnode.client_port, xnode.certs["ca"])
    try:
        raw.login("alice", "alice-pw")
        raw.send(b"<iq type='get' to='test.example' id='p&#9;1&#10;2&#13;'>"
                 b"<ping xmlns='urn:xmpp:ping'/></iq>")
        answer = raw.read_until(b'type="result"') + raw.read_until(b"/>")
        assert b'id="p&#9;1&#10;2&#13;"' in answer, answer
    finally:
        raw.close()


def test_iq_between_users(xnode):
    async def scenario():
        alice = await login(xnode, "alice", "alice-pw", resource="a")
        bob = await login(xnode, "bob", "bob-pw", resource="b")
        # slixmpp answers pings itself: a full round trip through the router.
        await alice["xep_0199"].ping("bob@test.example/b", timeout=10)
        info = await alice["xep_0030"].get_info(jid="bob@test.example/b", timeout=10)
        assert "urn:xmpp:ping" in info["disco_info"]["features"]
        await alice.close()
        await bob.close()

    run(scenario())


def test_component_handshake_right_and_wrong(xnode):
    async def scenario():
        bridge = await connect_bridge(xnode, "cb1", BRIDGE_SECRET)
        await bridge.close()
        with pytest.raises(ConnectionError):
            await connect_bridge(xnode, "cb1", "not-the-secret")
        with pytest.raises(ConnectionError):
            await connect_bridge(xnode, "cb9", BRIDGE_SECRET)

    run(scenario())
    line = xnode.wait_log(r"call bridge cb1: wrong secret")
    assert "127.0.0.1" in line
    xnode.wait_log(r"stream error not-authorized")
    xnode.wait_log(r"component stream for unknown address cb9\.test\.example")
    xnode.wait_log(r"stream error host-unknown")
    assert not any(BRIDGE_SECRET in line or "not-the-secret" in line for line in xnode.lines)


def test_messages_and_iq_between_users_and_a_bridge(xnode):
    async def scenario():
        alice = await login(xnode, "alice", "alice-pw", resource="a")
        bridge = await connect_bridge(xnode, "cb1", BRIDGE_SECRET)
        bridge.register_plugin("xep_0199")
        alice.send_message(mto="cb1.test.example", mbody="join conference 42", mtype="chat")
        message = await asyncio.wait_for(bridge.inbox.get(), 15)
        assert message["body"] == "join conference 42"
        assert str(message["from"]) == "alice@test.example/a"
        bridge.send_message(mto="alice@test.example/a", mfrom="conf42@cb1.test.example",
                            mbody="welcome", mtype="chat")
        reply = await alice.next_message()
        assert reply["body"] == "welcome"
        assert str(reply["from"]) == "conf42@cb1.test.example"
        await alice["xep_0199"].ping("cb1.test.example", timeout=10)
        await bridge["xep_0199"].ping("alice@test.example/a", timeout=10, ifrom="cb1.test.example")
        await bridge.close()
        # Without the bridge, the server answers for it.
        with pytest.raises(IqError) as error:
            await alice["xep_0199"].ping("cb1.test.example", timeout=10)
        assert error.value.iq["error"]["condition"] == "service-unavailable"
        await alice.close()

    run(scenario())


def test_bridge_connecting_again_replaces_the_old_connection(xnode):
    async def scenario():
        first = await connect_bridge(xnode, "cb1", BRIDGE_SECRET)
        second = await connect_bridge(xnode, "cb1", BRIDGE_SECRET)
        await asyncio.wait_for(first.gone, 15)
        alice = await login(xnode, "alice", "alice-pw")
        alice.send_message(mto="cb1.test.example", mbody="to the new one")
        message = await asyncio.wait_for(second.inbox.get(), 15)
        assert message["body"] == "to the new one"
        await second.close()
        await alice.close()

    run(scenario())
    xnode.wait_log(r"call bridge cb1 connected again from .*replacing the old connection")


def test_200_clients_each_send_20_messages_all_delivered(node_factory):
    # All 200 come from 127.0.0.1, with the default per-address limits.
    xnode = make_xnode(node_factory)
    pairs, per_client = 100, 20
    for i in range(2 * pairs):
        xnode.add_user(f"user{i}", f"pw{i}")
    xnode.start()

    async def scenario():
        clients = []
        for start in range(0, 2 * pairs, 20):
            clients += await asyncio.gather(*[
                login(xnode, f"user{i}", f"pw{i}", resource="r")
                for i in range(start, start + 20)])
        for i, client in enumerate(clients):
            partner = i ^ 1
            for n in range(per_client):
                client.send_message(mto=f"user{partner}@test.example/r", mbody=f"{i}:{n}",
                                    mtype="chat")
        for i, client in enumerate(clients):
            got = [(await client.next_message(timeout=30))["body"] for _ in range(per_client)]
            partner = i ^ 1
            assert got == [f"{partner}:{n}" for n in range(per_client)]
        assert all(client.inbox.empty() for client in clients)
        await asyncio.gather(*[client.close() for client in clients])

    run(scenario(), timeout=300)


def test_same_full_jid_twice_replaces_the_first_session(xnode):
    async def scenario():
        first = await login(xnode, "alice", "alice-pw", resource="desk")
        second = await login(xnode, "alice", "alice-pw", resource="desk")
        await asyncio.wait_for(first.gone, 15)
        bob = await login(xnode, "bob", "bob-pw")
        bob.send_message(mto="alice@test.example/desk", mbody="to the newer one", mtype="chat")
        assert (await second.next_message())["body"] == "to the newer one"
        await second.close()
        await bob.close()

    run(scenario())
    xnode.wait_log(r"client session alice@test\.example/desk from \[127\.0\.0\.1\]:\d+ ended after "
                   r"\d+\.\d s: stream error conflict: replaced by a new session")
    xnode.wait_log(r"stream error conflict")


def test_router_restart_gets_its_routes_back(xnode):
    async def scenario():
        alice = await login(xnode, "alice", "alice-pw", resource="a")
        bob = await login(xnode, "bob", "bob-pw", resource="b")
        router = xnode.children()["router"]["pid"]
        import os
        import signal
        os.kill(router, signal.SIGKILL)
        await asyncio.get_event_loop().run_in_executor(None, xnode.wait_child_back, "router",
                                                       router)
        xnode.wait_log(r"announced 2 sessions to the router")
        alice.send_message(mto="bob@test.example/b", mbody="after the router restart",
                           mtype="chat")
        assert (await bob.next_message())["body"] == "after the router restart"
        bob.send_message(mto="alice@test.example", mbody="bare JID too", mtype="chat")
        assert (await alice.next_message())["body"] == "bare JID too"
        await alice.close()
        await bob.close()

    run(scenario())
