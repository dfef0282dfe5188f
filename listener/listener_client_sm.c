/* SPDX-License-Identifier: MIT */
/*
 * XEP-0198 stream management and XEP-0352 client state indication for the
 * client sessions of the listener: the I/O around the pure state of
 * listener_sm.c and listener_csi.c.
 *
 * Every stanza written to a session goes through listener_client_sm_send:
 * held back while the client is inactive (CSI), then counted and kept
 * until the client acknowledges it.  An <r/> goes out once a quarter of
 * stream_management.max_unacked_stanzas or max_unacked_bytes waits (or
 * instead of a keepalive); past either limit the session ends with the
 * stream error policy-violation.  An `h` that acknowledges more than was
 * sent ends it with undefined-condition and <handled-count-too-high/>.
 *
 * When the connection of a resumable session is lost (not closed, not
 * ended by a stream error other than connection-timeout), the session is
 * detached: it stays bound at the router (no SESSION_DOWN), what is
 * delivered to it is kept in its queue (bounded by the same limits), and
 * for stream_management.resume_timeout a new connection of the same user
 * may take it over with <resume/>: it gets <resumed h/> and exactly the
 * stanzas it had not acknowledged.  A live connection of the session is
 * replaced (stream error conflict).  When the time runs out, the queue
 * overflows or the router kicks it, the session ends: SESSION_DOWN, then
 * every stanza not acknowledged is routed again as undeliverable (RFC 6121
 * 8.5.3.2: its sender gets the error), never dropped.  The same happens to
 * what a session that ends for good had not acknowledged or held back.
 *
 * In a cluster, another node keeps a copy of each resumable session (the
 * leader those of followers, a follower the leader's; router/router_keep.h
 * says how): this file reports to the
 * router the session (SM_OPEN), every stanza numbered for the client
 * (SM_STANZA) and every h of the client (SM_ACKED), and the client's
 * handled count with each of its stanzas (SM_STANZA_IN, listener_route.c,
 * or SM_HANDLED for one that is not routed).  Once the keeper has the
 * session, a stanza is written to the client only when the keeper has it,
 * and <a h/> never says more than the keeper counts: so a client whose
 * node dies resumes on another, which asks the leader (SM_RESUME) when it
 * does not know the id, and nothing is lost or sent twice either way.
 * A connection that goes before the leader's answer is in does not lose
 * the session the leader moved here: it waits here, detached, as after
 * any cut (sm_wait_here).
 * Without a keeper (one node, no link yet, a peer of protocol 3) the
 * session is this process's only.
 *
 * Detached sessions live in this process only: a listener that restarts
 * forgets them (the router drops its sessions), and its client resumes
 * from what the leader kept, if it kept it, or binds afresh.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/child.h"
#include "common/log.h"
#include "common/table.h"
#include "listener.h"

static const struct listener_sm_limits *sm_limits(void)
{
	static struct listener_sm_limits limits;
	limits.max_stanzas = listener_state.cfg.sm.max_unacked_stanzas;
	limits.max_bytes = listener_state.cfg.sm.max_unacked_bytes;
	return &limits;
}

int listener_client_sm_init(void)
{
	listener_state.sm_ids = table_new();
	listener_state.sm_detached = table_new();
	listener_state.sm_orphans = table_new();
	return listener_state.sm_ids != NULL && listener_state.sm_detached != NULL &&
		       listener_state.sm_orphans != NULL
		   ? 0
		   : -1;
}

void listener_client_sm_features(struct buf *features)
{
	static const char sm[] = "<sm xmlns='" XML_NS_SM "'/>";
	static const char csi[] = "<csi xmlns='" XML_NS_CSI "'/>";
	if (!listener_state.cfg.sm.enabled)
		return;
	buf_append(features, sm, sizeof(sm) - 1);
	buf_append(features, csi, sizeof(csi) - 1);
}

/* <failed/> with a stanza error condition (XEP-0198 section 3 and 5). */
static void sm_failed(struct conn *c, const char *condition)
{
	char out[256];
	snprintf(out, sizeof(out),
		 "<failed xmlns='" XML_NS_SM "'><%s xmlns='" XML_NS_STANZA_ERRORS "'/></failed>",
		 condition);
	listener_conn_send_str(c, out);
}

/* The router's id of the session (the connection's while it has one). */
static uint64_t sm_session_id(const struct sm_session *s)
{
	return s->conn != NULL ? s->conn->id : s->session;
}

static void sm_to_router(uint16_t type, uint64_t session, uint32_t value, const void *data,
			 size_t len)
{
	struct proto_sm_count c = {.value = value};
	struct iovec iov[2] = {{&c, sizeof(c)}, {(void *)data, len}};
	if (child_peer_connected(PROC_ROUTER))
		child_send_v(PROC_ROUTER, type, session, iov, 2);
}

/* The queue changes through these two only, so that the metric of what
 * all sessions keep (listener_state.counters.sm_unacked_bytes) stays exact. */
static enum listener_sm_verdict sm_keep(struct sm_session *s, const char *bytes, size_t len)
{
	size_t before = s->core.bytes;
	enum listener_sm_verdict v = listener_sm_sent(&s->core, sm_limits(), bytes, len);
	listener_state.counters.sm_unacked_bytes += s->core.bytes - before;
	/* Every stanza numbered goes to the keeper, which then has exactly
	 * the queue (past the limits the session ends, and the keeper with it). */
	if (s->keeping && (v == LISTENER_SM_FINE || v == LISTENER_SM_REQUEST))
		sm_to_router(PROTO_SM_STANZA, sm_session_id(s), s->core.sent, bytes, len);
	return v;
}

