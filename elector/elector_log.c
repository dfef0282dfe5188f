/* SPDX-License-Identifier: MIT */
/* The election core's log in memory; see elector_log.h. */
#include "elector_log.h"

#include <stdlib.h>
#include <string.h>

bool elector_log_grow(void **array, size_t *cap, size_t count, size_t size)
{
	if (count < *cap)
		return true;
	size_t more = *cap ? 2 * *cap : 16;
	void *grown = realloc(*array, more * size);
	if (grown == NULL)
		return false;
	*array = grown;
	*cap = more;
	return true;
}

/* Freed at elector_log_release: what the core handed out stays valid until then. */
static void discard(struct elector_log *l, const void *data)
{
	if (data == NULL)
		return;
	if (!elector_log_grow((void **)&l->garbage, &l->garbage_cap, l->garbage_count,
			      sizeof(void *)))
		return; /* leaked rather than freed under a reader */
	l->garbage[l->garbage_count++] = (void *)(uintptr_t)data;
}

static uint8_t *copy_bytes(const uint8_t *data, size_t len, bool *ok)
{
	*ok = true;
	if (len == 0)
		return NULL;
	uint8_t *copy = malloc(len);
	if (copy == NULL)
		*ok = false;
	else
		memcpy(copy, data, len);
	return copy;
}

/* Memberships as entry bytes: count, then each member's id, fingerprint
 * and address (length, bytes), integers little-endian. */
static void put64(uint8_t **p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*(*p)++ = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t elector_config_encode(const struct elector_config *c, uint8_t *out)
{
	uint8_t *p = out;
	uint32_t count = c->count <= ELECTOR_MEMBERS_MAX ? c->count : ELECTOR_MEMBERS_MAX;
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(count >> (8 * i));
	for (uint32_t i = 0; i < count; i++) {
		const struct elector_member *m = &c->members[i];
		put64(&p, m->id);
		memcpy(p, m->fingerprint, ELECTOR_FINGERPRINT_SIZE);
		p += ELECTOR_FINGERPRINT_SIZE;
		size_t len = strnlen(m->address, ELECTOR_ADDRESS_MAX - 1);
		*p++ = (uint8_t)len;
		memcpy(p, m->address, len);
		p += len;
	}
	return (size_t)(p - out);
}

int elector_config_decode(const uint8_t *data, size_t len, struct elector_config *c)
{
	memset(c, 0, sizeof(*c));
	if (len < 4)
		return -1;
	uint32_t count = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
			 (uint32_t)data[3] << 24;
	if (count > ELECTOR_MEMBERS_MAX)
		return -1;
	size_t at = 4;
	for (uint32_t i = 0; i < count; i++) {
		struct elector_member *m = &c->members[i];
		if (len - at < 8 + ELECTOR_FINGERPRINT_SIZE + 1)
			return -1;
		m->id = get64(data + at);
		memcpy(m->fingerprint, data + at + 8, ELECTOR_FINGERPRINT_SIZE);
		at += 8 + ELECTOR_FINGERPRINT_SIZE;
		size_t n = data[at++];
		if (n >= ELECTOR_ADDRESS_MAX || len - at < n)
			return -1;
		memcpy(m->address, data + at, n);
		at += n;
		if (m->id == ELECTOR_NONE ||
		    !elector_address_valid(m->address, ELECTOR_ADDRESS_MAX))
			return -1;
		for (uint32_t k = 0; k < i; k++) {
			if (c->members[k].id == m->id)
				return -1;
		}
		c->count = i + 1;
	}
	return at == len ? 0 : -1;
}

uint64_t elector_log_last_index(const struct elector_log *l)
{
	return l->snap.index + l->count;
}

const struct elector_entry *elector_log_entry(const struct elector_log *l, uint64_t index)
{
	if (index <= l->snap.index || index > elector_log_last_index(l))
		return NULL;
	return &l->entries[index - l->snap.index - 1];
}

uint64_t elector_log_term(const struct elector_log *l, uint64_t index)
{
	if (index == l->snap.index)
		return l->snap.term;
	const struct elector_entry *x = elector_log_entry(l, index);
	return x != NULL ? x->term : 0;
}

int elector_log_append(struct elector_log *l, uint64_t term, uint32_t type, const uint8_t *data,
		       size_t len)
{
	bool ok;
	if (!elector_log_grow((void **)&l->entries, &l->cap, l->count, sizeof(*l->entries)))
		return -1;
	uint8_t *copy = copy_bytes(data, len, &ok);
	if (!ok)
		return -1;
	uint64_t index = elector_log_last_index(l) + 1;
	l->entries[l->count++] = (struct elector_entry){
	    .index = index, .term = term, .type = type, .len = (uint32_t)len, .data = copy};
	if (l->unstable == 0 || index < l->unstable)
		l->unstable = index;
	return 0;
}

void elector_log_truncate(struct elector_log *l, uint64_t index)
{
	while (l->count > 0 && elector_log_last_index(l) >= index) {
		discard(l, l->entries[l->count - 1].data);
		l->count--;
	}
	if (l->unstable > elector_log_last_index(l) + 1)
		l->unstable = elector_log_last_index(l) + 1;
}

int elector_log_snapshot(struct elector_log *l, const struct elector_snapshot *s, bool clear)
{
	bool ok;
	uint8_t *copy = copy_bytes(s->data, s->len, &ok);
	if (!ok)
		return -1;
	size_t drop = clear ? l->count
			    : (size_t)(s->index > elector_log_last_index(l) ? l->count
				       : s->index > l->snap.index ? s->index - l->snap.index
								  : 0);
	for (size_t i = 0; i < drop; i++)
		discard(l, l->entries[i].data);
	if (l->count > drop) /* an empty log may have no array at all */
		memmove(l->entries, l->entries + drop, (l->count - drop) * sizeof(*l->entries));
	l->count -= drop;
	discard(l, l->snap.data);
	l->snap = *s;
	l->snap.data = copy;
	if (clear) {
		l->unstable = 0;
		l->snap_unstable = true;
	}
	return 0;
}

void elector_log_config_of(const struct elector_entry *x, struct elector_config *c)
{
	if (elector_config_decode(x->data, x->len, c) == -1)
		memset(c, 0, sizeof(*c));
	c->index = x->index;
	c->term = x->term;
}

void elector_log_config_at(const struct elector_log *l, uint64_t index, struct elector_config *c)
{
	for (uint64_t i = index; i > l->snap.index; i--) {
		const struct elector_entry *x = elector_log_entry(l, i);
		if (x != NULL && x->type == ELECTOR_ENTRY_CONFIG) {
			elector_log_config_of(x, c);
			return;
		}
	}
	*c = l->snap.config;
}

void elector_log_release(struct elector_log *l)
{
	for (size_t i = 0; i < l->garbage_count; i++)
		free(l->garbage[i]);
	l->garbage_count = 0;
}

void elector_log_free(struct elector_log *l)
{
	for (size_t i = 0; i < l->count; i++)
		discard(l, l->entries[i].data);
	discard(l, l->snap.data);
	elector_log_release(l);
	free(l->garbage);
	free(l->entries);
	memset(l, 0, sizeof(*l));
}
