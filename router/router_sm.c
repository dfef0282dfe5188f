/* SPDX-License-Identifier: MIT */
/*
 * Stream management across nodes, in the router: the shell of the keeper
 * core (router_keep.c, whose header says the protocol).  Runs in every
 * router; what it does depends on the node's part:
 *
 *   - A follower's router passes its listener's reports on its resumable
 *     sessions (PROTO_SM_OPEN, SM_STANZA, SM_ACKED, SM_HANDLED and the
 *     counts of SM_STANZA_IN) to the leader as KEEP_ frames, on the stanza
 *     link and so in order with the stanzas themselves, and the leader's
 *     answers back (SM_KEPT).  When its link to a leader comes up it asks
 *     the listener to report every session again (SM_REKEEP); when it goes,
 *     it tells the listener that nothing is kept (SM_KEPT, KEEPER 0), so
 *     that stanzas are no longer held back for a keeper that is gone.  A
 *     resumption its listener cannot find (SM_RESUME) is asked of the
 *     leader, whose answer goes back (SM_RESUMED, SM_ITEM).
 *   - The leader keeps: the reports go into the core, and so does every
 *     stanza it delivers to a kept session; when a follower's link drops
 *     or its listener forgets its sessions, that node's sessions wait, and
 *     what is routed to them is held (router_route.c asks router_sm_hold);
 *     what the relay delivered to them unconfirmed is already kept here,
 *     and the relay is done with it.  A
 *     session not resumed in time has its stanzas returned to their
 *     senders through the leader's listener (SM_RETURN), the one process
 *     that reads XML.
 *   - A leader's own sessions are kept by a follower (the first linked at
 *     protocol 4): the leader sends it the same KEEP_ frames, and a copy
 *     of each stanza it delivers to them (KEEP_FRESH) as it routes it.
 *     Their handled counts go only once what they cover is safe beyond
 *     the leader (router_counts.h: a third node confirmed it), so that a
 *     count never reaches the keeper without its stanza.
 *     When a follower loses its leader, the leader's sessions it keeps
 *     wait, and it hands them to the next leader (KEEP_ADOPT, before it
 *     says SYNCED, so that the next leader holds what comes for them), or
 *     keeps them if it leads next.
 *   - A leader that stops leading lets go of the sessions it kept for
 *     followers (they open them at the next one) and hands the ones that
 *     wait to the next leader the same way.
 *   - A resumption asked for a session whose node lives is a handover
 *     (router_keep.h): the leader asks that node (KEEP_GIVE_UP, then
 *     SM_GIVE_UP to its listener), which answers after its last report on
 *     the session (SM_GIVEN, then KEEP_GIVEN before the session's
 *     UNREGISTER), and the leader answers the asker.  For one of the
 *     leader's own sessions (kept by a follower, so unknown to the core
 *     here) the leader's listener first reports it to this router too
 *     (SM_GIVE_UP of kind 1: SM_OPEN and its stanzas go into the core
 *     here as well as to the follower), then gives it up; the follower's
 *     copy ends (KEEP_END).
 *
 * A frame that makes no sense on its link closes the link (the peer sends
 * again what was not confirmed), like every stanza-link frame; a report
 * the keeper refuses is logged at debug level and answered with KEEPER 0,
 * so that the holder stops holding back for it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/child.h"
#include "common/jid.h"
#include "common/log.h"
#include "common/table.h"
#include "router.h"
#include "router_counts.h"
#include "router_keep.h"

/* A follower's resumptions waiting for the leader's answer, one per client
 * connection that asked.  A crowd resumes at once when a node dies (all its
 * clients, within a second): 64 refused the 65th and later of them, which
 * then bound afresh and lost their sessions.  The bound only stops a table
 * without end; the listener's connection limits come first. */
#define RESUMES_MAX 65536
/* After a change of leader, how long a node that held sessions has to link
 * to the new leader before they are taken for lost: beyond its warm-up
 * (router_cluster.c), within which every live member links. */
#define CONFIRM_GRACE_MS 2000

/* The leader: a handover of one of its own sessions (held here, kept by a
 * follower), asked for by `asker` on `asker_node` (as the keeper core
 * knows it): the listener reports the session to this router's keeper
 * core too (`opened` once it did), then gives it up. */
struct sm_own_handover {
	uint64_t asker_node, asker;
	uint32_t h;
	bool opened;
	char id[KEEP_ID_MAX + 1];
	uint32_t user_len;
	char user[JID_MAX];
};

/* A follower: a session of the leader it keeps. */
struct sm_of_leader {
	char id[KEEP_ID_MAX + 1];
	char *jid;
};

static struct {
	struct keep *keep; /* the sessions of other nodes kept here */
	struct keep_options options;
	bool leading;
	uint64_t up_leader;		/* a follower: the leader its link leads to */
	struct table *of_leader;	/* a follower: session -> struct sm_of_leader */
	char adopting[KEEP_ID_MAX + 1]; /* the leader: the last KEEP_ADOPT's id */
	uint64_t adopting_from;
	/* A follower's questions to the leader: asker -> a copy of the asker. */
	struct table *resumes;
	/* The leader: its own sessions' counts that wait for the relay, and
	 * the route of one of their stanzas under way: its keeper, and
	 * whether it went to a node other than that one. */
	struct counts *counts;
	uint64_t route_keeper;
	bool route_third;
	uint64_t own_keeper;	     /* the leader: the follower its sessions went to last */
	struct table *own_handovers; /* the leader: its session -> struct sm_own_handover */
} sm;

void router_sm_init(const struct config *cfg)
{
	sm.options.max_stanzas = cfg->sm.max_unacked_stanzas;
	sm.options.max_bytes = cfg->sm.max_unacked_bytes;
	if (sm.keep == NULL)
		sm.keep = router_keep_new(&sm.options);
	if (sm.of_leader == NULL && (sm.of_leader = table_new()) == NULL)
		abort();
	if (sm.resumes == NULL && (sm.resumes = table_new()) == NULL)
		abort();
	if (sm.counts == NULL)
		sm.counts = router_counts_new();
	if (sm.own_handovers == NULL && (sm.own_handovers = table_new()) == NULL)
		abort();
}

static void sm_to_listener(uint16_t type, uint64_t peer, const void *a, size_t alen, const void *b,
			   size_t blen)
{
	struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
	if (child_peer_connected(PROC_LISTENER))
		child_send_v(PROC_LISTENER, type, peer, iov, 2);
}