static int sm_take_ack(struct sm_session *s, uint32_t h)
{
	/* Not beyond what was written: the rest the client cannot have. */
	if ((uint32_t)(h - s->core.acked) > (uint32_t)(s->written - s->core.acked))
		return -1;
	size_t before = s->core.bytes;
	int r = listener_sm_acked(&s->core, h);
	listener_state.counters.sm_unacked_bytes -= before - s->core.bytes;
	if (r == 0 && s->keeping)
		sm_to_router(PROTO_SM_ACKED, sm_session_id(s), h, NULL, 0);
	return r;
}

/* The session to the router, for the leader to keep: its counters, then
 * every stanza not acknowledged.  The answer (SM_KEPT, KEEPER) says
 * whether it does. */
static void sm_open(struct sm_session *s)
{
	struct proto_sm_open open = {.max_seconds = s->core.max_seconds,
				     .handled = s->core.handled,
				     .acked = s->core.acked,
				     .sent = s->core.sent};
	snprintf(open.id, sizeof(open.id), "%s", s->core.id);
	uint64_t id = sm_session_id(s);
	if (!child_peer_connected(PROC_ROUTER) ||
	    child_send(PROC_ROUTER, PROTO_SM_OPEN, id, &open, sizeof(open), -1) == -1)
		return;
	s->keeping = true;
	s->kept = false;
	s->confirmed = s->core.handled;
	uint32_t number = s->core.acked;
	for (const struct listener_sm_item *item = s->core.head; item != NULL; item = item->next)
		sm_to_router(PROTO_SM_STANZA, id, ++number, item->bytes, item->len);
}

/* Writes what the keeper has and the client has not had, in order. */
static void sm_write_kept(struct sm_session *s)
{
	uint32_t upto = s->kept ? s->numbered : s->core.sent;
	struct conn *c = s->conn;
	if (c == NULL)
		return;
	/* The next to write follows the last written, or is the oldest when
	 * everything written was acknowledged (and that one let go). */
	struct listener_sm_item *item =
	    s->written == s->core.acked ? s->core.head : s->last_written->next;
	while (s->written != upto && item != NULL) {
		listener_conn_send(c, item->bytes, item->len);
		s->written++;
		s->last_written = item;
		item = item->next;
	}
	if (s->request_owed && s->written == s->core.sent) {
		listener_conn_send_str(c, "<r xmlns='" XML_NS_SM "'/>");
		listener_sm_requested(&s->core);
		s->request_owed = false;
	}
}

static void sm_session_free(struct sm_session *s)
{
	listener_state.counters.sm_unacked_bytes -= s->core.bytes;
	if (s->core.resumable)
		table_remove(listener_state.sm_ids, s->core.id, strlen(s->core.id));
	listener_sm_free(&s->core);
	ev_timer_del(s->expiry);
	free(s->user);
	free(s->jid);
	free(s);
}

/* Writes a stanza to the connection, counted and kept when SM is on. */
static void sm_write(struct conn *c, const char *bytes, size_t len)
{
	struct sm_session *s = c->sm;
	if (s == NULL) {
		listener_conn_send(c, bytes, len);
		return;
	}
	switch (sm_keep(s, bytes, len)) {
	case LISTENER_SM_FINE:
		sm_write_kept(s);
		return;
	case LISTENER_SM_REQUEST:
		s->request_owed = true;
		sm_write_kept(s);
		return;
	case LISTENER_SM_OVER: {
		/* Kept, not written: returned to its sender with the rest. */
		static struct log_limit over;
		log_warnx_limited(&over,
				  "%s: %s did not acknowledge %u stanzas (%zu bytes); "
				  "stream_management.max_unacked_stanzas %u, max_unacked_bytes %u",
				  c->peer, c->jid, s->core.count, s->core.bytes,
				  listener_state.cfg.sm.max_unacked_stanzas,
				  listener_state.cfg.sm.max_unacked_bytes);
		listener_conn_stream_error(c, "policy-violation",
					   "too many stanzas not acknowledged (XEP-0198)");
		return;
	}
	case LISTENER_SM_NO_MEMORY:
		sm_write_kept(s);
		listener_conn_send(c, bytes, len);
		listener_conn_stream_error(c, "resource-constraint",
					   "no memory to keep what was sent");
		return;
	}
}

static void csi_flush(struct conn *c)
{
	struct listener_csi_item *item;
	while ((item = listener_csi_take(&c->csi)) != NULL) {
		sm_write(c, item->bytes, item->len);
		free(item);
	}
}

void listener_client_sm_send(struct conn *c, const char *bytes, size_t len)
{
	if (c->csi.inactive) {
		enum listener_csi_verdict verdict = LISTENER_CSI_SEND;
		if (listener_csi_offer(&c->csi, listener_state.cfg.sm.csi_max_held, bytes, len,
				       &verdict) == -1)
			verdict = LISTENER_CSI_SEND; /* no memory to hold it: sent now */
		if (verdict == LISTENER_CSI_HELD)
			return;
		/* What waits goes first: the order of a sender's stanzas holds. */
		csi_flush(c);
		if (verdict == LISTENER_CSI_FLUSH)
			return;
	}
	sm_write(c, bytes, len);
}

void listener_client_sm_received(struct conn *c)
{
	if (c->sm != NULL) {
		listener_sm_handled(&c->sm->core);
		c->sm->counted = false;
	}
}

bool listener_client_sm_keepalive(struct conn *c)
{
	if (c->sm == NULL || c->sm->core.count == 0 || c->sm->core.requested ||
	    c->state != CONN_SESSION)
		return false;
	listener_conn_send_str(c, "<r xmlns='" XML_NS_SM "'/>");
	listener_sm_requested(&c->sm->core);
	return true;
}

