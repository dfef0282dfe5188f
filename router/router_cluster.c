/*
 * Stanzas between the nodes of a cluster, in the router: every follower's
 * router keeps a stanza link (common/peerlink.c, mutual TLS, cluster.port
 * + 1) to the leader's router, registers its sessions there, and forwards
 * what it cannot deliver itself; the leader routes with every node's
 * sessions and delivers to the node that holds the recipient.
 *
 * No stanza between two surviving nodes is lost or duplicated across a
 * failover: the origin numbers what it forwards (its node, an epoch chosen
 * at start, a sequence number) and keeps it until the leader acknowledges
 * it, which the leader does only once the target node confirmed delivery.
 * After a leader change the origin sends the unacknowledged ones again, and
 * a target drops what a session already got from that origin.  While no
 * leader is reachable, stanzas wait in a bounded queue (cluster.queue_max_*);
 * what does not fit, or waits too long, is bounced to its sender with
 * recipient-unavailable.  A new leader holds forwarded stanzas until every
 * member has registered its sessions (or 1.5 s passed), so nothing is
 * bounced for a recipient whose node has not registered yet.
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

#define ROUTER_LINK_KIND 0x524f5554u /* "ROUT" */
#define LINKS_MAX	 32
#define DRIVE_MS	 50
#define WARMUP_MS	 1500
#define RETRY_MS	 200

enum wire {
	W_REGISTER = 2, /* struct w_register + jid */
	W_UNREGISTER,	/* struct w_session */
	W_FORGET,	/* no payload: forget every session of the sender */
	W_PRESENCE,	/* struct w_presence */
	W_FORWARD,	/* struct w_forward + routing header and stanza */
	W_DELIVER,	/* struct w_deliver + bytes */
	W_DELIVERED,	/* struct w_delivered */
	W_ACK,		/* struct w_ack */
	W_KICK,		/* struct w_kick */
};

struct w_register {
	uint64_t session;
	uint32_t kind;
	int32_t priority;
	uint32_t available;
	uint32_t jid_len;
};
struct w_session {
	uint64_t session;
};
struct w_presence {
	uint64_t session;
	int32_t priority;
	uint32_t available;
};
struct w_forward {
	uint64_t epoch;
	uint64_t seq;
	uint64_t session;
};
struct w_deliver {
	uint64_t session;
	uint64_t origin_node;
	uint64_t origin_epoch;
	uint64_t origin_seq; /* 0: no deduplication asked */
	uint64_t delivery;   /* 0: no confirmation asked */
};
struct w_delivered {
	uint64_t delivery;
};
struct w_ack {
	uint64_t epoch;
	uint64_t seq;
};
struct w_kick {
	uint64_t session;
	uint32_t reason;
	uint32_t reserved;
};

/* A stanza waiting for the leader (queued) or for its acknowledgement. */
struct item {
	struct item *next;
	uint64_t seq;
	uint64_t session;
	int64_t queued_at;
	bool sent;
	size_t len;
	char data[]; /* routing header and stanza */
};

/* At the leader: a forwarded stanza whose deliveries are not all confirmed. */
struct pending {
	uint64_t delivery;
	uint64_t node;	      /* the target node of this delivery */
	uint64_t origin_node; /* whom to acknowledge */
	uint64_t epoch;
	uint64_t seq;
	unsigned *remaining; /* shared by the deliveries of one stanza */
};

/* At a warming leader: forwarded stanzas held until every node registered. */
struct held {
	struct held *next;
	uint64_t node;
	struct w_forward fwd;
	size_t len;
	char data[];
};

static struct {
	struct ev_loop *loop;
	struct config cfg;
	bool on;
	SSL_CTX *tls;
	uint64_t self, leader, term;
	uint32_t members;
	uint32_t alive; /* members the elector heard lately, this node included */
	char leader_address[160];
	bool leading;
	int64_t warm_at; /* a new leader routes for all from then on */
	uint64_t epoch, next_seq, next_delivery;
	struct item *items, **items_tail;
	size_t item_count, item_bytes;
	/* follower: the link to the leader */
	struct peerlink *up;
	int64_t up_retry_at;
	/* leader: links from the other nodes (and not yet greeted ones) */
	struct peerlink *links[LINKS_MAX];
	struct pending *pending;
	size_t pending_count, pending_cap;
	struct held *held, **held_tail;
	/* the context of the forwarded stanza being routed (leader) */
	struct {
		bool active;
		uint64_t origin_node, epoch, seq;
		unsigned *remaining;
	} ctx;
	struct peerlink_listener *ports[8];
	size_t socket_count;
} C;

