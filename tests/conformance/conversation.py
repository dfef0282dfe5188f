# SPDX-License-Identifier: MIT
"""Scripted conversations: the parser of the script format
(tests/conformance/README.md) and the matcher that compares an expected
stanza with a received one.  No I/O here, so that both are unit-tested
without a server (test_conversation.py)."""

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

CLIENT_NS = "jabber:client"
STREAM_NS = "http://etherx.jabber.org/streams"
# The namespace of the script's own attributes (t:strict), declared for
# every block so that scripts need not declare it.
T_NS = "urn:rxmpp:conformance"
T_STRICT = f"{{{T_NS}}}strict"
T_UNORDERED = f"{{{T_NS}}}unordered"
T_OPTIONAL = f"{{{T_NS}}}optional"
T_WITHOUT = f"{{{T_NS}}}without"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

DEFAULT_WAIT = 5.0
# The bound on any single wait a script may ask for.
MAX_WAIT = 30.0

# XEP-0082 DateTime: what `{stamp}` accepts.
STAMP_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
WILDCARD = re.compile(r"\{(any|stamp|=[A-Za-z_][A-Za-z0-9_]*)\}")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[a-z]+)?)\}")
NAME = r"[a-z][a-z0-9_]*"


class ScriptError(Exception):
    """The script itself is wrong: a syntax error, an unknown client or variable."""


class Mismatch(Exception):
    """What a server sent differs from what the script expects."""

    def __init__(self, message, expected=None, received=None):
        super().__init__(message)
        self.expected = expected
        self.received = received


# --- the script -----------------------------------------------------------


class Step:
    """One command of a script: `client` does `action` with `body` (the raw
    text of the indented block, substituted when the step runs)."""

    def __init__(self, line, client, action, body="", wait=DEFAULT_WAIT):
        self.line = line
        self.client = client
        # connects, sends, receives, receives-any-order, features, nothing, disconnects
        self.action = action
        self.body = body
        self.wait = wait

    def __repr__(self):
        return f"Step({self.line}, {self.client}, {self.action})"


class Script:
    def __init__(self, name):
        self.name = name
        self.title = ""
        self.checks = ""
        self.requires = []
        # Why Prosody, the oracle, fails this script: a difference of
        # Prosody's that DIFFERENCES.md records.  Empty: Prosody must pass.
        self.prosody_fails = ""
        self.clients = {}  # name -> (user, resource)
        self.steps = []

    def users(self):
        return sorted({user for user, _ in self.clients.values()})


COMMAND = re.compile(
    rf"^(?P<client>{NAME}) (?:(?P<simple>connects|disconnects)"
    rf"|(?P<block>sends|receives|receives in any order|has stream features)"
    rf"(?: within (?P<within>[0-9.]+))?:"
    rf"|receives nothing within (?P<nothing>[0-9.]+))$")
CLIENT = re.compile(rf"^client (?P<name>{NAME}): (?P<user>{NAME})/(?P<resource>[A-Za-z0-9_-]+)$")
HEADER = re.compile(r"^# (?P<key>title|checks|requires|prosody-fails): ?(?P<value>.*)$")