/* <enable/>, after binding (XEP-0198 section 3). */
static void sm_enable(struct conn *c, const struct xml_node *element)
{
	if (c->state != CONN_SESSION || c->sm != NULL || !listener_state.cfg.sm.enabled) {
		sm_failed(c, "unexpected-request");
		return;
	}
	const char *resume = xml_attr_get(element, "resume");
	const char *wanted = xml_attr_get(element, "max");
	bool resumable = resume != NULL && (!strcmp(resume, "true") || !strcmp(resume, "1"));
	uint32_t max = listener_state.cfg.sm.resume_timeout_ms / 1000, asked;
	/* The client may ask for less time, never more. */
	if (wanted != NULL && listener_sm_parse_h(wanted, &asked) == 0 && asked > 0 && asked < max)
		max = asked;
	unsigned char random[LISTENER_SM_RANDOM_LEN];
	struct sm_session *s = calloc(1, sizeof(*s));
	if (s == NULL || RAND_bytes(random, sizeof(random)) != 1) {
		free(s);
		sm_failed(c, "internal-server-error");
		return;
	}
	listener_sm_init(&s->core, resumable, max, random);
	OPENSSL_cleanse(random, sizeof(random));
	if (resumable &&
	    table_put(listener_state.sm_ids, s->core.id, strlen(s->core.id), s, NULL) == -1) {
		free(s);
		sm_failed(c, "internal-server-error");
		return;
	}
	s->conn = c;
	s->session = c->id;
	c->sm = s;
	char out[256];
	if (resumable)
		snprintf(out, sizeof(out),
			 "<enabled xmlns='" XML_NS_SM "' id='%s' resume='true' max='%u'/>",
			 s->core.id, max);
	else
		snprintf(out, sizeof(out), "<enabled xmlns='" XML_NS_SM "'/>");
	listener_conn_send_str(c, out);
	log_debug("%s: stream management enabled for %s%s", c->peer, c->jid,
		  resumable ? " (resumable)" : "");
	if (resumable)
		sm_open(s);
}

/* An `h` of more than was sent: XEP-0198 section 4. */
static void sm_count_too_high(struct conn *c, const struct sm_session *s, uint32_t h)
{
	char app[160];
	snprintf(app, sizeof(app),
		 "<handled-count-too-high xmlns='" XML_NS_SM "' h='%u' send-count='%u'/>", h,
		 s->core.sent);
	char text[128];
	snprintf(text, sizeof(text), "acknowledged %u stanzas of %u sent", h, s->core.sent);
	listener_conn_stream_error_app(c, "undefined-condition", text, app);
}

static bool sm_read_h(struct conn *c, const struct xml_node *element, uint32_t *h)
{
	if (listener_sm_parse_h(xml_attr_get(element, "h"), h) == 0)
		return true;
	listener_conn_stream_error(c, "bad-format", "h must be a number from 0 to 4294967295");
	return false;
}

/* Moves a connection's index entry to `id`: the router knows the session
 * by the id of the connection that bound it. */
static int sm_rekey(struct conn *c, uint64_t id)
{
	listener_index_remove(&listener_state.index, c);
	c->id = id;
	return listener_index_add(&listener_state.index, c);
}

/* Takes a session away from its connection, which goes on closing without
 * ending it; what the connection held back is now merely unacknowledged.
 * `over`: how many of those went past stream_management.max_unacked_*
 * (queued, not reported to the keeper: the caller ends the session). */
static int sm_unhook(struct sm_session *s, unsigned *over)
{
	struct conn *old = s->conn;
	if (s->user == NULL && (listener_conn_set(&s->user, old->user) == -1 ||
				listener_conn_set(&s->jid, old->jid) == -1))
		return -1;
	struct listener_csi_item *item;
	while ((item = listener_csi_take(&old->csi)) != NULL) {
		enum listener_sm_verdict v = sm_keep(s, item->bytes, item->len);
		if (v == LISTENER_SM_NO_MEMORY)
			listener_route_undeliverable(item->bytes, item->len);
		else if (v == LISTENER_SM_OVER)
			(*over)++;
		free(item);
	}
	s->session = old->id;
	s->priority = old->priority;
	s->available = old->available;
	s->conn = NULL;
	old->sm = NULL;
	old->announced = false;
	return 0;
}

/* A session this listener does not know: the cluster's leader may have
 * kept it (its node died, or this listener restarted).  0 when asked. */
static int sm_ask(struct conn *c, const char *previd, uint32_t h)
{
	/* The keeper knows the session by its full JID: the user's bare one. */
	char bare[JID_MAX];
	int n = snprintf(bare, sizeof(bare), "%s@%s", c->user, listener_state.cfg.domain);
	if (n < 0 || (size_t)n >= sizeof(bare))
		return -1;
	struct proto_sm_resume q = {.h = h, .user_len = (uint32_t)n};
	snprintf(q.id, sizeof(q.id), "%s", previd);
	struct iovec iov[2] = {{&q, sizeof(q)}, {bare, q.user_len}};
	if (!child_peer_connected(PROC_ROUTER) ||
	    child_send_v(PROC_ROUTER, PROTO_SM_RESUME, c->id, iov, 2) == -1)
		return -1;
	c->sm_asked = c->sm_answer_due = true;
	snprintf(c->sm_previd, sizeof(c->sm_previd), "%s", previd);
	c->sm_h = h;
	return 0;
}

