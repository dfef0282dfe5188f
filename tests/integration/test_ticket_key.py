# SPDX-License-Identifier: MIT
"""The cluster's TLS ticket key (tls.ticket_key): a client given a ticket
by one node resumes its TLS session on another node that names the same key
(so the clients of a node that dies log in again on the survivors without a
full handshake), gets a full handshake and logs in all the same where the
key differs, and a key file that others may read stops the node at start
with the reason and without the key."""

import base64
import os
import secrets
import ssl

from raw import HEADER, Raw

USER, PASSWORD = "alice", "wonderland-1"


def key_file(directory, name="ticket.key", mode=0o600):
    path = os.path.join(str(directory), name)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.chmod(path, mode)
    return path, key


def node_with_key(node_factory, path):
    node = node_factory()
    text = open(node.config).read().replace("\ntls:\n", f"\ntls:\n  ticket_key: {path}\n")
    node.write_config(text=text)
    node.add_user(USER, PASSWORD)
    return node


def client_context(node):
    """One client's TLS context: Python resumes a session only in the
    context that made it, as a client keeps one for its server."""
    return ssl.create_default_context(cafile=node.certs["ca"])


def log_in(node, context, session=None):
    """A full log-in over STARTTLS offering `session`; the TLS session it
    ended with (its ticket) and whether it was resumed.  Closed with
    close_notify: OpenSSL takes a session ended otherwise for bad."""
    raw = Raw(node.client_port, node.certs["ca"])
    raw.send(HEADER)
    raw.read_until(b"</stream:features>")
    raw.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    raw.read_until(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    raw.sock = context.wrap_socket(raw.sock, server_hostname="test.example", session=session)
    raw.send(HEADER)
    raw.read_until(b"</stream:features>")
    token = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode())
    raw.send(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + token +
             b"</auth>")
    raw.read_until(b"</success>")
    raw.send(HEADER)
    raw.read_until(b"</stream:features>")
    raw.send(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             b"<resource>ticket</resource></bind></iq>")
    assert b"type='result'" in raw.read_until(b"</iq>")
    resumed = raw.sock.session_reused
    ticket = raw.sock.session
    raw.send(b"</stream:stream>")
    raw.read_until(b"</stream:stream>")
    raw.sock.unwrap()
    raw.close()
    return ticket, resumed


def test_a_ticket_opens_on_every_node_that_shares_the_key(node_factory, tmp_path):
    shared, _ = key_file(tmp_path)
    other, _ = key_file(tmp_path, "other.key")
    a = node_with_key(node_factory, shared).start()
    b = node_with_key(node_factory, shared).start()
    c = node_with_key(node_factory, other).start()
    # Each node names its key by an id that says nothing of it: the same
    # on nodes that share the key, another on the third.
    ids = [node.wait_log(r"certworker\[\d+\]: TLS session tickets under the cluster's key "
                         r"from .*, key id [0-9a-f]{16} ").split("key id ")[1].split()[0]
           for node in (a, b, c)]
    assert ids[0] == ids[1] != ids[2]
    for node in (a, b, c):
        text = "\n".join(node.lines)
        assert open(shared).read().strip() not in text
        assert open(other).read().strip() not in text
    context = client_context(a)
    ticket, resumed = log_in(a, context)
    assert not resumed and ticket is not None and ticket.has_ticket
    ticket_b, resumed = log_in(b, context, ticket)
    assert resumed
    # Another key: a full handshake, and the log-in goes through.
    _, resumed = log_in(c, context, ticket)
    assert not resumed
    # A resumed session was given a fresh ticket, which opens on a too.
    _, resumed = log_in(a, context, ticket_b)
    assert resumed


def test_nodes_without_the_key_keep_their_tickets_to_themselves(node_factory):
    a = node_factory().start()
    b = node_factory().start()
    for node in (a, b):
        node.add_user(USER, PASSWORD)
    context = client_context(a)
    ticket, _ = log_in(a, context)
    _, resumed = log_in(b, context, ticket)
    assert not resumed
    _, resumed = log_in(a, context, ticket)
    assert resumed


def test_a_key_file_others_may_read_is_refused(node_factory, tmp_path):
    path, key = key_file(tmp_path, mode=0o644)
    node = node_with_key(node_factory, path)
    node.start(wait_ready=False)
    assert node.proc.wait(timeout=30) == 78
    line = node.wait_log(r"certworker\[\d+\]: cannot start with this configuration: ")
    assert f"{path}: mode 0644 lets others than its owner read the TLS ticket key" in line
    assert key not in "\n".join(node.lines)
