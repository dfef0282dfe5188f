/* SPDX-License-Identifier: MIT */
/*
 * The replicated log on disk (runs in the elector; rxmppctl only reads):
 * two files under the state directory, beside node-id.
 *
 *   log       a header, then records appended in order: log entries
 *             (index, term, type, bytes) and the hard state (term, vote,
 *             commit index), each record checksummed (CRC-32C over its
 *             header and bytes).  Every write (append or rewrite) ends
 *             with a hard-state record that names where the write began.
 *             The latest hard-state record is the one in force; an entry at an index already in the
 * file replaces it and everything after it (the file is cut there first). snapshot  the state
 * machine as of an index: that index and term, the membership in force there, the state machine's
 * bytes, and a SHA-256 of all of it; written whole and atomically.
 *
 * Everything written is flushed (fdatasync; for a new file, rename and
 * the folder's fsync) before elector_log_store_append or _snapshot
 * returns, so the shell may then send what depends on it.
 *
 * A snapshot at index I compacts the log: the snapshot is written first,
 * then the log rewritten (atomically) with the hard state and the entries
 * after I.  A crash between the two leaves a log that still holds entries
 * up to I: they are skipped at the next start.  When the log's entry at I
 * has another term than the snapshot's (a follower that installed the
 * leader's snapshot over a conflicting log), none of its entries is kept.
 *
 * What is refused at start (-1, the file, the byte offset and what is
 * wrong, then STATE_ADVICE): a record whose checksum fails (but see
 * below), a header or type that is not ours, indexes that do not follow
 * each other, terms that go back, a log that ends before the commit index its hard state
 * records, a snapshot whose checksum fails or whose fields are out of
 * range, a log that does not continue the snapshot.  The node then does
 * not start: serving a state it cannot trust could acknowledge what the
 * cluster does not hold.
 *
 * One exception, a crash in the middle of an append: the last record may
 * be cut short (fewer bytes than its header says, or not even a whole
 * header) or be followed by zero bytes only (a file system that grew the
 * file but never wrote the data); and as a write of several pages may
 * reach the disk in any order (the new file size and some pages, not
 * others), a record whose checksum fails is a torn append too when it
 * lies in the last write: no whole hard-state record after it, or only
 * the last write's own, whose begin offset is at or before it, with
 * nothing but zeros after that.  Such a write was never flushed, so
 * nothing that depended on it was ever sent: dropping it is safe, and
 * the file is cut back to the last whole record before the failure (said
 * in *note), closed by a hard-state record.  A checksum that fails before
 * the last write is damage and refused: that write ended with a
 * hard-state record whose flush preceded everything after it.  Damage
 * confined to the last write cannot be told from a tear and is taken as
 * one: its entries from the failing record on are dropped although they
 * may have been acknowledged, as after a disk that lost that write.
 *
 * Whole entries before the cut are kept, whatever their term: the log's
 * hard state may lag the election file's (a crash between the two files
 * of one persist), so a term above the log's hard state does not tell an
 * unflushed entry from one flushed and acknowledged; keeping a whole,
 * checksummed entry that was never acknowledged is harmless (Raft
 * replaces or commits it like any other), dropping an acknowledged one
 * could lose a committed entry.  elector_replica_open writes the boot's
 * term and vote to the log when they differ from the log's.  The
 * commit-index check above catches a log cut back further than any crash
 * can (the commit index is written after the entries it covers).
 *
 * Log format 1 (builds of this release before the closing hard-state
 * record; never released) is read with the rules above but one, that a
 * whole record whose checksum fails is always damage, and rewritten in
 * format 2 at open (said in *note).
 */
#ifndef RXMPP_ELECTOR_LOG_STORE_H
#define RXMPP_ELECTOR_LOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elector_core.h"

#define ELECTOR_LOG_FILE      "log"
#define ELECTOR_SNAPSHOT_FILE "snapshot"
/* What the refusals end with: a cluster's store can be had again from
 * the cluster (a store of another use, elector_local.h, says its own). */