/* <resume/>, after authentication and before binding (XEP-0198 section 5). */
static void sm_resume(struct conn *c, const struct xml_node *element)
{
	const char *previd = xml_attr_get(element, "previd");
	uint32_t h;
	if (c->state != CONN_BIND || !listener_state.cfg.sm.enabled || c->sm_asked) {
		sm_failed(c, "unexpected-request");
		return;
	}
	if (!sm_read_h(c, element, &h))
		return;
	struct sm_session *s = previd != NULL && strlen(previd) == LISTENER_SM_ID_LEN
				   ? table_get(listener_state.sm_ids, previd, strlen(previd))
				   : NULL;
	if (s == NULL && previd != NULL && strlen(previd) == LISTENER_SM_ID_LEN && !c->sm_asked &&
	    sm_ask(c, previd, h) == 0)
		return; /* the leader may have kept it: the answer decides */
	const char *owner = s == NULL ? NULL : s->conn != NULL ? s->conn->user : s->user;
	/* Only its own user resumes a session; to anyone else it does not exist. */
	if (s == NULL || owner == NULL || strcmp(owner, c->user) != 0) {
		static struct log_limit unknown;
		log_warnx_limited(&unknown, "%s: %s asked to resume an unknown or expired session",
				  c->peer, c->user);
		sm_failed(c, "item-not-found");
		return;
	}
	if (sm_take_ack(s, h) == -1) {
		sm_count_too_high(c, s, h);
		return;
	}
	struct conn *old = s->conn;
	if (old != NULL) {
		/* Its server side had not noticed the connection was gone.  What
		 * went past the limits stays queued, replayed here with the rest. */
		unsigned over = 0;
		if (sm_unhook(s, &over) == -1 || sm_rekey(old, ++listener_state.next_id) == -1) {
			sm_failed(c, "internal-server-error");
			return;
		}
		listener_conn_end_reason(old, "resumed on another connection");
		listener_conn_stream_error(old, "conflict", "the session was resumed elsewhere");
	} else {
		table_remove(listener_state.sm_detached, &s->session, sizeof(s->session));
		listener_index_release(&listener_state.index, s->user);
		ev_timer_del(s->expiry);
		s->expiry = NULL;
	}
	if (sm_rekey(c, s->session) == -1 || listener_conn_set(&c->jid, s->jid) == -1 ||
	    listener_index_count_session(&listener_state.index, c) == -1) {
		/* It cannot go on here: its senders hear of what it had. */
		listener_route_session_down_id(s->session);
		struct listener_sm_item *item;
		for (item = s->core.head; item != NULL; item = item->next)
			listener_route_undeliverable(item->bytes, item->len);
		sm_session_free(s);
		listener_conn_stream_error(c, "internal-server-error", "out of memory");
		return;
	}
	c->sm = s;
	s->conn = c;
	c->announced = true;
	c->priority = s->priority;
	c->available = s->available;
	c->state = CONN_SESSION;
	free(s->user);
	free(s->jid);
	s->user = s->jid = NULL;
	char out[256];
	uint32_t handled = s->kept ? s->confirmed : s->core.handled;
	s->ack_owed = handled != s->core.handled;
	snprintf(out, sizeof(out), "<resumed xmlns='" XML_NS_SM "' previd='%s' h='%u'/>",
		 s->core.id, handled);
	listener_conn_send_str(c, out);
	/* Exactly what it has not acknowledged, in order, already counted
	 * (what the keeper does not have yet follows once it has). */
	s->written = s->core.acked;
	s->last_written = NULL;
	sm_write_kept(s);
	listener_conn_session_started(c);
	listener_state.counters.sm_resumptions++;
	log_info("%s: resumed client session %s: %u stanzas sent again", c->peer, c->jid,
		 s->core.count);
}

static void sm_ack(struct conn *c, const struct xml_node *element)
{
	uint32_t h;
	if (c->sm == NULL) {
		sm_failed(c, "unexpected-request");
		return;
	}
	if (!sm_read_h(c, element, &h))
		return;
	if (sm_take_ack(c->sm, h) == -1)
		sm_count_too_high(c, c->sm, h);
}

static void sm_request(struct conn *c)
{
	if (c->sm == NULL) {
		sm_failed(c, "unexpected-request");
		return;
	}
	struct sm_session *s = c->sm;
	/* Kept: no more than the keeper counts; the rest when it does. */
	uint32_t h = s->kept ? s->confirmed : s->core.handled;
	s->ack_owed = h != s->core.handled;
	char out[64];
	snprintf(out, sizeof(out), "<a xmlns='" XML_NS_SM "' h='%u'/>", h);
	listener_conn_send_str(c, out);
}

bool listener_client_sm_element(struct conn *c, struct xml_node *element)
{
	if (strcmp(element->ns, XML_NS_CSI) == 0 && c->state == CONN_SESSION) {
		if (strcmp(element->name, "inactive") == 0) {
			c->csi.inactive = true;
			return true;
		}
		if (strcmp(element->name, "active") == 0) {
			c->csi.inactive = false;
			csi_flush(c);
			return true;
		}
		return false;
	}
	if (strcmp(element->ns, XML_NS_SM) != 0)
		return false;
	if (strcmp(element->name, "enable") == 0)
		sm_enable(c, element);
	else if (strcmp(element->name, "resume") == 0)
		sm_resume(c, element);
	else if (strcmp(element->name, "a") == 0)
		sm_ack(c, element);
	else if (strcmp(element->name, "r") == 0)
		sm_request(c);
	else
		return false;
	return true;
}

/* The end of a session that had unacknowledged or held-back stanzas: its
 * router entry is gone already, so each is routed back to its sender. */
static unsigned sm_return_all(struct listener_sm *core, struct listener_csi *csi)
{
	unsigned n = 0;
	if (core != NULL) {
		for (const struct listener_sm_item *item = core->head; item != NULL;
		     item = item->next, n++)
			listener_route_undeliverable(item->bytes, item->len);
	}
	struct listener_csi_item *item;
	while (csi != NULL && (item = listener_csi_take(csi)) != NULL) {
		listener_route_undeliverable(item->bytes, item->len);
		free(item);
		n++;
	}
	return n;
}

static void sm_detached_end(struct sm_session *s, const char *why)
{
	table_remove(listener_state.sm_detached, &s->session, sizeof(s->session));
	listener_index_release(&listener_state.index, s->user);
	listener_route_session_down_id(s->session);
	unsigned n = sm_return_all(&s->core, NULL);
	log_info("client session %s ended without its connection: %s; %u stanzas returned to "
		 "their senders",
		 s->jid, why, n);
	sm_session_free(s);
}