def _seconds(text, line):
    try:
        value = float(text)
    except ValueError:
        raise ScriptError(f"line {line}: {text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_WAIT:
        raise ScriptError(f"line {line}: a wait is more than 0 and at most {MAX_WAIT:g} s")
    return value


def parse(text, name="script"):
    """Reads a script; raises ScriptError with the line number."""
    script = Script(name)
    lines = text.split("\n")
    i = 0
    in_header = True
    while i < len(lines):
        number, line = i + 1, lines[i].rstrip()
        i += 1
        if line.startswith("#"):
            header = HEADER.match(line) if in_header else None
            if header:
                key, value = header["key"], header["value"].strip()
                if key == "requires":
                    script.requires = value.split()
                elif key == "title":
                    script.title = (script.title + " " + value).strip()
                elif key == "prosody-fails":
                    script.prosody_fails = value
                else:
                    script.checks = (script.checks + " " + value).strip()
            continue
        if not line.strip():
            continue
        in_header = False
        if line[0].isspace():
            raise ScriptError(f"line {number}: an indented line outside a block")
        client = CLIENT.match(line)
        if client:
            if client["name"] in script.clients:
                raise ScriptError(f"line {number}: client {client['name']} declared twice")
            if client["name"] in ("domain",):
                raise ScriptError(f"line {number}: {client['name']} is a reserved name")
            script.clients[client["name"]] = (client["user"], client["resource"])
            continue
        command = COMMAND.match(line)
        if not command:
            raise ScriptError(f"line {number}: not a command: {line!r}")
        who = command["client"]
        if who not in script.clients:
            raise ScriptError(f"line {number}: client {who} is not declared")
        if command["simple"]:
            script.steps.append(Step(number, who, command["simple"]))
            continue
        if command["nothing"]:
            script.steps.append(Step(number, who, "nothing",
                                     wait=_seconds(command["nothing"], number)))
            continue
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i][0].isspace()):
            body.append(lines[i].strip())
            i += 1
        body_text = "\n".join(body).strip()
        if not body_text:
            raise ScriptError(f"line {number}: {command['block']} without stanzas under it")
        action = {"sends": "sends", "receives": "receives",
                  "receives in any order": "receives-any-order",
                  "has stream features": "features"}[command["block"]]
        wait = _seconds(command["within"], number) if command["within"] else DEFAULT_WAIT
        step = Step(number, who, action, body_text, wait)
        # A block must be XML once variables are filled in: check it now with
        # placeholders, so that a typo fails before any server is asked.
        parsed = elements(VARIABLE.sub("x", body_text), number)
        if action != "receives-any-order" and any(e.get(T_OPTIONAL) for e in parsed):
            raise ScriptError(f"line {number}: t:optional is for 'receives in any order' only")
        script.steps.append(step)
    if not script.steps:
        raise ScriptError("the script has no steps")
    return script


# --- variables and blocks ---------------------------------------------------


def substitute(text, variables, line):
    """Fills in ${name}; the values are escaped for attributes and text alike."""

    def value(m):
        if m[1] not in variables:
            raise ScriptError(f"line {line}: unknown variable ${{{m[1]}}}")
        return escape(variables[m[1]], {"'": "&apos;", '"': "&quot;"})

    return VARIABLE.sub(value, text)


def elements(body, line):
    """The top-level elements of a block, parsed with jabber:client as the
    default namespace and t: bound to the script's namespace."""
    wrapped = f"<t:wrap xmlns='{CLIENT_NS}' xmlns:t='{T_NS}'>{body}</t:wrap>"
    try:
        root = ET.fromstring(wrapped)
    except ET.ParseError as e:
        raise ScriptError(f"line {line}: the block is not XML: {e}") from None
    if (root.text or "").strip() or any((child.tail or "").strip() for child in root):
        raise ScriptError(f"line {line}: text between the stanzas of a block")
    if not len(root):
        raise ScriptError(f"line {line}: no stanza in the block")
    return list(root)


# --- matching ---------------------------------------------------------------


def match_value(pattern, value, captures):
    """Whether `value` matches `pattern` with its wildcards: {any} any text,
    {stamp} an XEP-0082 date-time, {=name} any text remembered as ${name}.
    Returns the new captures or None."""
    names = []
    regex = []
    position = 0
    for m in WILDCARD.finditer(pattern):
        regex.append(re.escape(pattern[position:m.start()]))
        token = m[1]
        if token == "any":
            regex.append(".*")
        elif token == "stamp":
            regex.append(STAMP_RE)
        else:
            names.append(token[1:])
            regex.append("(.*)")
        position = m.end()
    regex.append(re.escape(pattern[position:]))
    found = re.fullmatch("".join(regex), value, re.S)
    if found is None:
        return None
    new = dict(captures)
    for name, got in zip(names, found.groups()):
        new[name] = got
    return new


def _text(node):
    return (node.text or "").strip()


