/* SPDX-License-Identifier: MIT */
/*
 * The session keeper core (router_keep.h says the protocol): the kept
 * copy of other nodes' resumable sessions, their waiting after the holder
 * is lost, resumption and expiry, with no I/O.  Runs in the router; the
 * unit tests drive it together with the listener's stream-management core
 * in simulation (tests/unit/check_keep.c).
 *
 * Out of memory is the one failure it cannot report, and it aborts (the
 * supervisor restarts the router) rather than lose a stanza silently.
 */
#include "router_keep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/table.h"

struct keep_session {
	char id[KEEP_ID_MAX + 1];
	char *jid;
	size_t jid_len;
	uint64_t holder; /* its node while held */
	uint64_t lost;	 /* while waiting: the node it was lost with */
	uint64_t session;
	uint32_t max_seconds;
	int32_t priority;
	bool available;
	uint32_t handled;     /* the client's stanzas routed */
	uint32_t acked, sent; /* ours: the items are acked+1 .. sent */
	struct keep_item *head, **tail;
	uint32_t count;
	size_t bytes;
	/* Delivered by the leader and not yet numbered by the holder. */
	struct keep_item *fresh, **fresh_tail;
	uint32_t fresh_count;
	struct relay_marks marks; /* which deliveries it has, by relay key */
	bool waiting;
	int64_t deadline;
	/* Held, and its holder not heard from since a change of leader: since
	 * when (0: heard from). */
	int64_t unconfirmed_since;
	/* A handover under way: who asked, with which h, and what was routed
	 * to it since (numbered after the holder's once it gave it up). */
	bool handing;
	int64_t hand_deadline; /* when the handover is given up (KEEP_HANDOVER_MS) */
	uint64_t asker_node, asker_session;
	uint32_t asker_h;
	struct keep_item *held, **held_tail;
	uint32_t held_count;
	size_t held_bytes;
	struct keep_session *next_waiting; /* and next on the dead list */
};

struct keep {
	struct keep_options o;
	struct table *by_id, *by_jid;
	struct keep_session *waiting;
	size_t bytes;
	struct keep_out *outs;
	size_t out_count, out_cap, out_next;
	size_t handing;			       /* handovers under way (router_keep_tick) */
	struct keep_session *dead;	       /* freed once the outputs pointing in are taken */
	struct keep_item *spent, **spent_tail; /* stanzas bounced, likewise */
};

static void *keep_alloc(size_t size)
{
	void *p = calloc(1, size);
	if (p == NULL)
		abort();
	return p;
}

static void keep_emit(struct keep *k, const struct keep_out *out)
{
	if (k->out_count == k->out_cap) {
		size_t cap = k->out_cap ? 2 * k->out_cap : 16;
		struct keep_out *outs = realloc(k->outs, cap * sizeof(*outs));
		if (outs == NULL)
			abort();
		k->outs = outs;
		k->out_cap = cap;
	}
	k->outs[k->out_count++] = *out;
}

static void keep_items_free(struct keep_item *item)
{
	while (item != NULL) {
		struct keep_item *next = item->next;
		free(item);
		item = next;
	}
}

static void keep_session_free(struct keep_session *s)
{
	keep_items_free(s->head);
	keep_items_free(s->fresh);
	keep_items_free(s->held);
	free(s->jid);
	free(s);
}

static void keep_unwait(struct keep *k, struct keep_session *s)
{
	for (struct keep_session **p = &k->waiting; *p != NULL; p = &(*p)->next_waiting)
		if (*p == s) {
			*p = s->next_waiting;
			break;
		}
	s->waiting = false;
	s->next_waiting = NULL;
}

/* Every stanza of the list `first`, kept for `s`, goes back to its sender. */
static void keep_bounce(struct keep *k, const struct keep_session *s, const struct keep_item *first)
{
	for (const struct keep_item *item = first; item != NULL; item = item->next)
		keep_emit(k, &(struct keep_out){.kind = KEEP_OUT_BOUNCE,
						.id = s->id,
						.jid = s->jid,
						.jid_len = s->jid_len,
						.data = item->data,
						.len = item->len});
}

