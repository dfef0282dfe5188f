# SPDX-License-Identifier: MIT
"""The script parser and the stanza matcher, without a server: wildcards,
captures, namespaces, order, strictness, and the cases that must fail."""

import os
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conversation import (Mismatch, ScriptError, elements, match, match_any_order,  # noqa: E402
                          match_value, parse, pretty, substitute)


def exp(text):
    (element,) = elements(text, 1)
    return element


def got(text):
    """A stanza as a server's stream delivers it: jabber:client default."""
    return ET.fromstring(f"<s xmlns='jabber:client'>{text}</s>")[0]


def ok(expected, received, captures=None):
    return match(exp(expected), got(received), captures or {})


def bad(expected, received, captures=None):
    with pytest.raises(Mismatch) as e:
        match(exp(expected), got(received), captures or {})
    return str(e.value)


# --- values and wildcards ---


def test_literal_value_must_be_equal():
    assert match_value("abc", "abc", {}) == {}
    assert match_value("abc", "abd", {}) is None
    assert match_value("abc", "abcd", {}) is None


def test_any_matches_every_value_and_parts():
    assert match_value("{any}", "", {}) == {}
    assert match_value("{any}", "x y z", {}) == {}
    assert match_value("purple{any}", "purple42", {}) == {}
    assert match_value("purple{any}", "green42", {}) is None


def test_stamp_is_an_xep0082_datetime():
    assert match_value("{stamp}", "2026-12-07T23:01:02Z", {}) == {}
    assert match_value("{stamp}", "2026-12-07T23:01:02.123+01:00", {}) == {}
    assert match_value("{stamp}", "yesterday", {}) is None
    assert match_value("{stamp}", "2026-12-07", {}) is None


def test_capture_remembers_the_value():
    assert match_value("{=ver}", "17", {"a": "b"}) == {"a": "b", "ver": "17"}
    assert match_value("v{=n}x", "v42x", {}) == {"n": "42"}


def test_regex_characters_in_a_pattern_are_literal():
    assert match_value("a.b", "a.b", {}) == {}
    assert match_value("a.b", "axb", {}) is None


# --- elements ---


def test_same_stanza_matches():
    ok("<iq type='result' id='a1'/>", "<iq type='result' id='a1'/>")


def test_extra_attributes_and_children_are_allowed_unless_strict():
    ok("<iq type='result'/>", "<iq type='result' id='x' to='a@b/c'><query xmlns='q'/></iq>")
    assert "attributes not expected" in bad("<iq type='result' t:strict='1'/>",
                                            "<iq type='result' id='x'/>")
    assert "children" in bad("<iq type='result' id='x' t:strict='1'/>",
                             "<iq type='result' id='x'><query xmlns='q'/></iq>")


def test_strict_children_allows_extra_attributes_only():
    ok("<iq type='result' t:strict='children'/>", "<iq type='result' id='x' from='d'/>")
    assert "1 children, not 0" in bad("<iq t:strict='children'/>", "<iq><query xmlns='q'/></iq>")


def test_without_names_attributes_that_must_be_absent():
    ok("<presence t:without='type'/>",
       "<presence from='a@b/c'><delay xmlns='urn:xmpp:delay'/></presence>")
    assert "expected without it" in bad("<presence t:without='type'/>",
                                        "<presence type='unavailable'/>")


def test_strict_ignores_xml_lang():
    ok("<message t:strict='1'/>", "<message xml:lang='en'/>")


def test_missing_attribute_fails():
    assert "no attribute id" in bad("<iq id='a1'/>", "<iq type='result'/>")


def test_different_value_fails_and_names_both():
    message = bad("<iq id='a1'/>", "<iq id='a2'/>")
    assert "'a2'" in message and "'a1'" in message


def test_different_name_fails():
    assert "element message" in bad("<iq/>", "<message/>")


def test_namespace_is_part_of_the_name():
    ok("<iq><query xmlns='jabber:iq:roster'/></iq>", "<iq><query xmlns='jabber:iq:roster'/></iq>")
    bad("<iq><query xmlns='jabber:iq:roster'/></iq>", "<iq><query xmlns='jabber:iq:private'/></iq>")
    # The same namespace written with a prefix is the same element.
    ok("<iq><query xmlns='jabber:iq:roster'/></iq>",
       "<iq xmlns:r='jabber:iq:roster'><r:query/></iq>")
    # The stanza's own namespace: jabber:client, not jabber:server.
    with pytest.raises(Mismatch):
        match(exp("<message/>"), ET.fromstring("<message xmlns='jabber:server'/>"), {})


def test_namespaced_attribute():
    ok("<message xml:lang='en'/>", "<message xml:lang='en'/>")
    bad("<message xml:lang='en'/>", "<message lang='en'/>")


def test_children_in_order_with_others_between():
    ok("<m><a xmlns='x'/><c xmlns='x'/></m>", "<m><a xmlns='x'/><b xmlns='x'/><c xmlns='x'/></m>")
    assert "lacks a child" in bad("<m><c xmlns='x'/><a xmlns='x'/></m>",
                                  "<m><a xmlns='x'/><c xmlns='x'/></m>")


def test_unordered_children():
    ok("<item t:unordered='1'><group>B</group><group>A</group></item>",
       "<item><group>A</group><group>B</group></item>")
    assert "no child matching <group>C</group>" in bad(
        "<item t:unordered='1'><group>B</group><group>C</group></item>",
        "<item><group>A</group><group>B</group></item>")
    # A loose child must not take the element a stricter one needs.
    ok("<item t:unordered='1'><group>{any}</group><group>A</group></item>",
       "<item><group>A</group><group>B</group></item>")