static void sm_tell(uint64_t session, uint32_t kind, uint32_t value)
{
	struct proto_sm_count c = {.kind = kind, .value = value};
	sm_to_listener(PROTO_SM_KEPT, session, &c, sizeof(c), NULL, 0);
}

static void sm_answer(uint64_t node, uint64_t asker, const char *id, const struct keep_resumed *r);

/* The node a handover's asker is on, as the keeper core knows it
 * (router_cluster_self for this one), as the answer's paths know it. */
static uint64_t sm_asker_node(uint64_t node)
{
	return node == router_cluster_self() ? ROUTER_LOCAL : node;
}

/* The keeper's outputs, in order. */
static void sm_pump(void)
{
	struct keep_out o;
	while (sm.keep != NULL && router_keep_next(sm.keep, &o)) {
		char jid[JID_MAX];
		size_t n = o.jid_len < sizeof(jid) ? o.jid_len : sizeof(jid) - 1;
		memcpy(jid, o.jid, n);
		jid[n] = '\0';
		switch (o.kind) {
		case KEEP_OUT_BOUNCE:
			sm_to_listener(PROTO_SM_RETURN, 0, o.data, o.len, NULL, 0);
			break;
		case KEEP_OUT_ENDED:
			log_info("client session %s was not resumed in time; what was kept for it "
				 "went back to its senders",
				 jid);
			break;
		case KEEP_OUT_DELIVER: {
			/* Not delivered (gone, its node's link gone, or the
			 * listener's channel full): back to its sender. */
			const struct rsession *target = router_session_by_jid(jid);
			if (target == NULL || router_deliver_to(target, o.data, o.len) == -1)
				sm_to_listener(PROTO_SM_RETURN, 0, o.data, o.len, NULL, 0);
			break;
		}
		case KEEP_OUT_RESUMED:
			log_info("client session %s was handed over by the node that held it", jid);
			sm_answer(sm_asker_node(o.node), o.session, o.id, &o.resumed);
			break;
		case KEEP_OUT_REFUSED:
			log_info("client session %s could not be handed over: its resumption is "
				 "refused",
				 jid);
			sm_answer(sm_asker_node(o.node), o.session, o.id, NULL);
			break;
		}
	}
}

static void sm_of_leader_free(void *value, void *arg)
{
	(void)arg;
	struct sm_of_leader *o = value;
	free(o->jid);
	free(o);
}

/* A follower: the leader's sessions it kept are no longer reported on. */
static void sm_of_leader_clear(void)
{
	table_each(sm.of_leader, sm_of_leader_free, NULL);
	table_free(sm.of_leader);
	if ((sm.of_leader = table_new()) == NULL)
		abort();
}

static void sm_unkeep_one(struct rsession *s, void *arg);
static void sm_own_handover_refuse(void *value, void *arg);

void router_sm_leading(bool leading)
{
	if (leading == sm.leading)
		return;
	sm.leading = leading;
	/* Counts for keepers of a leadership that ended: its sessions open
	 * afresh at the next keeper, with the listener's counts. */
	router_counts_free(sm.counts);
	sm.counts = router_counts_new();
	/* What it kept is the next leader's to confirm or declare lost: its
	 * holders must link to it (router_sm_tick).  Its own sessions get a
	 * follower to keep them once one links (router_sm_follower_linked). */
	router_keep_holders_unsure(sm.keep, ev_now(child_loop()));
	if (leading) {
		sm_of_leader_clear();
		return;
	}
	/* Handovers of its own sessions under way: their askers bind afresh. */
	table_each(sm.own_handovers, sm_own_handover_refuse, NULL);
	table_free(sm.own_handovers);
	if ((sm.own_handovers = table_new()) == NULL)
		abort();
	size_t kept = router_keep_sessions(sm.keep);
	if (kept > 0)
		log_info("no longer leading: %zu client sessions kept here go to the next leader",
			 kept);
	router_sessions_each(sm_unkeep_one, NULL);
}

static bool sm_linked(uint64_t node, void *arg)
{
	(void)arg;
	return router_cluster_linked(node);
}

void router_sm_tick(int64_t now_ms)
{
	if (sm.leading) {
		size_t waiting =
		    router_keep_confirm_due(sm.keep, now_ms, CONFIRM_GRACE_MS, sm_linked, NULL);
		if (waiting > 0)
			log_info(
			    "%zu client sessions kept here wait to be resumed: their nodes did "
			    "not link to this leader",
			    waiting);
	}
	router_keep_tick(sm.keep, now_ms);
	sm_pump();
}

/* Leader: what becomes of other nodes' sessions */

static void sm_take_over(struct rsession *s, void *arg)
{
	uint64_t node = *(const uint64_t *)arg;
	if (s->ref.node != node || s->sm_id == NULL)
		return;
	router_keep_presence(sm.keep, s->jid, strlen(s->jid), s->priority, s->available);
	/* What the relay sent there unconfirmed is kept here already. */
	router_cluster_taken_over(node, s->ref.session);
}

/* The leader: a follower that kept some of its own sessions is gone. */
static void sm_keeper_gone(struct rsession *s, void *arg)
{
	uint64_t node = *(const uint64_t *)arg;
	if (s->ref.node == ROUTER_LOCAL && s->sm_keeping && s->sm_keeper == node) {
		s->sm_keeping = false;
		sm_tell(s->ref.session, PROTO_SM_KEEPER, 0);
	}
}

void router_sm_node_lost(uint64_t node, int64_t now_ms)
{
	if (!sm.leading || node == ROUTER_LOCAL)
		return;
	router_sessions_each(sm_keeper_gone, &node);
	/* Another follower keeps them from now on. */
	router_sm_follower_linked();
	size_t before = router_keep_waiting_count(sm.keep);
	router_sessions_each(sm_take_over, &node);
	router_keep_node_lost(sm.keep, node, now_ms);
	size_t waiting = router_keep_waiting_count(sm.keep) - before;
	if (waiting > 0)
		log_info("node %016" PRIx64
			 " lost: %zu client sessions kept here wait to be resumed "
			 "on any node",
			 node, waiting);
	sm_pump();
}

void router_sm_delivered(const struct rsession *target, const char *bytes, size_t len)
{
	if (sm.route_keeper != 0 && target->ref.node != sm.route_keeper)
		sm.route_third = true;
	if (sm.leading && target->sm_id != NULL)
		router_keep_delivered(sm.keep, target->ref.node, target->jid, strlen(target->jid),
				      router_cluster_route_key(), bytes, len);
}