/* A handover that cannot be: its asker gets item-not-found, and what came
 * for the session meanwhile (it went nowhere else) goes back. */
static void keep_unhand(struct keep *k, struct keep_session *s)
{
	k->bytes -= s->held_bytes;
	keep_bounce(k, s, s->held);
	keep_emit(k, &(struct keep_out){.kind = KEEP_OUT_REFUSED,
					.id = s->id,
					.jid = s->jid,
					.jid_len = s->jid_len,
					.node = s->asker_node,
					.session = s->asker_session});
	/* Freed with the outputs: they point into them. */
	if (s->held != NULL) {
		*k->spent_tail = s->held;
		k->spent_tail = s->held_tail;
	}
	s->held = NULL;
	s->held_tail = &s->held;
	s->held_count = 0;
	s->held_bytes = 0;
	s->handing = false;
	k->handing--;
}

/* Takes `s` out of the indexes; with `bounce`, every stanza it kept goes
 * back to its sender and the router hears that the session ended.  Its
 * memory lives until the outputs are taken. */
static void keep_forget(struct keep *k, struct keep_session *s, bool bounce)
{
	if (s->waiting)
		keep_unwait(k, s);
	table_remove(k->by_id, s->id, strlen(s->id));
	if (table_get(k->by_jid, s->jid, s->jid_len) == s)
		table_remove(k->by_jid, s->jid, s->jid_len);
	k->bytes -= s->bytes;
	for (const struct keep_item *item = s->fresh; item != NULL; item = item->next)
		k->bytes -= item->len;
	if (s->handing)
		keep_unhand(k, s);
	if (bounce) {
		keep_bounce(k, s, s->head);
		keep_emit(k, &(struct keep_out){.kind = KEEP_OUT_ENDED,
						.id = s->id,
						.jid = s->jid,
						.jid_len = s->jid_len});
	}
	s->next_waiting = k->dead;
	k->dead = s;
}

struct keep *router_keep_new(const struct keep_options *options)
{
	struct keep *k = keep_alloc(sizeof(*k));
	k->o = *options;
	k->spent_tail = &k->spent;
	k->by_id = table_new();
	k->by_jid = table_new();
	if (k->by_id == NULL || k->by_jid == NULL)
		abort();
	return k;
}

static void keep_free_one(void *value, void *arg)
{
	(void)arg;
	keep_session_free(value);
}

static void keep_free_dead(struct keep *k)
{
	keep_items_free(k->spent);
	k->spent = NULL;
	k->spent_tail = &k->spent;
	while (k->dead != NULL) {
		struct keep_session *s = k->dead;
		k->dead = s->next_waiting;
		keep_session_free(s);
	}
}

void router_keep_free(struct keep *k)
{
	if (k == NULL)
		return;
	table_each(k->by_id, keep_free_one, NULL);
	table_free(k->by_id);
	table_free(k->by_jid);
	keep_free_dead(k);
	free(k->outs);
	free(k);
}

static void keep_first_one(void *value, void *arg)
{
	struct keep_session **found = arg;
	if (*found == NULL)
		*found = value;
}

/* Any session, for letting them all go. */
static struct keep_session *keep_first(const struct keep *k)
{
	struct keep_session *found = NULL;
	table_each(k->by_id, keep_first_one, &found);
	return found;
}

static struct keep_session *keep_find(const struct keep *k, const char *id)
{
	return table_get(k->by_id, id, strlen(id));
}

/* A report from `from` about `id`: the session, if `from` holds it. */
static struct keep_session *keep_reported(const struct keep *k, uint64_t from, const char *id,
					  const char **why)
{
	struct keep_session *s = keep_find(k, id);
	if (s == NULL) {
		*why = "no such session kept here";
		return NULL;
	}
	if (s->waiting || s->holder != from) {
		*why = "the session is not held by that node";
		return NULL;
	}
	s->unconfirmed_since = 0;
	return s;
}