def test_text_with_wildcards():
    ok("<m><body>hi</body></m>", "<m><body> hi </body></m>")
    bad("<m><body>hi</body></m>", "<m><body>ho</body></m>")
    ok("<m><delay xmlns='urn:xmpp:delay' stamp='{stamp}'/></m>",
       "<m><delay xmlns='urn:xmpp:delay' from='d' stamp='2026-01-02T03:04:05Z'>Offline</delay></m>")


def test_a_capture_is_kept_and_a_failed_branch_leaves_none():
    captures = ok("<iq><query xmlns='jabber:iq:roster' ver='{=v}'/></iq>",
                  "<iq><query xmlns='jabber:iq:roster' ver='7'/></iq>", {"x": "1"})
    assert captures == {"x": "1", "v": "7"}
    # The first <b> does not match as a whole: its capture must not stay.
    captures = ok("<m><b xmlns='x' k='{=k}' z='1'/></m>",
                  "<m><b xmlns='x' k='first' z='0'/><b xmlns='x' k='second' z='1'/></m>")
    assert captures == {"k": "second"}


def test_any_order_pairs_stanzas():
    expected = elements("<presence type='subscribed'/><iq type='set'/>", 1)
    received = [got("<iq type='set' id='p'/>"), got("<presence type='subscribed'/>")]
    assert match_any_order(expected, received, {}) == {}
    with pytest.raises(Mismatch, match="no stanza received matches the presence"):
        match_any_order(expected, [got("<iq type='set'/>"), got("<presence/>")], {})
    with pytest.raises(Mismatch, match="1 stanzas, not 2; none matches the iq"):
        match_any_order(expected, received[1:], {})


def test_any_order_with_optional_stanzas():
    expected = elements("<iq type='set'/><presence type='unavailable' t:optional='1'/>", 1)
    iq, unavailable = got("<iq type='set'/>"), got("<presence type='unavailable'/>")
    assert match_any_order(expected, [iq], {}) == {}
    assert match_any_order(expected, [unavailable, iq], {}) == {}
    # The optional one alone is not enough, and a stranger is not optional.
    with pytest.raises(Mismatch, match="no stanza received matches the iq"):
        match_any_order(expected, [unavailable], {})
    with pytest.raises(Mismatch, match="matches none expected"):
        match_any_order(expected, [iq, got("<message/>")], {})


# --- scripts ---

SCRIPT = """# title: a test
# checks: RFC 6121 2.1
# requires: roster ping

client romeo: romeo/orchard
client juliet: juliet/balcony

romeo connects
romeo sends:
	<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>
romeo receives within 2:
	<iq type='result' id='r1'/>
juliet receives in any order:
	<presence/>
	<message/>
romeo receives nothing within 0.5
romeo disconnects
"""


def test_parse_a_script():
    script = parse(SCRIPT, "t")
    assert script.title == "a test"
    assert script.checks == "RFC 6121 2.1"
    assert script.requires == ["roster", "ping"]
    assert script.clients == {"romeo": ("romeo", "orchard"), "juliet": ("juliet", "balcony")}
    assert [s.action for s in script.steps] == ["connects", "sends", "receives",
                                                 "receives-any-order", "nothing", "disconnects"]
    assert script.steps[2].wait == 2
    assert script.steps[4].wait == 0.5
    assert len(elements(script.steps[3].body, 1)) == 2
    assert script.users() == ["juliet", "romeo"]


@pytest.mark.parametrize("text, why", [
    ("client romeo: romeo/a\nnurse connects\n", "not declared"),
    ("client romeo: romeo/a\nromeo sends:\n\t<iq>\n", "not XML"),
    ("client romeo: romeo/a\nromeo sends:\nromeo connects\n", "without stanzas"),
    ("client romeo: romeo/a\nromeo dances\n", "not a command"),
    ("client romeo: romeo/a\nromeo receives nothing within 99\n", "at most"),
    ("client romeo: romeo/a\nclient romeo: romeo/b\nromeo connects\n", "declared twice"),
    ("client romeo: romeo/a\n", "no steps"),
    ("client romeo: romeo/a\nromeo sends:\n\tbare text\n", "text between"),
    ("client romeo: romeo/a\nromeo receives:\n\t<iq t:optional='1'/>\n", "any order' only"),
])
def test_bad_scripts_are_refused_with_the_line(text, why):
    with pytest.raises(ScriptError, match=why):
        parse(text)


def test_substitute_escapes_and_refuses_unknown_names():
    assert substitute("<a v='${x}'/>", {"x": "a'<b"}, 1) == "<a v='a&apos;&lt;b'/>"
    with pytest.raises(ScriptError, match="unknown variable"):
        substitute("${nobody}", {}, 3)


def test_pretty_prints_namespaces_where_they_change():
    text = pretty(got("<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@b'/>"
                      "</query></iq>"))
    assert text == ("<iq type='result'>\n  <query xmlns='jabber:iq:roster'>\n"
                    "    <item jid='a@b'/>\n  </query>\n</iq>")


def test_every_shipped_script_parses():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
    names = sorted(n for n in os.listdir(here) if n.endswith(".conv"))
    assert names
    for name in names:
        with open(os.path.join(here, name)) as f:
            script = parse(f.read(), name)
        assert script.title and script.checks and script.requires, name


def test_rxmpp_features_are_features_some_script_requires():
    # A typo in rxmpp.features would silently keep a script out of make check.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from run import rxmpp_features

    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
    required = set()
    for name in os.listdir(here):
        if name.endswith(".conv"):
            with open(os.path.join(here, name)) as f:
                required |= set(parse(f.read(), name).requires)
    assert rxmpp_features() <= required