/* Holds `r` for the waiting (or handed over) session of `jid`, if any. */
static bool sm_hold_as(struct rref origin, const struct proto_route_view *r, const char *jid,
		       struct relay_key key)
{
	if (router_keep_waiting(sm.keep, jid, strlen(jid)) == NULL)
		return false;
	const char *why = NULL;
	switch (router_keep_hold(sm.keep, jid, strlen(jid), key, r->stanza, r->stanza_len, &why)) {
	case KEEP_BOUNCED:
		router_route_bounce(origin, r, "wait", "resource-constraint");
		break;
	default:
		router_metrics_routed(r->kind);
		break;
	}
	return true;
}

bool router_sm_hold(struct rref origin, const struct proto_route_view *r, struct relay_key key)
{
	if (!sm.leading)
		return false;
	/* A warm leader routes this only once every live member linked: a
	 * holder that has not is lost, and its sessions wait from now. */
	uint64_t holder = router_keep_unconfirmed_holder(sm.keep, r->to, strlen(r->to));
	if (holder != 0 && !router_cluster_linked(holder)) {
		size_t before = router_keep_waiting_count(sm.keep);
		router_keep_node_lost(sm.keep, holder, ev_now(child_loop()));
		log_info("%zu client sessions kept here wait to be resumed: their nodes did not "
			 "link to this leader",
			 router_keep_waiting_count(sm.keep) - before);
	}
	return sm_hold_as(origin, r, r->to, key);
}

bool router_sm_hold_for(struct rref origin, const struct proto_route_view *r,
			const struct rsession *target, struct relay_key key)
{
	/* Its holder was asked to give it up: delivered there, it would find
	 * the session gone and be routed again behind what comes next, or be
	 * dropped (presence); held here, it follows what the holder reports. */
	return sm.leading && target->sm_id != NULL &&
	       router_keep_handing(sm.keep, target->jid, strlen(target->jid)) &&
	       sm_hold_as(origin, r, target->jid, key);
}

/* The holder: reports to the keeper (the leader, or when this node
 * leads, the follower that keeps the session) */

static void sm_report(const struct rsession *s, uint16_t type, uint32_t value, const void *data,
		      size_t len)
{
	struct relay_wire_keep_count c = {.session = s->ref.session, .value = value};
	router_cluster_keep_send(s->sm_keeper, type, &c, sizeof(c), data, len);
}

void router_sm_local_delivery(const struct rsession *target, const char *bytes, size_t len)
{
	if (!target->sm_keeping || target->sm_keeper == 0)
		return;
	struct relay_key key = router_cluster_route_key();
	struct relay_wire_keep_fresh f = {.session = target->ref.session,
					  .origin_node = key.node,
					  .origin_epoch = key.epoch,
					  .origin_seq = key.seq};
	router_cluster_keep_send(target->sm_keeper, RELAY_WIRE_KEEP_FRESH, &f, sizeof(f), bytes,
				 len);
}

struct sm_any {
	bool unkept;
};

static void sm_find_unkept(struct rsession *s, void *arg)
{
	struct sm_any *any = arg;
	if (s->ref.node == ROUTER_LOCAL && s->sm_id != NULL && !s->sm_keeping)
		any->unkept = true;
}

void router_sm_follower_linked(void)
{
	struct sm_any any = {false};
	router_sessions_each(sm_find_unkept, &any);
	if (sm.leading && any.unkept && router_cluster_keeper_node() != 0)
		sm_to_listener(PROTO_SM_REKEEP, 0, NULL, 0, NULL, 0);
}

/* A follower: the sessions that wait here, to the next leader. */
static void sm_hand_over(const struct keep_waiting *w, const struct keep_item *first, void *arg)
{
	(void)arg;
	struct relay_wire_keep_adopt a = {.lost = w->lost,
					  .held = w->held,
					  .remaining_ms = w->remaining_ms,
					  .max_seconds = w->max_seconds,
					  .handled = w->handled,
					  .acked = w->acked,
					  .count = w->count,
					  .priority = w->priority,
					  .available = w->available,
					  .jid_len = (uint32_t)w->jid_len};
	memcpy(a.id, w->id, sizeof(a.id));
	router_cluster_keep_send(0, RELAY_WIRE_KEEP_ADOPT, &a, sizeof(a), w->jid, w->jid_len);
	for (const struct keep_item *item = first; item != NULL; item = item->next) {
		struct relay_wire_keep_fresh f = {.origin_node = item->key.node,
						  .origin_epoch = item->key.epoch,
						  .origin_seq = item->key.seq,
						  .unsure = item->unsure};
		router_cluster_keep_send(0, RELAY_WIRE_KEEP_ADOPT_ITEM, &f, sizeof(f), item->data,
					 item->len);
	}
}

/* A question the leader will not answer now: its client binds afresh. */
static void sm_resume_unanswered(void *value, void *arg)
{
	(void)arg;
	struct proto_sm_resumed none = {0};
	sm_to_listener(PROTO_SM_RESUMED, *(uint64_t *)value, &none, sizeof(none), NULL, 0);
	free(value);
}

static void sm_unkeep_one(struct rsession *s, void *arg)
{
	(void)arg;
	if (s->ref.node != ROUTER_LOCAL || !s->sm_keeping)
		return;
	s->sm_keeping = false;
	sm_tell(s->ref.session, PROTO_SM_KEEPER, 0);
}

void router_sm_up_link(bool up)
{
	if (up) {
		/* The new leader keeps nothing of ours yet; what waits here for a
		 * leader that was lost is its to hold from now on. */
		router_sessions_each(sm_unkeep_one, NULL);
		if (!router_cluster_keeps())
			return;
		size_t kept = router_keep_sessions(sm.keep);
		router_keep_each(sm.keep, ev_now(child_loop()), sm_hand_over, NULL);
		router_keep_drop_all(sm.keep);
		sm_of_leader_clear();
		if (kept > 0)
			log_info("%zu client sessions kept here handed to the new leader", kept);
		sm.up_leader = router_cluster_leader_node();
		sm_to_listener(PROTO_SM_REKEEP, 0, NULL, 0, NULL, 0);
		return;
	}
	router_sessions_each(sm_unkeep_one, NULL);
	/* The leader's sessions kept here: it may have died, or only stopped
	 * leading; the next leader finds out (router_keep_confirm_due). */
	if (!sm.leading)
		router_keep_holders_unsure(sm.keep, ev_now(child_loop()));
	/* Questions the leader will not answer now: the clients bind afresh. */
	table_each(sm.resumes, sm_resume_unanswered, NULL);
	table_free(sm.resumes);
	if ((sm.resumes = table_new()) == NULL)
		abort();
}

