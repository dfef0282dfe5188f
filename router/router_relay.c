/* SPDX-License-Identifier: MIT */
/*
 * The cluster relay core (router_relay.h says the protocol): queues,
 * warm-up, confirmations, acknowledgements and deduplication, with no I/O.
 * Runs in the router; router_cluster.c is its shell, and the unit tests
 * drive it in simulation (tests/unit/check_relay.c).
 *
 * Out of memory is the one failure it cannot report, and it aborts (the
 * supervisor restarts the router; its clients log in again) rather than
 * lose a stanza silently.
 */
#include "router_relay.h"

#include <stdlib.h>
#include <string.h>

#include "common/jid.h"
#include "common/proto.h"

#define PEERS_MAX 64

/* A stanza queued here for the leader, or held by a warming leader. */
struct relay_stanza {
	struct relay_stanza *next;
	uint64_t node; /* held: who forwarded it */
	uint64_t epoch;
	uint64_t seq;
	uint64_t session;
	int64_t queued_at;
	bool sent;	/* on the link to the leader now, or routed here */
	bool ever_sent; /* it may have been delivered: never bounced then */
	/* A routed stanza's copy for its deliveries to other nodes: how many
	 * still wait for a confirmation, and whether its sender heard that
	 * one of them was given up. */
	unsigned refs;
	bool bounced;
	size_t len;
	char data[]; /* routing header and stanza */
};

struct relay_list {
	struct relay_stanza *head, **tail;
	size_t count, bytes;
};

/* At the leader: one delivery of a forwarded stanza, not yet confirmed,
 * with its bytes, to send again if the link to its node drops and comes
 * back; given up with the node if it does not come back within relink_ms,
 * and then bounced to its sender (`routed`: the stanza as routed, shared
 * by its deliveries), who would otherwise never hear of it.  A delivery
 * made outside a route (an error to a sender, a kept stanza replayed) has
 * no `routed`: it is numbered in this node's outside series (`key`),
 * and given up, it goes back to the shell to be routed again (RETURN). */
struct relay_pending {
	uint64_t node; /* where it went */
	struct relay_key key;
	struct relay_wire_deliver head;
	struct relay_stanza *copy;
	struct relay_stanza *routed;
	bool lost;
	int64_t lost_at;
};

struct relay_peer {
	uint64_t node;
	bool synced;
};

struct relay {
	struct relay_options o;
	int64_t now;
	uint64_t self, leader, term;
	uint32_t alive;
	bool leading, warm, up;
	/* The output taken last is a give-up's BOUNCE to a sender on this
	 * other node (0: not): its error to that node is not kept
	 * (router_relay_deliver_remote). */
	uint64_t bouncing;
	int64_t warm_deadline;
	uint64_t next_seq, next_delivery, next_outside;
	size_t outside_forgotten; /* router_relay_outside_forgotten */
	struct relay_list queue;  /* for the leader, in sequence order */
	struct relay_list held;	  /* forwarded to this warming leader */
	struct relay_list dead;	  /* freed once the outputs that point in are taken */
	struct relay_pending *pending;
	size_t pending_count, pending_cap;
	struct relay_peer peers[PEERS_MAX];
	size_t peer_count;
	struct relay_out *outs;
	size_t out_head, out_count, out_cap;
	struct {
		bool active;
		struct relay_key key;
		bool chosen; /* router_relay_route_chosen: its deliveries unkeyed */
		unsigned deliveries;
		const struct relay_out *out; /* valid until router_relay_route_end */
		struct relay_stanza *routed; /* its copy, made at its first delivery */
	} route;
};

/* The epoch of this node's outside series (deliveries outside a route):
 * never its stanzas' epoch, so that the two keep a mark each per session
 * (router_relay_seen_before), and no other run's but by a 2^-64 chance. */
static uint64_t outside_epoch(const struct relay *r)
{
	return ~r->o.epoch;
}

static void *relay_alloc(size_t size)
{
	void *p = malloc(size);
	if (p == NULL)
		abort();
	return p;
}

static void list_init(struct relay_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
	l->count = l->bytes = 0;
}

static void list_append(struct relay_list *l, struct relay_stanza *s)
{
	s->next = NULL;
	*l->tail = s;
	l->tail = &s->next;
	l->count++;
	l->bytes += s->len;
}

static struct relay_stanza *list_take(struct relay_list *l, struct relay_stanza **at)
{
	struct relay_stanza *s = *at;
	*at = s->next;
	if (l->tail == &s->next)
		l->tail = at;
	l->count--;
	l->bytes -= s->len;
	return s;
}

static void list_free(struct relay_list *l)
{
	while (l->head != NULL)
		free(list_take(l, &l->head));
}

static void out_push(struct relay *r, const struct relay_out *o)
{
	if (r->out_count == r->out_cap) {
		size_t cap = r->out_cap ? 2 * r->out_cap : 64;
		struct relay_out *grown = realloc(r->outs, cap * sizeof(*grown));
		if (grown == NULL)
			abort();
		r->outs = grown;
		r->out_cap = cap;
	}
	r->outs[r->out_count++] = *o;
}