static int64_t sm_expired(struct ev_timer *timer, void *arg)
{
	struct sm_session *s = arg;
	(void)timer;
	s->expiry = NULL; /* the loop deletes it */
	char why[96];
	snprintf(why, sizeof(why), "not resumed within %u s", s->core.max_seconds);
	sm_detached_end(s, why);
	return EV_TIMER_DONE;
}

bool listener_client_sm_detach(struct conn *c)
{
	struct sm_session *s = c->sm;
	if (s == NULL || !s->core.resumable || c->sm_final)
		return false;
	if (table_put(listener_state.sm_detached, &c->id, sizeof(c->id), s, NULL) == -1)
		return false;
	/* It still counts against max_sessions and max_resources_per_user. */
	if (listener_index_hold(&listener_state.index, c->user) == -1) {
		table_remove(listener_state.sm_detached, &c->id, sizeof(c->id));
		return false;
	}
	s->expiry =
	    ev_timer_add(listener_state.loop, (int64_t)s->core.max_seconds * 1000, sm_expired, s);
	unsigned over = 0;
	if (s->expiry == NULL || sm_unhook(s, &over) == -1) {
		listener_index_release(&listener_state.index, c->user);
		table_remove(listener_state.sm_detached, &c->id, sizeof(c->id));
		ev_timer_del(s->expiry);
		s->expiry = NULL;
		return false;
	}
	s->expires_at = ev_now(listener_state.loop) + (int64_t)s->core.max_seconds * 1000;
	log_info("client session %s keeps its place for %u s, for a resumption (%u stanzas not "
		 "acknowledged)",
		 s->jid, s->core.max_seconds, s->core.count);
	/* What CSI held back went past the limits (not reported to the
	 * keeper, which would refuse the next report out of turn): it ends
	 * here, everything returned to its senders. */
	if (over > 0 || s->core.count > listener_state.cfg.sm.max_unacked_stanzas ||
	    s->core.bytes > listener_state.cfg.sm.max_unacked_bytes)
		sm_detached_end(s, "too much held for it");
	return true;
}

/* The connection `c` that asked goes (or is going) before the answer is
 * in: the answer is taken for it (sm_answer, SM_ITEM). */
static void sm_orphan_ask(struct conn *c)
{
	c->sm_answer_due = false;
	struct sm_session *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return; /* the answer finds nobody: as before, the keeper holds it */
	listener_sm_resumed(&o->core, c->sm_previd, 0, 0, c->sm_h);
	o->core.resumable = false;
	o->session = c->id;
	o->answer_due = true;
	if (table_put(listener_state.sm_orphans, &o->session, sizeof(o->session), o, NULL) == -1)
		sm_session_free(o);
}

void listener_client_sm_end(struct conn *c)
{
	/* A resumption asked and not yet answered, or being received: its
	 * session waits here once it is all in (sm_wait_here). */
	if (c->sm_answer_due)
		sm_orphan_ask(c);
	struct sm_session *o = c->sm_resuming;
	c->sm_resuming = NULL;
	if (o != NULL) {
		o->session = c->id;
		if (table_put(listener_state.sm_orphans, &o->session, sizeof(o->session), o,
			      NULL) == -1) {
			listener_route_session_down_id(o->session);
			sm_return_all(&o->core, NULL);
			sm_session_free(o);
		}
	}
	struct sm_session *s = c->sm;
	unsigned n = sm_return_all(s != NULL ? &s->core : NULL, &c->csi);
	if (n > 0)
		log_info("%s: %u stanzas %s returned to their senders", c->peer, n,
			 s != NULL ? "not acknowledged or held back" : "held back");
	if (s != NULL) {
		c->sm = NULL;
		sm_session_free(s);
	}
}

bool listener_client_sm_deliver_detached(uint64_t session, const char *bytes, size_t len)
{
	struct sm_session *s = table_get(listener_state.sm_detached, &session, sizeof(session));
	if (s == NULL)
		return false;
	enum listener_sm_verdict v = sm_keep(s, bytes, len);
	if (v == LISTENER_SM_OVER || v == LISTENER_SM_NO_MEMORY)
		sm_detached_end(s, "too much held for it");
	/* Not kept: after SESSION_DOWN, its sender hears of it too. */
	if (v == LISTENER_SM_NO_MEMORY)
		listener_route_undeliverable(bytes, len);
	return true;
}

bool listener_client_sm_keep(struct conn *c, const char *bytes, size_t len)
{
	struct sm_session *s = c->sm;
	if (s == NULL || !s->core.resumable || c->sm_final)
		return false;
	enum listener_sm_verdict v = sm_keep(s, bytes, len);
	if (v == LISTENER_SM_NO_MEMORY)
		return false;
	/* Past the limits it will not be resumed: it ends, and returns it all. */
	if (v == LISTENER_SM_OVER)
		c->sm_final = true;
	return true;
}

bool listener_client_sm_kick_detached(uint64_t session)
{
	struct sm_session *s = table_get(listener_state.sm_detached, &session, sizeof(session));
	if (s == NULL)
		return false;
	sm_detached_end(s, "replaced or kicked");
	return true;
}

static void sm_collect(void *value, void *arg)
{
	struct sm_session ***next = arg;
	*(*next)++ = value;
}

/* Their answers or items will not come now. */
static void sm_end_orphans(void)
{
	size_t n = listener_state.sm_orphans != NULL ? table_count(listener_state.sm_orphans) : 0;
	if (n == 0)
		return;
	struct sm_session **all = calloc(n, sizeof(*all)), **next = all;
	if (all == NULL)
		return;
	table_each(listener_state.sm_orphans, sm_collect, &next);
	for (size_t i = 0; i < n; i++) {
		table_remove(listener_state.sm_orphans, &all[i]->session, sizeof(all[i]->session));
		if (!all[i]->answer_due) {
			listener_route_session_down_id(all[i]->session);
			sm_return_all(&all[i]->core, NULL);
		}
		sm_session_free(all[i]);
	}
	free(all);
}