/* The leader: a count of its own session's to the keeper, never one that
 * goes back (a count from before the keeper changed). */
static void sm_counted(uint64_t session, uint32_t handled)
{
	struct rsession *s = router_session_by_ref((struct rref){ROUTER_LOCAL, session});
	if (s == NULL || !s->sm_keeping || (uint32_t)(handled - s->sm_counted) >= UINT32_C(1) << 31)
		return;
	s->sm_counted = handled;
	sm_report(s, RELAY_WIRE_KEEP_HANDLED, handled, NULL, 0);
}

void router_sm_counts_release(void)
{
	uint64_t session;
	uint32_t handled;
	while (sm.counts != NULL &&
	       router_counts_next(sm.counts, router_cluster_oldest_kept(), &session, &handled))
		sm_counted(session, handled);
}

void router_sm_route_begin(uint64_t session)
{
	const struct rsession *s = router_session_by_ref((struct rref){ROUTER_LOCAL, session});
	sm.route_keeper = sm.leading && s != NULL && s->sm_keeping ? s->sm_keeper : 0;
	sm.route_third = false;
}

void router_sm_route_end(uint64_t seq)
{
	/* Delivered here (the keeper hears of what a session here gets before
	 * the count, on its link) or on the keeper's node, before the count
	 * on the same link: the count need not wait for the confirmation. */
	if (sm.route_keeper != 0 && !sm.route_third)
		router_counts_safe(sm.counts, seq);
	sm.route_keeper = 0;
}

void router_sm_handled(uint64_t session, uint32_t handled, uint64_t seq)
{
	struct rsession *s = router_session_by_ref((struct rref){ROUTER_LOCAL, session});
	if (s == NULL || !s->sm_keeping)
		return;
	if (!sm.leading) {
		sm_report(s, RELAY_WIRE_KEEP_HANDLED, handled, NULL, 0);
		return;
	}
	struct sm_own_handover *p = table_get(sm.own_handovers, &session, sizeof(session));
	uint32_t now_handled;
	const char *why;
	if (p != NULL && p->opened)
		(void)router_keep_handled(sm.keep, router_cluster_self(), p->id, handled,
					  &now_handled, &why);
	router_counts_add(sm.counts, session, handled, seq);
	router_sm_counts_release();
}

void router_sm_session_down(struct rref ref)
{
	struct rsession *s = router_session_by_ref(ref);
	if (s != NULL && ref.node == ROUTER_LOCAL && s->sm_keeping)
		sm_report(s, RELAY_WIRE_KEEP_END, 0, NULL, 0);
	/* Ended here before it was handed over: its listener returned what
	 * it held, and its asker binds afresh. */
	struct sm_own_handover *p =
	    ref.node == ROUTER_LOCAL && sm.own_handovers != NULL
		? table_remove(sm.own_handovers, &ref.session, sizeof(ref.session))
		: NULL;
	if (p != NULL) {
		if (p->opened)
			router_keep_end(sm.keep, router_cluster_self(), p->id);
		sm_own_handover_refuse(p, NULL);
		sm_pump();
	}
}

static bool sm_open(struct rsession *s, const struct ipc_msg *msg)
{
	struct proto_sm_open open;
	if (ipc_get_data(msg, &open, sizeof(open)) == -1 ||
	    memchr(open.id, '\0', sizeof(open.id)) == NULL || open.id[0] == '\0')
		return false;
	char *id = strdup(open.id);
	if (id == NULL)
		return true; /* not kept: the listener holds nothing back for it */
	free(s->sm_id);
	s->sm_id = id;
	/* A handover of the leader's own: this router's keeper core takes the
	 * session as the listener reports it now (and its stanzas after). */
	struct sm_own_handover *p =
	    sm.leading ? table_get(sm.own_handovers, &msg->peer, sizeof(msg->peer)) : NULL;
	const char *why = NULL;
	if (p != NULL && strcmp(p->id, open.id) == 0 &&
	    router_keep_open(sm.keep, router_cluster_self(), open.id, s->jid, strlen(s->jid),
			     msg->peer, open.max_seconds, open.handled, open.acked, open.sent,
			     &why) == KEEP_KEPT)
		p->opened = true;
	/* Kept by the leader; the leader's own by a follower. */
	s->sm_keeper = sm.leading ? router_cluster_keeper_node() : 0;
	s->sm_keeping = sm.leading ? s->sm_keeper != 0 : router_cluster_keeps();
	if (sm.leading && s->sm_keeping && s->sm_keeper != sm.own_keeper) {
		/* Once per keeper: which follower a death of this node needs. */
		sm.own_keeper = s->sm_keeper;
		log_info("client sessions of this node are kept by node %016" PRIx64, s->sm_keeper);
	}
	if (!s->sm_keeping) {
		sm_tell(msg->peer, PROTO_SM_KEEPER, 0);
		return true;
	}
	struct relay_wire_keep_open w = {.session = msg->peer,
					 .max_seconds = open.max_seconds,
					 .handled = open.handled,
					 .acked = open.acked,
					 .sent = open.sent};
	memcpy(w.id, open.id, sizeof(w.id));
	s->sm_counted = open.handled;
	/* A follower knows no JIDs of the leader's: the JID goes with it. */
	router_cluster_keep_send(s->sm_keeper, RELAY_WIRE_KEEP_OPEN, &w, sizeof(w),
				 sm.leading ? s->jid : NULL, sm.leading ? strlen(s->jid) : 0);
	return true;
}