static void send_up(struct relay *r, uint16_t type, const void *head, size_t head_len,
		    const char *data, size_t len)
{
	struct relay_out o = {.kind = RELAY_OUT_SEND,
			      .to_leader = true,
			      .node = r->leader,
			      .type = type,
			      .head_len = head_len,
			      .data = data,
			      .len = len};
	if (head_len > 0)
		memcpy(&o.head, head, head_len);
	out_push(r, &o);
}

static void send_forward(struct relay *r, struct relay_stanza *s)
{
	struct relay_wire_forward fwd = {.epoch = r->o.epoch, .seq = s->seq, .session = s->session};
	send_up(r, RELAY_WIRE_FORWARD, &fwd, sizeof(fwd), s->data, s->len);
	s->sent = s->ever_sent = true;
}

static struct relay_peer *peer_of(struct relay *r, uint64_t node)
{
	for (size_t i = 0; i < r->peer_count; i++) {
		if (r->peers[i].node == node)
			return &r->peers[i];
	}
	return NULL;
}

static void ack(struct relay *r, struct relay_key key)
{
	if (key.node == r->self) {
		/* One of ours, routed here while leading: done with. */
		if (key.epoch != r->o.epoch)
			return;
		for (struct relay_stanza **at = &r->queue.head; *at != NULL; at = &(*at)->next) {
			if ((*at)->seq == key.seq) {
				list_append(&r->dead, list_take(&r->queue, at));
				return;
			}
		}
		return;
	}
	if (peer_of(r, key.node) == NULL)
		return;
	struct relay_out o = {.kind = RELAY_OUT_SEND,
			      .node = key.node,
			      .type = RELAY_WIRE_ACK,
			      .head.ack = {.epoch = key.epoch, .seq = key.seq},
			      .head_len = sizeof(struct relay_wire_ack)};
	out_push(r, &o);
}

static bool same_key(struct relay_key a, struct relay_key b)
{
	return a.node == b.node && a.epoch == b.epoch && a.seq == b.seq;
}

/* A pending delivery is over (confirmed, given up, or no longer ours). */
static void pending_forget(struct relay *r, struct relay_pending *p)
{
	list_append(&r->dead, p->copy);
	if (p->routed != NULL && --p->routed->refs == 0)
		list_append(&r->dead, p->routed);
}

static void pending_done(struct relay *r, size_t i)
{
	struct relay_key key = r->pending[i].key;
	bool outside = r->pending[i].routed == NULL;
	pending_forget(r, &r->pending[i]);
	r->pending[i] = r->pending[--r->pending_count];
	/* Nobody waits for an acknowledgement of a delivery outside a route. */
	for (size_t k = 0; k < r->pending_count && !outside; k++) {
		if (same_key(r->pending[k].key, key))
			return;
	}
	if (!outside)
		ack(r, key);
}

static void route_out(struct relay *r, struct relay_stanza *s, uint64_t node)
{
	struct relay_out o = {.kind = RELAY_OUT_ROUTE,
			      .node = node == r->self ? RELAY_LOCAL : node,
			      .session = s->session,
			      .key = {node, s->epoch, s->seq},
			      .data = s->data,
			      .len = s->len};
	out_push(r, &o);
}

static void bounce_out(struct relay *r, uint64_t session, const char *data, size_t len,
		       const char *why)
{
	struct relay_out o = {
	    .kind = RELAY_OUT_BOUNCE, .session = session, .why = why, .data = data, .len = len};
	out_push(r, &o);
}

/* A delivery given up with its node: its sender, here or on its own node,
 * hears of it once per stanza.  (The node may have delivered it and lost
 * only the confirmation: a needless error, never a silent loss.) */
static void give_up(struct relay *r, size_t i)
{
	struct relay_pending *p = &r->pending[i];
	if (p->routed == NULL) {
		/* Nobody's route waits for it: the shell routes it again, as
		 * one whose session is gone (RELAY_OUT_RETURN). */
		struct relay_out o = {.kind = RELAY_OUT_RETURN,
				      .node = p->node,
				      .session = p->head.session,
				      .key = p->key,
				      .data = p->copy->data,
				      .len = p->copy->len};
		out_push(r, &o);
	} else if (!p->routed->bounced) {
		p->routed->bounced = true;
		struct relay_out o = {.kind = RELAY_OUT_BOUNCE,
				      .node = p->key.node == r->self ? RELAY_LOCAL : p->key.node,
				      .session = p->routed->session,
				      .why = "its recipient's node did not come back",
				      .data = p->routed->data,
				      .len = p->routed->len};
		out_push(r, &o);
	}
	pending_done(r, i);
}

/* A warm leader routes what waits here, then what it held; otherwise what
 * waited unsent too long is bounced (sent ones wait for their ack). */
