# SPDX-License-Identifier: MIT
"""The runner's steps against a scripted fake connection (no server, no
socket, no clock waits): stanzas in order, in any order with optional
ones coming late or not at all, 'nothing within', and the first mismatch
reported with the step's line."""

import os
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import runner  # noqa: E402
from conversation import parse  # noqa: E402


class FakeConnection:
    """What the server "sends" is queued per client (by full JID) before the
    script runs; a read takes the next one, or None at once when none is
    left (as a real read does when its deadline passes)."""

    inbox = {}
    sent = {}

    def __init__(self, host, port, domain, ca):
        self.closed = False
        self.stanzas = []
        self.port = port

    def login(self, user, password, resource):
        self.name = f"{user}@test.example/{resource}"
        self.features = ET.fromstring(
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
            "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
            "<ver xmlns='urn:xmpp:features:rosterver'/></stream:features>")
        self.queue = list(FakeConnection.inbox.get(self.name, []))
        FakeConnection.sent[self.name] = []
        return self.name

    def read(self, deadline):
        if self.stanzas:
            return self.stanzas.pop(0)
        if not self.queue:
            return None
        text = self.queue.pop(0)
        return ET.fromstring(f"<s xmlns='jabber:client'>{text}</s>")[0]

    def write(self, text):
        FakeConnection.sent[self.name].append(text)

    def disconnect(self, wait):
        self.closed = True

    def abort(self):
        self.closed = True


class FakeServer:
    host = "127.0.0.1"
    domain = "test.example"
    ca = None
    password = "pw"

    def port_for(self, client):
        return 1000 + client


@pytest.fixture(autouse=True)
def fake(monkeypatch):
    monkeypatch.setattr(runner, "Connection", FakeConnection)
    FakeConnection.inbox = {}
    FakeConnection.sent = {}


def play(script_text, inbox):
    script = parse(script_text, "t")
    FakeConnection.inbox = {k.replace("@", ".t@"): v for k, v in inbox.items()}
    return runner.run_script(script, FakeServer())


HEAD = "client romeo: romeo/orchard\nclient juliet: juliet/chamber\nromeo connects\n"


def test_in_order_stanzas_pass_and_captures_are_used():
    result = play(HEAD + "romeo receives:\n\t<iq type='set' id='{=p}'/>\n"
                  "romeo sends:\n\t<iq type='result' id='${p}' to='${juliet}'/>\n",
                  {"romeo@test.example/orchard": ["<iq type='set' id='push7'/>"]})
    assert result.passed, result.describe()
    assert FakeConnection.sent["romeo.t@test.example/orchard"] == [
        "<iq type='result' id='push7' to='juliet.t@test.example/chamber'/>"]


def test_out_of_order_fails_at_the_step_with_both_sides():
    result = play(HEAD + "romeo receives:\n\t<presence/>\n\t<iq/>\n",
                  {"romeo@test.example/orchard": ["<iq/>", "<presence/>"]})
    assert not result.passed
    assert result.step.line == 4
    text = result.describe()
    assert "expected:" in text and "received:" in text and "<iq/>" in text


def test_any_order_takes_a_late_optional_stanza_and_leaves_a_stranger():
    script = (HEAD + "romeo receives in any order:\n\t<iq/>\n\t<presence t:optional='1'/>\n"
              "romeo receives:\n\t<message/>\n")
    # The optional presence comes after the iq: taken by the block.
    result = play(script, {"romeo@test.example/orchard": ["<iq/>", "<presence/>", "<message/>"]})
    assert result.passed, result.describe()
    # Not there at all: the next stanza is the next step's.
    result = play(script, {"romeo@test.example/orchard": ["<iq/>", "<message/>"]})
    assert result.passed, result.describe()
    # Before the required one: read on until the block pairs.
    result = play(script, {"romeo@test.example/orchard": ["<presence/>", "<iq/>", "<message/>"]})
    assert result.passed, result.describe()


def test_any_order_fails_when_a_required_stanza_never_comes():
    result = play(HEAD + "romeo receives in any order:\n\t<iq/>\n\t<presence/>\n",
                  {"romeo@test.example/orchard": ["<presence/>"]})
    assert not result.passed
    assert "none matches the iq" in result.message


def test_nothing_within_fails_on_any_stanza():
    script = HEAD + "romeo receives nothing within 0.1\n"
    assert play(script, {}).passed
    result = play(script, {"romeo@test.example/orchard": ["<message/>"]})
    assert not result.passed and "nothing was expected" in result.message


def test_a_client_that_is_not_connected_fails_the_step():
    result = play(HEAD + "juliet sends:\n\t<presence/>\n", {})
    assert not result.passed and "juliet is not connected" in result.message


def test_clients_connect_to_the_port_of_their_turn():
    seen = []
    original = FakeConnection.__init__

    def record(self, host, port, domain, ca):
        seen.append(port)
        original(self, host, port, domain, ca)

    FakeConnection.__init__ = record
    try:
        assert play(HEAD + "juliet connects\n", {}).passed
    finally:
        FakeConnection.__init__ = original
    assert seen == [1000, 1001]


def test_stream_features_are_found_in_any_order_or_named_when_missing():
    script = HEAD + "romeo has stream features:\n\t<ver xmlns='urn:xmpp:features:rosterver'/>\n"
    assert play(script, {}).passed
    script = HEAD + ("romeo has stream features:\n\t<ver xmlns='urn:xmpp:features:rosterver'/>"
                     "\n\t<sub xmlns='urn:xmpp:features:pre-approval'/>\n")
    result = play(script, {})
    assert not result.passed
    assert "no child matching <sub xmlns='urn:xmpp:features:pre-approval'/>" in result.message
