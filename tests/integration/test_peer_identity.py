# SPDX-License-Identifier: MIT
"""A peer is who its certificate says.  Two holders of certificates that the
cluster's CA issued, neither of them a member, speak the elector's peer-link
protocol by hand to a running three-node cluster: one whose certificate
carries none of cluster.peer_names, and one whose certificate carries them
(a node that could join) but is not a member.  They try to add a member
whose address carries a newline, to join under a member's id or at a
member's address, to remove a member, and to forge heartbeats and votes in
members' names.  Every attempt is refused and nothing changes: the same
leader in the same term, the same three members, the same election files."""

import hashlib
import os
import socket
import ssl
import struct
import time

from certs import issue_server_cert
from rxmpp_node import wait_until
from test_cluster import PEERLINK_VERSION_MIN, form_cluster, leader_of, status

PEERLINK_HELLO = 1
ELECTOR_LINK_KIND = 0x454C4543
WIRE_MSG, WIRE_CHANGE, WIRE_CHANGE_REPLY = 2, 3, 4
MSG_VOTE, MSG_HEARTBEAT = 3, 5
CHANGE_JOIN, CHANGE_REMOVE = 0, 1
CHANGE_REFUSED = 3
MEMBERS_MAX, FINGERPRINT, ADDRESS = 16, 32, 128
ATTACKER_ID = 0x0BAD0BAD0BAD0BAD


def frame(kind, payload):
    return struct.pack("<HHIQ", kind, 0, 16 + len(payload), 0) + payload


class PeerLink:
    """One peer link (the elector's, or of another `kind`) from a
    certificate of our own, by hand."""

    def __init__(self, port, cert, key, ca, node_id, address="127.0.0.1:1",
                 kind=ELECTOR_LINK_KIND):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(ca)
        context.load_cert_chain(cert, key)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw)
        # The highest and the lowest protocol version spoken (common/peerlink.h):
        # 0.2.0's, whose frames these are.
        hello = struct.pack("<HHIQ128s", PEERLINK_VERSION_MIN, PEERLINK_VERSION_MIN, kind, node_id,
                            address.encode())
        self.sock.sendall(frame(PEERLINK_HELLO, hello))
        self.buffer = b""
        kind, _ = self.read_frame()
        assert kind == PEERLINK_HELLO

    def read_frame(self):
        """The next frame, or None when the node closed the link."""
        while True:
            if len(self.buffer) >= 16:
                kind, _, length, _ = struct.unpack("<HHIQ", self.buffer[:16])
                if len(self.buffer) >= length:
                    payload = self.buffer[16:length]
                    self.buffer = self.buffer[length:]
                    return kind, payload
            try:
                chunk = self.sock.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                chunk = b""
            if not chunk:
                return None, None
            self.buffer += chunk

    def change(self, op, node_id, address):
        """Sends a join or a removal; the answer's (status, text), or None
        when the node closed the link instead."""
        self.sock.sendall(frame(WIRE_CHANGE, struct.pack("<IIQ128s", op, 0, node_id,
                                                         address.encode())))
        while True:
            kind, payload = self.read_frame()
            if kind is None:
                return None
            if kind == WIRE_CHANGE_REPLY:
                status_, _, _, text = struct.unpack("<II128s128s", payload)
                return status_, text.rstrip(b"\0").decode()

    def election_message(self, kind, sender, to, term, members=None):
        """A heartbeat (with `members`, (id, fingerprint, address)) or a
        vote in `sender`'s name; True if the node closed the link over it."""
        # Well formed (`granted` 0: a flag a heartbeat cannot carry would be
        # refused before the sender is looked at).
        head = struct.pack("<IIQQQQQQ", kind, 0, sender, to, term, 1 << 20, term, 1 << 20)
        if kind == MSG_HEARTBEAT:
            config = struct.pack("<QQI4x", 1 << 20, term, len(members))
            for member_id, fingerprint, address in members:
                config += struct.pack("<Q32s128s", member_id, fingerprint, address.encode())
            config += b"\0" * ((MEMBERS_MAX - len(members)) * (8 + FINGERPRINT + ADDRESS))
            # The leader's view of each member: not heard since it leads.
            head += config + struct.pack(f"<{MEMBERS_MAX}I", *[0xFFFFFFFF] * MEMBERS_MAX)
        self.sock.sendall(frame(WIRE_MSG, head))
        self.sock.settimeout(3)
        try:
            kind_, _ = self.read_frame()
        except socket.timeout:
            return False
        return kind_ is None

    def close(self):
        self.sock.close()


def fingerprint(cert):
    with open(cert) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).digest()


