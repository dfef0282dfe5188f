/* SPDX-License-Identifier: MIT */
/*
 * Stanzas between the nodes of a cluster, in the router: the shell of the
 * relay core (router_relay.c, whose header says the protocol).  Every
 * follower's router keeps a stanza link (common/peerlink.c, mutual TLS,
 * cluster.port + 1) to the leader's router, registers its sessions there,
 * and forwards what it cannot deliver itself; the leader routes with every
 * node's sessions and delivers to the node that holds the recipient.
 *
 * This file does what the core must not: the links (connecting to the
 * leader, retrying every RETRY_MS, accepting the others'), the clock (a
 * DRIVE_MS tick), the routing table and the routing of what the core says
 * to route, in the order it says.  A frame that is malformed, or that has
 * no business on its link, closes that link with one warning; the peer
 * connects again and sends what was not acknowledged.
 *
 * Who is at the other end of a link is its certificate, not the node id
 * its hello claims: a link, accepted or made to the leader, is kept only
 * while that id is a member's and the certificate is the one the member
 * is bound to (the membership comes from the elector, PROTO_MEMBERS;
 * router_members.c).  Anyone else holding a certificate the trust bundle
 * accepts could otherwise register sessions under any JID and receive
 * their stanzas.
 */
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/child.h"
#include "common/jid.h"
#include "common/log.h"
#include "common/peerlink.h"
#include "common/tls.h"
#include "router.h"
#include "router_members.h"

#define LINKS_MAX 32
#define DRIVE_MS  50
#define WARMUP_MS 1500
#define RELINK_MS 5000 /* well beyond an election timeout: see relay_options */
#define RETRY_MS  200

static struct {
	struct ev_loop *loop;
	bool on;
	SSL_CTX *tls;
	uint64_t self;
	char leader_address[160];
	struct relay *relay;
	bool pumping;
	/* The channel to the listener is over its budget: the leader's
	 * deliveries wait in the link to it (backpressure) rather than be
	 * refused one by one (each refusal closes the link). */
	bool listener_congested;
	/* follower: the link to the leader */
	struct peerlink *up;
	int64_t up_retry_at;
	/* leader: links from the other nodes, once they said hello */
	struct peerlink *links[LINKS_MAX];
	struct peerlink_listener *ports[8];
	size_t socket_count;
	/* from the elector; none until it speaks, so no link is a member's */
	struct proto_members members;
} cluster;

static int64_t now_ms(void)
{
	return ev_now(cluster.loop);
}

bool router_cluster_relaying(void)
{
	return cluster.on && cluster.self != 0;
}

static struct peerlink_hello hello(void)
{
	struct peerlink_hello h = {.kind = RELAY_LINK_KIND, .node_id = cluster.self};
	return h;
}

/* A frame that is not sent is not lost: without a link the core has heard
 * (or hears) that the link went, and a frame that cannot be queued breaks
 * its link (peerlink_sendv), which the core hears of on the next turn; it
 * then sends again, on the next link, whatever the other end did not
 * confirm (forwards, deliveries; an ack lost makes the origin send again,
 * and the receivers drop what they had). */
static int send_to(struct peerlink *l, uint16_t type, const void *a, size_t alen, const void *b,
		   size_t blen)
{
	if (l == NULL || !peerlink_is_up(l))
		return -1;
	struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
	return peerlink_sendv(l, type, iov, 2);
}

static struct peerlink *link_of(uint64_t node)
{
	for (size_t i = 0; i < LINKS_MAX; i++) {
		if (cluster.links[i] != NULL && peerlink_is_up(cluster.links[i]) &&
		    peerlink_remote(cluster.links[i])->node_id == node)
			return cluster.links[i];
	}
	return NULL;
}

static struct peerlink **slot_of(struct peerlink *l)
{
	for (size_t i = 0; i < LINKS_MAX; i++) {
		if (cluster.links[i] == l)
			return &cluster.links[i];
	}
	return NULL;
}

/* Registration of local sessions with the leader */

static void register_one(struct rsession *s, void *arg)
{
	struct peerlink *l = arg;
	if (s->ref.node != ROUTER_LOCAL)
		return;
	struct relay_wire_register r = {.session = s->ref.session,
					.kind = s->kind,
					.priority = s->priority,
					.available = s->available,
					.jid_len = (uint32_t)strlen(s->jid)};
	send_to(l, RELAY_WIRE_REGISTER, &r, sizeof(r), s->jid, r.jid_len);
}