void listener_client_sm_end_detached(const char *why)
{
	sm_end_orphans();
	size_t n = listener_state.sm_detached != NULL ? table_count(listener_state.sm_detached) : 0;
	if (n == 0)
		return;
	/* Collected first: ending one changes the table. */
	struct sm_session **all = calloc(n, sizeof(*all)), **next = all;
	if (all == NULL)
		return; /* they end when their time runs out */
	table_each(listener_state.sm_detached, sm_collect, &next);
	for (size_t i = 0; i < n; i++)
		sm_detached_end(all[i], why);
	free(all);
}

static void sm_announce(void *value, void *arg)
{
	struct sm_session *s = value;
	(void)arg;
	listener_route_session_up_id(s->session, s->jid);
	if (s->available)
		listener_route_presence_id(s->session, s->priority, true);
}

void listener_client_sm_announce_detached(void)
{
	if (listener_state.sm_detached != NULL)
		table_each(listener_state.sm_detached, sm_announce, NULL);
}

/* Stream management across nodes: the router's messages */

static void sm_kept(struct sm_session *s, const struct proto_sm_count *k)
{
	switch (k->kind) {
	case PROTO_SM_KEEPER:
		s->kept = k->value != 0 && s->keeping;
		if (k->value == 0) {
			/* Nobody keeps it now: nothing waits for a keeper. */
			s->keeping = false;
			sm_write_kept(s);
		}
		break;
	case PROTO_SM_NUMBERED:
		if (s->keeping && (uint32_t)(k->value - s->numbered) < UINT32_C(1) << 31) {
			s->numbered = k->value;
			sm_write_kept(s);
		}
		return;
	default:
		if (s->keeping)
			s->confirmed = k->value;
		break;
	}
	if (s->ack_owed && s->conn != NULL) {
		uint32_t h = s->kept ? s->confirmed : s->core.handled;
		char out[64];
		snprintf(out, sizeof(out), "<a xmlns='" XML_NS_SM "' h='%u'/>", h);
		listener_conn_send_str(s->conn, out);
		s->ack_owed = h != s->core.handled;
	}
}

static void sm_reopen(void *value, void *arg)
{
	(void)arg;
	sm_open(value);
}

/* A new leader keeps nothing yet: every resumable session to it again. */
static void sm_rekeep(void)
{
	for (struct conn *c = listener_state.conns; c != NULL; c = c->next)
		if (c->sm != NULL && c->sm->core.resumable && !c->sm_final && c->announced)
			sm_open(c->sm);
	table_each(listener_state.sm_detached, sm_reopen, NULL);
}

/* The rebuilt session goes on here: what the client had not acknowledged,
 * and from now on this node holds it and the leader keeps it. */
static void sm_resumed_here(struct conn *c)
{
	struct sm_session *s = c->sm_resuming;
	c->sm_resuming = NULL;
	if (s->core.sent != s->expected_sent || listener_conn_set(&c->jid, s->jid) == -1 ||
	    listener_index_count_session(&listener_state.index, c) == -1) {
		for (struct listener_sm_item *item = s->core.head; item != NULL; item = item->next)
			listener_route_undeliverable(item->bytes, item->len);
		sm_session_free(s);
		listener_conn_stream_error(c, "internal-server-error",
					   "the session could not be taken over");
		return;
	}
	if (table_put(listener_state.sm_ids, s->core.id, strlen(s->core.id), s, NULL) == -1)
		s->core.resumable = false; /* resumed, but not again */
	c->sm = s;
	s->conn = c;
	s->session = c->id;
	c->priority = s->priority;
	c->available = s->available;
	c->state = CONN_SESSION;
	free(s->jid);
	s->jid = NULL;
	char out[256];
	snprintf(out, sizeof(out), "<resumed xmlns='" XML_NS_SM "' previd='%s' h='%u'/>",
		 s->core.id, s->core.handled);
	listener_conn_send_str(c, out);
	/* The keeper has every one of them. */
	s->kept = s->keeping = true;
	s->numbered = s->core.sent;
	s->confirmed = s->core.handled;
	s->written = s->core.acked;
	s->last_written = NULL;
	sm_write_kept(s);
	listener_route_session_up(c);
	if (c->available)
		listener_route_presence_id(c->id, c->priority, true);
	sm_open(s);
	listener_conn_session_started(c);
	listener_state.counters.sm_resumptions++;
	log_info("%s: resumed client session %s from what the cluster kept: %u stanzas sent "
		 "again",
		 c->peer, c->jid, s->core.count);
}

/* A session the leader moved to this node for a connection that went
 * before the answer was in waits here, detached, as if that connection
 * had been cut right after <resumed/>: resumable again (here; or wherever
 * the keeper is asked once this node is lost), what the keeper had for it
 * still kept, and returned to its senders with the error when its time
 * runs out.  Dropping it instead would leave the keeper's record held by
 * this node with nobody holding it: item-not-found for every resumption,
 * and its stanzas neither delivered nor returned. */