static bool sm_resume(const struct ipc_msg *msg)
{
	struct proto_sm_resume q;
	if (msg->len < sizeof(q))
		return false;
	memcpy(&q, msg->data, sizeof(q));
	const char *user = (const char *)msg->data + sizeof(q);
	if (q.user_len == 0 || q.user_len >= JID_MAX || msg->len != sizeof(q) + q.user_len ||
	    memchr(q.id, '\0', sizeof(q.id)) == NULL)
		return false;
	if (sm.leading) {
		router_sm_resume_here(ROUTER_LOCAL, msg->peer, &q, user);
		return true;
	}
	struct relay_wire_keep_resume w = {.asker = msg->peer, .h = q.h, .user_len = q.user_len};
	memcpy(w.id, q.id, sizeof(w.id));
	/* One question per connection at a time (a second is refused). */
	uint64_t *asker = NULL;
	if (table_get(sm.resumes, &msg->peer, sizeof(msg->peer)) == NULL &&
	    table_count(sm.resumes) < RESUMES_MAX && (asker = malloc(sizeof(*asker))) != NULL) {
		*asker = msg->peer;
		if (table_put(sm.resumes, asker, sizeof(*asker), asker, NULL) == 0) {
			if (router_cluster_keep_send(0, RELAY_WIRE_KEEP_RESUME, &w, sizeof(w), user,
						     q.user_len) == 0)
				return true;
			table_remove(sm.resumes, asker, sizeof(*asker));
		}
		free(asker);
	}
	struct proto_sm_resumed none = {0};
	sm_to_listener(PROTO_SM_RESUMED, msg->peer, &none, sizeof(none), NULL, 0);
	return true;
}

/* The listener gave up a session the keeper asked for (or had none to
 * give): the keeper hears it after every report on the session, and the
 * session is no longer routed here (its stanzas go where it resumes). */
static bool sm_given(const struct ipc_msg *msg)
{
	struct proto_sm_count c;
	if (ipc_get_data(msg, &c, sizeof(c)) == -1 || c.kind > 1)
		return false;
	struct rref ref = {ROUTER_LOCAL, msg->peer};
	/* Taken first: the session's end below is not one before its
	 * handover (router_sm_session_down). */
	struct sm_own_handover *p =
	    sm.leading ? table_remove(sm.own_handovers, &msg->peer, sizeof(msg->peer)) : NULL;
	struct rsession *s = router_session_by_ref(ref);
	char id[KEEP_ID_MAX + 1] = "";
	if (s != NULL && s->sm_id != NULL)
		snprintf(id, sizeof(id), "%s", s->sm_id);
	/* A follower's keeper hears it before the session's UNREGISTER, which
	 * would leave it without the session's id. */
	if (s != NULL && !sm.leading && s->sm_keeping) {
		struct relay_wire_keep_count w = {
		    .session = msg->peer, .kind = c.kind, .value = c.value};
		router_cluster_keep_send(0, RELAY_WIRE_KEEP_GIVEN, &w, sizeof(w), NULL, 0);
	}
	/* None to give: it lives on here (taken over by a resumption here). */
	if (s != NULL && c.kind == 0)
		s->sm_given_up = false;
	if (s != NULL && c.kind == 1) {
		log_info("client session %s given up for a resumption on another node", s->jid);
		/* The leader's own: its follower keeper lets it go (END). */
		if (sm.leading)
			router_sm_session_down(ref);
		s->sm_keeping = false;
		router_session_remove(ref);
		router_cluster_session_down(ref);
	}
	if (!sm.leading)
		return true;
	int64_t now = ev_now(child_loop());
	if (p == NULL) {
		if (id[0] != '\0')
			router_keep_given(sm.keep, router_cluster_self(), id, c.kind == 1, c.value,
					  now);
		sm_pump();
		return true;
	}
	/* The leader's own, reported to its core since it was asked: the
	 * asker takes it over (or, with an h it cannot have, it waits). */
	struct keep_resumed r;
	int v = -1;
	if (c.kind == 1 && p->opened) {
		v = router_keep_resume(sm.keep, p->id, p->user, p->user_len, p->h, p->asker_node,
				       p->asker, now, &r);
		router_keep_given(sm.keep, router_cluster_self(), p->id, true, c.value, now);
	} else if (p->opened) {
		router_keep_end(sm.keep, router_cluster_self(), p->id);
	}
	if (v != 1)
		sm_own_handover_refuse(p, NULL);
	else
		free(p);
	sm_pump();
	return true;
}

bool router_sm_listener_message(const struct ipc_msg *msg)
{
	if (msg->type == PROTO_SM_RESUME)
		return sm_resume(msg);
	if (msg->type == PROTO_SM_GIVEN)
		return sm_given(msg);
	struct rsession *s = router_session_by_ref((struct rref){ROUTER_LOCAL, msg->peer});
	if (msg->type == PROTO_SM_OPEN)
		return s == NULL || sm_open(s, msg);
	struct proto_sm_count c;
	if (msg->len < sizeof(c))
		return false;
	memcpy(&c, msg->data, sizeof(c));
	if (c.kind != 0 || (msg->type != PROTO_SM_STANZA && msg->len != sizeof(c)))
		return false;
	struct sm_own_handover *p =
	    sm.leading ? table_get(sm.own_handovers, &msg->peer, sizeof(msg->peer)) : NULL;
	const char *why = NULL;
	if (p != NULL && p->opened && msg->type == PROTO_SM_STANZA)
		(void)router_keep_stanza(sm.keep, router_cluster_self(), p->id, c.value,
					 (const char *)msg->data + sizeof(c), msg->len - sizeof(c),
					 &why);
	else if (p != NULL && p->opened && msg->type == PROTO_SM_ACKED)
		(void)router_keep_acked(sm.keep, router_cluster_self(), p->id, c.value, &why);
	/* A session ended or not kept meanwhile: nothing to report. */
	if (s == NULL || !s->sm_keeping)
		return true;
	switch (msg->type) {
	case PROTO_SM_STANZA:
		sm_report(s, RELAY_WIRE_KEEP_STANZA, c.value, (const char *)msg->data + sizeof(c),
			  msg->len - sizeof(c));
		return true;
	case PROTO_SM_ACKED:
		sm_report(s, RELAY_WIRE_KEEP_ACKED, c.value, NULL, 0);
		return true;
	case PROTO_SM_HANDLED:
		router_sm_handled(msg->peer, c.value, 0);
		return true;
	default:
		return false;
	}
}

/* Leader: the session resumed by `asker` on `node` is routed there from
 * now on: what comes for it before that node announces the session goes
 * there, not to the error path. */
static void sm_route_to(uint64_t node, uint64_t asker, const struct keep_resumed *r, const char *id)
{
	char jid[JID_MAX];
	memcpy(jid, r->jid, r->jid_len);
	jid[r->jid_len] = '\0';
	struct rsession *s =
	    router_session_add((struct rref){node, asker}, PROTO_SESSION_CLIENT, jid);
	if (s != NULL) {
		s->available = r->available;
		s->priority = r->priority;
		/* Kept here while a follower holds it; the leader's own are
		 * opened at a follower by its listener. */
		if (node != ROUTER_LOCAL)
			s->sm_id = strdup(id);
	}
	log_info("client session %s resumed on node %016" PRIx64 ": %u stanzas sent again", jid,
		 node == ROUTER_LOCAL ? router_cluster_self() : node, r->count);
}

