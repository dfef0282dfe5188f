# SPDX-License-Identifier: MIT
"""Runs one parsed script against one server: connects its clients, sends
and expects stanzas step by step, and returns the first mismatch."""

import time

from conversation import (Mismatch, ScriptError, elements, match, match_any_order,
                          match_features, optional, pretty, substitute)
from stream import Connection, StreamClosed

DISCONNECT_WAIT = 3.0
# After a mismatch, what else came within this time is shown too: the
# stanza that was expected often arrives just after the one that was not.
AFTER_WAIT = 0.5
# How long optional stanzas may come after the required ones of a block.
OPTIONAL_WAIT = 0.3


def account_name(script, user):
    """Each script has accounts of its own, so that what one script leaves
    (a roster, offline messages) never reaches another."""
    return f"{user}.{script.name}".lower()


class Result:
    def __init__(self, script, passed, step=None, message="", expected=None, received=None,
                 after=None):
        self.after = after or []
        self.script = script
        self.passed = passed
        self.step = step
        self.message = message
        self.expected = expected or []
        self.received = received or []

    def describe(self):
        """The first mismatch, both sides pretty-printed."""
        if self.passed:
            return "PASS"
        where = f"line {self.step.line} ({self.step.client} {self.step.action})" if self.step \
            else "set-up"
        lines = [f"at {where}: {self.message}"]
        if self.expected:
            lines.append("  expected:")
            lines += ["    " + l for e in self.expected for l in pretty(e).split("\n")]
        if self.received:
            lines.append("  received:")
            lines += ["    " + l for r in self.received for l in pretty(r).split("\n")]
        elif self.expected:
            lines.append("  received: nothing")
        if self.after:
            lines.append(f"  and then, within {AFTER_WAIT:g} s:")
            lines += ["    " + l for r in self.after for l in pretty(r).split("\n")]
        return "\n".join(lines)

    def key(self):
        """What two servers' results are compared by."""
        return (self.passed, self.step.line if self.step else None)


class Run:
    def __init__(self, script, server):
        self.script = script
        self.server = server
        self.connections = {}
        self.variables = {"domain": server.domain}
        for name, (user, resource) in script.clients.items():
            bare = f"{account_name(script, user)}@{server.domain}"
            self.variables[f"{name}.bare"] = bare
            self.variables[f"{name}.user"] = account_name(script, user)
            self.variables[name] = f"{bare}/{resource}"

    def blocks(self, step):
        return elements(substitute(step.body, self.variables, step.line), step.line)

    def connection(self, step):
        conn = self.connections.get(step.client)
        if conn is None or conn.closed:
            raise Mismatch(f"{step.client} is not connected")
        return conn

    def receive(self, step, count):
        conn = self.connection(step)
        deadline = time.monotonic() + step.wait
        got = []
        while len(got) < count:
            try:
                stanza = conn.read(deadline)
            except StreamClosed as e:
                raise Mismatch(str(e), received=got) from None
            if stanza is None:
                break
            got.append(stanza)
        return got

    def do(self, step):
        if step.action == "connects":
            user, resource = self.script.clients[step.client]
            index = list(self.script.clients).index(step.client)
            conn = Connection(self.server.host, self.server.port_for(index), self.server.domain,
                              self.server.ca)
            self.connections[step.client] = conn
            try:
                jid = conn.login(account_name(self.script, user), self.server.password, resource)
            except (StreamClosed, OSError) as e:
                raise Mismatch(f"log-in failed: {e}") from None
            if jid != self.variables[step.client]:
                raise Mismatch(f"bound {jid}, not {self.variables[step.client]}")
        elif step.action == "disconnects":
            self.connection(step).disconnect(DISCONNECT_WAIT)
        elif step.action == "sends":
            try:
                self.connection(step).write(substitute(step.body, self.variables, step.line))
            except OSError as e:
                raise Mismatch(f"could not send: {e}") from None
        elif step.action == "nothing":
            got = self.receive(step, 1)
            if got:
                raise Mismatch(f"a stanza within {step.wait:g} s where nothing was expected",
                               received=got)
        elif step.action == "features":
            expected = self.blocks(step)
            features = self.connection(step).features
            try:
                self.variables.update(match_features(expected, features, self.variables))
            except Mismatch as m:
                raise Mismatch(f"stream features: {m}", expected=expected,
                               received=[features]) from None
        else:
            expected = self.blocks(step)
            if step.action == "receives":
                for e in expected:
                    got = self.receive(step, 1)
                    if not got:
                        raise Mismatch(f"nothing within {step.wait:g} s", expected=[e])
                    try:
                        new = match(e, got[0], self.variables)
                    except Mismatch as m:
                        raise Mismatch(str(m), expected=[e], received=got) from None
                    self.variables.update(new)
            else:
                self.receive_any_order(step, expected)

    def receive_any_order(self, step, expected):
        """Reads the required stanzas' number, then one more at a time while
        they cannot be paired and optional ones may be among them; optional
        stanzas still missing may come within OPTIONAL_WAIT."""
        required = sum(1 for e in expected if not optional(e))
        got = self.receive(step, required)
        while True:
            try:
                new = match_any_order(expected, got, self.variables)
                break
            except Mismatch as m:
                more = self.receive(step, 1) if len(got) < len(expected) else []
                if not more:
                    raise Mismatch(str(m), expected=expected, received=got) from None
                got += more
        conn = self.connection(step)
        deadline = time.monotonic() + OPTIONAL_WAIT
        while len(got) < len(expected):
            try:
                stanza = conn.read(deadline)
            except StreamClosed:
                break
            if stanza is None:
                break
            try:
                new = match_any_order(expected, got + [stanza], self.variables)
            except Mismatch:
                # Not one of this block's: the next step's to judge.
                conn.stanzas.insert(0, stanza)
                break
            got.append(stanza)
        self.variables.update(new)

    def after(self, step):
        conn = self.connections.get(step.client) if step else None
        got = []
        if conn is None or conn.closed:
            return got
        deadline = time.monotonic() + AFTER_WAIT
        try:
            while len(got) < 20:
                stanza = conn.read(deadline)
                if stanza is None:
                    break
                got.append(stanza)
        except StreamClosed:
            pass
        return got

    def run(self):
        step = None
        try:
            for step in self.script.steps:
                self.do(step)
            return Result(self.script, True)
        except Mismatch as m:
            return Result(self.script, False, step, str(m), m.expected, m.received,
                          self.after(step))
        except ScriptError as e:
            return Result(self.script, False, step, f"script error: {e}")
        finally:
            for conn in self.connections.values():
                conn.abort()


def run_script(script, server):
    return Run(script, server).run()