void router_cluster_session_up(const struct rsession *s)
{
	if (cluster.up != NULL && !router_relay_leading(cluster.relay))
		register_one((struct rsession *)s, cluster.up);
}

void router_cluster_session_down(struct rref ref)
{
	struct relay_wire_session w = {.session = ref.session};
	if (cluster.up != NULL && !router_relay_leading(cluster.relay))
		send_to(cluster.up, RELAY_WIRE_UNREGISTER, &w, sizeof(w), NULL, 0);
}

void router_cluster_local_forgotten(void)
{
	if (cluster.up != NULL && !router_relay_leading(cluster.relay))
		send_to(cluster.up, RELAY_WIRE_FORGET, NULL, 0, NULL, 0);
}

void router_cluster_session_presence(const struct rsession *s)
{
	struct relay_wire_presence w = {
	    .session = s->ref.session, .priority = s->priority, .available = s->available};
	if (cluster.up != NULL && !router_relay_leading(cluster.relay))
		send_to(cluster.up, RELAY_WIRE_PRESENCE, &w, sizeof(w), NULL, 0);
}

static void link_gone(struct peerlink *l, bool was_up);

/* Doing what the core says, in its order */

static void route_out(const struct relay_out *o)
{
	static struct proto_route_view r;
	if (proto_route_unpack(o->data, o->len, &r) == -1) {
		/* Our own were checked when they came from the listener. */
		struct peerlink *l = link_of(o->node);
		static struct log_limit malformed;
		log_warnx_limited(&malformed,
				  "stanza link %s: node %016" PRIx64
				  " forwarded a malformed routing "
				  "header; closing it",
				  l ? peerlink_peer(l) : "?", o->node);
		if (l != NULL) {
			*slot_of(l) = NULL;
			peerlink_free(l);
			router_relay_peer_link(cluster.relay, o->node, false);
		}
		return;
	}
	router_relay_route_begin(cluster.relay, o);
	if (o->node == RELAY_LOCAL)
		router_sm_route_begin(o->session);
	router_route_stanza((struct rref){o->node, o->session}, &r, true);
	router_metrics_routed(r.kind);
	if (o->node == RELAY_LOCAL)
		router_sm_route_end(o->key.seq);
	router_relay_route_end(cluster.relay);
}

static void perform(const struct relay_out *o)
{
	switch (o->kind) {
	case RELAY_OUT_SEND:
		send_to(o->to_leader ? cluster.up : link_of(o->node), o->type, &o->head,
			o->head_len, o->data, o->len);
		return;
	case RELAY_OUT_REGISTER_ALL:
		log_info("stanza link to the leader at %s up; registering %zu sessions",
			 cluster.leader_address, router_session_count());
		router_sessions_each(register_one, cluster.up);
		router_sm_up_link(true);
		return;
	case RELAY_OUT_ROUTE:
		route_out(o);
		return;
	case RELAY_OUT_DELIVER: {
		struct rsession *s = router_session_by_ref((struct rref){ROUTER_LOCAL, o->session});
		/* A session that ended after the leader routed to it: the listener
		 * finds it gone and routes the stanza again (listener_route.c). */
		struct relay_marks before;
		if (s != NULL)
			before = s->delivered;
		bool ok = true;
		if (s == NULL || !router_relay_seen_before(&s->delivered, o->key))
			ok = router_deliver(o->session, o->data, o->len) == 0;
		if (!ok) {
			/* The listener's channel is over its budget: not marked,
			 * not confirmed; the leader sends it again on the next
			 * link (the core closes this one). */
			if (s != NULL)
				s->delivered = before;
			static struct log_limit refused;
			log_warnx_limited(&refused,
					  "a stanza from the leader could not be handed to the "
					  "listener (its channel is full); the stanza link is "
					  "closed for the leader to send it again");
		}
		router_relay_delivered_here(cluster.relay, o, ok);
		return;
	}
	case RELAY_OUT_BOUNCE: {
		static struct proto_route_view r;
		if (proto_route_unpack(o->data, o->len, &r) == -1)
			return;
		/* Users can cause as many of these as they like. */
		static struct log_limit bounced;
		log_warnx_limited(&bounced, "stanza from %s to %s bounced: %s", r.from, r.to,
				  o->why);
		router_route_bounce((struct rref){o->node, o->session}, &r, "wait",
				    "recipient-unavailable");
		return;
	}
	case RELAY_OUT_FORGET:
		/* Its sessions wait for a resumption anywhere (only while this
		 * node leads: one that stops has forgotten what it kept). */
		router_sm_node_lost(o->node, now_ms());
		router_sessions_clear_node(o->node);
		return;
	case RELAY_OUT_CLOSE: {
		if (o->to_leader) {
			if (cluster.up != NULL)
				link_gone(cluster.up, true);
			return;
		}
		struct peerlink *l;
		while ((l = link_of(o->node)) != NULL) {
			*slot_of(l) = NULL;
			peerlink_free(l);
		}
		return;
	}
	case RELAY_OUT_RETURN:
		/* The listener, the one process that reads XML, routes it again
		 * from the stanza itself, as for a session that ended. */
		if (child_send(PROC_LISTENER, PROTO_SM_RETURN, 0, o->data, o->len, -1) == -1) {
			/* A node lost with many of them makes as many lines. */
			static struct log_limit unreturned;
			log_warnx_limited(&unreturned,
					  "a stanza for node %016" PRIx64
					  ", which did not come back, could not be routed again: "
					  "the listener is away or its channel full",
					  o->node);
		}
		return;
	}
}

