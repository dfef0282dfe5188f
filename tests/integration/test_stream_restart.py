# SPDX-License-Identifier: MIT
"""Stream restarts by hand (exact bytes): whitespace after <starttls/> and
after <auth/> (as go-xmpp sends it) is skipped before the first TLS record
and before the next stream header; plain text sent after <starttls/> in the
same write is refused and never reaches the stream under TLS (the STARTTLS
command-injection class); every restarted stream gets a new id (RFC 6120
4.7.3); and a component stream may begin with whitespace too."""

import asyncio
import base64
import hashlib
import re
import ssl

import pytest

from raw import HEADER, Raw
from rxmpp_node import free_port
from xmpp import login, run

TLS_NS = b"urn:ietf:params:xml:ns:xmpp-tls"
STARTTLS = b"<starttls xmlns='" + TLS_NS + b"'/>"
PROCEED = b"<proceed xmlns='" + TLS_NS + b"'/>"


def auth_plain(user, password):
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
    return b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + token + b"</auth>"


def stream_id(features):
    """The id of the server's stream header that came before `features`."""
    headers = re.findall(rb"<stream:stream [^>]*>", features)
    assert len(headers) == 1, features
    found = re.search(rb"\bid='([^']+)'", headers[0])
    assert found, headers[0]
    return found.group(1).decode()


def tls_wrap(raw):
    context = ssl.create_default_context(cafile=raw.ca)
    raw.sock = context.wrap_socket(raw.sock, server_hostname="test.example")


def bind(raw):
    raw.send(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             b"<resource>raw</resource></bind></iq>")
    return raw.read_until(b"</iq>")


@pytest.fixture
def rnode(node_factory):
    direct = free_port()
    node = node_factory()
    node.write_config(text=node.config_text().replace(
        "  component_port:", f"  direct_tls_port: {direct}\n  component_port:"))
    node.direct_tls_port = direct
    node.add_user("alice", "alice-pw")
    node.add_user("bob", "bob-pw")
    node.write_bridges({"cb1": "bridge-secret-1"})
    return node.start()


def test_whitespace_around_restarts_and_a_new_id_for_each_stream(rnode):
    raw = Raw(rnode.client_port, rnode.certs["ca"])
    try:
        raw.send(HEADER)
        first = stream_id(raw.read_until(b"</stream:features>"))
        # The newline comes in the same write as <starttls/>, and whitespace
        # again alone, before the ClientHello (a read of its own, or not).
        raw.send(STARTTLS + b"\n")
        raw.read_until(PROCEED)
        raw.send(b"\r\n \t")
        tls_wrap(raw)
        raw.send(b"\n" + HEADER)
        secured = stream_id(raw.read_until(b"</stream:features>"))
        raw.send(auth_plain("alice", "alice-pw") + b"\n")
        raw.read_until(b"</success>")
        raw.send(b" \r\n")
        raw.send(HEADER)
        authenticated = stream_id(raw.read_until(b"</stream:features>"))
        assert b"<jid>alice@test.example/raw</jid>" in bind(raw)
    finally:
        raw.close()
    assert len({first, secured, authenticated}) == 3, (first, secured, authenticated)
    assert not [line for line in rnode.lines if "stream error" in line]


def test_direct_tls_newline_after_auth_and_a_new_id(rnode):
    raw = Raw(rnode.direct_tls_port, rnode.certs["ca"])
    try:
        tls_wrap(raw)
        raw.send(HEADER)
        first = stream_id(raw.read_until(b"</stream:features>"))
        # go-sendxmpp's bytes: the newline and the next header in one write.
        raw.send(auth_plain("alice", "alice-pw") + b"\n")
        raw.read_until(b"</success>")
        raw.send(b"\n" + HEADER)
        authenticated = stream_id(raw.read_until(b"</stream:features>"))
        assert b"<jid>alice@test.example/raw</jid>" in bind(raw)
    finally:
        raw.close()
    assert first != authenticated
    assert not [line for line in rnode.lines if "stream error" in line]


def test_plain_text_after_starttls_never_reaches_the_tls_stream(rnode):
    injected = (b"<message to='bob@test.example' type='chat'><body>injected</body></message>")

    async def scenario():
        bob = await login(rnode, "bob", "bob-pw")
        mark = rnode.log_mark()
        raw = Raw(rnode.client_port, rnode.certs["ca"])
        try:
            raw.send(HEADER)
            raw.read_until(b"</stream:features>")
            # One write: what a man in the middle adds behind the client's
            # <starttls/>, hoping the server reads it inside the TLS session
            # the client is about to authenticate.
            raw.send(STARTTLS + b"\n" + injected)
            raw.read_until(PROCEED)
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                tls_wrap(raw)
                raw.send(HEADER)
                raw.read_until(b"</stream:features>")
                raw.send(auth_plain("alice", "alice-pw"))
                raw.read_until(b"</success>")
        finally:
            raw.close()
        rnode.wait_log(r"plain text where the TLS handshake should begin .*refused", start=mark)
        # Had the injected message been taken, it would reach bob before
        # this one, sent after the refusal along the same path.
        alice = await login(rnode, "alice", "alice-pw")
        alice.send_message(mto="bob@test.example", mbody="after the refusal")
        message = await bob.next_message()
        assert message["body"] == "after the refusal"
        await alice.close()
        await bob.close()

    run(scenario())


def test_a_component_stream_may_begin_with_whitespace(rnode):
    """XEP-0114 has no restart, but the same parser serves its stream: a
    newline before the XML declaration is skipped there too."""
    raw = Raw(rnode.component_port, rnode.certs["ca"])
    try:
        raw.send(b"\r\n")  # before the first TLS record (the port is direct TLS)
        tls_wrap(raw)
        raw.send(b"\n<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                 b"xmlns:stream='http://etherx.jabber.org/streams' to='cb1.test.example'>")
        header = raw.read_until(b">")
        while b"<stream:stream" not in header:
            header += raw.read_until(b">")
        sid = re.search(rb"\bid='([^']+)'", header).group(1)
        digest = hashlib.sha1(sid + b"bridge-secret-1").hexdigest().encode()
        raw.send(b"<handshake>" + digest + b"</handshake>")
        assert raw.read_until(b"<handshake/>")
    finally:
        raw.close()
