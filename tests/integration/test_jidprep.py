# SPDX-License-Identifier: MIT
"""JIDs prepared by the XMPP stringprep profiles (libidn) everywhere a name
comes in: `rxmppctl user add` stores "ÅSA" as "åsa" and a real client logs
in as it; names the profile refuses are refused with the reason (rxmppctl,
SASL, resource binding, stanza addresses); `user list --json` stays JSON."""

import base64
import json

import pytest

from raw import HEADER, Raw
from xmpp import login, run


@pytest.fixture
def inode(node_factory):
    node = node_factory()
    node.add_user("ÅSA", "åsa-pässword")
    node.add_user("bob", "bob-pw")
    return node.start()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "PLAIN"])
def test_user_added_as_capitals_logs_in_with_the_folded_name(inode, mech):
    listed = json.loads(inode.ctl("user", "list", "--json").stdout)
    assert sorted(listed) == ["bob", "åsa"]

    async def scenario():
        asa = await login(inode, "åsa", "åsa-pässword", mech=mech)
        assert str(asa.boundjid.bare) == "åsa@test.example"
        bob = await login(inode, "bob", "bob-pw")
        # Addressed in capitals, the message still reaches her.
        bob.send_message(mto="ÅSA@test.example/" + asa.boundjid.resource, mbody="hej")
        message = await asa.next_message()
        assert message["body"] == "hej"
        assert str(message["from"].bare) == "bob@test.example"
        await asa.close()
        await bob.close()

    run(scenario())
    inode.wait_log(rf"authenticated as åsa with {mech}$")


def test_stanza_to_in_capitals_is_prepared_by_the_server(inode):
    # slixmpp prepares addresses itself; a raw client shows that the
    # server does too.
    asa = Raw(inode.client_port, inode.certs["ca"])
    bob = Raw(inode.client_port, inode.certs["ca"])
    try:
        assert b"<jid>\xc3\xa5sa@test.example/phone</jid>" in asa.login("ÅSA", "åsa-pässword",
                                                                         resource="phone")
        bob.login("bob", "bob-pw")
        bob.send("<message to='ÅSA@TEST.example/phone' id='m1'><body>hej</body></message>"
                 .encode())
        got = asa.read_until(b"</message>")
        assert b"<body>hej</body>" in got and b"bob@test.example/raw" in got
    finally:
        asa.close()
        bob.close()


def test_refused_names_say_why(inode):
    raw = Raw(inode.client_port, inode.certs["ca"])
    try:
        raw.starttls()
        token = base64.b64encode(b"\0a@b\0pw")
        raw.send(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + token +
                 b"</auth>")
        failure = raw.read_until(b"</failure>")
        assert b"<malformed-request/>" in failure
        assert b"prohibited character U+0040</text>" in failure
    finally:
        raw.close()
    inode.wait_log(r"failed: malformed-request: prohibited character U\+0040")

    raw = Raw(inode.client_port, inode.certs["ca"])
    try:
        # A resource with a line separator (U+2028) cannot be prepared.
        reply = raw.login("bob", "bob-pw", resource="a\u2028b")
        assert b"type='error'" in reply and b"<bad-request " in reply
        assert b"resourcepart: prohibited character U+2028</text>" in reply
        raw.send(b"<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:"
                 b"xmpp-bind'><resource>ok</resource></bind></iq>")
        assert b"<jid>bob@test.example/ok</jid>" in raw.read_until(b"</iq>")
        # A message to an address the profile refuses comes back as
        # jid-malformed with the reason, not dropped.
        raw.send(b"<message to='a&quot;b@test.example' id='m2'><body>x</body></message>")
        bounce = raw.read_until(b"</message>")
        assert b"type=\"error\"" in bounce and b"<jid-malformed " in bounce
        assert b"localpart: prohibited character U+0022</text>" in bounce
    finally:
        raw.close()


def test_user_add_refuses_what_nodeprep_refuses_and_list_stays_json(inode):
    cases = [
        ("z\udcffe", "user name 'z\\xffe': invalid UTF-8 at byte 2"),  # the byte 0xff
        # NAME@DOMAIN is taken for the node's own domain only.
        ("a@b", "a@b is not an account of this node, whose domain is test.example"),
        ("a b", "user name 'a b': prohibited character U+0020"),
        ("x\u2028y", "user name 'x\u2028y': prohibited character U+2028"),
        ("\u0221", "user name '\u0221': unassigned code point U+0221"),
    ]
    for name, message in cases:
        result = inode.ctl_input(["user", "add", name, "--stdin"], "a-password\n")
        assert result.returncode != 0, name
        assert message in result.stderr, result.stderr
    listed = inode.ctl("user", "list", "--json").stdout
    assert sorted(json.loads(listed)) == ["bob", "åsa"]
    # del and passwd take the name as typed and prepare it the same way.
    assert inode.ctl_input(["user", "passwd", "Åsa", "--stdin"], "new-pw\n").returncode == 0
    inode.ctl("user", "del", "ÅSA")
    assert json.loads(inode.ctl("user", "list", "--json").stdout) == ["bob"]


def test_stream_to_is_prepared_like_any_domain(inode):
    # Full-width "ＴＥＳＴ" is "test" after Nameprep.
    for to, served in [("\uff34\uff25\uff33\uff34.example", True), ("other.example", False)]:
        raw = Raw(inode.client_port, inode.certs["ca"])
        try:
            raw.send(HEADER.replace(b"to='test.example'", f"to='{to}'".encode()))
            if served:
                assert b"<starttls " in raw.read_until(b"</stream:features>")
            else:
                assert b"<host-unknown " in raw.read_to_end()
        finally:
            raw.close()
