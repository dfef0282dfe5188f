/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffers with a hard capacity limit.
 *
 * Data is appended at the end and consumed from the front; consuming only
 * moves a read offset, and the bytes are moved down lazily when room is
 * needed, so reading many small frames out of one large read stays linear.
 *
 * A buffer marked sensitive (buf_set_sensitive) holds secrets or decrypted
 * traffic: every byte it lets go of -- consumed, moved down, left behind
 * when it grows, reset or freed -- is wiped with OPENSSL_cleanse first, so
 * that no copy outlives its use in freed heap memory or a core dump.
 */
#ifndef RXMPP_BUF_H
#define RXMPP_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t start; /* first unconsumed byte */
	size_t end;   /* one past the last byte */
	size_t cap;   /* allocated size */
	size_t limit; /* never grow beyond this many unconsumed bytes */
	bool sensitive;
};

void buf_init(struct buf *b, size_t limit);
/* Marks `b` as holding secrets; it stays so across buf_free and buf_reset. */
void buf_set_sensitive(struct buf *b);
void buf_free(struct buf *b);

static inline size_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}

static inline const char *buf_head(const struct buf *b)
{
	return b->data + b->start;
}

/* Makes room for at least `want` more bytes; -1 (ENOBUFS) past the limit. */
int buf_reserve(struct buf *b, size_t want);
/* Where the next bytes go after buf_reserve, and how many fit. */
char *buf_tail(struct buf *b);
size_t buf_room(const struct buf *b);
/* Counts `n` bytes written at buf_tail() as part of the buffer. */
void buf_commit(struct buf *b, size_t n);

int buf_append(struct buf *b, const void *data, size_t n);
void buf_consume(struct buf *b, size_t n);
/* Drops the contents and gives memory back beyond `keep` bytes. */
void buf_reset(struct buf *b, size_t keep);

/* For secrets outside a struct buf: wipes `size` bytes at `p`, then frees it. */
void buf_wipe_free(void *p, size_t size);
/* realloc for memory that holds secrets: the old block is wiped and freed. */
void *buf_wipe_realloc(void *p, size_t old_size, size_t new_size);

#endif