static int64_t now_ms(void)
{
	return ev_now(C.loop);
}

bool cluster_routes_for_all(void)
{
	return C.on && C.leading && now_ms() >= C.warm_at;
}

bool cluster_follower(void)
{
	return C.on && C.self != 0 && !cluster_routes_for_all();
}

static struct peerlink_hello hello(void)
{
	struct peerlink_hello h = {.kind = ROUTER_LINK_KIND, .node_id = C.self};
	return h;
}

static void send_to(struct peerlink *l, uint16_t type, const void *a, size_t alen, const void *b,
		    size_t blen)
{
	if (l == NULL || !peerlink_is_up(l))
		return;
	struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
	peerlink_sendv(l, type, iov, 2);
}

static struct peerlink *link_of(uint64_t node)
{
	for (size_t i = 0; i < LINKS_MAX; i++) {
		if (C.links[i] != NULL && peerlink_is_up(C.links[i]) &&
		    peerlink_remote(C.links[i])->node_id == node)
			return C.links[i];
	}
	return NULL;
}

/* Registration of local sessions with the leader */

static void register_one(struct rsession *s, void *arg)
{
	struct peerlink *l = arg;
	if (s->ref.node != ROUTER_LOCAL)
		return;
	struct w_register r = {.session = s->ref.session,
			       .kind = s->kind,
			       .priority = s->priority,
			       .available = s->available,
			       .jid_len = (uint32_t)strlen(s->jid)};
	send_to(l, W_REGISTER, &r, sizeof(r), s->jid, r.jid_len);
}

void cluster_session_up(const struct rsession *s)
{
	if (C.up != NULL && !C.leading)
		register_one((struct rsession *)s, C.up);
}

void cluster_session_down(struct rref ref)
{
	struct w_session w = {.session = ref.session};
	if (C.up != NULL && !C.leading)
		send_to(C.up, W_UNREGISTER, &w, sizeof(w), NULL, 0);
}

void cluster_local_forgotten(void)
{
	if (C.up != NULL && !C.leading)
		send_to(C.up, W_FORGET, "", 0, NULL, 0);
}

void cluster_session_presence(const struct rsession *s)
{
	struct w_presence w = {
	    .session = s->ref.session, .priority = s->priority, .available = s->available};
	if (C.up != NULL && !C.leading)
		send_to(C.up, W_PRESENCE, &w, sizeof(w), NULL, 0);
}

/* The queue of stanzas for the leader */

static void item_unlink(struct item *prev, struct item *it)
{
	if (prev == NULL)
		C.items = it->next;
	else
		prev->next = it->next;
	if (C.items_tail == &it->next)
		C.items_tail = prev == NULL ? &C.items : &prev->next;
	C.item_count--;
	C.item_bytes -= it->len;
	free(it);
}

static void bounce_item(const struct item *it, const char *why)
{
	static struct proto_route_view r;
	if (proto_route_unpack(it->data, it->len, &r) == -1)
		return;
	log_warnx("stanza from %s to %s bounced: %s", r.from, r.to, why);
	route_bounce((struct rref){ROUTER_LOCAL, it->session}, &r, "wait", "recipient-unavailable");
}

void cluster_forward(uint64_t session, const void *data, size_t len)
{
	struct item *it = malloc(sizeof(*it) + len);
	if (it == NULL)
		return;
	*it = (struct item){
	    .seq = ++C.next_seq, .session = session, .queued_at = now_ms(), .len = len};
	memcpy(it->data, data, len);
	if (C.item_count + 1 > C.cfg.cluster.queue_max_stanzas ||
	    C.item_bytes + len > C.cfg.cluster.queue_max_bytes) {
		bounce_item(it, "the queue for the leader is full");
		free(it);
		return;
	}
	it->next = NULL;
	*C.items_tail = it;
	C.items_tail = &it->next;
	C.item_count++;
	C.item_bytes += len;
	if (C.up != NULL && peerlink_is_up(C.up)) {
		struct w_forward fwd = {.epoch = C.epoch, .seq = it->seq, .session = session};
		send_to(C.up, W_FORWARD, &fwd, sizeof(fwd), data, len);
		it->sent = true;
	}
}

/* Leader: routing a stanza of another node, confirmations and acks */

static void ack_origin(uint64_t node, uint64_t epoch, uint64_t seq)
{
	struct w_ack ack = {.epoch = epoch, .seq = seq};
	send_to(link_of(node), W_ACK, &ack, sizeof(ack), NULL, 0);
}

