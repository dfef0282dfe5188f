/* SPDX-License-Identifier: MIT */
/*
 * The users' own data in the cluster's replicated state (issue 18): per
 * user, per collection, opaque keys and values that the IM process
 * encodes (rosters, subscription state, offline messages, vCards, block
 * lists).  The store understands none of it; it keeps every collection
 * sorted by key, counts its items and bytes against the limits the
 * command carries, and stamps it with a version: the log index of the
 * entry that last changed it, the same on every node and strictly
 * increasing (XEP-0237's roster `ver`).
 *
 * This file is the data structure only, pure and deterministic (runs in
 * the elector, under elector_machine.c, which decodes the commands,
 * checks that the user has an account and writes the snapshot section).
 * Users are found through a keyed hash table (common/table.h), items by
 * binary search in each collection's sorted array of pointers: a put
 * costs a search and a move of at most the collection's count of
 * pointers (bounded by ELECTOR_USERDATA_COUNT_MAX), never the total.
 *
 * Keys order as bytes (memcmp, then the shorter first), so the 8-byte
 * big-endian log indexes that APPEND makes its keys sort in arrival order.
 * Every change is all or nothing: memory is taken before anything moves,
 * and when it runs out the store is as it was.
 */
#ifndef RXMPP_ELECTOR_USERDATA_H
#define RXMPP_ELECTOR_USERDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum elector_userdata_collection_id {
	ELECTOR_USERDATA_ROSTER = 1, /* contact bare JID -> roster item */
	ELECTOR_USERDATA_OFFLINE,    /* log index -> stored message, in arrival order */
	ELECTOR_USERDATA_VCARD,	     /* the user's vCard(s) */
	ELECTOR_USERDATA_BLOCK,	     /* blocked JID -> (empty) */
	ELECTOR_USERDATA_META,	     /* anything else per user the IM process keeps */
	ELECTOR_USERDATA_COLLECTION_END,
};
#define ELECTOR_USERDATA_COLLECTIONS (ELECTOR_USERDATA_COLLECTION_END - 1)

/* A key is 1 to 3071 bytes (a JID's longest form); a value 0 bytes or
 * more, as long as the whole command fits ELECTOR_MACHINE_COMMAND_MAX. */
#define ELECTOR_USERDATA_KEY_MAX   3071u
#define ELECTOR_USERDATA_VALUE_MAX 8192u
/* The hard limits of one collection, whatever a command asks: what keeps
 * one user from filling every node's memory and the snapshot. */
#define ELECTOR_USERDATA_COUNT_MAX 10000u
#define ELECTOR_USERDATA_BYTES_MAX (8u * 1024u * 1024u)
/* All users' data together, as the snapshot holds it (keys, values and
 * the records around them: elector_userdata_stored): what keeps the
 * machine's snapshot within ELECTOR_MACHINE_SNAPSHOT_MAX (256 MiB) beside
 * a million accounts of ordinary names (about 170 bytes each), so that the
 * log can always be compacted, and every node's memory bounded.  Past it,
 * every change that adds bytes is refused, naming it. */
#define ELECTOR_USERDATA_TOTAL_MAX (64u * 1024u * 1024u)

/* A collection's quota: items and bytes (keys and values).  The command
 * carries it, so that every node applies the same one whatever its own
 * configuration says. */
struct elector_userdata_limit {
	uint32_t count;
	uint32_t bytes;
};

/* What a change did; -1 from the functions below is memory that ran out
 * (nothing changed). */
enum elector_userdata_outcome {
	ELECTOR_USERDATA_CHANGED,
	ELECTOR_USERDATA_SAME,	  /* nothing to change */
	ELECTOR_USERDATA_REFUSED, /* nothing changed; `why` names the reason or the limit */
};

struct elector_userdata;

/* One collection as it stands: read-only views for the elector's reads. */
struct elector_userdata_view {
	uint64_t version; /* 0: never changed (or the user's data was cleared) */
	uint32_t count;
	uint64_t bytes;
};

struct elector_userdata *elector_userdata_new(void);
void elector_userdata_free(struct elector_userdata *u);

const char *elector_userdata_collection_name(uint32_t collection); /* "roster"... or NULL */
/* The default quotas of a collection (README "Cluster state"). */
struct elector_userdata_limit elector_userdata_default_limit(uint32_t collection);
/* A command's limit is valid when 1..the hard limits. */
bool elector_userdata_limit_valid(const struct elector_userdata_limit *limit);

/* The changes.  `apply` false: the same answer, nothing changed.  `index`
 * is the log index of the entry being applied: the collection's new
 * version, and APPEND's key (8 bytes, big-endian).  Keys of
 * 1..ELECTOR_USERDATA_KEY_MAX bytes; the caller checked the user. */
int elector_userdata_put(struct elector_userdata *u, const char *user, uint32_t collection,
			 const void *key, size_t key_len, const void *value, size_t value_len,
			 const struct elector_userdata_limit *limit, uint64_t index, bool apply,
			 char *why, size_t why_size);
int elector_userdata_del(struct elector_userdata *u, const char *user, uint32_t collection,
			 const void *key, size_t key_len, uint64_t index, bool apply, char *why,
			 size_t why_size);
int elector_userdata_append(struct elector_userdata *u, const char *user, uint32_t collection,
			    const void *value, size_t value_len,
			    const struct elector_userdata_limit *limit, uint64_t index, bool apply,
			    char *why, size_t why_size);
/* Removes every key <= `key`; *taken how many. */
int elector_userdata_take(struct elector_userdata *u, const char *user, uint32_t collection,
			  const void *key, size_t key_len, uint64_t index, bool apply,
			  uint32_t *taken, char *why, size_t why_size);
/* Forgets everything of `user`; how many items it held (0: nothing). */
size_t elector_userdata_clear(struct elector_userdata *u, const char *user, bool apply);
/* The bytes counted against ELECTOR_USERDATA_TOTAL_MAX: at least what the
 * snapshot writes of the users' data. */
uint64_t elector_userdata_stored(const struct elector_userdata *u);

/* Reads: one user's collection, NULL when it holds no data (it reads as
 * empty, version 0).  Valid until the next change. */
struct elector_userdata_collection;
const struct elector_userdata_collection *
elector_userdata_find(const struct elector_userdata *u, const char *user, uint32_t collection);
struct elector_userdata_view elector_userdata_view(const struct elector_userdata_collection *c);
/* The position of the first key after `key` (NULL: of the first key), or
 * with `inclusive` of the first key >= `key`. */
size_t elector_userdata_seek(const struct elector_userdata_collection *c, const void *key,
			     size_t key_len, bool inclusive);
/* Item `i` in key order; false past the end. */
bool elector_userdata_item(const struct elector_userdata_collection *c, size_t i,
			   const uint8_t **key, size_t *key_len, const uint8_t **value,
			   size_t *value_len);

/* For the snapshot: the users that hold data (any collection with a
 * version), sorted by name, into *names (freed with free(); the strings
 * belong to the store).  -1: out of memory. */
int elector_userdata_users(const struct elector_userdata *u, const char ***names, size_t *count);
/* Rebuilding from a snapshot: a collection's version, then its items in
 * strictly increasing key order (checked: -1 with `why` otherwise, or out
 * of memory). */
int elector_userdata_restore_version(struct elector_userdata *u, const char *user,
				     uint32_t collection, uint64_t version);
int elector_userdata_restore_item(struct elector_userdata *u, const char *user, uint32_t collection,
				  const void *key, size_t key_len, const void *value,
				  size_t value_len, const char **why);

#endif