/* Takes the core's outputs until there are none.  Routing an output never
 * comes back here, but a nested call would only find the loop running. */
static void pump(void)
{
	if (cluster.relay == NULL || cluster.pumping)
		return;
	cluster.pumping = true;
	struct relay_out o;
	while (router_relay_next(cluster.relay, &o))
		perform(&o);
	cluster.pumping = false;
	/* Confirmations may have made the leader's own counts safe to send. */
	router_sm_counts_release();
}

uint64_t router_cluster_forward(uint64_t session, const void *data, size_t len)
{
	uint64_t seq = router_relay_forward(cluster.relay, session, data, len);
	pump();
	return seq;
}

void router_cluster_listener_congested(bool congested)
{
	cluster.listener_congested = congested;
	if (cluster.up != NULL)
		peerlink_pause_input(cluster.up, congested);
}

size_t router_cluster_queued(void)
{
	return cluster.relay != NULL ? router_relay_queued(cluster.relay) : 0;
}

uint64_t router_cluster_oldest_kept(void)
{
	return cluster.relay != NULL ? router_relay_oldest(cluster.relay) : UINT64_MAX;
}

void router_cluster_taken_over(uint64_t node, uint64_t session)
{
	if (cluster.relay != NULL)
		router_relay_taken_over(cluster.relay, node, session);
}

void router_cluster_catch_up(void)
{
	if (cluster.relay == NULL)
		return;
	router_relay_catch_up(cluster.relay);
	pump();
}

bool router_cluster_reaches(uint64_t node)
{
	return node == ROUTER_LOCAL ||
	       (cluster.relay != NULL && router_relay_reaches(cluster.relay, node));
}

int router_cluster_deliver(const struct rsession *target, const char *bytes, size_t len)
{
	/* No link: that node just left, and its sessions with it, though the
	 * table lists them until its FORGET is done.  The caller routes the
	 * stanza as for a session that ended; counted as sent here (stream
	 * management's keeper, router_counts.h) it would be acknowledged to
	 * its sender while it went nowhere. */
	struct relay_wire_deliver d;
	if (!router_relay_deliver_remote(cluster.relay, target->ref.node, target->ref.session,
					 bytes, len, &d))
		return -1;
	router_sm_delivered(target, bytes, len);
	send_to(link_of(target->ref.node), RELAY_WIRE_DELIVER, &d, sizeof(d), bytes, len);
	return 0;
}

bool router_cluster_already_delivered(struct rsession *s)
{
	return cluster.relay != NULL &&
	       router_relay_seen_before(
		   &s->delivered,
		   router_relay_route_key_to(cluster.relay, s->ref.node, s->ref.session));
}

void router_cluster_kick(const struct rsession *target, uint32_t reason)
{
	struct relay_wire_kick k = {.session = target->ref.session, .reason = reason};
	send_to(link_of(target->ref.node), RELAY_WIRE_KICK, &k, sizeof(k), NULL, 0);
}