static void route_forwarded(uint64_t node, const struct w_forward *fwd, const char *data,
			    size_t len)
{
	static struct proto_route_view r;
	if (proto_route_unpack(data, len, &r) == -1) {
		ack_origin(node, fwd->epoch, fwd->seq);
		return;
	}
	unsigned *remaining = calloc(1, sizeof(unsigned));
	if (remaining == NULL)
		return;
	C.ctx.active = true;
	C.ctx.origin_node = node;
	C.ctx.epoch = fwd->epoch;
	C.ctx.seq = fwd->seq;
	C.ctx.remaining = remaining;
	/* This node's own stanzas are its listener's sessions. */
	struct rref origin = {node == C.self ? ROUTER_LOCAL : node, fwd->session};
	route_stanza(origin, &r, true);
	C.ctx.active = false;
	if (*remaining == 0) {
		ack_origin(node, fwd->epoch, fwd->seq);
		free(remaining);
	}
}

static void pending_done(size_t i)
{
	struct pending p = C.pending[i];
	C.pending[i] = C.pending[--C.pending_count];
	if (--*p.remaining == 0) {
		ack_origin(p.origin_node, p.epoch, p.seq);
		free(p.remaining);
	}
}

void cluster_deliver(const struct rsession *target, const char *bytes, size_t len)
{
	struct peerlink *l = link_of(target->ref.node);
	if (l == NULL)
		return; /* that node just left: its sessions go with it */
	struct w_deliver d = {.session = target->ref.session};
	if (C.ctx.active) {
		d.origin_node = C.ctx.origin_node;
		d.origin_epoch = C.ctx.epoch;
		d.origin_seq = C.ctx.seq;
		if (C.pending_count == C.pending_cap) {
			size_t cap = C.pending_cap ? 2 * C.pending_cap : 64;
			struct pending *grown = realloc(C.pending, cap * sizeof(*grown));
			if (grown == NULL)
				return;
			C.pending = grown;
			C.pending_cap = cap;
		}
		d.delivery = ++C.next_delivery;
		C.pending[C.pending_count++] = (struct pending){.delivery = d.delivery,
								.node = target->ref.node,
								.origin_node = C.ctx.origin_node,
								.epoch = C.ctx.epoch,
								.seq = C.ctx.seq,
								.remaining = C.ctx.remaining};
		(*C.ctx.remaining)++;
	}
	send_to(l, W_DELIVER, &d, sizeof(d), bytes, len);
}

void cluster_kick(const struct rsession *target, uint32_t reason)
{
	struct w_kick k = {.session = target->ref.session, .reason = reason};
	send_to(link_of(target->ref.node), W_KICK, &k, sizeof(k), NULL, 0);
}

/* A node's link ended: its sessions and its unconfirmed deliveries go. */
static void node_gone(uint64_t node)
{
	if (node == 0)
		return;
	sessions_clear_node(node);
	for (size_t i = 0; i < C.pending_count;) {
		if (C.pending[i].node == node)
			pending_done(i);
		else
			i++;
	}
}

/* Links */

static void link_up(struct peerlink *l, void *arg);
static void link_message(struct peerlink *l, const struct ipc_msg *msg, void *arg);
static void link_closed(struct peerlink *l, const char *reason, void *arg);
static const struct peerlink_events events = {link_up, link_message, link_closed};

static void resend_all(void)
{
	for (struct item *it = C.items; it != NULL; it = it->next) {
		struct w_forward fwd = {.epoch = C.epoch, .seq = it->seq, .session = it->session};
		send_to(C.up, W_FORWARD, &fwd, sizeof(fwd), it->data, it->len);
		it->sent = true;
	}
}

static void link_up(struct peerlink *l, void *arg)
{
	if (l != C.up) {
		log_info("stanza link from node %016" PRIx64 " up", peerlink_remote(l)->node_id);
		return;
	}
	(void)arg;
	if (peerlink_remote(l)->node_id != C.leader) {
		log_warnx("stanza link %s leads to node %016" PRIx64 ", not the leader; closing",
			  peerlink_peer(l), peerlink_remote(l)->node_id);
		peerlink_free(l);
		C.up = NULL;
		C.up_retry_at = now_ms() + RETRY_MS;
		return;
	}
	log_info("stanza link to the leader at %s up; registering %zu sessions", C.leader_address,
		 session_count());
	sessions_each(register_one, l);
	/* What waited, and what the previous leader never acknowledged. */
	resend_all();
}

