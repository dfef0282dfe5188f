# SPDX-License-Identifier: MIT
"""A connected session handed over with stanzas that CSI held back past
stream_management.max_unacked_stanzas (review reviewsm #3).

B, on a follower, is inactive (XEP-0352) and never acknowledges: its queue
is two short of the limit when alice sends it five chat states, which CSI
holds back.  B resumes on the other follower while its old connection is
open.  To hand the session over, B's node numbers what CSI held: three of
those go past the limit and were not reported to the keeper.  Before, the
session was handed over without them and they were gone, no error to
anybody; now it is not handed over (`<failed/>` with item-not-found, as
for any session that cannot be resumed whole), the old connection gets
policy-violation as a client that never acknowledges does, and every
stanza B had not acknowledged is returned to its sender (routed again as
for a session that ended: an error, or offline storage)."""

import time

from raw import Raw
from rxmpp_node import wait_until
from test_cluster import form_cluster, leader_of, with_accounts
from test_sm_failover import SM, SmClient, bodies

LIMIT = 12


class NeverAcks(SmClient):
    """Counts what it gets and never answers <r/>."""

    def _element(self, element):
        if element.tag == f"{{{SM}}}r":
            return
        super()._element(element)


def test_stanzas_held_back_past_the_limit_are_returned_not_lost(node_factory, certs):
    nodes = form_cluster(node_factory, certs,
                         extra=f"stream_management:\n  max_unacked_stanzas: {LIMIT}\n")
    with_accounts(nodes)
    leader = leader_of(nodes)
    one, two = [n for n in nodes if n is not leader]
    # alice without stream management: its errors are not limited by
    # max_unacked_stanzas (they are more than that).
    a = Raw(leader.client_port, leader.certs["ca"], timeout=20)
    a.login("alice", "alice-pw", resource="a")
    b = NeverAcks(one.certs["ca"], "bob", "bob-pw", "b")
    b.connect(one)
    # Probes from another resource of alice's, so that an early one that
    # bounces does not count among alice/a's errors.
    probe = SmClient(leader.certs["ca"], "alice", "alice-pw", "probe")
    probe.connect(leader)
    wait_until(lambda: (probe.send(b.jid, "probe"), len(bodies(b.received, "probe")) > 0)[1],
               timeout=20, interval=0.5, what="alice reaching B across nodes")
    probe.close()
    b.raw.send(b"<inactive xmlns='urn:xmpp:csi:0'/>")
    time.sleep(1)  # a probe still under way arrives (it counts in B's queue)
    # B's queue: the probes and its own presence, never acknowledged.
    queued = b.handled
    sent = LIMIT - 2 - queued
    assert sent > 0
    for n in range(sent):
        a.send(f"<message to='{b.jid}' type='chat' id='x{n}'><body>x{n}</body></message>"
               .encode())
    wait_until(lambda: b.handled >= LIMIT - 2, timeout=10, what="B's queue two short")
    assert b.handled == LIMIT - 2, b.received
    # Not urgent (no body, to the full JID): held back while B is inactive.
    for n in range(5):
        a.send(f"<message to='{b.jid}' type='chat' id='c{n}'><composing "
               f"xmlns='http://jabber.org/protocol/chatstates'/></message>".encode())
    # They reach B's node and wait there; a later urgent stanza would
    # flush them, so B's node is asked nothing until they are in.
    mark = one.log_mark()
    new = Raw(two.client_port, b.ca, timeout=30)
    new.authenticate(b.user, b.password)
    # Routed by the leader before its answer to this; one more hop to B's
    # node (not timed, a settling pause).
    a.send(b"<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>")
    a.read_until(b"ping1")
    time.sleep(1)
    new.send(f"<resume xmlns='{SM}' previd='{b.id}' h='{b.handled}'/>".encode())
    answer = new.read_until(b"/>").decode()
    assert "<failed" in answer and "item-not-found" in answer, answer
    # Every stanza B had not acknowledged is returned to its sender: the
    # queue, and the five held back (the three past the limit among them).
    # What becomes of them then (an error to alice, or offline storage for
    # bob) is the router's, as for any session that ended.
    one.wait_log(r"client session bob@test\.example/b not handed over: 3 stanzas held back"
                 rf".*; {LIMIT - 2 + 5} stanzas returned to their senders", start=mark)
    a.close()
    b.close()
    new.close()