/* Leader: the answer to a resumption asked by `node` (ROUTER_LOCAL: this
 * node) for its connection `asker`: `r`, or NULL for item-not-found. */
static void sm_answer(uint64_t node, uint64_t asker, const char *id, const struct keep_resumed *r)
{
	bool ok = r != NULL;
	if (node == ROUTER_LOCAL) {
		struct proto_sm_resumed a = {0};
		if (ok)
			a = (struct proto_sm_resumed){.ok = 1,
						      .handled = r->handled,
						      .sent = r->sent,
						      .count = r->count,
						      .max_seconds = r->max_seconds,
						      .priority = r->priority,
						      .available = r->available,
						      .jid_len = (uint32_t)r->jid_len,
						      .remaining_ms = r->remaining_ms};
		sm_to_listener(PROTO_SM_RESUMED, asker, &a, sizeof(a), ok ? r->jid : NULL,
			       ok ? r->jid_len : 0);
		for (const struct keep_item *item = ok ? r->first : NULL; item != NULL;
		     item = item->next)
			sm_to_listener(PROTO_SM_ITEM, asker, item->data, item->len, NULL, 0);
		/* Held by the leader now: a follower keeps it, once the
		 * listener opens it again (as it does after a resumption); and
		 * routed here at once, before the listener announces it. */
		if (ok) {
			sm_route_to(ROUTER_LOCAL, asker, r, id);
			router_keep_end(sm.keep, router_cluster_self(), id);
		}
		return;
	}
	struct relay_wire_keep_resumed a = {.asker = asker};
	if (ok)
		a = (struct relay_wire_keep_resumed){.asker = asker,
						     .ok = 1,
						     .handled = r->handled,
						     .sent = r->sent,
						     .count = r->count,
						     .max_seconds = r->max_seconds,
						     .priority = r->priority,
						     .available = r->available,
						     .jid_len = (uint32_t)r->jid_len,
						     .remaining_ms = r->remaining_ms};
	router_cluster_keep_send(node, RELAY_WIRE_KEEP_RESUMED, &a, sizeof(a), ok ? r->jid : NULL,
				 ok ? r->jid_len : 0);
	if (!ok)
		return;
	for (const struct keep_item *item = r->first; item != NULL; item = item->next) {
		struct relay_wire_keep_count c = {.session = asker, .value = item->number};
		router_cluster_keep_send(node, RELAY_WIRE_KEEP_ITEM, &c, sizeof(c), item->data,
					 item->len);
	}
	/* Routed there from now on: what comes for it before that node
	 * registers the session goes there, not to the error path. */
	sm_route_to(node, asker, r, id);
}

/* Leader: the holder of a session resumed elsewhere is asked to give it
 * up (a handover: router_keep.h); its answer comes on the same link after
 * its last report on the session (router_sm_frame, KEEP_GIVEN). */
static void sm_ask_holder(uint64_t holder, uint64_t session)
{
	if (holder == router_cluster_self()) {
		sm_to_listener(PROTO_SM_GIVE_UP, session, NULL, 0, NULL, 0);
		return;
	}
	struct relay_wire_keep_count c = {.session = session};
	/* Not sent (its link went): the node is lost soon, and the session
	 * is handed on from what it reported. */
	(void)router_cluster_keep_send(holder, RELAY_WIRE_KEEP_GIVE_UP, &c, sizeof(c), NULL, 0);
}

static void sm_own_handover_refuse(void *value, void *arg)
{
	(void)arg;
	struct sm_own_handover *p = value;
	sm_answer(sm_asker_node(p->asker_node), p->asker, p->id, NULL);
	free(p);
}

struct sm_own_find {
	const char *id;
	struct rsession *found;
};

static void sm_own_find_one(struct rsession *s, void *arg)
{
	struct sm_own_find *f = arg;
	if (f->found == NULL && s->ref.node == ROUTER_LOCAL && s->sm_id != NULL &&
	    strcmp(s->sm_id, f->id) == 0)
		f->found = s;
}

/* Leader: a resumption of one of this node's own sessions (its keeper is a
 * follower, so the core here does not know it), asked on another node or
 * by another connection here: this node's listener reports it here and
 * gives it up (sm_given).  False when there is no such session of that
 * user, or it is being handed over already. */
static bool sm_own_handover_ask(uint64_t asker_node, uint64_t asker,
				const struct proto_sm_resume *q, const char *user)
{
	struct sm_own_find f = {q->id, NULL};
	router_sessions_each(sm_own_find_one, &f);
	struct rsession *s = f.found;
	if (s == NULL || s->kind != PROTO_SESSION_CLIENT || strlen(s->bare) != q->user_len ||
	    memcmp(s->bare, user, q->user_len) != 0 ||
	    table_get(sm.own_handovers, &s->ref.session, sizeof(s->ref.session)) != NULL)
		return false;
	struct sm_own_handover *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return false;
	*p = (struct sm_own_handover){.asker_node = asker_node, .asker = asker, .h = q->h};
	snprintf(p->id, sizeof(p->id), "%s", q->id);
	p->user_len = q->user_len;
	memcpy(p->user, user, q->user_len);
	if (table_put(sm.own_handovers, &s->ref.session, sizeof(s->ref.session), p, NULL) == -1) {
		free(p);
		return false;
	}
	log_info("client session %s of this node is resumed on node %016" PRIx64
		 ": asked its connection here to hand it over",
		 s->jid, asker_node);
	/* Kind 1: report it here first (this router's core takes it). */
	struct proto_sm_count c = {.kind = 1};
	sm_to_listener(PROTO_SM_GIVE_UP, s->ref.session, &c, sizeof(c), NULL, 0);
	return true;
}

/* Leader: a resumption asked here by `node` (ROUTER_LOCAL: this node) for
 * its connection `asker`. */