/* True when the stanza (origin node, epoch, seq) already reached `s`: sent
 * again after a leader change.  Otherwise marks it as delivered. */
static bool seen_before(struct rsession *s, uint64_t node, uint64_t epoch, uint64_t seq)
{
	if (seq == 0)
		return false;
	struct delivered_mark *mark = NULL, *free_mark = NULL;
	for (size_t i = 0; i < ROUTER_ORIGINS_MAX; i++) {
		struct delivered_mark *m = &s->delivered[i];
		if (m->node == node && m->epoch == epoch)
			mark = m;
		else if (free_mark == NULL && (m->node == 0 || m->node == node))
			free_mark = m;
	}
	if (mark != NULL && seq <= mark->seq)
		return true;
	if (mark == NULL)
		mark = free_mark != NULL ? free_mark : &s->delivered[0];
	*mark = (struct delivered_mark){node, epoch, seq};
	return false;
}

bool cluster_already_delivered(struct rsession *s)
{
	return C.ctx.active && seen_before(s, C.ctx.origin_node, C.ctx.epoch, C.ctx.seq);
}

static void deliver_here(const struct w_deliver *d, const char *bytes, size_t len)
{
	struct rsession *s = session_by_ref((struct rref){ROUTER_LOCAL, d->session});
	/* A session that ended after the leader routed to it: the listener
	 * finds it gone and routes the stanza again (listener_route.c). */
	if (s == NULL || !seen_before(s, d->origin_node, d->origin_epoch, d->origin_seq))
		router_deliver(d->session, bytes, len);
}

static void link_message(struct peerlink *l, const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	uint64_t node = peerlink_remote(l)->node_id;
	const char *p = msg->data;
	switch (msg->type) {
	case W_REGISTER: {
		/* Taken even before our elector told us we lead: a node connects
		 * only to the router it believes leads, and we hear it shortly. */
		struct w_register r;
		if (msg->len < sizeof(r))
			return;
		memcpy(&r, p, sizeof(r));
		char jid[JID_MAX];
		if (r.jid_len == 0 || r.jid_len >= sizeof(jid) || msg->len != sizeof(r) + r.jid_len)
			return;
		memcpy(jid, p + sizeof(r), r.jid_len);
		jid[r.jid_len] = '\0';
		struct rsession *s = session_add((struct rref){node, r.session}, r.kind, jid);
		if (s != NULL) {
			s->available = r.available;
			s->priority = r.priority;
		}
		return;
	}
	case W_UNREGISTER: {
		struct w_session w;
		if (msg->len == sizeof(w)) {
			memcpy(&w, p, sizeof(w));
			session_remove((struct rref){node, w.session});
		}
		return;
	}
	case W_FORGET:
		sessions_clear_node(node);
		return;
	case W_PRESENCE: {
		struct w_presence w;
		if (msg->len == sizeof(w)) {
			memcpy(&w, p, sizeof(w));
			session_presence((struct rref){node, w.session}, w.priority, w.available);
		}
		return;
	}
	case W_FORWARD: {
		struct w_forward fwd;
		if (msg->len <= sizeof(fwd))
			return;
		memcpy(&fwd, p, sizeof(fwd));
		/* Held until we lead and every node registered. */
		if (!cluster_routes_for_all()) {
			struct held *h = malloc(sizeof(*h) + msg->len - sizeof(fwd));
			if (h == NULL)
				return;
			*h = (struct held){.node = node, .fwd = fwd, .len = msg->len - sizeof(fwd)};
			memcpy(h->data, p + sizeof(fwd), h->len);
			*C.held_tail = h;
			C.held_tail = &h->next;
			return;
		}
		cluster_catch_up();
		route_forwarded(node, &fwd, p + sizeof(fwd), msg->len - sizeof(fwd));
		return;
	}
	case W_DELIVER: {
		struct w_deliver d;
		if (msg->len < sizeof(d))
			return;
		memcpy(&d, p, sizeof(d));
		deliver_here(&d, p + sizeof(d), msg->len - sizeof(d));
		if (d.delivery != 0) {
			struct w_delivered ok = {.delivery = d.delivery};
			send_to(l, W_DELIVERED, &ok, sizeof(ok), NULL, 0);
		}
		return;
	}
	case W_DELIVERED: {
		struct w_delivered ok;
		if (msg->len != sizeof(ok))
			return;
		memcpy(&ok, p, sizeof(ok));
		for (size_t i = 0; i < C.pending_count; i++) {
			if (C.pending[i].delivery == ok.delivery && C.pending[i].node == node) {
				pending_done(i);
				break;
			}
		}
		return;
	}
	case W_ACK: {
		struct w_ack ack;
		if (msg->len != sizeof(ack) || l != C.up)
			return;
		memcpy(&ack, p, sizeof(ack));
		if (ack.epoch != C.epoch)
			return;
		for (struct item *it = C.items, *prev = NULL; it != NULL;
		     prev = it, it = it->next) {
			if (it->seq == ack.seq) {
				item_unlink(prev, it);
				break;
			}
		}
		return;
	}
	case W_KICK: {
		struct w_kick k;
		if (msg->len == sizeof(k)) {
			memcpy(&k, p, sizeof(k));
			router_kick(k.session, k.reason);
		}
		return;
	}
	default:
		return;
	}
}