static struct keep_item *keep_item_new(const void *data, size_t len)
{
	struct keep_item *item = keep_alloc(sizeof(*item) + len);
	item->len = len;
	memcpy(item->data, data, len);
	return item;
}

/* Appends the next stanza; false when over the bounds. */
static bool keep_append(struct keep *k, struct keep_session *s, struct keep_item *item)
{
	if (s->count + 1 > k->o.max_stanzas || s->bytes + item->len > k->o.max_bytes)
		return false;
	item->number = ++s->sent;
	item->next = NULL;
	*s->tail = item;
	s->tail = &item->next;
	s->count++;
	s->bytes += item->len;
	k->bytes += item->len;
	return true;
}

enum keep_verdict router_keep_open(struct keep *k, uint64_t from, const char *id, const char *jid,
				   size_t jid_len, uint64_t session, uint32_t max_seconds,
				   uint32_t handled, uint32_t acked, uint32_t sent,
				   const char **why)
{
	size_t id_len = strlen(id);
	if (id_len == 0 || id_len > KEEP_ID_MAX || jid_len == 0 || jid_len > KEEP_JID_MAX) {
		*why = "malformed session id or JID";
		return KEEP_REFUSED;
	}
	struct keep_session *same = keep_find(k, id);
	if (same != NULL) {
		if (!same->waiting && same->holder == from && same->session == session &&
		    same->handled == handled && same->sent == sent && same->acked == acked &&
		    same->jid_len == jid_len && memcmp(same->jid, jid, jid_len) == 0)
			return KEEP_KEPT; /* a resumption brought it here as it is */
		if (same->waiting ? same->lost != from : same->holder != from) {
			*why = "the session is kept for another node";
			return KEEP_REFUSED;
		}
		/* Its holder is back and says afresh what it has; what was held
		 * for it meanwhile never went there. */
		for (const struct keep_item *item = same->waiting ? same->head : NULL; item != NULL;
		     item = item->next)
			if (item->unsure)
				keep_emit(k, &(struct keep_out){.kind = KEEP_OUT_DELIVER,
								.id = same->id,
								.jid = same->jid,
								.jid_len = same->jid_len,
								.data = item->data,
								.len = item->len});
		keep_forget(k, same, false);
	}
	/* A full JID is one session: a client that bound afresh instead of
	 * resuming replaces the one that waited (RFC 6120 7.7.2.2). */
	struct keep_session *old = table_get(k->by_jid, jid, jid_len);
	if (old != NULL)
		keep_forget(k, old, true);
	struct keep_session *s = keep_alloc(sizeof(*s));
	memcpy(s->id, id, id_len + 1);
	s->jid = keep_alloc(jid_len);
	memcpy(s->jid, jid, jid_len);
	s->jid_len = jid_len;
	s->holder = from;
	s->session = session;
	s->max_seconds = max_seconds;
	s->handled = handled;
	s->acked = s->sent = acked;
	s->tail = &s->head;
	s->fresh_tail = &s->fresh;
	if (table_put(k->by_id, s->id, id_len, s, NULL) < 0 ||
	    table_put(k->by_jid, s->jid, jid_len, s, NULL) < 0)
		abort();
	return KEEP_KEPT;
}

void router_keep_delivered(struct keep *k, uint64_t holder, const char *jid, size_t jid_len,
			   struct relay_key key, const void *data, size_t len)
{
	struct keep_session *s = table_get(k->by_jid, jid, jid_len);
	if (s == NULL || s->waiting || s->holder != holder)
		return;
	/* Past the bounds the holder ends the session itself; the copy here
	 * stops growing with it. */
	if (s->fresh_count + 1 > k->o.max_stanzas)
		return;
	struct keep_item *item = keep_item_new(data, len);
	item->key = key;
	*s->fresh_tail = item;
	s->fresh_tail = &item->next;
	s->fresh_count++;
	k->bytes += len;
}

void router_keep_presence(struct keep *k, const char *jid, size_t jid_len, int32_t priority,
			  bool available)
{
	struct keep_session *s = table_get(k->by_jid, jid, jid_len);
	if (s != NULL) {
		s->priority = priority;
		s->available = available;
	}
}