static void sm_wait_here(struct sm_session *s)
{
	uint64_t session = s->session;
	const char *at = strchr(s->jid, '@');
	bool free_id = table_get(listener_state.sm_ids, s->core.id, strlen(s->core.id)) == NULL;
	s->core.resumable = false; /* not in sm_ids (yet): sm_session_free leaves it */
	if (s->core.sent != s->expected_sent || at == NULL || !free_id ||
	    (s->user = strndup(s->jid, (size_t)(at - s->jid))) == NULL ||
	    table_put(listener_state.sm_ids, s->core.id, strlen(s->core.id), s, NULL) == -1) {
		listener_route_session_down_id(session);
		unsigned n = sm_return_all(&s->core, NULL);
		log_warnx("client session %s could not wait for a resumption here: %u stanzas "
			  "returned to their senders",
			  s->jid, n);
		sm_session_free(s);
		return;
	}
	s->core.resumable = true;
	if (table_put(listener_state.sm_detached, &session, sizeof(session), s, NULL) == -1) {
		listener_route_session_down_id(session);
		sm_return_all(&s->core, NULL);
		sm_session_free(s);
		return;
	}
	if (listener_index_hold(&listener_state.index, s->user) == -1) {
		table_remove(listener_state.sm_detached, &session, sizeof(session));
		listener_route_session_down_id(session);
		sm_return_all(&s->core, NULL);
		sm_session_free(s);
		return;
	}
	/* What was left of its wait when it was asked for, not a whole
	 * window again: asking and going cannot stretch it. */
	int64_t wait_ms = s->remaining_ms > 0 ? s->remaining_ms : 1;
	s->expiry = ev_timer_add(listener_state.loop, wait_ms, sm_expired, s);
	if (s->expiry == NULL) {
		sm_detached_end(s, "out of memory");
		return;
	}
	s->expires_at = ev_now(listener_state.loop) + wait_ms;
	/* The keeper has every one of them (as for a resumption here). */
	s->kept = s->keeping = true;
	s->numbered = s->core.sent;
	s->confirmed = s->core.handled;
	s->written = s->core.acked;
	s->last_written = NULL;
	listener_route_session_up_id(session, s->jid);
	if (s->available)
		listener_route_presence_id(session, s->priority, true);
	sm_open(s);
	log_info("client session %s was resumed from what the cluster kept for a connection that "
		 "went before the answer: it waits here for the %lld ms left of its %u s (%u "
		 "stanzas not acknowledged)",
		 s->jid, (long long)wait_ms, s->core.max_seconds, s->core.count);
}

/* The orphan `o` (sm_orphans) has had its answer and every item. */
static void sm_orphan_done(struct sm_session *o)
{
	table_remove(listener_state.sm_orphans, &o->session, sizeof(o->session));
	sm_wait_here(o);
}