def match(expected, received, captures=None, strict=False):
    """Returns the captures if `received` matches `expected`, else raises
    Mismatch saying where.  Without strict, the received element may carry
    attributes and children the expected one does not name; the expected
    children must appear in the same order among the received ones.  With
    t:strict='1' (which holds for the element and all below it) attributes
    (xml:lang aside), text and children must be exactly those expected;
    t:strict='children' asks only that this element has no other children
    (and no text) than those expected.  t:unordered='1' lets the children
    come in any order (XML sets such as roster groups); t:without='a b'
    names attributes that must be absent (an available presence has no
    type)."""
    captures = dict(captures or {})
    strict = strict or expected.get(T_STRICT) == "1"
    exact_children = strict or expected.get(T_STRICT) == "children"
    if expected.tag != received.tag:
        raise Mismatch(f"element {clark_name(received.tag)} where {clark_name(expected.tag)} "
                       f"was expected")
    for name, pattern in expected.attrib.items():
        if name.startswith(f"{{{T_NS}}}"):
            continue
        if name not in received.attrib:
            raise Mismatch(f"{clark_name(expected.tag)} has no attribute {clark_name(name)}")
        new = match_value(pattern, received.attrib[name], captures)
        if new is None:
            raise Mismatch(f"{clark_name(expected.tag)} attribute {clark_name(name)} is "
                           f"{received.attrib[name]!r}, not {pattern!r}")
        captures = new
    for name in expected.get(T_WITHOUT, "").split():
        if name in received.attrib:
            raise Mismatch(f"{clark_name(expected.tag)} has attribute {name}="
                           f"{received.attrib[name]!r}, expected without it")
    if strict:
        extra = [n for n in received.attrib if n not in expected.attrib and n != XML_LANG]
        if extra:
            raise Mismatch(f"{clark_name(expected.tag)} has attributes not expected: "
                           + ", ".join(clark_name(n) for n in extra))
    if _text(expected) or (exact_children and not len(expected)):
        new = match_value(_text(expected), _text(received), captures)
        if new is None:
            raise Mismatch(f"{clark_name(expected.tag)} text is {_text(received)!r}, "
                           f"not {_text(expected)!r}")
        captures = new
    wanted = list(expected)
    got = list(received)
    if exact_children and len(wanted) != len(got):
        raise Mismatch(f"{clark_name(expected.tag)} has {len(got)} children, not {len(wanted)}")
    if expected.get(T_UNORDERED) == "1":
        return _pair(expected, wanted, got, captures, strict)
    if exact_children:
        for w, g in zip(wanted, got):
            captures = match(w, g, captures, strict)
        return captures
    # In order: each expected child is the first matching received child
    # after the previous one's.
    position = 0
    for w in wanted:
        reasons = []
        for k in range(position, len(got)):
            try:
                captures = match(w, got[k], captures, False)
            except Mismatch as e:
                reasons.append(str(e))
                continue
            position = k + 1
            break
        else:
            why = f" (closest: {reasons[0]})" if reasons else ""
            raise Mismatch(f"{clark_name(expected.tag)} lacks a child {clark_name(w.tag)} "
                           f"as expected{why}")
    return captures


def _pair(parent, wanted, got, captures, strict):
    """Every expected child paired with a distinct received one, in any
    order; backtracks so that a loose expectation does not take the element
    a stricter one needs."""

    def solve(k, free, caps):
        if k == len(wanted):
            return caps
        for j in sorted(free):
            try:
                new = match(wanted[k], got[j], caps, strict)
            except Mismatch:
                continue
            found = solve(k + 1, free - {j}, new)
            if found is not None:
                return found
        return None

    result = solve(0, frozenset(range(len(got))), captures)
    if result is None:
        for w in wanted:
            if not any(_matches(w, g, captures) for g in got):
                raise Mismatch(f"{clark_name(parent.tag)} has no child matching "
                               f"{pretty(w).split(chr(10))[0].strip()} (in any order)")
        raise Mismatch(f"the children of {clark_name(parent.tag)} cannot be paired with those "
                       f"expected (in any order)")
    return result


def match_features(expected_list, features, captures=None):
    """Every expected element among the children of the stream features
    the server sent after authentication, in any order, others allowed."""
    wanted = ET.Element(f"{{{STREAM_NS}}}features", {T_UNORDERED: "1"})
    wanted.extend(expected_list)
    return match(wanted, features, captures)