void router_cluster_identity(uint64_t *self, uint64_t *leader)
{
	*self = cluster.on ? cluster.self : 0;
	*leader = !cluster.on || cluster.relay == NULL	? 0
		  : router_relay_leading(cluster.relay) ? cluster.self
							: router_relay_link_wanted(cluster.relay);
}

uint64_t router_cluster_self(void)
{
	return cluster.self;
}

bool router_cluster_leading(void)
{
	return cluster.relay != NULL && router_relay_leading(cluster.relay);
}

void router_cluster_route_chosen(void)
{
	if (cluster.relay != NULL)
		router_relay_route_chosen(cluster.relay);
}

struct relay_key router_cluster_route_key(void)
{
	struct relay_key none = {0};
	return cluster.relay != NULL ? router_relay_route_key(cluster.relay) : none;
}

static struct peerlink *keep_link(uint64_t node)
{
	struct peerlink *l =
	    node == 0 ? (router_cluster_leading() ? NULL : cluster.up) : link_of(node);
	return l != NULL && peerlink_is_up(l) && peerlink_version(l) >= 4 ? l : NULL;
}

bool router_cluster_keeps(void)
{
	return cluster.relay != NULL && keep_link(0) != NULL &&
	       router_relay_link_wanted(cluster.relay) == peerlink_remote(cluster.up)->node_id;
}

bool router_cluster_linked(uint64_t node)
{
	return link_of(node) != NULL;
}

uint64_t router_cluster_keeper_node(void)
{
	for (size_t i = 0; router_cluster_leading() && i < LINKS_MAX; i++) {
		struct peerlink *l = cluster.links[i];
		if (l != NULL && peerlink_is_up(l) && peerlink_version(l) >= 4)
			return peerlink_remote(l)->node_id;
	}
	return 0;
}

uint64_t router_cluster_leader_node(void)
{
	return cluster.relay != NULL ? router_relay_link_wanted(cluster.relay) : 0;
}

int router_cluster_keep_send(uint64_t node, uint16_t type, const void *a, size_t alen,
			     const void *b, size_t blen)
{
	/* A frame refused breaks its link (send_to): the keeper protocol
	 * hears of that when the link closes; the caller hears of it now. */
	return send_to(keep_link(node), type, a, alen, b, blen);
}

int router_cluster_query(const struct relay_wire_query *q, const char *jid)
{
	if (cluster.up == NULL || !peerlink_is_up(cluster.up) || router_cluster_leading())
		return -1;
	return send_to(cluster.up, RELAY_WIRE_QUERY, q, sizeof(*q), jid, q->jid_len);
}

void router_cluster_answer(uint64_t node, uint64_t id, const struct iovec *iov)
{
	struct relay_wire_answer a = {.id = id};
	struct peerlink *l = link_of(node);
	if (l == NULL)
		return; /* it left meanwhile; its question times out there */
	/* An answer the link refuses breaks the link (peerlink_sendv): the
	 * asking node then answers its rxmppctl NO_ANSWER after its wait
	 * (router_admin.c), as for any answer lost with a link; nothing else
	 * waits for it. */
	struct iovec parts[3] = {{&a, sizeof(a)}, iov[0], iov[1]};
	peerlink_sendv(l, RELAY_WIRE_ANSWER, parts, 3);
}

/* Links */

static void link_up(struct peerlink *l, void *arg);
static void link_message(struct peerlink *l, const struct ipc_msg *msg, void *arg);
static void link_closed(struct peerlink *l, const char *reason, void *arg);
static const struct peerlink_events events = {link_up, link_message, link_closed};

static void up_retry_later(void)
{
	cluster.up = NULL;
	cluster.up_retry_at = now_ms() + RETRY_MS;
}

/* Is `l` the link of the member its hello names?  Says why not, once per
 * interval: anyone the trust bundle accepts can make us say it. */
static bool link_is_members(struct peerlink *l)
{
	const char *why;
	uint64_t node = peerlink_remote(l)->node_id;
	if (router_members_admit(&cluster.members, node, peerlink_fingerprint(l), &why) == 0)
		return true;
	static struct log_limit refused;
	log_warnx_limited(&refused,
			  "stanza link %s claims to be node %016" PRIx64 ": %s; closing it",
			  peerlink_peer(l), node, why);
	return false;
}

