/* SPDX-License-Identifier: MIT */
/*
 * The leader's own sessions' handled counts held until what they cover is
 * safe beyond the leader (router_counts.h says why), with no I/O.  Runs in
 * the router; the unit tests drive it in simulation with the keeper core,
 * the leader killed between its writes (tests/unit/check_keep.c).
 *
 * Each session's counts wait in its own queue, so that one waiting for a
 * third node holds back only that session's.  The stanzas that wait for
 * the relay are also listed in the order the relay numbered them (the
 * waiters): as the oldest number the relay keeps moves on, the sessions
 * whose stanzas it passed are looked at again, and no others.
 *
 * Out of memory aborts (the supervisor restarts the router): a count
 * dropped would be a count the client's next resumption does not have,
 * and it would send the stanza twice.
 */
#include "router_counts.h"

#include <stdlib.h>
#include <string.h>

#include "common/table.h"

struct counts_entry {
	uint64_t seq; /* 0: safe */
	uint32_t count;
};

struct counts_session {
	uint64_t session;
	struct counts_entry *ring;
	uint32_t head, n, cap;
	bool dirty; /* on the list of sessions to look at */
	struct counts_session *next_dirty;
};

struct counts_waiter {
	uint64_t seq;
	uint64_t session;
};

struct counts {
	struct table *sessions; /* session -> struct counts_session */
	struct counts_waiter *waiters;
	uint32_t w_head, w_n, w_cap;
	struct counts_session *dirty;
	uint64_t safe; /* the last seq routed safe before it was added */
};

static void *counts_alloc(size_t size)
{
	void *p = calloc(1, size);
	if (p == NULL)
		abort();
	return p;
}

struct counts *router_counts_new(void)
{
	struct counts *c = counts_alloc(sizeof(*c));
	if ((c->sessions = table_new()) == NULL)
		abort();
	return c;
}

static void counts_session_free(void *value, void *arg)
{
	(void)arg;
	struct counts_session *s = value;
	free(s->ring);
	free(s);
}

void router_counts_free(struct counts *c)
{
	if (c == NULL)
		return;
	table_each(c->sessions, counts_session_free, NULL);
	table_free(c->sessions);
	free(c->waiters);
	free(c);
}

/* A ring of `size`-byte items grown to twice its capacity, oldest first. */
static void *counts_grow(void *ring, uint32_t head, uint32_t n, uint32_t *cap, size_t size)
{
	uint32_t grown_cap = *cap ? 2 * *cap : 16;
	char *grown = malloc((size_t)grown_cap * size);
	if (grown == NULL)
		abort();
	for (uint32_t i = 0; i < n; i++)
		memcpy(grown + i * size, (char *)ring + ((head + i) % *cap) * size, size);
	free(ring);
	*cap = grown_cap;
	return grown;
}

static struct counts_entry *counts_at(struct counts_session *s, uint32_t i)
{
	return &s->ring[(s->head + i) % s->cap];
}

static void counts_touch(struct counts *c, struct counts_session *s)
{
	if (s == NULL || s->dirty)
		return;
	s->dirty = true;
	s->next_dirty = c->dirty;
	c->dirty = s;
}

void router_counts_add(struct counts *c, uint64_t session, uint32_t count, uint64_t seq)
{
	/* Routed at once inside the relay's forward, before its count came. */
	if (seq != 0 && seq == c->safe)
		seq = 0;
	struct counts_session *s = table_get(c->sessions, &session, sizeof(session));
	if (s == NULL) {
		s = counts_alloc(sizeof(*s));
		s->session = session;
		if (table_put(c->sessions, &session, sizeof(session), s, NULL) == -1)
			abort();
	}
	/* Behind one that waits, counts of stanzas that need not wait are one
	 * count: only the highest goes.  So a session's queue holds about
	 * two entries per stanza the relay keeps, however fast it sends. */
	if (seq == 0 && s->n > 0 && counts_at(s, s->n - 1)->seq == 0) {
		counts_at(s, s->n - 1)->count = count;
		counts_touch(c, s);
		return;
	}
	if (s->n == s->cap) {
		s->ring = counts_grow(s->ring, s->head, s->n, &s->cap, sizeof(*s->ring));
		s->head = 0;
	}
	s->n++;
	*counts_at(s, s->n - 1) = (struct counts_entry){seq, count};
	if (seq != 0) {
		if (c->w_n == c->w_cap) {
			c->waiters = counts_grow(c->waiters, c->w_head, c->w_n, &c->w_cap,
						 sizeof(*c->waiters));
			c->w_head = 0;
		}
		c->w_n++;
		c->waiters[(c->w_head + c->w_n - 1) % c->w_cap] =
		    (struct counts_waiter){seq, session};
	}
	counts_touch(c, s);
}

void router_counts_safe(struct counts *c, uint64_t seq)
{
	for (uint32_t i = 0; i < c->w_n; i++) {
		const struct counts_waiter *w = &c->waiters[(c->w_head + i) % c->w_cap];
		if (w->seq != seq)
			continue;
		struct counts_session *s = table_get(c->sessions, &w->session, sizeof(w->session));
		for (uint32_t k = 0; s != NULL && k < s->n; k++) {
			if (counts_at(s, k)->seq == seq) {
				counts_at(s, k)->seq = 0;
				counts_touch(c, s);
			}
		}
		return;
	}
	c->safe = seq;
}

bool router_counts_next(struct counts *c, uint64_t oldest, uint64_t *session, uint32_t *count)
{
	/* The relay keeps its stanzas in sequence order: what it took before
	 * the oldest it keeps is confirmed, or bounced to its sender. */
	while (c->w_n > 0 && c->waiters[c->w_head].seq < oldest) {
		const struct counts_waiter *w = &c->waiters[c->w_head];
		counts_touch(c, table_get(c->sessions, &w->session, sizeof(w->session)));
		c->w_head = (c->w_head + 1) % c->w_cap;
		c->w_n--;
	}
	while (c->dirty != NULL) {
		struct counts_session *s = c->dirty;
		c->dirty = s->next_dirty;
		s->dirty = false;
		bool any = false;
		while (s->n > 0 && (counts_at(s, 0)->seq == 0 || counts_at(s, 0)->seq < oldest)) {
			*count = counts_at(s, 0)->count;
			any = true;
			s->head = (s->head + 1) % s->cap;
			s->n--;
		}
		*session = s->session;
		if (s->n == 0) {
			table_remove(c->sessions, &s->session, sizeof(s->session));
			counts_session_free(s, NULL);
		}
		if (any)
			return true;
	}
	return false;
}
