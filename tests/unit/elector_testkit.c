/* SPDX-License-Identifier: MIT */
/* The election core's test kit; see elector_testkit.h. */
#include "elector_testkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t *elector_testkit_cert(uint64_t id)
{
	static uint8_t fingerprints[8][ELECTOR_FINGERPRINT_SIZE];
	static unsigned next;
	uint8_t *fp = fingerprints[next++ % 8];
	for (int i = 0; i < ELECTOR_FINGERPRINT_SIZE; i++)
		fp[i] = (uint8_t)(id >> (8 * (i % 8))) ^ (uint8_t)(0x5a + i);
	return fp;
}

void elector_testkit_member(uint64_t id, struct elector_member *m)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	memcpy(m->fingerprint, elector_testkit_cert(id), ELECTOR_FINGERPRINT_SIZE);
	snprintf(m->address, sizeof(m->address), "10.0.%u.%u:5224", (unsigned)(id >> 8) & 0xff,
		 (unsigned)id & 0xff);
}

static uint8_t *dup_bytes(const uint8_t *data, size_t len)
{
	if (len == 0)
		return NULL;
	uint8_t *copy = malloc(len);
	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	return copy;
}

void elector_testkit_disk_free(struct elector_testkit_disk *d)
{
	for (size_t i = 0; i < d->count; i++)
		free((void *)(uintptr_t)d->log[i].data);
	free(d->log);
	free((void *)(uintptr_t)d->snapshot.data);
	memset(d, 0, sizeof(*d));
}

void elector_testkit_disk_seed(struct elector_testkit_disk *d, const struct elector_config *config)
{
	elector_testkit_disk_free(d);
	d->snapshot.index = config->index;
	d->snapshot.config = *config;
	d->commit_index = config->index;
	/* A machine without state: no bytes (as the shell writes it). */
	d->snapshot.data = NULL;
	d->snapshot.len = 0;
}

static void disk_append(struct elector_testkit_disk *d, const struct elector_entry *x)
{
	if (d->count == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->log = realloc(d->log, d->cap * sizeof(*d->log));
		if (d->log == NULL)
			abort();
	}
	d->log[d->count] = *x;
	d->log[d->count].data = dup_bytes(x->data, x->len);
	d->count++;
}

void elector_testkit_disk_copy(struct elector_testkit_disk *to,
			       const struct elector_testkit_disk *from)
{
	elector_testkit_disk_free(to);
	*to = *from;
	to->log = NULL;
	to->count = to->cap = 0;
	to->snapshot.data = dup_bytes(from->snapshot.data, from->snapshot.len);
	for (size_t i = 0; i < from->count; i++)
		disk_append(to, &from->log[i]);
}

void elector_testkit_machine_bytes(const struct elector_testkit_machine *m, uint8_t out[16])
{
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(m->applied >> (8 * i));
		out[8 + i] = (uint8_t)(m->hash >> (8 * i));
	}
}

void elector_testkit_install(struct elector_testkit_node *n, const struct elector_snapshot *s)
{
	if (s->membership_only) {
		n->machine.applied = s->index;
		return;
	}
	struct elector_testkit_machine m = {.applied = s->index};
	for (size_t i = 0; i < 8 && s->len == 16; i++) {
		if (i == 0)
			m.applied = 0;
		m.applied |= (uint64_t)s->data[i] << (8 * i);
		m.hash |= (uint64_t)s->data[8 + i] << (8 * i);
	}
	n->machine = m;
}

bool elector_testkit_boot(struct elector_testkit_node *n, const struct elector_options *options)
{
	struct elector_boot boot = {.term = n->disk.term,
				    .voted_for = n->disk.voted_for,
				    .commit_index = n->disk.commit_index,
				    .snapshot = n->disk.snapshot,
				    .entries = n->disk.log,
				    .entry_count = n->disk.count};
	n->e = elector_new(options, &boot);
	n->up = n->e != NULL;
	/* The shell rebuilds its state machine from the snapshot; the core
	 * hands out the committed entries after it again. */
	n->machine = (struct elector_testkit_machine){0};
	if (n->disk.snapshot.index > 0)
		elector_testkit_install(n, &n->disk.snapshot);
	return n->up;
}

void elector_testkit_crash(struct elector_testkit_node *n)
{
	elector_free(n->e);
	n->e = NULL;
	n->up = false;
}