static void link_up(struct peerlink *l, void *arg)
{
	(void)arg;
	uint64_t node = peerlink_remote(l)->node_id;
	if (l == cluster.up) {
		if (node != router_relay_link_wanted(cluster.relay)) {
			log_warnx("stanza link %s leads to node %016" PRIx64
				  ", not the leader; closing",
				  peerlink_peer(l), node);
			peerlink_free(l);
			up_retry_later();
			return;
		}
		/* The leader's router must be the leader's too, not anyone's
		 * who answers at its address. */
		if (!link_is_members(l)) {
			peerlink_free(l);
			up_retry_later();
			return;
		}
		router_relay_up_link(cluster.relay, true);
		pump();
		return;
	}
	if (!link_is_members(l)) {
		peerlink_free(l);
		return;
	}
	struct peerlink **slot = slot_of(NULL);
	if (slot == NULL) {
		static struct log_limit full;
		log_warnx_limited(&full, "stanza link %s: too many links; closing it",
				  peerlink_peer(l));
		peerlink_free(l);
		return;
	}
	*slot = l;
	log_info("stanza link from node %016" PRIx64 " up", node);
	/* A node that linked again replaces its old link, whose end we may
	 * not have seen yet: its sessions come again on the new one. */
	struct peerlink *old = link_of(node);
	if (old != NULL && old != l) {
		*slot_of(old) = NULL;
		peerlink_free(old);
		router_relay_peer_link(cluster.relay, node, false);
	}
	router_relay_peer_link(cluster.relay, node, true);
	pump();
	router_sm_follower_linked();
}

/* The link went (closed by the peer, or by us): the core hears of it. */
static void link_gone(struct peerlink *l, bool was_up)
{
	if (l == cluster.up) {
		up_retry_later();
		router_relay_up_link(cluster.relay, false);
		router_sm_up_link(false);
	} else {
		struct peerlink **slot = slot_of(l);
		if (slot != NULL) {
			*slot = NULL;
			if (was_up)
				router_relay_peer_link(cluster.relay, peerlink_remote(l)->node_id,
						       false);
		}
	}
	peerlink_free(l);
	pump();
}

static void link_closed(struct peerlink *l, const char *reason, void *arg)
{
	(void)arg;
	if (l == cluster.up && reason == NULL)
		log_info("stanza link to the leader closed");
	link_gone(l, peerlink_remote(l)->node_id != 0);
}

/* Bad input from a peer: one warning, and the link closes. */
static void link_drop(struct peerlink *l, const char *why)
{
	static struct log_limit dropped;
	log_warnx_limited(&dropped, "stanza link %s (node %016" PRIx64 "): %s; closing it",
			  peerlink_peer(l), peerlink_remote(l)->node_id, why);
	link_gone(l, true);
}

void router_cluster_members(const struct proto_members *members)
{
	if (!cluster.on)
		return;
	if (router_members_valid(members) == -1) {
		log_warnx("a malformed membership from the elector; keeping the one before");
		return;
	}
	cluster.members = *members;
	/* A node that left, or whose member now has another certificate,
	 * keeps no link. */
	for (size_t i = 0; i < LINKS_MAX; i++) {
		struct peerlink *l = cluster.links[i];
		if (l != NULL && peerlink_is_up(l) && !link_is_members(l))
			link_gone(l, true);
	}
	if (cluster.up != NULL && peerlink_is_up(cluster.up) && !link_is_members(cluster.up))
		link_gone(cluster.up, true);
}

