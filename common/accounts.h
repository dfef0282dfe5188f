/* SPDX-License-Identifier: MIT */
/*
 * Client accounts: names with salted SCRAM-SHA-1 and SCRAM-SHA-256 keys,
 * never passwords.  The file (state_directory/accounts, mode 0600) has one
 * account a line:
 *
 *   name SCRAM-SHA-1=ITERATIONS,SALT,STOREDKEY,SERVERKEY SCRAM-SHA-256=...
 *
 * with base64 values.  rxmppctl writes it (atomically, under a lock); the
 * listener reads it and notices when it was replaced.  Nobody edits it by
 * hand, so it is sealed like the elector's files (common/fileio.h: a
 * "rxmpp-accounts 1" first line, a SHA-256 last line) and parsed strictly:
 * a damaged file is refused, never read as "one user fewer".  rxmppd
 * checks it at start (a damaged file stops the node) and rewrites a file of
 * the previous format (no header, no checksum) sealed.  In a cluster the
 * elector appends the changes to a journal beside it (accounts_journal.h)
 * and writes the file whole only now and then; every load applies it.
 */
#ifndef RXMPP_ACCOUNTS_H
#define RXMPP_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "jid.h"
#include "scram.h"

#define ACCOUNTS_FILE_NAME "accounts"
#define ACCOUNTS_FILE_MAX  (256u * 1024u * 1024u)

struct account {
	char *name; /* normal form of the localpart */
	struct scram_keys keys[SCRAM_HASH_COUNT];
};

struct accounts {
	struct account *items; /* sorted by name */
	size_t count;
	size_t cap;
};

void accounts_free(struct accounts *a);
/* Reads `path`; a missing file is an empty set.  On error (the reason with
 * the line number and what to do in `why`), `a` is left empty.  *unsealed
 * (may be NULL) tells a file of the previous format. */
int accounts_load(const char *path, struct accounts *a, bool *unsealed, char *why, size_t why_size);
struct accounts_journal_pos;
/* accounts_load, also telling the file's seal (its checksum, 64 hex digits
 * and a NUL; "" for a missing or unsealed file) and where its journal was
 * read to, for a reader that follows the journal; either may be NULL. */
int accounts_load_following(const char *path, struct accounts *a, bool *unsealed, char seal[65],
			    struct accounts_journal_pos *pos, char *why, size_t why_size);
int accounts_save(const char *path, const struct accounts *a, char *why, size_t why_size);
/* accounts_save, telling the new file's seal (may be NULL).  Every writing
 * is unique, and the journal beside the old file is removed: the new file
 * holds its changes. */
int accounts_save_sealed(const char *path, const struct accounts *a, char seal[65], char *why,
			 size_t why_size);
const struct account *accounts_find(const struct accounts *a, const char *name);
/* Adds or replaces `name` with keys derived from `password`. */
int accounts_set_password(struct accounts *a, const char *name, const char *password,
			  size_t password_len, char *why, size_t why_size);
/* Adds or replaces `name` with these keys; -1 when out of memory. */
int accounts_set_keys(struct accounts *a, const char *name,
		      const struct scram_keys keys[SCRAM_HASH_COUNT]);
int accounts_remove(struct accounts *a, const char *name);

#endif