/* The holder numbered a stanza: the same bytes delivered here before, if
 * any, are that stanza (deliveries reach the holder in the order they were
 * made, and a local stanza has other bytes: another sender). */
static struct keep_item *keep_take_fresh(struct keep *k, struct keep_session *s, const void *data,
					 size_t len)
{
	for (struct keep_item **at = &s->fresh; *at != NULL; at = &(*at)->next) {
		struct keep_item *item = *at;
		if (item->len != len || memcmp(item->data, data, len) != 0)
			continue;
		*at = item->next;
		if (s->fresh_tail == &item->next)
			s->fresh_tail = at;
		s->fresh_count--;
		k->bytes -= item->len;
		return item;
	}
	return NULL;
}

enum keep_verdict router_keep_stanza(struct keep *k, uint64_t from, const char *id, uint32_t number,
				     const void *data, size_t len, const char **why)
{
	struct keep_session *s = keep_reported(k, from, id, why);
	if (s == NULL)
		return KEEP_REFUSED;
	/* The holder a resumption moved the session to opens it as it is
	 * (router_keep_open) and reports the stanzas it was given, which are
	 * kept here with these numbers already: nothing changes.  Refused as
	 * out of turn, they made the keeper forget every session resumed on
	 * another node with stanzas to replay. */
	if ((uint32_t)(number - s->acked - 1) < (uint32_t)(s->sent - s->acked)) {
		const struct keep_item *kept = s->head;
		while (kept != NULL && kept->number != number)
			kept = kept->next;
		if (kept != NULL && kept->len == len && memcmp(kept->data, data, len) == 0)
			return KEEP_KEPT;
	}
	struct keep_item *item = keep_take_fresh(k, s, data, len);
	if (item == NULL)
		item = keep_item_new(data, len);
	/* Out of turn, or past the bounds: the copy here would no longer be
	 * the holder's queue, so it is not kept at all. */
	if (number != s->sent + 1) {
		free(item);
		*why = "a stanza number out of turn";
		keep_forget(k, s, false);
		return KEEP_REFUSED;
	}
	if (!keep_append(k, s, item)) {
		free(item);
		*why = "beyond the keeper's bounds";
		keep_forget(k, s, false);
		return KEEP_REFUSED;
	}
	return KEEP_KEPT;
}

/* Lets go of the stanzas up to `h`; false when `h` is not between what
 * was acknowledged and what was sent (counters wrap). */
static bool keep_trim(struct keep *k, struct keep_session *s, uint32_t h)
{
	if ((uint32_t)(h - s->acked) > (uint32_t)(s->sent - s->acked))
		return false;
	while (s->acked != h) {
		struct keep_item *item = s->head;
		s->head = item->next;
		s->count--;
		s->bytes -= item->len;
		k->bytes -= item->len;
		free(item);
		s->acked++;
	}
	if (s->head == NULL)
		s->tail = &s->head;
	return true;
}

enum keep_verdict router_keep_acked(struct keep *k, uint64_t from, const char *id, uint32_t h,
				    const char **why)
{
	struct keep_session *s = keep_reported(k, from, id, why);
	if (s == NULL)
		return KEEP_REFUSED;
	if (!keep_trim(k, s, h)) {
		*why = "an acknowledgement of stanzas never sent";
		return KEEP_REFUSED;
	}
	return KEEP_KEPT;
}

enum keep_verdict router_keep_handled(struct keep *k, uint64_t from, const char *id, uint32_t h,
				      uint32_t *now_handled, const char **why)
{
	struct keep_session *s = keep_reported(k, from, id, why);
	if (s == NULL)
		return KEEP_REFUSED;
	/* Forward only: reports on one link come in order, so an older one
	 * here is the holder's mistake. */
	if ((uint32_t)(h - s->handled) >= UINT32_C(1) << 31) {
		*why = "a handled count going back";
		return KEEP_REFUSED;
	}
	s->handled = h;
	*now_handled = h;
	return KEEP_KEPT;
}