static void drain(struct relay *r)
{
	if (router_relay_routes_for_all(r)) {
		/* As any node's: the old leader may have delivered some, and they
		 * stay until their deliveries are confirmed (ack). */
		for (struct relay_stanza *s = r->queue.head; s != NULL; s = s->next) {
			if (!s->sent) {
				s->sent = s->ever_sent = true;
				route_out(r, s, r->self);
			}
		}
		while (r->held.head != NULL) {
			struct relay_stanza *s = list_take(&r->held, &r->held.head);
			route_out(r, s, s->node);
			list_append(&r->dead, s);
		}
		return;
	}
	for (struct relay_stanza **at = &r->queue.head; *at != NULL;) {
		struct relay_stanza *s = *at;
		if (!s->ever_sent && r->now - s->queued_at >= r->o.queue_max_wait_ms) {
			list_take(&r->queue, at);
			bounce_out(r, s->session, s->data, s->len,
				   "no leader within queue_max_wait");
			list_append(&r->dead, s);
			continue;
		}
		at = &s->next;
	}
}

static void maybe_warm(struct relay *r)
{
	if (!r->leading || r->warm)
		return;
	size_t synced = 0;
	for (size_t i = 0; i < r->peer_count; i++)
		synced += r->peers[i].synced;
	if (r->now >= r->warm_deadline || (r->alive > 0 && synced + 1 >= r->alive)) {
		r->warm = true;
		drain(r);
	}
}

static void unsend_all(struct relay *r)
{
	for (struct relay_stanza *s = r->queue.head; s != NULL; s = s->next)
		s->sent = false;
}

struct relay *router_relay_new(const struct relay_options *options)
{
	struct relay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->o = *options;
	list_init(&r->queue);
	list_init(&r->held);
	list_init(&r->dead);
	return r;
}

void router_relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	list_free(&r->queue);
	list_free(&r->held);
	for (size_t i = 0; i < r->pending_count; i++)
		pending_forget(r, &r->pending[i]);
	list_free(&r->dead);
	free(r->pending);
	free(r->outs);
	free(r);
}

void router_relay_set_limits(struct relay *r, size_t max_stanzas, size_t max_bytes,
			     int64_t max_wait_ms)
{
	r->o.queue_max_stanzas = max_stanzas;
	r->o.queue_max_bytes = max_bytes;
	r->o.queue_max_wait_ms = max_wait_ms;
}

void router_relay_tick(struct relay *r, int64_t now_ms)
{
	r->now = now_ms;
	/* A node that did not come back took its sessions with it. */
	for (size_t i = 0; i < r->pending_count;) {
		if (r->pending[i].lost && r->now - r->pending[i].lost_at >= r->o.relink_ms)
			give_up(r, i);
		else
			i++;
	}
	maybe_warm(r);
	drain(r);
}

bool router_relay_leader(struct relay *r, uint64_t self, uint64_t leader, uint64_t term,
			 uint32_t alive)
{
	r->self = self;
	r->alive = alive;
	if (leader == r->leader && term == r->term) {
		maybe_warm(r);
		return false;
	}
	bool was_leading = r->leading;
	r->leader = leader;
	r->term = term;
	r->leading = leader != 0 && leader == r->self;
	r->up = false;
	unsend_all(r);
	if (!r->leading) {
		/* The other nodes' sessions are theirs to keep.  What they forwarded
		 * here and was not confirmed (held, or pending) they send again to
		 * the leader: their links close, so that they do, in order, rather
		 * than go on after a gap on a link to a node that does not lead. */
		while (r->held.head != NULL)
			list_append(&r->dead, list_take(&r->held, &r->held.head));
		r->warm = false;
		for (size_t i = 0; i < r->peer_count; i++) {
			struct relay_out o = {.kind = RELAY_OUT_CLOSE, .node = r->peers[i].node};
			out_push(r, &o);
			o.kind = RELAY_OUT_FORGET;
			out_push(r, &o);
		}
		r->peer_count = 0;
		while (r->pending_count > 0) {
			struct relay_pending *p = &r->pending[--r->pending_count];
			r->outside_forgotten += p->routed == NULL;
			pending_forget(r, p);
		}
	}
	if (r->leading && !was_leading) {
		r->warm = false;
		r->warm_deadline = r->now + r->o.warmup_ms;
		maybe_warm(r);
	}
	drain(r);
	return true;
}

void router_relay_up_link(struct relay *r, bool up)
{
	if (!up) {
		r->up = false;
		unsend_all(r);
		return;
	}
	if (r->leading || r->leader == 0 || r->up)
		return;
	r->up = true;
	/* Sessions first, so that the leader knows every recipient here before
	 * it routes for all; then what waited, and what the previous leader
	 * never acknowledged, in order. */
	struct relay_out o = {.kind = RELAY_OUT_REGISTER_ALL, .node = r->leader};
	out_push(r, &o);
	send_up(r, RELAY_WIRE_SYNCED, NULL, 0, NULL, 0);
	for (struct relay_stanza *s = r->queue.head; s != NULL; s = s->next)
		send_forward(r, s);
}

