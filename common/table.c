/* SPDX-License-Identifier: MIT */
/*
 * Hash table; see table.h.  Power-of-two bucket counts, chains, and a keyed
 * hash: clients choose the JIDs and resources that become keys, and with an
 * unkeyed hash (FNV-1a before) they could choose a set that lands in one
 * chain and make every lookup walk it.  SipHash-2-4 (Aumasson and
 * Bernstein, "SipHash: a fast short-input PRF", 2012) with a key drawn once
 * per process from RAND_bytes makes the buckets unpredictable from outside.
 *
 * Speed: SipHash is written out here rather than called through OpenSSL's
 * "SIPHASH" MAC, whose EVP dispatch (parameter lookups, init, update, final)
 * cost several times the hash itself: with it, hashing was about 2,000 of
 * the router's 5,000 instructions per routed message (callgrind,
 * docs/PERFORMANCE.md).  The paper's reference vectors check it
 * (tests/unit/check_table.c).
 */
#include "table.h"

#include <errno.h>
#include <stdbool.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct entry {
	struct entry *next;
	uint64_t hash;
	void *value;
	size_t len;
	char key[];
};

struct table {
	struct entry **buckets;
	size_t bucket_count;
	size_t count;
};

/* The process's key; set once by the first table or table_set_key.
 * Processes are single-threaded. */
static uint64_t table_k0, table_k1;
static bool table_keyed;

static uint64_t table_load64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int table_set_key(const unsigned char key[TABLE_KEY_LEN])
{
	_Static_assert(TABLE_KEY_LEN == 16, "SipHash takes a 128-bit key");
	table_k0 = table_load64(key);
	table_k1 = table_load64(key + 8);
	table_keyed = true;
	return 0;
}

#define TABLE_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* One SipRound. */
#define TABLE_SIPROUND                                                                             \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = TABLE_ROTL(v1, 13);                                                           \
		v1 ^= v0;                                                                          \
		v0 = TABLE_ROTL(v0, 32);                                                           \
		v2 += v3;                                                                          \
		v3 = TABLE_ROTL(v3, 16);                                                           \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = TABLE_ROTL(v3, 21);                                                           \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = TABLE_ROTL(v1, 17);                                                           \
		v1 ^= v2;                                                                          \
		v2 = TABLE_ROTL(v2, 32);                                                           \
	} while (0)

uint64_t table_hash(const void *key, size_t len)
{
	/* A hash before the key is set is our own inconsistency. */
	if (!table_keyed)
		fatalx("table: SipHash without a key");
	const unsigned char *in = key;
	uint64_t v0 = table_k0 ^ 0x736f6d6570736575ull;
	uint64_t v1 = table_k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = table_k0 ^ 0x6c7967656e657261ull;
	uint64_t v3 = table_k1 ^ 0x7465646279746573ull;
	size_t whole = len - len % 8;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = table_load64(in + i);
		v3 ^= m;
		TABLE_SIPROUND;
		TABLE_SIPROUND;
		v0 ^= m;
	}
	/* The last block: the remaining bytes, and the length's low byte on top. */
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < len % 8; i++)
		b |= (uint64_t)in[whole + i] << (8 * i);
	v3 ^= b;
	TABLE_SIPROUND;
	TABLE_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	TABLE_SIPROUND;
	TABLE_SIPROUND;
	TABLE_SIPROUND;
	TABLE_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The process's key, drawn at the first table; -1 (errno EIO) when
 * there are no random bytes, rather than a key someone could guess. */
static int table_key_ready(void)
{
	if (table_keyed)
		return 0;
	unsigned char key[TABLE_KEY_LEN];
	if (RAND_bytes(key, sizeof(key)) != 1) {
		errno = EIO;
		return -1;
	}
	int rc = table_set_key(key);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

struct table *table_new(void)
{
	if (table_key_ready() == -1)
		return NULL;
	struct table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->bucket_count = 64;
	t->buckets = calloc(t->bucket_count, sizeof(*t->buckets));
	if (t->buckets == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->bucket_count; i++) {
		struct entry *e = t->buckets[i];
		while (e != NULL) {
			struct entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(t->buckets);
	free(t);
}

static struct entry **table_slot(const struct table *t, const void *key, size_t len, uint64_t hash)
{
	struct entry **slot = &t->buckets[hash & (t->bucket_count - 1)];
	while (*slot != NULL && ((*slot)->hash != hash || (*slot)->len != len ||
				 memcmp((*slot)->key, key, len) != 0))
		slot = &(*slot)->next;
	return slot;
}

void *table_get(const struct table *t, const void *key, size_t len)
{
	struct entry **slot = table_slot(t, key, len, table_hash(key, len));
	return *slot != NULL ? (*slot)->value : NULL;
}

static void table_grow(struct table *t)
{
	size_t count = t->bucket_count * 2;
	struct entry **buckets = calloc(count, sizeof(*buckets));
	if (buckets == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->bucket_count; i++) {
		struct entry *e = t->buckets[i];
		while (e != NULL) {
			struct entry *next = e->next;
			struct entry **head = &buckets[e->hash & (count - 1)];
			e->next = *head;
			*head = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = buckets;
	t->bucket_count = count;
}

int table_put(struct table *t, const void *key, size_t len, void *value, void **replaced)
{
	uint64_t hash = table_hash(key, len);
	struct entry **slot = table_slot(t, key, len, hash);
	if (*slot != NULL) {
		if (replaced != NULL)
			*replaced = (*slot)->value;
		(*slot)->value = value;
		return 0;
	}
	struct entry *e = malloc(sizeof(*e) + len);
	if (e == NULL) {
		errno = ENOMEM;
		return -1;
	}
	e->next = NULL;
	e->hash = hash;
	e->value = value;
	e->len = len;
	memcpy(e->key, key, len);
	*slot = e;
	t->count++;
	if (replaced != NULL)
		*replaced = NULL;
	if (t->count > t->bucket_count)
		table_grow(t);
	return 0;
}

void *table_remove(struct table *t, const void *key, size_t len)
{
	struct entry **slot = table_slot(t, key, len, table_hash(key, len));
	struct entry *e = *slot;
	if (e == NULL)
		return NULL;
	*slot = e->next;
	void *value = e->value;
	free(e);
	t->count--;
	return value;
}

size_t table_count(const struct table *t)
{
	return t->count;
}

void table_each(const struct table *t, void (*fn)(void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < t->bucket_count; i++) {
		for (struct entry *e = t->buckets[i]; e != NULL; e = e->next)
			fn(e->value, arg);
	}
}

size_t table_longest_chain(const struct table *t)
{
	size_t longest = 0;
	for (size_t i = 0; i < t->bucket_count; i++) {
		size_t n = 0;
		for (struct entry *e = t->buckets[i]; e != NULL; e = e->next)
			n++;
		if (n > longest)
			longest = n;
	}
	return longest;
}