void router_keep_end(struct keep *k, uint64_t from, const char *id)
{
	const char *why;
	struct keep_session *s = keep_reported(k, from, id, &why);
	if (s != NULL)
		keep_forget(k, s, false);
}

struct keep_lost {
	struct keep *k;
	uint64_t node;
	int64_t now;
};

/* Appends a stanza that its holder may not have had; over the bounds it
 * goes back to its sender (freed with the outputs: it is one of them). */
static void keep_append_unsure(struct keep *k, struct keep_session *s, struct keep_item *item)
{
	item->unsure = true;
	if (keep_append(k, s, item))
		return;
	keep_emit(k, &(struct keep_out){.kind = KEEP_OUT_BOUNCE,
					.id = s->id,
					.jid = s->jid,
					.jid_len = s->jid_len,
					.data = item->data,
					.len = item->len});
	item->next = NULL;
	*k->spent_tail = item;
	k->spent_tail = &item->next;
}

/* Takes a waiting session over for a resumption (see router_keep_resume). */
static int keep_take(struct keep *k, struct keep_session *s, uint32_t h, uint64_t holder,
		     uint64_t session, int64_t now, struct keep_resumed *out)
{
	if (!keep_trim(k, s, h))
		return -1;
	int64_t left = s->deadline > now ? s->deadline - now : 0;
	keep_unwait(k, s);
	s->holder = holder;
	s->session = session;
	for (struct keep_item *item = s->head; item != NULL; item = item->next)
		item->unsure = false;
	*out =
	    (struct keep_resumed){.jid = s->jid,
				  .jid_len = s->jid_len,
				  .max_seconds = s->max_seconds,
				  .priority = s->priority,
				  .available = s->available,
				  .handled = s->handled,
				  .sent = s->sent,
				  .first = s->head,
				  .count = s->count,
				  .remaining_ms = left < UINT32_MAX ? (uint32_t)left : UINT32_MAX};
	return 0;
}

/* Makes a held session wait from `now` for `wait_ms`. */
static void keep_wait(struct keep *k, struct keep_session *s, int64_t now, int64_t wait_ms)
{
	s->waiting = true;
	s->lost = s->holder;
	s->holder = 0;
	s->deadline = now + wait_ms;
	s->next_waiting = k->waiting;
	k->waiting = s;
}

/* The end of a handover: the session waits here; what was held for it
 * follows what its holder had, and the asker takes it over at once. */
static void keep_hand_on(struct keep *k, struct keep_session *s, int64_t now)
{
	struct keep_item *held = s->held;
	s->held = NULL;
	s->held_tail = &s->held;
	s->held_count = 0;
	k->bytes -= s->held_bytes;
	s->held_bytes = 0;
	s->handing = false;
	k->handing--;
	while (held != NULL) {
		struct keep_item *item = held;
		held = item->next;
		keep_append_unsure(k, s, item);
	}
	struct keep_out out = {.id = s->id,
			       .jid = s->jid,
			       .jid_len = s->jid_len,
			       .node = s->asker_node,
			       .session = s->asker_session};
	/* An h that is no longer possible leaves it waiting, as if lost. */
	out.kind =
	    keep_take(k, s, s->asker_h, s->asker_node, s->asker_session, now, &out.resumed) == 0
		? KEEP_OUT_RESUMED
		: KEEP_OUT_REFUSED;
	keep_emit(k, &out);
}

static void keep_lose_one(void *value, void *arg)
{
	struct keep_session *s = value;
	struct keep_lost *lost = arg;
	if (s->waiting || s->holder != lost->node)
		return;
	/* What it was sent and had not numbered comes after what it had, in
	 * the order it went; bounded like the rest (bounced beyond). */
	struct keep_item *fresh = s->fresh;
	s->fresh = NULL;
	s->fresh_tail = &s->fresh;
	s->fresh_count = 0;
	while (fresh != NULL) {
		struct keep_item *item = fresh;
		fresh = item->next;
		lost->k->bytes -= item->len;
		if (item->key.seq != 0)
			(void)router_relay_seen_before(&s->marks, item->key);
		keep_append_unsure(lost->k, s, item);
	}
	keep_wait(lost->k, s, lost->now, (int64_t)s->max_seconds * 1000);
	/* Lost during a handover: the asker takes what it reported. */
	if (s->handing)
		keep_hand_on(lost->k, s, lost->now);
}