static int by_delivery(const void *a, const void *b)
{
	const struct relay_pending *x = *(struct relay_pending *const *)a;
	const struct relay_pending *y = *(struct relay_pending *const *)b;
	return x->head.delivery < y->head.delivery ? -1 : x->head.delivery > y->head.delivery;
}

/* A node linked again: what it may have missed goes again, in the order it
 * first went and before anything newer (it drops what it had). */
static void redeliver(struct relay *r, uint64_t node)
{
	struct relay_pending **lost = relay_alloc((r->pending_count + 1) * sizeof(*lost));
	size_t count = 0;
	for (size_t i = 0; i < r->pending_count; i++) {
		if (r->pending[i].node == node && r->pending[i].lost)
			lost[count++] = &r->pending[i];
	}
	qsort(lost, count, sizeof(*lost), by_delivery);
	for (size_t i = 0; i < count; i++) {
		lost[i]->lost = false;
		struct relay_out o = {.kind = RELAY_OUT_SEND,
				      .node = node,
				      .type = RELAY_WIRE_DELIVER,
				      .head.deliver = lost[i]->head,
				      .head_len = sizeof(lost[i]->head),
				      .data = lost[i]->copy->data,
				      .len = lost[i]->copy->len};
		out_push(r, &o);
	}
	free(lost);
}

void router_relay_peer_link(struct relay *r, uint64_t node, bool up)
{
	struct relay_peer *p = peer_of(r, node);
	if (up) {
		if (p == NULL && r->peer_count < PEERS_MAX)
			r->peers[r->peer_count++] = (struct relay_peer){.node = node};
		redeliver(r, node);
		return;
	}
	if (p == NULL)
		return;
	*p = r->peers[--r->peer_count];
	for (size_t i = 0; i < r->pending_count; i++) {
		if (r->pending[i].node == node && !r->pending[i].lost) {
			r->pending[i].lost = true;
			r->pending[i].lost_at = r->now;
		}
	}
	/* It sends again whatever was not acknowledged. */
	for (struct relay_stanza **at = &r->held.head; *at != NULL;) {
		if ((*at)->node == node)
			list_append(&r->dead, list_take(&r->held, at));
		else
			at = &(*at)->next;
	}
	struct relay_out o = {.kind = RELAY_OUT_FORGET, .node = node};
	out_push(r, &o);
	/* Its sessions are gone from here, but perhaps not from the cluster:
	 * a node that follows a new leader (a transfer, where this one still
	 * routes until it hears of it) leaves the same way as one that died.
	 * Routing on would bounce what is for its sessions; warming again
	 * holds instead, until every member still heard of has synced (a dead
	 * one is soon no longer heard of), the deadline passes, or this node
	 * hears it no longer leads, when the origins send it to the next. */
	if (r->leading && r->warm) {
		r->warm = false;
		r->warm_deadline = r->now + r->o.warmup_ms;
		maybe_warm(r);
	}
}

void router_relay_taken_over(struct relay *r, uint64_t node, uint64_t session)
{
	for (size_t i = 0; i < r->pending_count;) {
		if (r->pending[i].node == node && r->pending[i].head.session == session)
			pending_done(r, i);
		else
			i++;
	}
}

uint64_t router_relay_forward(struct relay *r, uint64_t session, const void *data, size_t len)
{
	uint64_t seq = ++r->next_seq;
	if (r->queue.count + 1 > r->o.queue_max_stanzas ||
	    r->queue.bytes + len > r->o.queue_max_bytes) {
		bounce_out(r, session, data, len, "the queue for the leader is full");
		return 0;
	}
	struct relay_stanza *s = relay_alloc(sizeof(*s) + len);
	*s = (struct relay_stanza){
	    .epoch = r->o.epoch, .seq = seq, .session = session, .queued_at = r->now, .len = len};
	memcpy(s->data, data, len);
	list_append(&r->queue, s);
	if (r->up)
		send_forward(r, s);
	else
		router_relay_catch_up(r);
	return seq;
}

static void hold(struct relay *r, uint64_t node, const struct relay_wire_msg *m)
{
	struct relay_stanza *s = relay_alloc(sizeof(*s) + m->data_len);
	*s = (struct relay_stanza){.node = node,
				   .epoch = m->u.forward.epoch,
				   .seq = m->u.forward.seq,
				   .session = m->u.forward.session,
				   .len = m->data_len};
	memcpy(s->data, m->data, m->data_len);
	list_append(&r->held, s);
}

