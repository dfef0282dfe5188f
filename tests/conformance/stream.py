# SPDX-License-Identifier: MIT
"""A raw XMPP client connection for the conversation runner: STARTTLS with
Python's ssl module, SASL PLAIN, resource binding, then whole stanzas in and
out as they are on the wire.  Raw sockets rather than slixmpp because a
conformance script must see every stanza the server sends, untouched and in
order; slixmpp answers some by itself (roster pushes, unknown iqs) and keeps
others from the application."""

import base64
import select
import socket
import ssl
import time
import xml.etree.ElementTree as ET

STREAM_NS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION_NS = "urn:ietf:params:xml:ns:xmpp-session"
LOGIN_WAIT = 10.0
# The bound on one socket call: a write to a server that stops reading, or
# a read of a TLS record that never completes, fails rather than hangs.
IO_WAIT = 10.0


class StreamClosed(Exception):
    pass


class Connection:
    """One client stream.  Every read is bounded by the deadline it is given."""

    def __init__(self, host, port, domain, ca):
        self.domain = domain
        self.ca = ca
        self.sock = socket.create_connection((host, port), timeout=IO_WAIT)
        self.stanzas = []
        self.closed = False
        self.jid = None
        self.features = None
        self._new_parser()

    def _new_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.root = None

    def _open_stream(self):
        self._new_parser()
        self.write(f"<?xml version='1.0'?><stream:stream to='{self.domain}' xmlns='jabber:client' "
                   f"xmlns:stream='{STREAM_NS}' version='1.0'>")

    def write(self, text):
        self.sock.sendall(text.encode())

    def _feed(self, data):
        self.parser.feed(data)
        for event, element in self.parser.read_events():
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self.root = element
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.stanzas.append(element)
                    self.root.remove(element)
                elif self.depth == 0:
                    self.closed = True

    def _pending(self):
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()

    def read(self, deadline):
        """Waits for the next stanza until the monotonic `deadline`; None when
        none came.  Raises StreamClosed when the server ended the stream."""
        while not self.stanzas:
            if self.closed:
                raise StreamClosed("the server closed the stream")
            left = deadline - time.monotonic()
            if left <= 0 and not self._pending():
                return None
            if not self._pending():
                ready, _, _ = select.select([self.sock], [], [], max(left, 0))
                if not ready:
                    return None
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, socket.timeout):
                # Part of a TLS record: the deadline above still bounds it.
                continue
            except (ConnectionError, ssl.SSLError) as e:
                self.closed = True
                raise StreamClosed(f"the connection broke: {e}") from None
            if not data:
                self.closed = True
                raise StreamClosed("the server closed the connection")
            try:
                self._feed(data)
            except ET.ParseError as e:
                self.closed = True
                raise StreamClosed(f"the server sent bad XML: {e}") from None
        return self.stanzas.pop(0)

    def _expect(self, tag, deadline, what):
        stanza = self.read(deadline)
        if stanza is None:
            raise StreamClosed(f"no {what} within {LOGIN_WAIT:g} s")
        if stanza.tag != tag:
            raise StreamClosed(f"{stanza.tag} where {what} was expected: "
                               f"{ET.tostring(stanza, encoding='unicode')[:300]}")
        return stanza

    def login(self, user, password, resource):
        """STARTTLS, SASL PLAIN, bind `resource`; the session as RFC 6120 has it
        (no initial presence: the script sends that)."""
        deadline = time.monotonic() + LOGIN_WAIT
        self._open_stream()
        features = self._expect(f"{{{STREAM_NS}}}features", deadline, "stream features")
        if features.find(f"{{{TLS_NS}}}starttls") is None:
            raise StreamClosed("the server offers no STARTTLS")
        self.write(f"<starttls xmlns='{TLS_NS}'/>")
        self._expect(f"{{{TLS_NS}}}proceed", deadline, "proceed")
        context = ssl.create_default_context(cafile=self.ca)
        self.sock = context.wrap_socket(self.sock, server_hostname=self.domain)
        self.sock.settimeout(IO_WAIT)
        self._open_stream()
        self._expect(f"{{{STREAM_NS}}}features", deadline, "stream features")
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        self.write(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{token}</auth>")
        self._expect(f"{{{SASL_NS}}}success", deadline, "SASL success")
        self._open_stream()
        features = self._expect(f"{{{STREAM_NS}}}features", deadline, "stream features")
        # What the server offers an authenticated client: a script may ask
        # (roster versioning, pre-approvals are announced here).
        self.features = features
        self.write(f"<iq type='set' id='conformance-bind'><bind xmlns='{BIND_NS}'>"
                   f"<resource>{resource}</resource></bind></iq>")
        bound = self._expect("{jabber:client}iq", deadline, "the bind result")
        jid = bound.find(f"{{{BIND_NS}}}bind/{{{BIND_NS}}}jid")
        if bound.get("type") != "result" or jid is None:
            raise StreamClosed(f"binding failed: {ET.tostring(bound, encoding='unicode')[:300]}")
        self.jid = jid.text
        session = features.find(f"{{{SESSION_NS}}}session")
        if session is not None and session.find(f"{{{SESSION_NS}}}optional") is None:
            self.write(f"<iq type='set' id='conformance-session'><session xmlns='{SESSION_NS}'/>"
                       f"</iq>")
            self._expect("{jabber:client}iq", deadline, "the session result")
        return self.jid

    def disconnect(self, wait):
        """Ends the stream and waits (bounded) for the server to end its own;
        what the server sent before that is dropped, as the client is gone."""
        if not self.closed:
            try:
                self.write("</stream:stream>")
                deadline = time.monotonic() + wait
                while not self.closed and time.monotonic() < deadline:
                    self.read(deadline)
                    self.stanzas.clear()
            except (StreamClosed, OSError):
                pass
        self.abort()

    def abort(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
