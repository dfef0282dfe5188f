/* SPDX-License-Identifier: MIT */
/* Hash table; see table.h.  FNV-1a hashing, power-of-two bucket counts. */
#include "table.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static uint64_t table_hash(const void *key, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ ((const unsigned char *)key)[i]) * 1099511628211ull;
	return h;
}

struct table *table_new(void)
{
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
