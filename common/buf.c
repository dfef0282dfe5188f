/* SPDX-License-Identifier: MIT */
/* Growable byte buffers; see buf.h. */
#include "buf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 256

void buf_init(struct buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void buf_set_sensitive(struct buf *b)
{
	b->sensitive = true;
}

void buf_wipe_free(void *p, size_t size)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, size);
	free(p);
}

void *buf_wipe_realloc(void *p, size_t old_size, size_t new_size)
{
	/* Not realloc: it may move the block and leave the old copy behind. */
	void *grown = malloc(new_size);
	if (grown == NULL)
		return NULL;
	if (p != NULL)
		memcpy(grown, p, old_size < new_size ? old_size : new_size);
	buf_wipe_free(p, old_size);
	return grown;
}

void buf_free(struct buf *b)
{
	bool sensitive = b->sensitive;
	if (sensitive)
		buf_wipe_free(b->data, b->cap);
	else
		free(b->data);
	buf_init(b, b->limit);
	b->sensitive = sensitive;
}

int buf_reserve(struct buf *b, size_t want)
{
	size_t used = buf_len(b);

	if (want > b->limit || used > b->limit - want) {
		errno = ENOBUFS;
		return -1;
	}
	if (b->cap - b->end >= want)
		return 0;
	/* Moving the unconsumed bytes down may be enough. */
	if (b->start > 0) {
		memmove(b->data, b->data + b->start, used);
		/* Only the old copy of the moved bytes is left to wipe: what lies
		 * before start was wiped when it was consumed. */
		size_t stale = b->start > used ? b->start : used;
		if (b->sensitive)
			OPENSSL_cleanse(b->data + stale, b->end - stale);
		b->start = 0;
		b->end = used;
		if (b->cap - b->end >= want)
			return 0;
	}
	size_t cap = b->cap < BUF_MIN_ALLOC ? BUF_MIN_ALLOC : b->cap;
	while (cap - used < want)
		cap *= 2;
	char *data;
	if (b->sensitive) {
		/* Only [0, end) can hold anything: what was consumed or moved
		 * down was wiped then, and nothing is written past end. */
		data = malloc(cap);
		if (data == NULL)
			return -1;
		if (b->data != NULL)
			memcpy(data, b->data, b->end);
		buf_wipe_free(b->data, b->end);
	} else {
		data = realloc(b->data, cap);
		if (data == NULL)
			return -1;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

char *buf_tail(struct buf *b)
{
	return b->data + b->end;
}

size_t buf_room(const struct buf *b)
{
	return b->cap - b->end;
}

void buf_commit(struct buf *b, size_t n)
{
	b->end += n;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->end, data, n);
	b->end += n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (b->sensitive && b->data != NULL)
		OPENSSL_cleanse(b->data + b->start, n < buf_len(b) ? n : buf_len(b));
	if (n >= buf_len(b)) {
		b->start = b->end = 0;
		return;
	}
	b->start += n;
}

void buf_reset(struct buf *b, size_t keep)
{
	if (b->sensitive && b->data != NULL)
		OPENSSL_cleanse(b->data, b->end);
	b->start = b->end = 0;
	if (b->cap > keep) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}