void router_keep_node_lost(struct keep *k, uint64_t node, int64_t now_ms)
{
	struct keep_lost lost = {k, node, now_ms};
	table_each(k->by_id, keep_lose_one, &lost);
}

const char *router_keep_waiting(const struct keep *k, const char *jid, size_t jid_len)
{
	const struct keep_session *s = table_get(k->by_jid, jid, jid_len);
	return s != NULL && (s->waiting || s->handing) ? s->id : NULL;
}

bool router_keep_handing(const struct keep *k, const char *jid, size_t jid_len)
{
	const struct keep_session *s = table_get(k->by_jid, jid, jid_len);
	return s != NULL && s->handing;
}

enum keep_verdict router_keep_hold(struct keep *k, const char *jid, size_t jid_len,
				   struct relay_key key, const void *data, size_t len,
				   const char **why)
{
	struct keep_session *s = table_get(k->by_jid, jid, jid_len);
	if (s == NULL || !(s->waiting || s->handing)) {
		*why = "no session waits for that JID";
		return KEEP_REFUSED;
	}
	if (router_relay_seen_before(&s->marks, key))
		return KEEP_DUPLICATE;
	struct keep_item *item = keep_item_new(data, len);
	item->key = key;
	if (s->handing) {
		/* Numbered once the holder has reported the last of its own. */
		if (s->count + s->held_count + 1 > k->o.max_stanzas ||
		    s->bytes + s->held_bytes + len > k->o.max_bytes) {
			free(item);
			return KEEP_BOUNCED;
		}
		*s->held_tail = item;
		s->held_tail = &item->next;
		s->held_count++;
		s->held_bytes += len;
		k->bytes += len;
		return KEEP_KEPT;
	}
	if (!keep_append(k, s, item)) {
		free(item);
		return KEEP_BOUNCED;
	}
	item->unsure = true;
	return KEEP_KEPT;
}

/* A handover whose holder never answered (its GIVE_UP was not sent, or it
 * does not report the session): the asker gets item-not-found, what was
 * held goes back, and the session stays where it is, resumable again. */
static void keep_hand_expire(void *value, void *arg)
{
	struct keep_session *s = value;
	struct keep_lost *t = arg;
	if (s->handing && s->hand_deadline <= t->now)
		keep_unhand(t->k, s);
}

void router_keep_tick(struct keep *k, int64_t now_ms)
{
	if (k->handing > 0) {
		struct keep_lost t = {k, 0, now_ms};
		table_each(k->by_id, keep_hand_expire, &t);
	}
	struct keep_session **p = &k->waiting;
	while (*p != NULL) {
		struct keep_session *s = *p;
		if (s->deadline > now_ms) {
			p = &s->next_waiting;
			continue;
		}
		*p = s->next_waiting;
		s->waiting = false;
		keep_forget(k, s, true);
	}
}

int router_keep_resume(struct keep *k, const char *id, const char *user, size_t user_len,
		       uint32_t h, uint64_t holder, uint64_t session, int64_t now_ms,
		       struct keep_resumed *out)
{
	struct keep_session *s = keep_find(k, id);
	/* Another user's id is unknown to this one: ids cannot be probed.
	 * One handed over already is the first asker's (a second connection
	 * of the client binds afresh). */
	if (s == NULL || s->handing || user_len >= s->jid_len ||
	    memcmp(s->jid, user, user_len) != 0 || s->jid[user_len] != '/')
		return -1;
	if (s->waiting)
		return keep_take(k, s, h, holder, session, now_ms, out);
	/* Its holder lives: the client can have had no more than was kept. */
	if ((uint32_t)(h - s->acked) > (uint32_t)(s->sent - s->acked))
		return -1;
	s->handing = true;
	k->handing++;
	s->hand_deadline = now_ms + KEEP_HANDOVER_MS;
	s->asker_node = holder;
	s->asker_session = session;
	s->asker_h = h;
	s->held_tail = &s->held;
	*out = (struct keep_resumed){.holder = s->holder, .holder_session = s->session};
	return 1;
}

