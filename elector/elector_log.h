/* SPDX-License-Identifier: MIT */
/*
 * The election core's log in memory (elector_core.c is its only user):
 * the snapshot (meta and bytes) and the entries after it, each entry's
 * bytes an allocation of its own, and what of them the shell has yet to
 * write (from `unstable` on; the snapshot when `snap_unstable`).  What the
 * core handed out (entries in messages and in elector_ready) must stay
 * valid until elector_advance although the log may drop it before: dropped
 * bytes wait in `garbage` until elector_log_release.  Also the bytes of a
 * membership in a CONFIG entry (elector_config_encode, elector_core.h).
 */
#ifndef RXMPP_ELECTOR_LOG_H
#define RXMPP_ELECTOR_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elector_core.h"

struct elector_log {
	struct elector_snapshot snap;  /* its data: owned */
	struct elector_entry *entries; /* snap.index + 1 ... */
	size_t count;
	size_t cap;
	uint64_t unstable;  /* the first index to write; 0: none */
	bool snap_unstable; /* `snap` to install */
	void **garbage;
	size_t garbage_count;
	size_t garbage_cap;
};

/* Room for one more of `size` bytes in *array of *cap; false when memory
 * is short. */
bool elector_log_grow(void **array, size_t *cap, size_t count, size_t size);

uint64_t elector_log_last_index(const struct elector_log *l);
/* Entry `index`; NULL when compacted away or past the end. */
const struct elector_entry *elector_log_entry(const struct elector_log *l, uint64_t index);
/* The term of entry `index` (the snapshot's at its index); 0 when not known. */
uint64_t elector_log_term(const struct elector_log *l, uint64_t index);
/* A copy of the entry at the next index; -1 when memory is short. */
int elector_log_append(struct elector_log *l, uint64_t term, uint32_t type, const uint8_t *data,
		       size_t len);
/* Drops the entries from `index` on. */
void elector_log_truncate(struct elector_log *l, uint64_t index);
/* `s` (its bytes copied) replaces the snapshot; `clear`: and the whole
 * log (installed from a leader), else the entries up to it (compacted).
 * -1 when memory is short (nothing changed). */
int elector_log_snapshot(struct elector_log *l, const struct elector_snapshot *s, bool clear);
/* The membership of CONFIG entry `x` (empty when it does not decode). */
void elector_log_config_of(const struct elector_entry *x, struct elector_config *c);
/* The membership in effect at `index`: the latest CONFIG entry up to it,
 * else the snapshot's. */
void elector_log_config_at(const struct elector_log *l, uint64_t index, struct elector_config *c);
/* Frees what was dropped (at elector_advance). */
void elector_log_release(struct elector_log *l);
void elector_log_free(struct elector_log *l);

#endif
