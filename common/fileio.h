/* SPDX-License-Identifier: MIT */
/*
 * Files that must never be seen half written: configuration, call bridges,
 * accounts, election state.  A write goes to a temporary file in the same
 * folder (created with O_EXCL, so nothing planted there is written
 * through), is flushed to disk, renamed over the old name, and the folder
 * is flushed too, so a crash leaves the old file or the new one, never a mix.
 *
 * State files that only programs write (node id, election state, accounts)
 * are also sealed, so that damage the parser could still read is refused
 * instead of loaded:
 *
 *   rxmpp-<kind> <version>          the first line: what the file is
 *   ...                             the body, lines of text
 *   sha256 <64 hex digits>          the last line: SHA-256 of every byte before it
 *
 * The version is the file's format, under the compatibility rule (README
 * "Upgrades and compatibility"; common/peerlink.h has the same rule for
 * the wire): a change to a format raises its version; a release reads its
 * own format and every earlier one it ever wrote (at least the previous
 * release's) and rewrites such a file in its own format at start, saying
 * so in the log; a newer format is refused with both versions and
 * FILEIO_NEWER_ADVICE, never read as if it were an older one.  The
 * versions are defined where each file is read: NODE_ID_VERSION and
 * ELECTION_VERSION (elector/elector_state.c), ACCOUNTS_VERSION
 * (common/accounts.c); CHANGELOG.md lists the ones each release writes.
 *
 * Hand-edited files (rxmpp.yaml, callbridges.yaml) are not sealed: a
 * checksum would turn every edit by an administrator into "damage"; their
 * proof is a strict parser that names the file, line and column.
 */
#ifndef RXMPP_FILEIO_H
#define RXMPP_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What to do about a state file a newer release wrote. */
#define FILEIO_NEWER_ADVICE                                                                        \
	"run that release again (going back a release needs the state directory as it was "        \
	"backed up before the upgrade)"

/* Replaces `path` with `len` bytes of `data`, created with `mode`.  Run as
 * root, the new file keeps the owner and group of the old one (or of the
 * folder), so that a daemon running as its own user can still read it.
 * -1 also when the folder cannot be opened or flushed after the rename:
 * the new file is then in place but may not survive a power loss, so
 * nothing that depends on it may be sent or reported as done. */
int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *why,
			size_t why_size);
/* Reads a whole file of at most `max` bytes; the caller frees *data. */
int fileio_read_all(const char *path, size_t max, char **data, size_t *len, char *why,
		    size_t why_size);
/* Writes `body` sealed as `kind`, `version` (see above), atomically. */
int fileio_write_sealed(const char *path, const char *kind, unsigned version, const void *body,
			size_t len, mode_t mode, char *why, size_t why_size);
/* The same, with the checksum of the new file (its last line's 64 hex
 * digits and a NUL) in `sum`: what names this writing of it. */
int fileio_write_sealed_sum(const char *path, const char *kind, unsigned version, const void *body,
			    size_t len, mode_t mode, char sum[65], char *why, size_t why_size);

enum fileio_seal {
	FILEIO_SEALED,	   /* header and checksum found and right */
	FILEIO_UNSEALED,   /* neither header nor checksum: written before sealing */
	FILEIO_SEAL_BROKEN /* anything else; the reason in `why` */
};
/* Checks the seal of `text` (NUL-terminated, `len` bytes) read from `path`
 * (named in `why`).  SEALED: *version is the header's, the body is
 * text[*body_start, *body_start + *body_len) and starts on line 2.
 * UNSEALED: the body is the whole text, from line 1.  A file whose header
 * or checksum line is there but wrong, or a wrong kind, is BROKEN. */
enum fileio_seal fileio_unseal(const char *path, const char *text, size_t len, const char *kind,
			       unsigned *version, size_t *body_start, size_t *body_len, char *why,
			       size_t why_size);
/* The next line of a body: *line is its start, its end ('\n') made '\0'.
 * Returns false at the end of the body or when its last line has no
 * '\n' (then *cut is set: a file cut short). */
bool fileio_next_line(char **cursor, char *end, char **line, bool *cut);

/* Takes an exclusive lock on `path`.lock (created 0600), waiting for other
 * holders; returns the descriptor to close to release it, or -1. */
int fileio_lock(const char *path, char *why, size_t why_size);

#endif
