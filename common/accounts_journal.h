/* SPDX-License-Identifier: MIT */
/*
 * The accounts journal (state_directory/accounts.journal, mode 0600): the
 * changes made since the accounts file was last written whole, so that a
 * change costs what it changes rather than a rewrite of every account
 * (issue 15: the elector applies the cluster's writes in batches, and a
 * 100,000-account file rewritten per batch held them to a few a second).
 * Only the elector appends to it; every reader of the accounts file
 * (accounts_load) applies it on top, and the listener follows it from
 * where it last read.
 *
 * Layout, little-endian, binary like the elector's log:
 *   head    "RXMPPACJ", u32 version, u32 0, then the 64 hex digits of the
 *           seal of the accounts file it follows (that file's last line).
 *           A journal whose seal is not the file's is stale (the file was
 *           written whole after it, which includes its changes) and is
 *           not read; every writing of the file is unique (accounts.c).
 *   records u32 crc32c of the next 8 bytes, u32 crc32c of the bytes, u32
 *           len, then `len` bytes: u32 count of changes, each u8 op (1 the
 *           account's keys, 2 deleted), u16 name length, the name in its
 *           prepared form; for op 1 per mechanism (SCRAM-SHA-1, then
 *           SCRAM-SHA-256) u32 iterations, u8 salt length, the salt, the
 *           StoredKey and the ServerKey.
 * One append is one record, flushed (fdatasync) before whatever depends
 * on it is answered.  A crash can cut short only the last record: a tail
 * too short for its record, all zeros, or whose last record fails the
 * checksum of its bytes (with only zeros after it) is left out (a reader
 * may also see an append in progress that way); any other failure is
 * damage, refused with the file and byte.
 */
#ifndef RXMPP_ACCOUNTS_JOURNAL_H
#define RXMPP_ACCOUNTS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "accounts.h"

#define ACCOUNTS_JOURNAL_SUFFIX ".journal"
#define ACCOUNTS_SEAL_LEN	64

/* An account as it is now, or deleted (keys NULL). */
struct accounts_journal_change {
	const char *name;
	const struct scram_keys *keys; /* SCRAM_HASH_COUNT of them */
};

/* Where a reader stands in a journal. */
struct accounts_journal_pos {
	bool present; /* a journal of this accounts file was read */
	dev_t dev;
	ino_t ino;
	size_t offset; /* the end of the last whole record applied */
	size_t torn;   /* bytes after it left out as cut short (or in progress) */
};

/* Appends one record of `count` changes to the journal of the accounts
 * file at `accounts_path` whose seal is `seal`, and flushes it.  With
 * *journal_size 0 the journal is created anew (atomically, replacing any
 * stale one); *journal_size is its size after. */
int accounts_journal_append(const char *accounts_path, const char seal[ACCOUNTS_SEAL_LEN + 1],
			    const struct accounts_journal_change *changes, size_t count,
			    size_t *journal_size, char *why, size_t why_size);
/* Applies the journal of the accounts file at `accounts_path` (sealed
 * `seal`) to `a`, which holds that file's accounts and, when pos->present,
 * the journal's records up to pos->offset (the same journal: the caller
 * compares pos->dev and pos->ino).  A missing or stale journal applies
 * nothing (pos->present false).  -1 with the file and byte in `why` when
 * the journal is damaged; the whole records before the damage are applied. */
int accounts_journal_apply(const char *accounts_path, const char seal[ACCOUNTS_SEAL_LEN + 1],
			   struct accounts *a, struct accounts_journal_pos *pos, char *why,
			   size_t why_size);

#endif