static void link_message(struct peerlink *l, const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	uint64_t node = peerlink_remote(l)->node_id;
	bool from_leader = l == cluster.up;
	struct relay_wire_msg m;
	const char *why;
	if (router_relay_wire_decode(msg, &m, &why) == -1) {
		link_drop(l, why);
		return;
	}
	switch (m.type) {
	case RELAY_WIRE_REGISTER:
	case RELAY_WIRE_UNREGISTER:
	case RELAY_WIRE_FORGET:
	case RELAY_WIRE_PRESENCE:
		if (from_leader || cluster.relay == NULL) {
			link_drop(l, "session registrations from the leader");
			return;
		}
		break;
	case RELAY_WIRE_KICK:
		if (!from_leader) {
			link_drop(l, "a kick from a node that does not lead");
			return;
		}
		router_kick(m.u.kick.session, m.u.kick.reason);
		return;
	case RELAY_WIRE_QUERY:
		if (from_leader) {
			link_drop(l, "a query from the leader");
			return;
		}
		router_admin_query(node, &m.u.query, m.data);
		return;
	case RELAY_WIRE_ANSWER:
		if (!from_leader) {
			link_drop(l, "an answer from a node that does not lead");
			return;
		}
		router_admin_answer(m.u.answer.id, m.data, m.data_len);
		return;
	case RELAY_WIRE_KEEP_OPEN:
	case RELAY_WIRE_KEEP_STANZA:
	case RELAY_WIRE_KEEP_ACKED:
	case RELAY_WIRE_KEEP_HANDLED:
	case RELAY_WIRE_KEEP_END:
	case RELAY_WIRE_KEEP_RESUME:
	case RELAY_WIRE_KEEP_REPLY:
	case RELAY_WIRE_KEEP_RESUMED:
	case RELAY_WIRE_KEEP_ITEM:
	case RELAY_WIRE_KEEP_FRESH:
	case RELAY_WIRE_KEEP_ADOPT:
	case RELAY_WIRE_KEEP_ADOPT_ITEM:
	case RELAY_WIRE_KEEP_GIVE_UP:
	case RELAY_WIRE_KEEP_GIVEN:
		if (peerlink_version(l) < 4) {
			link_drop(l, "a frame of protocol 4 on a link that agreed on 3");
			return;
		}
		if (router_sm_frame(node, from_leader, &m, &why) == -1)
			link_drop(l, why);
		return;
	default:
		if (cluster.relay == NULL ||
		    router_relay_step(cluster.relay, node, from_leader, &m, &why) == -1) {
			link_drop(l, cluster.relay == NULL ? "a stanza before any leader" : why);
			return;
		}
		pump();
		return;
	}
	switch (m.type) {
	case RELAY_WIRE_REGISTER: {
		/* Taken even before our elector told us we lead: a node links
		 * only to the router it believes leads, and we hear it shortly. */
		if (m.u.reg.kind > PROTO_SESSION_COMPONENT) {
			link_drop(l, "a registration of an unknown kind");
			return;
		}
		char jid[JID_MAX];
		memcpy(jid, m.data, m.data_len);
		jid[m.data_len] = '\0';
		struct rsession *s =
		    router_session_add((struct rref){node, m.u.reg.session}, m.u.reg.kind, jid);
		if (s != NULL) {
			s->available = m.u.reg.available;
			s->priority = m.u.reg.priority;
		}
		return;
	}
	case RELAY_WIRE_UNREGISTER: {
		struct rref ref = {node, m.u.session.session};
		const struct rsession *gone = router_session_by_ref(ref);
		if (gone != NULL)
			router_im_session_gone(gone);
		router_session_remove(ref);
		return;
	}
	case RELAY_WIRE_FORGET:
		/* Its listener went, and with it the connections: its kept
		 * sessions may be resumed anywhere. */
		router_sm_node_lost(node, now_ms());
		router_sessions_clear_node(node);
		return;
	default:
		router_session_presence((struct rref){node, m.u.presence.session},
					m.u.presence.priority, m.u.presence.available);
		return;
	}
}

static int admit_link(struct peerlink_admission *a, const char **refusal, void *arg)
{
	(void)arg;
	if (cluster.tls == NULL) {
		*refusal = "the cluster is disabled";
		return -1;
	}
	*a = (struct peerlink_admission){.ctx = cluster.tls, .hello = hello(), .events = &events};
	return 0;
}

void router_cluster_socket(int fd)
{
	if (cluster.socket_count == sizeof(cluster.ports) / sizeof(cluster.ports[0])) {
		log_warnx("too many stanza link sockets; closing one");
		close(fd);
		return;
	}
	cluster.ports[cluster.socket_count] =
	    peerlink_listen(child_loop(), fd, "stanza link", admit_link, NULL);
	if (cluster.ports[cluster.socket_count] != NULL)
		cluster.socket_count++;
}

/* Leadership and the clock */

static void connect_up(void)
{
	uint64_t wanted = router_relay_link_wanted(cluster.relay);
	if (wanted == 0 || cluster.up != NULL || now_ms() < cluster.up_retry_at)
		return;
	char why[256];
	struct peerlink_hello h = hello();
	cluster.up = peerlink_connect(cluster.loop, cluster.tls, cluster.leader_address, &h,
				      &events, NULL, why, sizeof(why));
	if (cluster.up != NULL && cluster.listener_congested)
		peerlink_pause_input(cluster.up, true);
	if (cluster.up == NULL) {
		log_debug("stanza link to %s: %s", cluster.leader_address, why);
		cluster.up_retry_at = now_ms() + RETRY_MS;
	}
}