void router_sm_resume_here(uint64_t node, uint64_t asker, const struct proto_sm_resume *q,
			   const char *user)
{
	struct keep_resumed r;
	uint64_t holder = node == ROUTER_LOCAL ? router_cluster_self() : node;
	int v = sm.leading ? router_keep_resume(sm.keep, q->id, user, q->user_len, q->h, holder,
						asker, ev_now(child_loop()), &r)
			   : -1;
	if (v == 1) {
		log_info("a client session of node %016" PRIx64 " is resumed on node %016" PRIx64
			 ": asked its node to hand it over",
			 r.holder, holder);
		sm_ask_holder(r.holder, r.holder_session);
		return;
	}
	if (v == -1 && sm.leading && sm_own_handover_ask(holder, asker, q, user))
		return;
	sm_answer(node, asker, q->id, v == 0 ? &r : NULL);
	sm_pump();
}

/* Frames */

/* A report to the keeper here about the session `session` of `node`
 * (`id`, `jid`: NULL when unknown here); the answer goes to `reply_to`
 * (0: the leader). */
static void sm_keeper_report(uint64_t node, uint64_t reply_to, uint64_t session, const char *id,
			     const char *jid, const struct relay_wire_msg *m)
{
	struct relay_wire_keep_count reply = {.session = session, .kind = PROTO_SM_KEEPER};
	const char *refused = NULL;
	enum keep_verdict v = KEEP_REFUSED;
	uint32_t handled = 0;
	if (id == NULL || jid == NULL) {
		refused = "a report on a session not kept";
	} else {
		switch (m->type) {
		case RELAY_WIRE_KEEP_OPEN:
			v = router_keep_open(sm.keep, node, id, jid, strlen(jid), session,
					     m->u.keep_open.max_seconds, m->u.keep_open.handled,
					     m->u.keep_open.acked, m->u.keep_open.sent, &refused);
			reply.value = 1;
			break;
		case RELAY_WIRE_KEEP_STANZA:
			v = router_keep_stanza(sm.keep, node, id, m->u.keep.value, m->data,
					       m->data_len, &refused);
			reply.kind = PROTO_SM_NUMBERED;
			reply.value = m->u.keep.value;
			break;
		case RELAY_WIRE_KEEP_ACKED:
			v = router_keep_acked(sm.keep, node, id, m->u.keep.value, &refused);
			break;
		case RELAY_WIRE_KEEP_HANDLED:
			v = router_keep_handled(sm.keep, node, id, m->u.keep.value, &handled,
						&refused);
			reply.kind = PROTO_SM_CONFIRMED;
			reply.value = handled;
			break;
		case RELAY_WIRE_KEEP_FRESH: {
			struct relay_key key = {m->u.keep_fresh.origin_node,
						m->u.keep_fresh.origin_epoch,
						m->u.keep_fresh.origin_seq};
			router_keep_delivered(sm.keep, node, jid, strlen(jid), key, m->data,
					      m->data_len);
			return;
		}
		default: /* KEEP_END */
			router_keep_end(sm.keep, node, id);
			sm_pump();
			return;
		}
	}
	if (v == KEEP_REFUSED) {
		log_debug("node %016" PRIx64 " session %" PRIu64 ": not kept: %s", node, session,
			  refused);
		reply = (struct relay_wire_keep_count){.session = session, .kind = PROTO_SM_KEEPER};
	}
	if (v == KEEP_REFUSED || m->type != RELAY_WIRE_KEEP_ACKED)
		router_cluster_keep_send(reply_to, RELAY_WIRE_KEEP_REPLY, &reply, sizeof(reply),
					 NULL, 0);
	sm_pump();
}

/* The holder: the keeper's answer about a session here. */
static void sm_keeper_replied(uint64_t from, const struct relay_wire_msg *m)
{
	struct rsession *s = router_session_by_ref((struct rref){ROUTER_LOCAL, m->u.keep.session});
	if (s == NULL || !s->sm_keeping || s->sm_keeper != from)
		return; /* ended meanwhile, or kept elsewhere now */
	if (m->u.keep.kind == PROTO_SM_KEEPER && m->u.keep.value == 0)
		s->sm_keeping = false;
	sm_tell(m->u.keep.session, m->u.keep.kind, m->u.keep.value);
}

/* The leader: a frame from the follower `node`. */
static int sm_leader_frame(uint64_t node, const struct relay_wire_msg *m, const char **why)
{
	switch (m->type) {
	case RELAY_WIRE_KEEP_RESUME: {
		struct proto_sm_resume q = {.h = m->u.keep_resume.h,
					    .user_len = m->u.keep_resume.user_len};
		memcpy(q.id, m->u.keep_resume.id, sizeof(q.id));
		router_sm_resume_here(node, m->u.keep_resume.asker, &q, m->data);
		return 0;
	}
	case RELAY_WIRE_KEEP_REPLY:
		sm_keeper_replied(node, m);
		return 0;
	case RELAY_WIRE_KEEP_ADOPT: {
		const struct relay_wire_keep_adopt *a = &m->u.keep_adopt;
		struct keep_waiting w = {.jid = m->data,
					 .jid_len = m->data_len,
					 .held = a->held != 0,
					 .lost = a->lost,
					 .remaining_ms = a->remaining_ms,
					 .max_seconds = a->max_seconds,
					 .priority = a->priority,
					 .available = a->available != 0,
					 .handled = a->handled,
					 .acked = a->acked,
					 .count = a->count};
		memcpy(w.id, a->id, sizeof(a->id));
		w.id[KEEP_ID_MAX] = '\0';
		sm.adopting_from = node;
		/* This node's own sessions (its link to the follower dropped, it
		 * did not die) are alive here: their listener opens them again. */
		if (w.lost == router_cluster_self()) {
			sm.adopting[0] = '\0';
			return 0;
		}
		const char *refused = NULL;
		if (router_keep_adopt(sm.keep, &w, ev_now(child_loop()), &refused) != KEEP_KEPT) {
			*why = refused;
			return -1;
		}
		snprintf(sm.adopting, sizeof(sm.adopting), "%s", w.id);
		sm_pump();
		return 0;
	}
	case RELAY_WIRE_KEEP_ADOPT_ITEM: {
		const struct relay_wire_keep_fresh *f = &m->u.keep_fresh;
		struct relay_key key = {f->origin_node, f->origin_epoch, f->origin_seq};
		const char *refused = NULL;
		if (sm.adopting_from == node && sm.adopting[0] == '\0')
			return 0; /* of a session alive here */
		if (sm.adopting_from != node ||
		    router_keep_adopt_item(sm.keep, sm.adopting, key, f->unsure != 0, m->data,
					   m->data_len, &refused) == KEEP_REFUSED) {
			*why = "a stanza of a session not handed over";
			return -1;
		}
		return 0;
	}
	case RELAY_WIRE_KEEP_GIVEN: {
		/* After its last report on the session: what the keeper has is
		 * what it had.  Its registration goes with it (UNREGISTER). */
		struct rsession *s = router_session_by_ref((struct rref){node, m->u.keep.session});
		if (s != NULL && s->sm_id != NULL) {
			char id[KEEP_ID_MAX + 1];
			snprintf(id, sizeof(id), "%s", s->sm_id);
			/* The asker's session is as available as this one was
			 * (bare-JID routing), as after a lost node (sm_take_over). */
			router_keep_presence(sm.keep, s->jid, strlen(s->jid), s->priority,
					     s->available);
			router_keep_given(sm.keep, node, id, m->u.keep.kind == 1, m->u.keep.value,
					  ev_now(child_loop()));
			sm_pump();
		}
		return 0;
	}
	case RELAY_WIRE_KEEP_OPEN:
	case RELAY_WIRE_KEEP_STANZA:
	case RELAY_WIRE_KEEP_ACKED:
	case RELAY_WIRE_KEEP_HANDLED:
	case RELAY_WIRE_KEEP_END: {
		uint64_t session =
		    m->type == RELAY_WIRE_KEEP_OPEN ? m->u.keep_open.session : m->u.keep.session;
		struct rsession *s = router_session_by_ref((struct rref){node, session});
		bool client = s != NULL && s->kind == PROTO_SESSION_CLIENT;
		const char *id = !client			   ? NULL
				 : m->type == RELAY_WIRE_KEEP_OPEN ? m->u.keep_open.id
								   : s->sm_id;
		sm_keeper_report(node, node, session, id, client ? s->jid : NULL, m);
		if (!client)
			return 0;
		if (m->type == RELAY_WIRE_KEEP_END) {
			free(s->sm_id);
			s->sm_id = NULL;
		} else if (m->type == RELAY_WIRE_KEEP_OPEN) {
			free(s->sm_id);
			s->sm_id = strdup(m->u.keep_open.id);
		}
		return 0;
	}
	default:
		*why = "a keeper's answer from a follower";
		return -1;
	}
}

