# SPDX-License-Identifier: MIT
"""A hand-driven XMPP connection for hostile tests: exact bytes in, exact
bytes out, STARTTLS with Python's ssl module, bounded reads."""

import base64
import socket
import ssl

HEADER = (b"<?xml version='1.0'?><stream:stream to='test.example' xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")


class Raw:
    def __init__(self, port, ca, timeout=10, source=None, rcvbuf=None):
        """`source`: the local address to connect from (127.0.0.x); `rcvbuf`:
        a small receive buffer, for a peer that is meant to stop reading."""
        self.ca = ca
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.received = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, marker, limit=1 << 20):
        while marker not in self.received and len(self.received) < limit:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.received += chunk
        if marker not in self.received:
            raise AssertionError(f"no {marker!r} in {self.received[-500:]!r}")
        head, _, self.received = self.received.partition(marker)
        return head + marker

    def read_to_end(self, limit=1 << 22):
        """Everything until the server closes; fails if it never does."""
        data = self.received
        self.received = b""
        while len(data) < limit:
            try:
                chunk = self.sock.recv(65536)
            except ssl.SSLError:
                break
            except ConnectionResetError:
                break
            if not chunk:
                return data
            data += chunk
        return data

    def starttls(self):
        self.send(HEADER)
        self.read_until(b"</stream:features>")
        self.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.read_until(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        context = ssl.create_default_context(cafile=self.ca)
        self.sock = context.wrap_socket(self.sock, server_hostname="test.example")
        self.send(HEADER)
        return self.read_until(b"</stream:features>")

    def authenticate(self, user, password):
        """STARTTLS and SASL PLAIN; returns the features of the new stream."""
        self.starttls()
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        self.send(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + token +
                  b"</auth>")
        self.read_until(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>")
        self.read_until(b"</success>")
        self.send(HEADER)
        return self.read_until(b"</stream:features>")

    def login(self, user, password, resource="raw"):
        self.authenticate(user, password)
        self.send(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  b"<resource>" + resource.encode() + b"</resource></bind></iq>")
        return self.read_until(b"</iq>")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def stream_error(condition):
    return f"<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>".encode()