int router_relay_step(struct relay *r, uint64_t node, bool from_leader,
		      const struct relay_wire_msg *m, const char **why)
{
	switch (m->type) {
	case RELAY_WIRE_FORWARD: {
		if (from_leader) {
			*why = "a stanza forwarded by the leader";
			return -1;
		}
		/* Taken even before our elector told us we lead: a node links
		 * only to the router it believes leads, and we hear it shortly. */
		if (!router_relay_routes_for_all(r)) {
			hold(r, node, m);
			return 0;
		}
		router_relay_catch_up(r);
		struct relay_out o = {.kind = RELAY_OUT_ROUTE,
				      .node = node,
				      .session = m->u.forward.session,
				      .key = {node, m->u.forward.epoch, m->u.forward.seq},
				      .data = m->data,
				      .len = m->data_len};
		out_push(r, &o);
		return 0;
	}
	case RELAY_WIRE_DELIVER: {
		if (!from_leader) {
			*why = "a delivery from a node that does not lead";
			return -1;
		}
		const struct relay_wire_deliver *d = &m->u.deliver;
		/* Confirmed only once the shell says it handed it on
		 * (router_relay_delivered_here): a confirmation of what was
		 * not delivered would make the leader acknowledge a loss. */
		struct relay_out o = {.kind = RELAY_OUT_DELIVER,
				      .session = d->session,
				      .key = {d->origin_node, d->origin_epoch, d->origin_seq},
				      .head.deliver = *d,
				      .head_len = sizeof(*d),
				      .data = m->data,
				      .len = m->data_len};
		out_push(r, &o);
		return 0;
	}
	case RELAY_WIRE_DELIVERED:
		if (from_leader) {
			*why = "a confirmation from the leader";
			return -1;
		}
		/* One we no longer wait for (its stanza was acknowledged as its
		 * node left and came back) is no fault of the sender. */
		for (size_t i = 0; i < r->pending_count; i++) {
			if (r->pending[i].head.delivery == m->u.delivered.delivery &&
			    r->pending[i].node == node) {
				pending_done(r, i);
				break;
			}
		}
		return 0;
	case RELAY_WIRE_ACK:
		if (!from_leader) {
			*why = "an acknowledgement from a node that does not lead";
			return -1;
		}
		if (m->u.ack.epoch != r->o.epoch)
			return 0; /* for a previous run of this router */
		for (struct relay_stanza **at = &r->queue.head; *at != NULL; at = &(*at)->next) {
			if ((*at)->seq == m->u.ack.seq) {
				list_append(&r->dead, list_take(&r->queue, at));
				break;
			}
		}
		return 0;
	case RELAY_WIRE_SYNCED: {
		struct relay_peer *p = from_leader ? NULL : peer_of(r, node);
		if (p == NULL) {
			*why = "SYNCED on a link that is not a follower's";
			return -1;
		}
		p->synced = true;
		maybe_warm(r);
		return 0;
	}
	default:
		*why = "a frame the relay does not take";
		return -1;
	}
}

void router_relay_catch_up(struct relay *r)
{
	/* Whatever waited goes before anything newer, so order holds. */
	if (!router_relay_routes_for_all(r))
		return;
	bool waiting = r->held.head != NULL;
	for (struct relay_stanza *s = r->queue.head; s != NULL && !waiting; s = s->next)
		waiting = !s->sent;
	if (waiting)
		drain(r);
}

void router_relay_delivered_here(struct relay *r, const struct relay_out *deliver, bool ok)
{
	if (ok) {
		struct relay_wire_delivered done = {.delivery = deliver->head.deliver.delivery};
		if (done.delivery != 0 && r->up)
			send_up(r, RELAY_WIRE_DELIVERED, &done, sizeof(done), NULL, 0);
		return;
	}
	/* Not confirmed, it is sent again on the next link, and what came
	 * after it on this one too (skipped in router_relay_next): delivered
	 * before it, one of them would make the session's mark drop it. */
	if (!r->up)
		return;
	r->up = false;
	unsend_all(r);
	struct relay_out o = {.kind = RELAY_OUT_CLOSE, .to_leader = true, .node = r->leader};
	out_push(r, &o);
}

bool router_relay_next(struct relay *r, struct relay_out *out)
{
	while (r->out_head < r->out_count) {
		*out = r->outs[r->out_head++];
		/* A delivery that came by a link to the leader that is gone
		 * since goes again on the next one (it was not confirmed). */
		if (out->kind == RELAY_OUT_DELIVER && !r->up)
			continue;
		r->bouncing = out->kind == RELAY_OUT_BOUNCE ? out->node : RELAY_LOCAL;
		return true;
	}
	r->out_head = r->out_count = 0;
	r->bouncing = RELAY_LOCAL;
	list_free(&r->dead);
	return false;
}

void router_relay_route_begin(struct relay *r, const struct relay_out *route)
{
	r->route.active = true;
	r->route.key = route->key;
	r->route.chosen = false;
	r->route.deliveries = 0;
	r->route.out = route;
	r->route.routed = NULL;
}

struct relay_key router_relay_route_key(const struct relay *r)
{
	struct relay_key none = {0};
	return r->route.active ? r->route.key : none;
}

