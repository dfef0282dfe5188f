/* SPDX-License-Identifier: MIT */
/*
 * The leader's own sessions' handled counts held until what they cover is
 * safe beyond the leader (router_counts.h says why), with no I/O.  Runs in
 * the router; the unit tests drive it in simulation with the keeper core,
 * the leader killed between its writes (tests/unit/check_keep.c).
 *
 * Out of memory aborts (the supervisor restarts the router): a count
 * dropped would be a count the client's next resumption does not have,
 * and it would send the stanza twice.
 */
#include "router_counts.h"

#include <stdlib.h>

struct counts_entry {
	uint64_t session;
	uint64_t seq; /* 0: safe */
	uint32_t count;
};

struct counts {
	struct counts_entry *ring;
	uint32_t head, count, cap;
	uint64_t safe; /* the last seq routed safe before it was added */
};

struct counts *router_counts_new(void)
{
	struct counts *c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	return c;
}

void router_counts_free(struct counts *c)
{
	if (c == NULL)
		return;
	free(c->ring);
	free(c);
}

static struct counts_entry *counts_at(struct counts *c, uint32_t i)
{
	return &c->ring[(c->head + i) % c->cap];
}

void router_counts_add(struct counts *c, uint64_t session, uint32_t count, uint64_t seq)
{
	if (c->count == c->cap) {
		uint32_t cap = c->cap ? 2 * c->cap : 64;
		struct counts_entry *grown = malloc(cap * sizeof(*grown));
		if (grown == NULL)
			abort();
		for (uint32_t i = 0; i < c->count; i++)
			grown[i] = *counts_at(c, i);
		free(c->ring);
		c->ring = grown;
		c->head = 0;
		c->cap = cap;
	}
	/* Routed at once inside the relay's forward, before its count came. */
	if (seq != 0 && seq == c->safe)
		seq = 0;
	c->count++;
	*counts_at(c, c->count - 1) = (struct counts_entry){session, seq, count};
}

void router_counts_safe(struct counts *c, uint64_t seq)
{
	for (uint32_t i = 0; i < c->count; i++) {
		struct counts_entry *e = counts_at(c, i);
		if (e->seq == seq) {
			e->seq = 0;
			return;
		}
	}
	c->safe = seq;
}

bool router_counts_next(struct counts *c, uint64_t oldest, uint64_t *session, uint32_t *count)
{
	if (c->count == 0)
		return false;
	struct counts_entry *e = counts_at(c, 0);
	/* The relay keeps its stanzas in sequence order: what it took before
	 * the oldest it keeps is confirmed, or bounced to its sender. */
	if (e->seq != 0 && e->seq >= oldest)
		return false;
	*session = e->session;
	*count = e->count;
	c->head = (c->head + 1) % c->cap;
	c->count--;
	return true;
}