def snapshot(nodes):
    files = []
    for node in nodes:
        with open(os.path.join(node.dir, "state", "election")) as f:
            files.append(f.read())
    return [(status(n)["term"], status(n)["leader"],
             sorted((m["node"], m["address"]) for m in status(n)["members"])) for n in nodes], files


def test_trusted_non_members_change_nothing(node_factory, certs, tmp_path):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    follower = next(n for n in nodes if n is not leader)
    leader_id = int(status(leader)["node"], 16)
    follower_id = int(status(follower)["node"], 16)
    term = status(leader)["term"]
    before, files_before = snapshot(nodes)
    # Each member is shown with the certificate it is bound to (here all
    # three nodes share one), as rxmpp-certtool inspect prints it.
    shown = ":".join(f"{b:02X}" for b in fingerprint(certs["cert"]))
    assert all(m["certificate_sha256"] == shown for m in status(leader)["members"])
    # Both issued by the cluster's CA: one carries the allowed name, one not.
    allowed = issue_server_cert(certs["dir"], certs["ca"], certs["ca_key"], "allowed")
    stranger = issue_server_cert(str(tmp_path), certs["ca"], certs["ca_key"], "stranger",
                                 domain="stranger.example")
    mark = leader.log_mark()
    newline = "127.0.0.1:7\nmember 00000000000000ee 127.0.0.1:8"

    for key, cert in (allowed, stranger):
        own = fingerprint(cert)
        link = PeerLink(leader.cluster_port, cert, key, certs["ca"], ATTACKER_ID)
        # A fourth member whose address would inject a line: the frame is
        # malformed, the link closes.
        assert link.change(CHANGE_JOIN, ATTACKER_ID, newline) is None
        link.close()
        # Joining under a member's id, or at a member's address.
        link = PeerLink(leader.cluster_port, cert, key, certs["ca"], follower_id)
        answer = link.change(CHANGE_JOIN, follower_id, "127.0.0.1:9")
        assert answer is not None and answer[0] == CHANGE_REFUSED, answer
        link.close()
        link = PeerLink(leader.cluster_port, cert, key, certs["ca"], ATTACKER_ID)
        answer = link.change(CHANGE_JOIN, ATTACKER_ID, follower.cluster_address)
        assert answer is not None and answer[0] == CHANGE_REFUSED, answer
        # Removing a real member, in its own name and in a member's.
        answer = link.change(CHANGE_REMOVE, follower_id, "")
        assert answer is not None and answer[0] == CHANGE_REFUSED, answer
        link.close()
        link = PeerLink(leader.cluster_port, cert, key, certs["ca"], follower_id)
        answer = link.change(CHANGE_REMOVE, follower_id, "")
        assert answer is not None and answer[0] == CHANGE_REFUSED, answer
        link.close()
        # One forged heartbeat in a follower's name with a newer term would
        # have made the leader step down; a forged vote, a new election.
        link = PeerLink(leader.cluster_port, cert, key, certs["ca"], follower_id)
        assert link.election_message(MSG_HEARTBEAT, follower_id, leader_id, term + 5,
                                     [(follower_id, own, "127.0.0.1:9")])
        link.close()
        link = PeerLink(follower.cluster_port, cert, key, certs["ca"], leader_id)
        assert link.election_message(MSG_HEARTBEAT, leader_id, follower_id, term + 5,
                                     [(leader_id, own, "127.0.0.1:9")])
        link.close()
        link = PeerLink(follower.cluster_port, cert, key, certs["ca"], leader_id)
        assert link.election_message(MSG_VOTE, leader_id, follower_id, term + 5)
        link.close()
        # A heartbeat in its own name whose newer membership lists itself,
        # with its own certificate, as a member.
        link = PeerLink(follower.cluster_port, cert, key, certs["ca"], ATTACKER_ID)
        assert link.election_message(MSG_HEARTBEAT, ATTACKER_ID, follower_id, term + 5,
                                     [(ATTACKER_ID, own, "127.0.0.1:9"),
                                      (follower_id, own, follower.cluster_address)])
        link.close()

    leader.wait_log(r"a message in a member's name from another certificate", start=mark)
    leader.wait_log(r"carries none of cluster\.peer_names", start=mark)
    time.sleep(1)  # anything the attempts set off would show by now
    after, files_after = snapshot(nodes)
    assert after == before
    assert files_after == files_before
    for text in files_after:
        assert "00000000000000ee" not in text and "0bad0bad" not in text
    assert status(leader)["state"] == "LEADER" and status(leader)["term"] == term
    # The cluster still works: a member's own restart is heard as before.
    wait_until(lambda: all(len(status(n)["members"]) == 3 for n in nodes),
               what="the membership")