struct relay_key router_relay_route_key_to(const struct relay *r, uint64_t node, uint64_t session)
{
	struct relay_key none = {0};
	/* The sender's marks of its own series are not in routing order: the
	 * error for a later stanza may come from one leader before the error
	 * for an earlier one, sent again, from the next. */
	if (!r->route.active || r->route.chosen ||
	    (node == r->route.out->node && session == r->route.out->session))
		return none;
	return r->route.key;
}

void router_relay_route_chosen(struct relay *r)
{
	r->route.chosen = r->route.active;
}

bool router_relay_deliver_remote(struct relay *r, uint64_t node, uint64_t session,
				 const void *bytes, size_t len, struct relay_wire_deliver *out)
{
	if (peer_of(r, node) == NULL)
		return false;
	*out = (struct relay_wire_deliver){.session = session};
	/* A give-up's error: the stanza's ACK follows it on the same link, so
	 * if it is lost the stanza is sent again and answered again; kept and
	 * sent again too, its sender would hear it twice.  (To a sender found
	 * by its JID on another node, the ACK does not follow: kept.) */
	if (!r->route.active && r->bouncing != RELAY_LOCAL && r->bouncing == node)
		return true;
	if (r->pending_count == r->pending_cap) {
		size_t cap = r->pending_cap ? 2 * r->pending_cap : 64;
		struct relay_pending *grown = realloc(r->pending, cap * sizeof(*grown));
		if (grown == NULL)
			abort();
		r->pending = grown;
		r->pending_cap = cap;
	}
	/* Outside a route, nothing names it: it is named by this node in its
	 * outside series, whose numbers the links carry in the order they are
	 * taken, so that a session's marks drop a copy sent again. */
	struct relay_key key =
	    r->route.active ? r->route.key
			    : (struct relay_key){r->self, outside_epoch(r), ++r->next_outside};
	struct relay_key marked =
	    r->route.active ? router_relay_route_key_to(r, node, session) : key;
	out->origin_node = marked.node;
	out->origin_epoch = marked.epoch;
	out->origin_seq = marked.seq;
	out->delivery = ++r->next_delivery;
	struct relay_stanza *copy = relay_alloc(sizeof(*copy) + len);
	*copy = (struct relay_stanza){.len = len};
	if (len > 0)
		memcpy(copy->data, bytes, len);
	if (!r->route.active) {
		r->pending[r->pending_count++] =
		    (struct relay_pending){.node = node, .key = key, .head = *out, .copy = copy};
		return true;
	}
	if (r->route.routed == NULL) {
		const struct relay_out *o = r->route.out;
		struct relay_stanza *routed = relay_alloc(sizeof(*routed) + o->len);
		*routed = (struct relay_stanza){.session = o->session, .len = o->len};
		if (o->len > 0)
			memcpy(routed->data, o->data, o->len);
		r->route.routed = routed;
	}
	r->route.routed->refs++;
	r->pending[r->pending_count++] = (struct relay_pending){.node = node,
								.key = r->route.key,
								.head = *out,
								.copy = copy,
								.routed = r->route.routed};
	r->route.deliveries++;
	return true;
}

void router_relay_route_end(struct relay *r)
{
	if (r->route.active && r->route.deliveries == 0)
		ack(r, r->route.key);
	r->route.active = false;
	r->route.out = NULL;
	r->route.routed = NULL;
}

/* Bit `k` of a window: number seq - 1 - k of its mark. */
static bool window_has(const struct relay_mark *m, uint64_t k)
{
	return (m->below[k / 64] >> (k % 64)) & 1;
}

static void window_set(struct relay_mark *m, uint64_t k)
{
	m->below[k / 64] |= 1ull << (k % 64);
}

/* The mark moves up by `by`: what it had becomes `by` - 1 below the new
 * one, the rest moves down as far. */
static void window_shift(struct relay_mark *m, uint64_t by)
{
	if (by >= RELAY_MARK_WINDOW + 1) {
		memset(m->below, 0, sizeof(m->below));
		return;
	}
	uint64_t old[RELAY_MARK_WINDOW / 64];
	memcpy(old, m->below, sizeof(old));
	memset(m->below, 0, sizeof(m->below));
	for (uint64_t k = 0; k + by < RELAY_MARK_WINDOW; k++) {
		if ((old[k / 64] >> (k % 64)) & 1)
			window_set(m, k + by);
	}
	window_set(m, by - 1);
}

bool router_relay_seen_before(struct relay_marks *marks, struct relay_key key)
{
	if (key.seq == 0)
		return false;
	struct relay_mark *mark = NULL, *free_mark = NULL;
	for (size_t i = 0; i < RELAY_ORIGINS_MAX; i++) {
		struct relay_mark *m = &marks->last[i];
		/* A node's earlier run is done with, but not the other series
		 * of this run (its stanzas', its outside deliveries'). */
		if (m->key.node == key.node && m->key.epoch == key.epoch)
			mark = m;
		else if (free_mark == NULL && (m->key.node == 0 || (m->key.node == key.node &&
								    m->key.epoch != ~key.epoch)))
			free_mark = m;
	}
	if (mark != NULL && key.seq <= mark->key.seq) {
		/* Below the highest: a copy if it came, or if it is too far
		 * below to tell. */
		uint64_t k = mark->key.seq - key.seq;
		if (k == 0 || k > RELAY_MARK_WINDOW || window_has(mark, k - 1))
			return true;
		window_set(mark, k - 1);
		return false;
	}
	if (mark == NULL) {
		mark = free_mark != NULL ? free_mark : &marks->last[0];
		*mark = (struct relay_mark){.key = key};
		return false;
	}
	window_shift(mark, key.seq - mark->key.seq);
	mark->key = key;
	return false;
}