static void link_closed(struct peerlink *l, const char *reason, void *arg)
{
	(void)arg;
	if (l == C.up) {
		C.up = NULL;
		C.up_retry_at = now_ms() + RETRY_MS;
		for (struct item *it = C.items; it != NULL; it = it->next)
			it->sent = false;
		if (reason == NULL)
			log_info("stanza link to the leader closed");
	} else {
		for (size_t i = 0; i < LINKS_MAX; i++) {
			if (C.links[i] == l)
				C.links[i] = NULL;
		}
		if (peerlink_is_up(l) || peerlink_remote(l)->node_id != 0)
			node_gone(peerlink_remote(l)->node_id);
	}
	peerlink_free(l);
}

static int admit_link(struct peerlink_admission *a, const char **refusal, void *arg)
{
	(void)arg;
	size_t slot = 0;
	while (slot < LINKS_MAX && C.links[slot] != NULL)
		slot++;
	if (C.tls == NULL || slot == LINKS_MAX) {
		*refusal = C.tls == NULL ? "the cluster is disabled" : "too many links";
		return -1;
	}
	*a = (struct peerlink_admission){
	    .slot = &C.links[slot], .ctx = C.tls, .hello = hello(), .events = &events};
	return 0;
}

void cluster_socket(int fd)
{
	if (C.socket_count == sizeof(C.ports) / sizeof(C.ports[0])) {
		log_warnx("too many stanza link sockets; closing one");
		close(fd);
		return;
	}
	C.ports[C.socket_count] =
	    peerlink_listen(child_loop(), fd, "stanza link", admit_link, NULL);
	if (C.ports[C.socket_count] != NULL)
		C.socket_count++;
}

/* Leadership */

static void drain(void)
{
	int64_t now = now_ms();
	/* A leader that is warm routes what waited here, and what it held. */
	if (cluster_routes_for_all()) {
		while (C.items != NULL) {
			/* As any node's: the old leader may have delivered some. */
			struct item *it = C.items;
			struct w_forward fwd = {
			    .epoch = C.epoch, .seq = it->seq, .session = it->session};
			route_forwarded(C.self, &fwd, it->data, it->len);
			item_unlink(NULL, it);
		}
		while (C.held != NULL) {
			struct held *h = C.held;
			C.held = h->next;
			if (C.held == NULL)
				C.held_tail = &C.held;
			route_forwarded(h->node, &h->fwd, h->data, h->len);
			free(h);
		}
		return;
	}
	/* What waits unsent too long is bounced; sent ones wait for the ack. */
	for (struct item *it = C.items, *prev = NULL; it != NULL;) {
		if (!it->sent && now - it->queued_at >= (int64_t)C.cfg.cluster.queue_max_wait_ms) {
			struct item *next = it->next;
			bounce_item(it, "no leader within queue_max_wait");
			item_unlink(prev, it);
			it = next;
			continue;
		}
		prev = it;
		it = it->next;
	}
	if (C.leading || C.leader == 0 || C.up != NULL || now < C.up_retry_at)
		return;
	char why[256];
	struct peerlink_hello h = hello();
	C.up =
	    peerlink_connect(C.loop, C.tls, C.leader_address, &h, &events, NULL, why, sizeof(why));
	if (C.up == NULL) {
		log_debug("stanza link to %s: %s", C.leader_address, why);
		C.up_retry_at = now + RETRY_MS;
	}
}

void cluster_catch_up(void)
{
	/* Whatever waited goes before anything newer, so order holds. */
	if (cluster_routes_for_all() && (C.items != NULL || C.held != NULL))
		drain();
}