#define ELECTOR_LOG_STORE_ADVICE                                                                   \
	"restore the state directory from a backup, or run `rxmppctl reset` and join the "         \
	"cluster again (see rxmppd(8), DAMAGED STATE FILES)"
/* Bytes of one entry: far above a DATA entry (8 KiB) or a membership. */
#define ELECTOR_LOG_ENTRY_MAX (64u * 1024u)
/* Bytes of the state machine in a snapshot. */
#define ELECTOR_SNAPSHOT_DATA_MAX (512u * 1024u * 1024u)

struct elector_hard_state {
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
};

struct elector_log_entry {
	uint64_t index;
	uint64_t term;
	uint32_t type; /* the core's entry type; stored, never interpreted here */
	uint32_t len;
	const uint8_t *data;
};

struct elector_snapshot_meta {
	uint64_t index; /* 0: no snapshot (the log starts at index 1) */
	uint64_t term;
	struct elector_config config; /* the membership in force at `index` */
};

/* What was on disk at start.  The entries' bytes point into the store's
 * own copy, valid until elector_log_store_free. */
struct elector_log_loaded {
	struct elector_hard_state hard;
	struct elector_snapshot_meta meta;
	const uint8_t *snapshot; /* the state machine's bytes; NULL when none */
	size_t snapshot_len;
	const struct elector_log_entry *entries; /* indexes meta.index + 1 on */
	size_t count;
};

struct elector_log_store;

/* Opens (or, when neither file is there, creates empty) the log of
 * `dir`; see above for what is refused.  *note (may be empty) says what
 * was repaired, for the log.  -1 with the reason in `why`. */
struct elector_log_store *elector_log_store_open(const char *dir, struct elector_log_loaded *loaded,
						 char *note, size_t note_size, char *why,
						 size_t why_size);
/* Reads what elector_log_store_open would, writing nothing (a torn tail
 * is left out, not cut), into *loaded (none of it when there is no log):
 * a store to free, never to write to.  NULL with `why` when refused. */
struct elector_log_store *elector_log_store_read(const char *dir, struct elector_log_loaded *loaded,
						 char *why, size_t why_size);
/* Reads what elector_log_store_open would, writing nothing (a torn tail
 * is left as it is): 0, 1 when there is no log, -1 refused. */
int elector_log_store_check(const char *dir, struct elector_hard_state *hard,
			    struct elector_snapshot_meta *meta, char *why, size_t why_size);
/* Writes a store of its own: the snapshot (meta only, no state-machine
 * bytes; none when meta->index is 0), then the log with `hard` and
 * `entries`.  For a state of an earlier format (elector_state.c); the
 * log last, as that is what says the state is in this format. */
int elector_log_store_create(const char *dir, const struct elector_hard_state *hard,
			     const struct elector_snapshot_meta *meta,
			     const struct elector_log_entry *entries, size_t count, char *why,
			     size_t why_size);
/* Whether `dir` holds a log (the format of this release). */
bool elector_log_store_exists(const char *dir);

/* Writes `hard` (NULL: unchanged) and `entries` (their indexes
 * consecutive; the first at most one past the last stored, and not at or
 * below the snapshot's), replacing any stored entry from the first one's
 * index on, then flushes.  -1 with `why`: nothing may be sent then. */
int elector_log_store_append(struct elector_log_store *s, const struct elector_hard_state *hard,
			     const struct elector_log_entry *entries, size_t count, char *why,
			     size_t why_size);
/* Writes a snapshot and compacts the log behind it (see above).  `meta`
 * index must be above the current snapshot's. */
int elector_log_store_snapshot(struct elector_log_store *s,
			       const struct elector_snapshot_meta *meta, const uint8_t *data,
			       size_t len, char *why, size_t why_size);

/* The last index stored (the snapshot's when the log is empty). */
uint64_t elector_log_store_last_index(const struct elector_log_store *s);
/* Bytes of the log file: the shell snapshots when it grows too large. */
uint64_t elector_log_store_log_bytes(const struct elector_log_store *s);

void elector_log_store_free(struct elector_log_store *s);

#endif
