# SPDX-License-Identifier: MIT
"""A stanza link is a member's, proven by its certificate.  A holder of a
certificate that the cluster's CA issued (one that could even join, but is
not a member) opens a stanza link to the leader's router, claiming a
member's node id and then an id of its own, and registers a session under
a user's full JID with a high priority, as a follower's router would: had
the link been heard, the user's messages to the bare JID would go to it.
Each link is closed, the leader's log says why, no stanza reaches the
impostor, and the members' users keep exchanging messages."""

import asyncio
import socket
import ssl
import struct

from certs import issue_server_cert
from test_cluster import cluster_with_accounts, next_real, status, until_reachable
from test_peer_identity import ATTACKER_ID, PeerLink

ROUTER_LINK_KIND = 0x524F5554  # router/router_relay_wire.h
WIRE_REGISTER, WIRE_DELIVER = 2, 7
SESSION_CLIENT = 0


def register(link, session, jid):
    """A relay registration of `jid`; True if the router closed the link
    instead of taking it (and sent no stanza on it)."""
    payload = struct.pack("<QIiII", session, SESSION_CLIENT, 127, 1, len(jid)) + jid.encode()
    try:
        link.sock.sendall(struct.pack("<HHIQ", WIRE_REGISTER, 0, 16 + len(payload), 0) + payload)
    except OSError:
        return True  # closed before it could even be sent
    link.sock.settimeout(5)
    while True:
        try:
            kind, _ = link.read_frame()
        except (socket.timeout, ssl.SSLError, OSError):
            return False
        if kind is None:
            return True
        assert kind != WIRE_DELIVER, "a stanza reached the impostor"


def test_trusted_non_member_holds_no_stanza_link(node_factory, certs):
    leader, one, two = cluster_with_accounts(node_factory, certs)
    one_id = int(status(one)["node"], 16)
    # Issued by the cluster's CA with the allowed name: it could join, but
    # it is not a member.
    key, cert = issue_server_cert(certs["dir"], certs["ca"], certs["ca_key"], "impostor")
    mark = leader.log_mark()
    stanza_port = leader.cluster_port + 1

    async def scenario():
        alice = await login(one, "alice", "alice-pw", resource="a")
        bob = await login(two, "bob", "bob-pw", resource="b")
        await until_reachable(alice, bob, "bob@test.example/b")
        # In a member's name, and then in a name of its own.
        for claimed in (one_id, ATTACKER_ID):
            link = PeerLink(stanza_port, cert, key, certs["ca"], claimed, kind=ROUTER_LINK_KIND)
            assert register(link, 1, "bob@test.example/stolen"), hex(claimed)
            link.close()
        leader.wait_log(r"stanza link .* claims to be node %016x: its certificate is not "
                        r"the one that member is bound to; closing it" % one_id, start=mark)
        leader.wait_log(r"stanza link .* claims to be node %016x: that node is not a member "
                        r"of the cluster; closing it" % ATTACKER_ID, start=mark)
        # The members' users are undisturbed: bob's bare JID is still bob's.
        for n in range(3):
            alice.send_message(mto="bob@test.example", mbody=f"after {n}", mtype="chat")
            assert (await next_real(bob))["body"] == f"after {n}"
        bob.send_message(mto="alice@test.example/a", mbody="and back", mtype="chat")
        assert (await next_real(alice))["body"] == "and back"
        for peer in (alice, bob):
            await peer.close()

    from xmpp import login, run

    run(scenario())
    assert status(leader)["state"] == "LEADER"
