/*
 * Files that must never be seen half written: configuration, call bridges,
 * accounts, election state.  A write goes to a temporary file in the same
 * folder, is flushed to disk, renamed over the old name, and the folder is
 * flushed too, so a crash leaves the old file or the new one, never a mix.
 */
#ifndef RXMPP_FILEIO_H
#define RXMPP_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces `path` with `len` bytes of `data`, created with `mode`.  Run as
 * root, the new file keeps the owner and group of the old one (or of the
 * folder), so that a daemon running as its own user can still read it. */
int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *why,
			size_t why_size);
/* Reads a whole file of at most `max` bytes; the caller frees *data. */
int fileio_read_all(const char *path, size_t max, char **data, size_t *len, char *why,
		    size_t why_size);
/* Takes an exclusive lock on `path`.lock (created 0600), waiting for other
 * holders; returns the descriptor to close to release it, or -1. */
int fileio_lock(const char *path, char *why, size_t why_size);

#endif