bool router_relay_leading(const struct relay *r)
{
	return r->leading;
}

bool router_relay_routes_for_all(const struct relay *r)
{
	return r->leading && r->warm;
}

uint64_t router_relay_link_wanted(const struct relay *r)
{
	return r->leading ? 0 : r->leader;
}

bool router_relay_reaches(const struct relay *r, uint64_t node)
{
	for (size_t i = 0; i < r->peer_count && node != RELAY_LOCAL; i++) {
		if (r->peers[i].node == node)
			return true;
	}
	return node == RELAY_LOCAL;
}

size_t router_relay_outside_forgotten(struct relay *r)
{
	size_t n = r->outside_forgotten;
	r->outside_forgotten = 0;
	return n;
}

size_t router_relay_queued(const struct relay *r)
{
	return r->queue.count;
}

uint64_t router_relay_oldest(const struct relay *r)
{
	/* Appended in sequence order; taking out keeps that order. */
	return r->queue.head != NULL ? r->queue.head->seq : UINT64_MAX;
}

int router_relay_wire_decode(const struct ipc_msg *msg, struct relay_wire_msg *out,
			     const char **why)
{
	*out = (struct relay_wire_msg){.type = msg->type};
	const char *p = msg->data;
	size_t fixed;
	switch (msg->type) {
	case RELAY_WIRE_REGISTER:
		fixed = sizeof(out->u.reg);
		break;
	case RELAY_WIRE_UNREGISTER:
		fixed = sizeof(out->u.session);
		break;
	case RELAY_WIRE_PRESENCE:
		fixed = sizeof(out->u.presence);
		break;
	case RELAY_WIRE_FORWARD:
		fixed = sizeof(out->u.forward);
		break;
	case RELAY_WIRE_DELIVER:
		fixed = sizeof(out->u.deliver);
		break;
	case RELAY_WIRE_DELIVERED:
		fixed = sizeof(out->u.delivered);
		break;
	case RELAY_WIRE_ACK:
		fixed = sizeof(out->u.ack);
		break;
	case RELAY_WIRE_KICK:
		fixed = sizeof(out->u.kick);
		break;
	case RELAY_WIRE_QUERY:
		fixed = sizeof(out->u.query);
		break;
	case RELAY_WIRE_ANSWER:
		fixed = sizeof(out->u.answer);
		break;
	case RELAY_WIRE_FORGET:
	case RELAY_WIRE_SYNCED:
		fixed = 0;
		break;
	case RELAY_WIRE_KEEP_OPEN:
		fixed = sizeof(out->u.keep_open);
		break;
	case RELAY_WIRE_KEEP_STANZA:
	case RELAY_WIRE_KEEP_ACKED:
	case RELAY_WIRE_KEEP_HANDLED:
	case RELAY_WIRE_KEEP_END:
	case RELAY_WIRE_KEEP_REPLY:
	case RELAY_WIRE_KEEP_ITEM:
	case RELAY_WIRE_KEEP_GIVE_UP:
	case RELAY_WIRE_KEEP_GIVEN:
		fixed = sizeof(out->u.keep);
		break;
	case RELAY_WIRE_KEEP_RESUME:
		fixed = sizeof(out->u.keep_resume);
		break;
	case RELAY_WIRE_KEEP_RESUMED:
		fixed = sizeof(out->u.keep_resumed);
		break;
	case RELAY_WIRE_KEEP_FRESH:
	case RELAY_WIRE_KEEP_ADOPT_ITEM:
		fixed = sizeof(out->u.keep_fresh);
		break;
	case RELAY_WIRE_KEEP_ADOPT:
		fixed = sizeof(out->u.keep_adopt);
		break;
	default:
		*why = "unknown frame type";
		return -1;
	}
	bool tail = msg->type == RELAY_WIRE_REGISTER || msg->type == RELAY_WIRE_FORWARD ||
		    msg->type == RELAY_WIRE_DELIVER || msg->type == RELAY_WIRE_QUERY ||
		    msg->type == RELAY_WIRE_ANSWER || msg->type == RELAY_WIRE_KEEP_STANZA ||
		    msg->type == RELAY_WIRE_KEEP_RESUME || msg->type == RELAY_WIRE_KEEP_RESUMED ||
		    msg->type == RELAY_WIRE_KEEP_ITEM || msg->type == RELAY_WIRE_KEEP_OPEN ||
		    msg->type == RELAY_WIRE_KEEP_FRESH || msg->type == RELAY_WIRE_KEEP_ADOPT ||
		    msg->type == RELAY_WIRE_KEEP_ADOPT_ITEM;
	if (tail ? msg->len < fixed : ipc_get_data(msg, &out->u, fixed) == -1) {
		*why = "a frame of the wrong size";
		return -1;
	}
	if (tail) {
		memcpy(&out->u, p, fixed);
		out->data = p + fixed;
		out->data_len = msg->len - fixed;
	}
	if (msg->type == RELAY_WIRE_REGISTER &&
	    (out->u.reg.jid_len == 0 || out->u.reg.jid_len >= JID_MAX ||
	     out->u.reg.jid_len != out->data_len)) {
		*why = "a registration with a bad JID length";
		return -1;
	}
	if (msg->type == RELAY_WIRE_FORWARD && out->data_len == 0) {
		*why = "a forwarded stanza without bytes";
		return -1;
	}
	if (msg->type == RELAY_WIRE_KICK && out->u.kick.reason >= PROTO_KICK_END) {
		*why = "a kick for an unknown reason";
		return -1;
	}
	const struct relay_wire_query *q = &out->u.query;
	if (msg->type == RELAY_WIRE_QUERY &&
	    (q->reserved != 0 || q->jid_len != out->data_len ||
	     (q->op == RELAY_QUERY_LIST ? q->jid_len != 0 || q->reason != 0
	      : q->op == RELAY_QUERY_KICK
		  ? q->jid_len == 0 || q->jid_len >= JID_MAX || q->reason >= PROTO_KICK_END
		  : true))) {
		*why = "a malformed query";
		return -1;
	}
	for (size_t i = 0; msg->type == RELAY_WIRE_QUERY && i < out->data_len; i++) {
		unsigned char c = (unsigned char)out->data[i];
		if (c < 0x20 || c == 0x7f) {
			*why = "a query with a control character in its JID";
			return -1;
		}
	}
	if ((msg->type == RELAY_WIRE_KEEP_OPEN &&
	     (memchr(out->u.keep_open.id, '\0', RELAY_KEEP_ID_MAX) == NULL ||
	      out->u.keep_open.id[0] == '\0')) ||
	    (msg->type == RELAY_WIRE_KEEP_RESUME &&
	     (out->u.keep_resume.user_len == 0 || out->u.keep_resume.user_len >= JID_MAX ||
	      out->u.keep_resume.user_len != out->data_len ||
	      memchr(out->u.keep_resume.id, '\0', RELAY_KEEP_ID_MAX) == NULL)) ||
	    (msg->type == RELAY_WIRE_KEEP_RESUMED &&
	     (out->u.keep_resumed.ok > 1 || out->u.keep_resumed.jid_len >= JID_MAX ||
	      out->u.keep_resumed.jid_len != out->data_len || out->u.keep_resumed.reserved != 0)) ||
	    (msg->type == RELAY_WIRE_KEEP_OPEN && out->data_len >= JID_MAX) ||
	    ((msg->type == RELAY_WIRE_KEEP_FRESH || msg->type == RELAY_WIRE_KEEP_ADOPT_ITEM) &&
	     (out->u.keep_fresh.unsure > 1 || out->u.keep_fresh.reserved != 0)) ||
	    (msg->type == RELAY_WIRE_KEEP_ADOPT &&
	     (out->u.keep_adopt.held > 1 || out->u.keep_adopt.jid_len == 0 ||
	      out->u.keep_adopt.jid_len >= JID_MAX || out->u.keep_adopt.jid_len != out->data_len ||
	      memchr(out->u.keep_adopt.id, '\0', RELAY_KEEP_ID_MAX) == NULL)) ||
	    (msg->type == RELAY_WIRE_KEEP_REPLY && out->u.keep.kind >= PROTO_SM_KEPT_END) ||
	    ((msg->type == RELAY_WIRE_KEEP_STANZA || msg->type == RELAY_WIRE_KEEP_ACKED ||
	      msg->type == RELAY_WIRE_KEEP_HANDLED || msg->type == RELAY_WIRE_KEEP_END ||
	      msg->type == RELAY_WIRE_KEEP_ITEM || msg->type == RELAY_WIRE_KEEP_GIVE_UP) &&
	     out->u.keep.kind != 0) ||
	    (msg->type == RELAY_WIRE_KEEP_GIVE_UP && out->u.keep.value != 0) ||
	    (msg->type == RELAY_WIRE_KEEP_GIVEN && out->u.keep.kind > 1)) {
		*why = "a malformed stream-management frame";
		return -1;
	}
	struct proto_cluster_sessions head;
	if (msg->type == RELAY_WIRE_ANSWER &&
	    proto_cluster_sessions_unpack(out->data, out->data_len, &head, NULL, NULL) == -1) {
		*why = "a malformed answer";
		return -1;
	}
	return 0;
}
