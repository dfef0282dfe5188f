/* SPDX-License-Identifier: MIT */
/*
 * The cluster's part of rxmppctl sessions and kick, in the router.  Each
 * node's listener knows its own sessions in full; only the leader's routing
 * table knows which node holds every other one, by JID.  So a node asks its
 * router (CTL_CLUSTER_SESSIONS, CTL_CLUSTER_KICK, relayed by the supervisor
 * with the client's token in the header) and the router
 *   - on the leader, answers from its table at once;
 *   - on a follower, asks the leader over its stanza link (RELAY_WIRE_QUERY)
 *     and passes the leader's RELAY_WIRE_ANSWER on, or answers NO_ANSWER
 *     after ADMIN_WAIT_MS, or NO_LEADER without a link to a leader.
 * The sessions of the asking node itself are left out (its listener lists
 * and kicks those), so nothing is listed or ended twice.  A kick reaches
 * a session's node as the relay's KICK (reason PROTO_KICK_ADMIN), which
 * its router hands to its listener.  An answer carries the node and the
 * JID of each session, bounded to PROTO_SESSIONS_BYTES_MAX; the rest of a
 * session's details stay on its node (rxmppctl sessions there).
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/child.h"
#include "common/jid.h"
#include "common/log.h"
#include "router.h"

/* How long a follower waits for the leader's answer. */
#define ADMIN_WAIT_MS 2000
/* Questions to the leader under way at once; more are answered NO_ANSWER. */
#define ADMIN_PENDING_MAX 16

static struct {
	struct ev_timer *timer;
	uint64_t next_id;
	struct {
		uint64_t id; /* 0: a free slot */
		uint64_t token;
		int64_t deadline;
	} pending[ADMIN_PENDING_MAX];
} admin;

struct admin_collect {
	uint64_t exclude; /* the asking node: its sessions are its own business */
	uint64_t self;
	const char *jid; /* kick: the JID; list: NULL */
	struct proto_cluster_sessions head;
	struct buf entries;
};

static bool admin_jid_matches(const struct rsession *s, const char *jid)
{
	return strcmp(s->jid, jid) == 0 || (strchr(jid, '/') == NULL && strcmp(s->bare, jid) == 0);
}

static void admin_collect_one(struct rsession *s, void *arg)
{
	struct admin_collect *c = arg;
	uint64_t node = s->ref.node == ROUTER_LOCAL ? c->self : s->ref.node;
	if (node == c->exclude)
		return;
	if (c->jid != NULL) {
		if (!admin_jid_matches(s, c->jid))
			return;
		c->head.total++;
		if (s->ref.node == ROUTER_LOCAL)
			router_kick(s->ref.session, PROTO_KICK_ADMIN);
		else
			router_cluster_kick(s, PROTO_KICK_ADMIN);
		return;
	}
	c->head.total++;
	struct proto_remote_session e = {
	    .node = node, .kind = s->kind, .jid_len = (uint32_t)strlen(s->jid)};
	if (sizeof(c->head) + buf_len(&c->entries) + sizeof(e) + e.jid_len >
	    PROTO_SESSIONS_BYTES_MAX)
		return; /* counted, not listed */
	if (buf_append(&c->entries, &e, sizeof(e)) == 0 &&
	    buf_append(&c->entries, s->jid, e.jid_len) == 0)
		c->head.count++;
}

/* The leader's answer for `exclude` (a list, or a kick of `jid`), handed
 * to `send` as the two parts of a CLUSTER_SESSIONS payload. */
static void admin_leader_answer(uint64_t exclude, const char *jid,
				void (*send)(const struct iovec *iov, void *arg), void *arg)
{
	struct admin_collect c = {.exclude = exclude, .jid = jid};
	router_cluster_identity(&c.self, &c.head.leader);
	c.head.self = c.self;
	c.head.state = PROTO_CLUSTER_SESSIONS_OK;
	buf_init(&c.entries, PROTO_SESSIONS_BYTES_MAX);
	router_sessions_each(admin_collect_one, &c);
	if (jid != NULL && c.head.total > 0)
		log_info("rxmppctl kick: told the nodes holding %u sessions of %s to end them",
			 c.head.total, jid);
	struct iovec iov[2] = {{&c.head, sizeof(c.head)},
			       {(void *)buf_head(&c.entries), buf_len(&c.entries)}};
	send(iov, arg);
	buf_free(&c.entries);
}

static void admin_to_supervisor(const struct iovec *iov, void *arg)
{
	const uint64_t *token = arg;
	child_send_supervisor_v(PROTO_CLUSTER_SESSIONS, *token, iov, 2);
}

/* An answer without entries: no cluster, no leader, or none in time. */
static void admin_answer_state(uint64_t token, uint32_t state)
{
	struct proto_cluster_sessions head = {.state = state};
	router_cluster_identity(&head.self, &head.leader);
	struct iovec iov[2] = {{&head, sizeof(head)}, {NULL, 0}};
	admin_to_supervisor(iov, &token);
}