/* A follower: a frame from the leader. */
static int sm_follower_frame(uint64_t node, const struct relay_wire_msg *m, const char **why)
{
	switch (m->type) {
	case RELAY_WIRE_KEEP_REPLY:
		sm_keeper_replied(0, m);
		return 0;
	case RELAY_WIRE_KEEP_RESUMED: {
		const struct relay_wire_keep_resumed *a = &m->u.keep_resumed;
		uint64_t *asked = table_remove(sm.resumes, &a->asker, sizeof(a->asker));
		if (asked == NULL) {
			*why = "an answer to a resumption nobody asked for";
			return -1;
		}
		free(asked);
		struct proto_sm_resumed r = {.ok = a->ok,
					     .handled = a->handled,
					     .sent = a->sent,
					     .count = a->count,
					     .max_seconds = a->max_seconds,
					     .priority = a->priority,
					     .available = a->available,
					     .jid_len = a->jid_len,
					     .remaining_ms = a->remaining_ms};
		sm_to_listener(PROTO_SM_RESUMED, a->asker, &r, sizeof(r), m->data, m->data_len);
		return 0;
	}
	case RELAY_WIRE_KEEP_ITEM:
		sm_to_listener(PROTO_SM_ITEM, m->u.keep.session, m->data, m->data_len, NULL, 0);
		return 0;
	case RELAY_WIRE_KEEP_GIVE_UP: {
		/* From now on the leader holds what comes for it: this node's
		 * own senders' stanzas go there too (router_route.c), not to a
		 * session the listener is giving up. */
		struct rsession *s =
		    router_session_by_ref((struct rref){ROUTER_LOCAL, m->u.keep.session});
		if (s != NULL)
			s->sm_given_up = true;
		sm_to_listener(PROTO_SM_GIVE_UP, m->u.keep.session, NULL, 0, NULL, 0);
		return 0;
	}
	case RELAY_WIRE_KEEP_OPEN: {
		/* The leader's session, kept here. */
		if (m->data_len == 0) {
			*why = "a session of the leader without its JID";
			return -1;
		}
		struct sm_of_leader *o = calloc(1, sizeof(*o));
		if (o == NULL || (o->jid = strndup(m->data, m->data_len)) == NULL)
			abort();
		snprintf(o->id, sizeof(o->id), "%s", m->u.keep_open.id);
		uint64_t session = m->u.keep_open.session;
		void *replaced = NULL;
		if (table_put(sm.of_leader, &session, sizeof(session), o, &replaced) == -1)
			abort();
		if (replaced != NULL)
			sm_of_leader_free(replaced, NULL);
		sm.up_leader = node;
		sm_keeper_report(node, 0, session, o->id, o->jid, m);
		return 0;
	}
	case RELAY_WIRE_KEEP_STANZA:
	case RELAY_WIRE_KEEP_ACKED:
	case RELAY_WIRE_KEEP_HANDLED:
	case RELAY_WIRE_KEEP_END:
	case RELAY_WIRE_KEEP_FRESH: {
		uint64_t session =
		    m->type == RELAY_WIRE_KEEP_FRESH ? m->u.keep_fresh.session : m->u.keep.session;
		struct sm_of_leader *o = table_get(sm.of_leader, &session, sizeof(session));
		sm_keeper_report(node, 0, session, o != NULL ? o->id : NULL,
				 o != NULL ? o->jid : NULL, m);
		if (o != NULL && m->type == RELAY_WIRE_KEEP_END) {
			table_remove(sm.of_leader, &session, sizeof(session));
			sm_of_leader_free(o, NULL);
		}
		return 0;
	}
	default:
		*why = "a frame for the leader from the leader";
		return -1;
	}
}

int router_sm_frame(uint64_t node, bool from_leader, const struct relay_wire_msg *m,
		    const char **why)
{
	if (from_leader)
		return sm_follower_frame(node, m, why);
	/* A follower links only to the node it believes leads, which may
	 * hear it from its elector a moment later: what is handed over to it
	 * is taken at once (it would be lost otherwise). */
	if (!sm.leading && m->type != RELAY_WIRE_KEEP_ADOPT &&
	    m->type != RELAY_WIRE_KEEP_ADOPT_ITEM) {
		*why = "a keeper's frame for a node that does not lead";
		return -1;
	}
	return sm_leader_frame(node, m, why);
}
