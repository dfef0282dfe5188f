/* SPDX-License-Identifier: MIT */
/*
 * A hash table from byte-string keys to pointers, with chaining, growing as
 * it fills.  The table keeps its own copy of each key.  Used for the
 * router's indexes (session id, full JID, bare JID) and the listener's
 * (connection id, address, user): keys that clients choose, so the hash is
 * keyed (SipHash-2-4, a random key per process) and a crafted set of JIDs
 * cannot fill one chain.
 */
#ifndef RXMPP_TABLE_H
#define RXMPP_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define TABLE_KEY_LEN 16

struct table;

/* Sets the process's hash key; without it, the first table_new draws one
 * with RAND_bytes.  Only while no table exists (tests compare keys). */
int table_set_key(const unsigned char key[TABLE_KEY_LEN]);
/* SipHash-2-4 of `len` bytes under the process's key (set first). */
uint64_t table_hash(const void *key, size_t len);

/* NULL with errno: out of memory, or no random bytes for the key. */
struct table *table_new(void);
void table_free(struct table *t);
void *table_get(const struct table *t, const void *key, size_t len);
/* Inserts or replaces; returns the value replaced, or NULL.  -1 sets errno. */
int table_put(struct table *t, const void *key, size_t len, void *value, void **replaced);
/* Removes the key; returns its value, or NULL. */
void *table_remove(struct table *t, const void *key, size_t len);
size_t table_count(const struct table *t);
/* Calls fn for every entry (the table must not change meanwhile). */
void table_each(const struct table *t, void (*fn)(void *value, void *arg), void *arg);
/* The length of the longest chain: what a lookup walks at worst. */
size_t table_longest_chain(const struct table *t);

#endif
