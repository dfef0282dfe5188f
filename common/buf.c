/* Growable byte buffers; see buf.h. */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 256

void buf_init(struct buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->limit);
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
		b->start = 0;
		b->end = used;
		if (b->cap - b->end >= want)
			return 0;
	}
	size_t cap = b->cap < BUF_MIN_ALLOC ? BUF_MIN_ALLOC : b->cap;
	while (cap - used < want)
		cap *= 2;
	char *data = realloc(b->data, cap);
	if (data == NULL)
		return -1;
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
	if (n >= buf_len(b)) {
		b->start = b->end = 0;
		return;
	}
	b->start += n;
}

void buf_reset(struct buf *b, size_t keep)
{
	b->start = b->end = 0;
	if (b->cap > keep) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}
