/* SPDX-License-Identifier: MIT */
/*
 * A hash table from byte-string keys to pointers, with chaining, growing as
 * it fills.  The table keeps its own copy of each key.  Used for the
 * router's indexes (session id, full JID, bare JID).
 */
#ifndef RXMPP_TABLE_H
#define RXMPP_TABLE_H

#include <stddef.h>

struct table;

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

#endif