void router_keep_given(struct keep *k, uint64_t from, const char *id, bool given,
		       uint32_t remaining_ms, int64_t now_ms)
{
	const char *why;
	struct keep_session *s = keep_reported(k, from, id, &why);
	if (s == NULL || (!s->handing && !given))
		return;
	if (!given) {
		/* Not there to give (being resumed there itself, or gone with
		 * its END on the way): the record stays as its holder says. */
		keep_unhand(k, s);
		return;
	}
	/* Delivered there and never numbered: the holder routed it again
	 * when it found the session gone. */
	struct keep_item *fresh = s->fresh;
	s->fresh = NULL;
	s->fresh_tail = &s->fresh;
	s->fresh_count = 0;
	for (const struct keep_item *item = fresh; item != NULL; item = item->next)
		k->bytes -= item->len;
	keep_items_free(fresh);
	keep_wait(k, s, now_ms, remaining_ms);
	/* Given up with no handover under way (its asker could not have it):
	 * it waits here, resumable anywhere, for the rest of its time. */
	if (s->handing)
		keep_hand_on(k, s, now_ms);
}

bool router_keep_next(struct keep *k, struct keep_out *out)
{
	if (k->out_next < k->out_count) {
		*out = k->outs[k->out_next++];
		return true;
	}
	k->out_next = k->out_count = 0;
	keep_free_dead(k);
	return false;
}

enum keep_verdict router_keep_adopt(struct keep *k, const struct keep_waiting *w, int64_t now_ms,
				    const char **why)
{
	size_t id_len = strlen(w->id);
	if (id_len == 0 || id_len > KEEP_ID_MAX || w->jid_len == 0 || w->jid_len > KEEP_JID_MAX) {
		*why = "malformed session id or JID";
		return KEEP_REFUSED;
	}
	struct keep_session *same = keep_find(k, w->id);
	if (same != NULL)
		keep_forget(k, same, false); /* what comes now is newer */
	struct keep_session *old = table_get(k->by_jid, w->jid, w->jid_len);
	if (old != NULL)
		keep_forget(k, old, true);
	struct keep_session *s = keep_alloc(sizeof(*s));
	memcpy(s->id, w->id, id_len + 1);
	s->jid = keep_alloc(w->jid_len);
	memcpy(s->jid, w->jid, w->jid_len);
	s->jid_len = w->jid_len;
	s->lost = w->lost;
	s->max_seconds = w->max_seconds;
	s->priority = w->priority;
	s->available = w->available;
	s->handled = w->handled;
	s->acked = s->sent = w->acked;
	s->tail = &s->head;
	s->fresh_tail = &s->fresh;
	if (w->held) {
		/* Its holder says so again once it links here, or is lost. */
		s->holder = w->lost;
		s->lost = 0;
		s->unconfirmed_since = now_ms;
	} else {
		s->waiting = true;
		s->deadline = now_ms + w->remaining_ms;
		s->next_waiting = k->waiting;
		k->waiting = s;
	}
	if (table_put(k->by_id, s->id, id_len, s, NULL) < 0 ||
	    table_put(k->by_jid, s->jid, s->jid_len, s, NULL) < 0)
		abort();
	return KEEP_KEPT;
}

enum keep_verdict router_keep_adopt_item(struct keep *k, const char *id, struct relay_key key,
					 bool unsure, const void *data, size_t len,
					 const char **why)
{
	struct keep_session *s = keep_find(k, id);
	if (s == NULL) {
		*why = "no such session handed over";
		return KEEP_REFUSED;
	}
	struct keep_item *item = keep_item_new(data, len);
	item->key = key;
	item->unsure = unsure;
	if (key.seq != 0)
		(void)router_relay_seen_before(&s->marks, key);
	if (!keep_append(k, s, item)) {
		free(item);
		return KEEP_BOUNCED;
	}
	return KEEP_KEPT;
}