static int64_t on_drive(struct ev_timer *timer, void *arg)
{
	(void)timer, (void)arg;
	/* A warming leader turns warm when every member it heard lately (a
	 * dead one will not register) has linked and registered. */
	if (C.leading && now_ms() < C.warm_at) {
		unsigned linked = 0;
		for (size_t i = 0; i < LINKS_MAX; i++)
			linked += C.links[i] != NULL && peerlink_is_up(C.links[i]);
		if (C.alive > 0 && linked + 1 >= C.alive)
			C.warm_at = now_ms();
	}
	drain();
	return DRIVE_MS;
}

/* host:port of the elector -> host:port+1 of its router */
static void stanza_address(const char *elector, char *out, size_t size)
{
	const char *colon = strrchr(elector, ':');
	unsigned port = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
	snprintf(out, size, "%.*s:%u", colon ? (int)(colon - elector) : 0, elector, port + 1);
}

void cluster_leader(const struct proto_leader *l)
{
	if (!C.on)
		return;
	bool was_leading = C.leading;
	C.self = l->self;
	C.members = l->members;
	C.alive = l->alive;
	if (l->leader == C.leader && l->term == C.term)
		return;
	C.leader = l->leader;
	C.term = l->term;
	C.leading = l->leader != 0 && l->leader == l->self;
	stanza_address(l->address, C.leader_address, sizeof(C.leader_address));
	/* Whatever link led to the old leader is of no use now. */
	if (C.up != NULL) {
		peerlink_free(C.up);
		C.up = NULL;
	}
	for (struct item *it = C.items; it != NULL; it = it->next)
		it->sent = false;
	C.up_retry_at = 0;
	if (!C.leading) {
		/* What others forwarded here they send again to the leader. */
		while (C.held != NULL) {
			struct held *h = C.held;
			C.held = h->next;
			free(h);
		}
		C.held_tail = &C.held;
	}
	if (was_leading && !C.leading) {
		/* No longer leading: the other nodes' sessions are theirs to keep. */
		for (size_t i = 0; i < LINKS_MAX; i++) {
			if (C.links[i] != NULL) {
				uint64_t node = peerlink_remote(C.links[i])->node_id;
				peerlink_free(C.links[i]);
				C.links[i] = NULL;
				if (node != 0)
					sessions_clear_node(node);
			}
		}
	}
	if (C.leading && !was_leading)
		C.warm_at = now_ms() + WARMUP_MS;
	drain();
}

void cluster_init(const struct config *cfg)
{
	char why[256];
	C.loop = child_loop();
	C.cfg = *cfg;
	C.items_tail = &C.items;
	C.held_tail = &C.held;
	C.on = cfg->cluster.enabled;
	if (!C.on)
		return;
	RAND_bytes((unsigned char *)&C.epoch, sizeof(C.epoch));
	C.tls = tls_peer_context_new(&cfg->tls, cfg->cluster.trust_bundle, why, sizeof(why));
	if (C.tls == NULL) {
		log_warnx("no stanza links: %s", why);
		C.on = false;
		return;
	}
	ev_timer_add(C.loop, DRIVE_MS, on_drive, NULL);
}

int cluster_reconfigure(const struct config *cfg, char *why, size_t why_size)
{
	if (C.on && C.tls != NULL) {
		SSL_CTX *tls =
		    tls_peer_context_new(&cfg->tls, cfg->cluster.trust_bundle, why, why_size);
		if (tls == NULL)
			return -1;
		SSL_CTX_free(C.tls);
		C.tls = tls;
	}
	C.cfg.cluster.queue_max_stanzas = cfg->cluster.queue_max_stanzas;
	C.cfg.cluster.queue_max_bytes = cfg->cluster.queue_max_bytes;
	C.cfg.cluster.queue_max_wait_ms = cfg->cluster.queue_max_wait_ms;
	return 0;
}

void cluster_stop(void)
{
	peerlink_free(C.up);
	for (size_t i = 0; i < LINKS_MAX; i++)
		peerlink_free(C.links[i]);
	for (size_t i = 0; i < C.socket_count; i++)
		peerlink_listener_free(C.ports[i]);
	while (C.items != NULL)
		item_unlink(NULL, C.items);
	while (C.held != NULL) {
		struct held *h = C.held;
		C.held = h->next;
		free(h);
	}
	for (size_t i = 0; i < C.pending_count; i++) {
		/* Each shared counter is freed once, by its last delivery. */
		if (--*C.pending[i].remaining == 0)
			free(C.pending[i].remaining);
	}
	free(C.pending);
	SSL_CTX_free(C.tls);
}