static int64_t admin_tick(struct ev_timer *timer, void *arg)
{
	(void)timer, (void)arg;
	int64_t now = ev_now(child_loop());
	bool waiting = false;
	for (size_t i = 0; i < ADMIN_PENDING_MAX; i++) {
		if (admin.pending[i].id == 0)
			continue;
		if (now >= admin.pending[i].deadline) {
			admin.pending[i].id = 0;
			admin_answer_state(admin.pending[i].token,
					   PROTO_CLUSTER_SESSIONS_NO_ANSWER);
		} else {
			waiting = true;
		}
	}
	if (!waiting)
		admin.timer = NULL;
	return waiting ? 100 : EV_TIMER_DONE;
}

/* A question for the leader: asked over the stanza link, or answered now. */
static void admin_ask(uint64_t token, uint32_t op, const char *jid)
{
	if (!router_cluster_relaying()) {
		admin_answer_state(token, PROTO_CLUSTER_SESSIONS_OFF);
		return;
	}
	if (router_cluster_leading()) {
		admin_leader_answer(router_cluster_self(), jid, admin_to_supervisor, &token);
		return;
	}
	size_t slot = 0;
	while (slot < ADMIN_PENDING_MAX && admin.pending[slot].id != 0)
		slot++;
	struct relay_wire_query q = {.id = ++admin.next_id,
				     .op = op,
				     .reason = jid != NULL ? PROTO_KICK_ADMIN : 0,
				     .jid_len = jid != NULL ? (uint32_t)strlen(jid) : 0};
	if (slot == ADMIN_PENDING_MAX) {
		admin_answer_state(token, PROTO_CLUSTER_SESSIONS_NO_ANSWER);
		return;
	}
	if (router_cluster_query(&q, jid) == -1) {
		admin_answer_state(token, PROTO_CLUSTER_SESSIONS_NO_LEADER);
		return;
	}
	admin.pending[slot].id = q.id;
	admin.pending[slot].token = token;
	admin.pending[slot].deadline = ev_now(child_loop()) + ADMIN_WAIT_MS;
	if (admin.timer == NULL)
		admin.timer = ev_timer_add(child_loop(), 100, admin_tick, NULL);
}

bool router_admin_supervisor_message(const struct ipc_msg *msg)
{
	if (msg->fd != -1)
		return false;
	if (msg->type == PROTO_CTL_CLUSTER_SESSIONS) {
		if (msg->len != 0)
			return false;
		admin_ask(msg->peer, RELAY_QUERY_LIST, NULL);
		return true;
	}
	if (msg->type == PROTO_CTL_CLUSTER_KICK) {
		static struct proto_admin_kick kick;
		if (ipc_get_data(msg, &kick, sizeof(kick)) == -1 ||
		    proto_admin_kick_check(&kick) == -1 || kick.reason != PROTO_ADMIN_KICK_ADMIN)
			return false;
		admin_ask(msg->peer, RELAY_QUERY_KICK, kick.jid);
		return true;
	}
	return false;
}

struct admin_link_answer {
	uint64_t node;
	uint64_t id;
};

static void admin_to_link(const struct iovec *iov, void *arg)
{
	const struct admin_link_answer *a = arg;
	router_cluster_answer(a->node, a->id, iov);
}

void router_admin_query(uint64_t node, const struct relay_wire_query *q, const char *jid_bytes)
{
	char jid[JID_MAX];
	memcpy(jid, jid_bytes, q->jid_len);
	jid[q->jid_len] = '\0';
	struct admin_link_answer a = {.node = node, .id = q->id};
	if (!router_cluster_leading()) {
		/* It linked to us as the leader we no longer are: our table is
		 * not the cluster's. */
		struct proto_cluster_sessions head = {.state = PROTO_CLUSTER_SESSIONS_NO_LEADER};
		router_cluster_identity(&head.self, &head.leader);
		struct iovec iov[2] = {{&head, sizeof(head)}, {NULL, 0}};
		admin_to_link(iov, &a);
		return;
	}
	admin_leader_answer(node, q->op == RELAY_QUERY_KICK ? jid : NULL, admin_to_link, &a);
}

void router_admin_answer(uint64_t id, const char *data, size_t len)
{
	for (size_t i = 0; i < ADMIN_PENDING_MAX; i++) {
		if (admin.pending[i].id != id || id == 0)
			continue;
		admin.pending[i].id = 0;
		/* The leader said who it is; who asked is this node (the decoder
		 * checked the payload holds a head). */
		struct proto_cluster_sessions head;
		memcpy(&head, data, sizeof(head));
		uint64_t leader;
		router_cluster_identity(&head.self, &leader);
		struct iovec iov[2] = {{&head, sizeof(head)},
				       {(void *)(data + sizeof(head)), len - sizeof(head)}};
		child_send_supervisor_v(PROTO_CLUSTER_SESSIONS, admin.pending[i].token, iov, 2);
		return;
	}
	/* Late (after NO_ANSWER went out): nobody waits for it any more. */
	log_debug("an answer from the leader to question %llu, which nobody waits for",
		  (unsigned long long)id);
}