void elector_testkit_persist(struct elector_testkit_node *n, const struct elector_ready *r)
{
	struct elector_testkit_disk *d = &n->disk;
	d->term = r->state.term;
	d->voted_for = r->state.voted_for;
	d->commit_index = r->state.commit_index;
	if (r->snapshot != NULL) {
		for (size_t i = 0; i < d->count; i++)
			free((void *)(uintptr_t)d->log[i].data);
		d->count = 0;
		free((void *)(uintptr_t)d->snapshot.data);
		d->snapshot = *r->snapshot;
		d->snapshot.data = dup_bytes(r->snapshot->data, r->snapshot->len);
		elector_testkit_install(n, r->snapshot);
	}
	if (r->entry_count > 0) {
		uint64_t from = r->entries[0].index;
		while (d->count > 0 && d->log[d->count - 1].index >= from) {
			free((void *)(uintptr_t)d->log[d->count - 1].data);
			d->count--;
		}
		for (size_t i = 0; i < r->entry_count; i++)
			disk_append(d, &r->entries[i]);
	}
}

bool elector_testkit_compact(struct elector_testkit_node *n)
{
	uint8_t bytes[16];
	elector_testkit_machine_bytes(&n->machine, bytes);
	/* A machine without state (no DATA applied yet) writes no bytes. */
	size_t len = n->machine.hash != 0 ? sizeof(bytes) : 0;
	if (n->machine.applied != elector_applied_index(n->e) ||
	    elector_compact(n->e, n->machine.applied, bytes, len) == -1)
		return false;
	struct elector_testkit_disk *d = &n->disk;
	const struct elector_snapshot *s = elector_snapshot(n->e);
	size_t drop = 0;
	while (drop < d->count && d->log[drop].index <= s->index)
		free((void *)(uintptr_t)d->log[drop++].data);
	memmove(d->log, d->log + drop, (d->count - drop) * sizeof(*d->log));
	d->count -= drop;
	free((void *)(uintptr_t)d->snapshot.data);
	d->snapshot = *s;
	d->snapshot.data = dup_bytes(s->data, s->len);
	return true;
}

uint64_t elector_testkit_chain(uint64_t hash, const struct elector_entry *x)
{
	uint64_t h = hash ^ 0xcbf29ce484222325ull;
	uint64_t fields[3] = {x->index, x->term, x->type};
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 8; i++) {
			h ^= (uint8_t)(fields[k] >> (8 * i));
			h *= 0x100000001b3ull;
		}
	}
	for (uint32_t i = 0; i < x->len; i++) {
		h ^= x->data[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void elector_testkit_apply(struct elector_testkit_machine *m, const struct elector_entry *x)
{
	if (x->type == ELECTOR_ENTRY_DATA)
		m->hash = elector_testkit_chain(m->hash, x);
	m->applied = x->index;
}

struct elector_msg *elector_testkit_msg_clone(const struct elector_msg *m)
{
	struct elector_msg *c = malloc(sizeof(*c));
	if (c == NULL)
		abort();
	*c = *m;
	if (m->entry_count > 0) {
		struct elector_entry *xs = malloc(m->entry_count * sizeof(*xs));
		if (xs == NULL)
			abort();
		for (uint32_t i = 0; i < m->entry_count; i++) {
			xs[i] = m->entries[i];
			xs[i].data = dup_bytes(m->entries[i].data, m->entries[i].len);
		}
		c->entries = xs;
	}
	if (m->snapshot != NULL) {
		struct elector_snapshot *s = malloc(sizeof(*s));
		if (s == NULL)
			abort();
		*s = *m->snapshot;
		s->data = dup_bytes(m->snapshot->data, m->snapshot->len);
		c->snapshot = s;
	}
	return c;
}

void elector_testkit_msg_cut_v3(struct elector_msg *m)
{
	struct elector_msg v3;
	memset(&v3, 0, sizeof(v3));
	if (m->type == ELECTOR_MSG_SNAPSHOT)
		m->type = ELECTOR_MSG_APPEND;
	size_t len = m->type == ELECTOR_MSG_APPEND ? ELECTOR_MSG_V3_SIZE
						   : offsetof(struct elector_msg, config);
	memcpy(&v3, m, len);
	for (uint32_t i = 0; i < m->entry_count && m->entries != NULL; i++)
		free((void *)(uintptr_t)m->entries[i].data);
	free((void *)(uintptr_t)m->entries);
	if (m->snapshot != NULL)
		free((void *)(uintptr_t)m->snapshot->data);
	free((void *)(uintptr_t)m->snapshot);
	*m = v3;
}

void elector_testkit_msg_free(struct elector_msg *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; i < m->entry_count && m->entries != NULL; i++)
		free((void *)(uintptr_t)m->entries[i].data);
	free((void *)(uintptr_t)m->entries);
	if (m->snapshot != NULL)
		free((void *)(uintptr_t)m->snapshot->data);
	free((void *)(uintptr_t)m->snapshot);
	free(m);
}