/* The answer to a resumption asked by a connection that went. */
static void sm_orphan_answer(uint64_t asker, const struct proto_sm_resumed *r, const char *jid)
{
	struct sm_session *o = table_get(listener_state.sm_orphans, &asker, sizeof(asker));
	if (o == NULL || !o->answer_due) {
		/* Nobody to give it to (out of memory when it went). */
		if (r->ok && r->count == 0 && child_peer_connected(PROC_ROUTER))
			listener_route_session_down_id(asker);
		return;
	}
	if (!r->ok) {
		table_remove(listener_state.sm_orphans, &asker, sizeof(asker));
		sm_session_free(o);
		return;
	}
	char id[LISTENER_SM_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", o->core.id);
	uint32_t h = o->core.acked;
	listener_sm_resumed(&o->core, id, r->max_seconds, r->handled, h);
	o->answer_due = false;
	o->priority = r->priority;
	o->available = r->available != 0;
	o->items_left = r->count;
	o->expected_sent = r->sent;
	o->remaining_ms = r->remaining_ms;
	if ((o->jid = strndup(jid, r->jid_len)) == NULL) {
		/* It cannot wait here: the keeper's record stays held by this
		 * node until it is lost (then it waits there and expires). */
		table_remove(listener_state.sm_orphans, &asker, sizeof(asker));
		sm_session_free(o);
		listener_route_session_down_id(asker);
		return;
	}
	if (r->count == 0)
		sm_orphan_done(o);
}

/* The leader's answer to a resumption asked (SM_RESUMED). */
static bool sm_answer(struct conn *c, const struct ipc_msg *msg)
{
	struct proto_sm_resumed r;
	if (msg->len < sizeof(r))
		return false;
	memcpy(&r, msg->data, sizeof(r));
	const char *jid = (const char *)msg->data + sizeof(r);
	if (r.ok > 1 || msg->len != sizeof(r) + r.jid_len || (r.ok && r.jid_len == 0) ||
	    r.reserved != 0)
		return false;
	if (c != NULL && c->state == CONN_CLOSING && c->sm_answer_due)
		sm_orphan_ask(c);
	if (c == NULL || c->state == CONN_CLOSING) {
		sm_orphan_answer(msg->peer, &r, jid);
		return true;
	}
	c->sm_answer_due = false;
	if (!c->sm_asked || c->sm_resuming != NULL || c->state != CONN_BIND) {
		/* It went meanwhile: the session it was given cannot go on. */
		if (r.ok && r.count == 0 && child_peer_connected(PROC_ROUTER))
			listener_route_session_down_id(msg->peer);
		return true;
	}
	if (!r.ok) {
		static struct log_limit unknown;
		log_warnx_limited(&unknown, "%s: %s asked to resume an unknown or expired session",
				  c->peer, c->user);
		sm_failed(c, "item-not-found");
		return true;
	}
	struct sm_session *s = calloc(1, sizeof(*s));
	if (s == NULL || (s->jid = strndup(jid, r.jid_len)) == NULL) {
		free(s);
		listener_conn_stream_error(c, "internal-server-error", "out of memory");
		return true;
	}
	listener_sm_resumed(&s->core, c->sm_previd, r.max_seconds, r.handled, c->sm_h);
	s->priority = r.priority;
	s->available = r.available != 0;
	s->items_left = r.count;
	s->expected_sent = r.sent;
	c->sm_resuming = s;
	if (r.count == 0)
		sm_resumed_here(c);
	return true;
}

/* The keeper asks for the session `session` of this node, which its client
 * resumes on another node (router/router_keep.h, the handover): it ends
 * here without returning anything.  The keeper has every stanza numbered
 * for it, reported before this answer on the same channel, and the new
 * node replays what the client has not acknowledged.  A live connection
 * of it gets the stream error conflict (XEP-0198 section 5: the newer
 * resumption wins).  None to give (not kept, ending for good, being taken
 * over here): the answer says so, and the asker gets item-not-found.
 * `here`: this node leads and the session is its own, kept by a follower;
 * it is reported to the router first (SM_OPEN and its queue), whose
 * keeper core then has it. */
static void sm_give_up(struct conn *c, uint64_t session, bool here)
{
	struct sm_session *s = c != NULL ? c->sm : NULL;
	if (s == NULL)
		s = table_get(listener_state.sm_detached, &session, sizeof(session));
	struct proto_sm_count a = {.kind = 0};
	if (s == NULL || !s->core.resumable || sm_session_id(s) != session ||
	    (s->conn != NULL && s->conn->sm_final) || (here ? false : !s->keeping)) {
		sm_to_router(PROTO_SM_GIVEN, session, 0, NULL, 0);
		return;
	}
	if (here)
		sm_open(s);
	int64_t now = ev_now(listener_state.loop);
	uint32_t left;
	if (s->conn != NULL) {
		struct conn *old = s->conn;
		/* What it held back (CSI) is numbered and reported first. */
		unsigned over = 0;
		if (sm_unhook(s, &over) == -1 || sm_rekey(old, ++listener_state.next_id) == -1) {
			sm_to_router(PROTO_SM_GIVEN, session, 0, NULL, 0);
			return;
		}
		if (over > 0) {
			/* Past the limits with what CSI held back: the keeper lacks
			 * those, so the session cannot go whole.  None to give (the
			 * asker gets item-not-found); it ends here as a client that
			 * does not acknowledge does (sm_write), everything returned
			 * to its senders. */
			sm_to_router(PROTO_SM_GIVEN, session, 0, NULL, 0);
			listener_conn_end_reason(old, "too many stanzas not acknowledged");
			listener_conn_stream_error(old, "policy-violation",
						   "too many stanzas not acknowledged (XEP-0198)");
			listener_route_session_down_id(s->session);
			unsigned n = sm_return_all(&s->core, NULL);
			log_info(
			    "client session %s not handed over: %u stanzas held back (CSI) went "
			    "past stream_management.max_unacked_*; %u stanzas returned to their "
			    "senders",
			    s->jid, over, n);
			sm_session_free(s);
			return;
		}
		listener_conn_end_reason(old, "resumed on another node");
		listener_conn_stream_error(old, "conflict",
					   "the session was resumed on another node");
		left = s->core.max_seconds * 1000;
	} else {
		table_remove(listener_state.sm_detached, &s->session, sizeof(s->session));
		listener_index_release(&listener_state.index, s->user);
		int64_t rest = s->expires_at - now;
		left = rest <= 0 ? 0 : rest >= UINT32_MAX ? UINT32_MAX : (uint32_t)rest;
	}
	a.kind = 1;
	a.value = left;
	struct iovec iov = {&a, sizeof(a)};
	if (child_peer_connected(PROC_ROUTER))
		child_send_v(PROC_ROUTER, PROTO_SM_GIVEN, session, &iov, 1);
	log_info("client session %s handed over to the node it resumes on (%u stanzas not "
		 "acknowledged go with it)",
		 s->jid, s->core.count);
	sm_session_free(s);
}

bool listener_client_sm_message(const struct ipc_msg *msg)
{
	struct conn *c = msg->type == PROTO_SM_REKEEP || msg->type == PROTO_SM_RETURN
			     ? NULL
			     : listener_index_find(&listener_state.index, msg->peer);
	switch (msg->type) {
	case PROTO_SM_KEPT: {
		struct proto_sm_count k;
		if (ipc_get_data(msg, &k, sizeof(k)) == -1 || k.kind >= PROTO_SM_KEPT_END)
			return false;
		struct sm_session *s = c != NULL ? c->sm : NULL;
		if (s == NULL)
			s = table_get(listener_state.sm_detached, &msg->peer, sizeof(msg->peer));
		if (s != NULL)
			sm_kept(s, &k);
		return true;
	}
	case PROTO_SM_REKEEP:
		sm_rekeep();
		return true;
	case PROTO_SM_RESUMED:
		return sm_answer(c, msg);
	case PROTO_SM_ITEM: {
		struct sm_session *s = c != NULL ? c->sm_resuming : NULL;
		bool orphan = s == NULL;
		if (orphan)
			s = table_get(listener_state.sm_orphans, &msg->peer, sizeof(msg->peer));
		if (s == NULL || s->answer_due || s->items_left == 0)
			return true; /* nobody to give it to (out of memory when it went) */
		enum listener_sm_verdict v = sm_keep(s, msg->data, msg->len);
		if (v == LISTENER_SM_NO_MEMORY)
			listener_route_undeliverable(msg->data, msg->len);
		if (--s->items_left == 0) {
			if (orphan)
				sm_orphan_done(s);
			else
				sm_resumed_here(c);
		}
		return true;
	}
	case PROTO_SM_RETURN:
		listener_route_undeliverable(msg->data, msg->len);
		return true;
	case PROTO_SM_GIVE_UP: {
		/* Empty, or kind 1: report it to the router first. */
		struct proto_sm_count k = {0};
		if ((msg->len != 0 && ipc_get_data(msg, &k, sizeof(k)) == -1) || k.kind > 1 ||
		    k.value != 0)
			return false;
		sm_give_up(c, msg->peer, k.kind == 1);
		return true;
	}
	default:
		return false;
	}
}

void listener_client_sm_after_stanza(struct conn *c)
{
	struct sm_session *s = c->sm;
	if (s != NULL && s->keeping && !s->counted)
		sm_to_router(PROTO_SM_HANDLED, c->id, s->core.handled, NULL, 0);
}

const uint32_t *listener_client_sm_count(struct conn *c)
{
	struct sm_session *s = c->sm;
	if (s == NULL || !s->keeping)
		return NULL;
	s->counted = true;
	return &s->core.handled;
}