static int64_t on_drive(struct ev_timer *timer, void *arg)
{
	(void)timer, (void)arg;
	router_relay_tick(cluster.relay, now_ms());
	pump();
	router_sm_tick(now_ms());
	connect_up();
	return DRIVE_MS;
}

/* host:port of the elector -> host:port+1 of its router */
static void stanza_address(const char *elector, char *out, size_t size)
{
	const char *colon = strrchr(elector, ':');
	unsigned port = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
	snprintf(out, size, "%.*s:%u", colon ? (int)(colon - elector) : 0, elector, port + 1);
}

void router_cluster_leader(const struct proto_leader *l)
{
	if (!cluster.on)
		return;
	cluster.self = l->self;
	router_relay_tick(cluster.relay, now_ms());
	if (router_relay_leader(cluster.relay, l->self, l->leader, l->term, l->alive)) {
		size_t forgotten = router_relay_outside_forgotten(cluster.relay);
		if (forgotten > 0)
			log_warnx("no longer leading: %zu deliveries outside a route (stanzas "
				  "replayed to resumed sessions, answers of im) were not confirmed "
				  "by their nodes and may be lost",
				  forgotten);
		stanza_address(l->address, cluster.leader_address, sizeof(cluster.leader_address));
		/* Whatever link led to the old leader is of no use now. */
		peerlink_free(cluster.up);
		cluster.up = NULL;
		cluster.up_retry_at = 0;
		router_sm_up_link(false);
	}
	/* Before the links of the others close: what a leader kept is for the
	 * next one, which they now open it at. */
	router_sm_leading(router_relay_leading(cluster.relay));
	pump();
	connect_up();
}

void router_cluster_init(const struct config *cfg)
{
	char why[256];
	cluster.loop = child_loop();
	cluster.on = cfg->cluster.enabled;
	if (!cluster.on)
		return;
	struct relay_options options = {
	    .queue_max_stanzas = cfg->cluster.queue_max_stanzas,
	    .queue_max_bytes = cfg->cluster.queue_max_bytes,
	    .queue_max_wait_ms = cfg->cluster.queue_max_wait_ms,
	    .warmup_ms = WARMUP_MS,
	    .relink_ms = RELINK_MS,
	};
	/* The epoch tells the peers this incarnation apart: never a guess. */
	if (RAND_bytes((unsigned char *)&options.epoch, sizeof(options.epoch)) != 1) {
		log_warnx("no stanza links: no random bytes for the relay epoch");
		cluster.on = false;
		return;
	}
	cluster.tls = tls_peer_context_new(&cfg->tls, cfg->cluster.trust_bundle, why, sizeof(why));
	if (cluster.tls == NULL) {
		log_warnx("no stanza links: %s", why);
		cluster.on = false;
		return;
	}
	cluster.relay = router_relay_new(&options);
	if (cluster.relay == NULL) {
		log_warnx("no stanza links: out of memory");
		cluster.on = false;
		return;
	}
	router_relay_tick(cluster.relay, now_ms());
	ev_timer_add(cluster.loop, DRIVE_MS, on_drive, NULL);
}

int router_cluster_reconfigure(const struct config *cfg, char *why, size_t why_size)
{
	if (cluster.on && cluster.tls != NULL) {
		SSL_CTX *tls =
		    tls_peer_context_new(&cfg->tls, cfg->cluster.trust_bundle, why, why_size);
		if (tls == NULL)
			return -1;
		SSL_CTX_free(cluster.tls);
		cluster.tls = tls;
	}
	if (cluster.relay != NULL)
		router_relay_set_limits(cluster.relay, cfg->cluster.queue_max_stanzas,
					cfg->cluster.queue_max_bytes,
					cfg->cluster.queue_max_wait_ms);
	return 0;
}

void router_cluster_stop(void)
{
	peerlink_free(cluster.up);
	for (size_t i = 0; i < LINKS_MAX; i++)
		peerlink_free(cluster.links[i]);
	for (size_t i = 0; i < cluster.socket_count; i++)
		peerlink_listener_free(cluster.ports[i]);
	router_relay_free(cluster.relay);
	SSL_CTX_free(cluster.tls);
}