struct keep_each {
	int64_t now;
	void (*fn)(const struct keep_waiting *w, const struct keep_item *first, void *arg);
	void *arg;
};

static void keep_each_one(void *value, void *arg)
{
	const struct keep_session *s = value;
	const struct keep_each *e = arg;
	struct keep_waiting w = {.jid = s->jid,
				 .jid_len = s->jid_len,
				 .held = !s->waiting,
				 .lost = s->waiting ? s->lost : s->holder,
				 .remaining_ms = s->deadline > e->now ? s->deadline - e->now : 0,
				 .max_seconds = s->max_seconds,
				 .priority = s->priority,
				 .available = s->available,
				 .handled = s->handled,
				 .acked = s->acked,
				 .count = s->count};
	snprintf(w.id, sizeof(w.id), "%s", s->id);
	e->fn(&w, s->head, e->arg);
}

void router_keep_each(const struct keep *k, int64_t now_ms,
		      void (*fn)(const struct keep_waiting *w, const struct keep_item *first,
				 void *arg),
		      void *arg)
{
	struct keep_each e = {now_ms, fn, arg};
	table_each(k->by_id, keep_each_one, &e);
}

static void keep_unsure_one(void *value, void *arg)
{
	struct keep_session *s = value;
	if (!s->waiting && s->unconfirmed_since == 0)
		s->unconfirmed_since = *(const int64_t *)arg;
}

void router_keep_holders_unsure(struct keep *k, int64_t now_ms)
{
	table_each(k->by_id, keep_unsure_one, &now_ms);
}

struct keep_confirm {
	uint64_t node;
};

static void keep_confirm_one(void *value, void *arg)
{
	struct keep_session *s = value;
	if (!s->waiting && s->holder == ((const struct keep_confirm *)arg)->node)
		s->unconfirmed_since = 0;
}

struct keep_due {
	int64_t now, grace;
	uint64_t node; /* the first holder due, or 0 */
};

static void keep_due_one(void *value, void *arg)
{
	struct keep_session *s = value;
	struct keep_due *d = arg;
	if (d->node == 0 && !s->waiting && s->unconfirmed_since != 0 &&
	    d->now - s->unconfirmed_since >= d->grace)
		d->node = s->holder;
}

size_t router_keep_confirm_due(struct keep *k, int64_t now_ms, int64_t grace_ms,
			       bool (*linked)(uint64_t node, void *arg), void *arg)
{
	size_t before = router_keep_waiting_count(k);
	for (;;) {
		struct keep_due d = {now_ms, grace_ms, 0};
		table_each(k->by_id, keep_due_one, &d);
		if (d.node == 0)
			break;
		if (linked(d.node, arg)) {
			struct keep_confirm c = {d.node};
			table_each(k->by_id, keep_confirm_one, &c);
		} else {
			router_keep_node_lost(k, d.node, now_ms);
		}
	}
	return router_keep_waiting_count(k) - before;
}

void router_keep_drop_all(struct keep *k)
{
	for (struct keep_session *s; (s = keep_first(k)) != NULL;)
		keep_forget(k, s, false);
}

uint64_t router_keep_unconfirmed_holder(const struct keep *k, const char *jid, size_t jid_len)
{
	const struct keep_session *s = table_get(k->by_jid, jid, jid_len);
	return s != NULL && !s->waiting && s->unconfirmed_since != 0 ? s->holder : 0;
}

size_t router_keep_sessions(const struct keep *k)
{
	return table_count(k->by_id);
}

size_t router_keep_waiting_count(const struct keep *k)
{
	size_t n = 0;
	for (const struct keep_session *s = k->waiting; s != NULL; s = s->next_waiting)
		n++;
	return n;
}

size_t router_keep_bytes(const struct keep *k)
{
	return k->bytes;
}