def optional(element):
    return element.get(T_OPTIONAL) == "1"


def match_any_order(expected_list, received_list, captures=None):
    """Pairs every received stanza with a distinct expected one, in any
    order, so that every expected stanza without t:optional='1' has one;
    returns the captures or raises Mismatch naming what has no pair."""
    captures = dict(captures or {})
    required = [e for e in expected_list if not optional(e)]
    if not len(required) <= len(received_list) <= len(expected_list):
        count = f"{len(received_list)} stanzas, not {len(required)}" + \
            (f" to {len(expected_list)}" if len(required) < len(expected_list) else "")
        for e in required:
            if not any(_matches(e, r, captures) for r in received_list):
                raise Mismatch(f"{count}; none matches the {clark_name(e.tag)} expected "
                               f"({pretty(e).split(chr(10))[0].strip()})")
        raise Mismatch(count)

    def solve(k, free, caps):
        if k == len(received_list):
            return caps if all(j not in free for j, e in enumerate(expected_list)
                               if not optional(e)) else None
        for j in sorted(free):
            try:
                new = match(expected_list[j], received_list[k], caps)
            except Mismatch:
                continue
            found = solve(k + 1, free - {j}, new)
            if found is not None:
                return found
        return None

    result = solve(0, frozenset(range(len(expected_list))), captures)
    if result is not None:
        return result
    for e in required:
        if not any(_matches(e, r, captures) for r in received_list):
            raise Mismatch(f"no stanza received matches the {clark_name(e.tag)} expected "
                           f"({pretty(e).split(chr(10))[0].strip()})")
    for r in received_list:
        if not any(_matches(e, r, captures) for e in expected_list):
            raise Mismatch(f"the {clark_name(r.tag)} received "
                           f"({pretty(r).split(chr(10))[0].strip()}) matches none expected")
    raise Mismatch("the stanzas received cannot be paired with those expected")


def _matches(expected, received, captures):
    try:
        match(expected, received, captures)
        return True
    except Mismatch:
        return False


# --- printing ---------------------------------------------------------------

KNOWN_PREFIXES = {"http://www.w3.org/XML/1998/namespace": "xml", T_NS: "t", STREAM_NS: "stream"}
# Stanzas are in it: no need to say so.
QUIET_NS = {CLIENT_NS}


def clark_name(name):
    """{ns}local as the reader knows it: xml:lang, t:strict, or local only."""
    if name.startswith("{"):
        ns, local = name[1:].split("}", 1)
        prefix = KNOWN_PREFIXES.get(ns)
        if ns in QUIET_NS:
            return local
        return f"{prefix}:{local}" if prefix else f"{local} ({ns})"
    return name


def _split(tag):
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return ns, local
    return "", tag


def pretty(element, indent="  ", parent_ns=CLIENT_NS, depth=0):
    """The element as indented XML, an xmlns wherever the namespace changes."""
    ns, local = _split(element.tag)
    pad = indent * depth
    attrs = []
    if ns != parent_ns:
        attrs.append(f" xmlns='{ns}'")
    extra_ns = {}
    for name, value in element.attrib.items():
        ans, alocal = _split(name)
        if ans:
            prefix = KNOWN_PREFIXES.get(ans)
            if prefix is None:
                prefix = extra_ns.setdefault(ans, f"ns{len(extra_ns)}")
            alocal = f"{prefix}:{alocal}"
        attrs.append(f" {alocal}={quote(value)}")
    for ans, prefix in extra_ns.items():
        attrs.append(f" xmlns:{prefix}='{ans}'")
    head = f"{pad}<{local}{''.join(attrs)}"
    text = _text(element)
    children = list(element)
    if not text and not children:
        return head + "/>"
    if not children:
        return f"{head}>{escape(text)}</{local}>"
    inner = [pretty(child, indent, ns, depth + 1) for child in children]
    if text:
        inner.insert(0, pad + indent + escape(text))
    return head + ">\n" + "\n".join(inner) + f"\n{pad}</{local}>"


def quote(value):
    return "'" + escape(value, {"'": "&apos;"}) + "'"
