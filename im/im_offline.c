/* SPDX-License-Identifier: MIT */
/*
 * Offline messages; see im_offline.h.  Decoding is strict because every
 * node decodes the same bytes from the replicated store and must deliver
 * the same stanzas; the <delay/> is added only at delivery, so the stored
 * stanza stays what the sender sent.
 */
#include "im_offline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jid.h"

int im_offline_admit(const struct im_offline_quota *q, const struct im_offline_usage *u, size_t len,
		     struct im_error *err)
{
	if (u->count < q->count_max && u->bytes <= q->bytes_max && len <= q->bytes_max - u->bytes)
		return 0;
	*err = (struct im_error){"cancel", "service-unavailable", NULL};
	return -1;
}

size_t im_offline_encode(int64_t stamp, const char *stanza, size_t len, unsigned char *out,
			 size_t out_size)
{
	if (stamp < 0 || stamp > IM_OFFLINE_STAMP_MAX || out_size < IM_OFFLINE_HEADER ||
	    len > out_size - IM_OFFLINE_HEADER)
		return 0;
	out[0] = IM_OFFLINE_FORMAT;
	for (int i = 0; i < 8; i++)
		out[1 + i] = (unsigned char)((uint64_t)stamp >> (56 - 8 * i));
	memcpy(out + IM_OFFLINE_HEADER, stanza, len);
	return IM_OFFLINE_HEADER + len;
}

static uint64_t im_offline_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The root element is a message: "<message" then a space, '>' or '/'. */
static int im_offline_is_message(const char *s, size_t len)
{
	static const char open[] = "<message";
	size_t n = sizeof(open) - 1;
	return len > n && memcmp(s, open, n) == 0 && strchr(" \t\r\n/>", s[n]) != NULL &&
	       s[n] != '\0';
}

/* The first '>' outside a quoted attribute value: the end of the root's
 * start tag.  XML does not ask for '>' to be escaped in an attribute value
 * and rxmpp's writer (xml_escape) leaves it, so the first '>' of the
 * stanza may stand inside one. */
static const char *im_offline_start_tag_end(const char *s, size_t len)
{
	char quote = '\0';
	for (size_t i = 0; i < len; i++) {
		if (quote != '\0') {
			if (s[i] == quote)
				quote = '\0';
		} else if (s[i] == '"' || s[i] == '\'') {
			quote = s[i];
		} else if (s[i] == '>') {
			return s + i;
		}
	}
	return NULL;
}

/* Where the delay goes: before the end tag, or (for an empty element)
 * where its "/>" is; -1 when neither ends the stanza. */
static int im_offline_insertion(const char *s, size_t len, size_t *at, int *empty)
{
	static const char end[] = "</message>";
	size_t n = sizeof(end) - 1;
	if (!im_offline_is_message(s, len))
		return -1;
	if (len > n && memcmp(s + len - n, end, n) == 0) {
		*at = len - n;
		*empty = 0;
		return 0;
	}
	/* An empty root element: its "/>" ends its start tag, so a child's
	 * "/>" is not taken for it. */
	if (len >= 2 && memcmp(s + len - 2, "/>", 2) == 0 &&
	    im_offline_start_tag_end(s, len) == s + len - 1) {
		*at = len - 2;
		*empty = 1;
		return 0;
	}
	return -1;
}

int im_offline_decode(const unsigned char *key, size_t key_len, const unsigned char *value,
		      size_t len, size_t stanza_max, struct im_offline_entry *e, const char **why)
{
	memset(e, 0, sizeof(*e));
	size_t at;
	int empty;
	if (key_len != 8)
		*why = "key";
	else if (len < IM_OFFLINE_HEADER || value[0] != IM_OFFLINE_FORMAT)
		*why = "format";
	else if (im_offline_u64(value + 1) > (uint64_t)IM_OFFLINE_STAMP_MAX)
		*why = "stamp";
	else if (len - IM_OFFLINE_HEADER > stanza_max)
		*why = "size";
	else if (memchr(value + IM_OFFLINE_HEADER, '\0', len - IM_OFFLINE_HEADER) != NULL ||
		 im_offline_insertion((const char *)value + IM_OFFLINE_HEADER,
				      len - IM_OFFLINE_HEADER, &at, &empty) == -1)
		*why = "stanza";
	else
		*why = NULL;
	if (*why != NULL)
		return -1;
	e->key = im_offline_u64(key);
	e->stamp = (int64_t)im_offline_u64(value + 1);
	e->stanza = (const char *)value + IM_OFFLINE_HEADER;
	e->len = len - IM_OFFLINE_HEADER;
	return 0;
}

static int im_offline_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct im_offline_entry *)a)->key;
	uint64_t y = ((const struct im_offline_entry *)b)->key;
	return x < y ? -1 : x > y;
}

void im_offline_sort(struct im_offline_entry *e, size_t n)
{
	if (n > 1)
		qsort(e, n, sizeof(*e), im_offline_cmp);
}

int im_offline_delay(const char *domain, int64_t stamp, char *out, size_t out_size)
{
	struct jid_parts parts;
	/* A domainpart has no quote, '<' or '&' (jid.c), so it goes into
	 * the attribute as it is. */
	if (jid_split(domain, strlen(domain), &parts) == -1 || parts.local_len != 0 ||
	    parts.resource_len != 0 || stamp < 0 || stamp > IM_OFFLINE_STAMP_MAX)
		return -1;
	time_t t = (time_t)stamp;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	int n = snprintf(out, out_size,
			 "<delay xmlns='urn:xmpp:delay' from='%s' "
			 "stamp='%04d-%02d-%02dT%02d:%02d:%02dZ'>Offline Storage</delay>",
			 domain, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
	return n < 0 || (size_t)n >= out_size ? -1 : n;
}

int im_offline_stamp(const char *stanza, size_t len, const char *delay, char *out, size_t out_size)
{
	size_t at;
	int empty;
	if (im_offline_insertion(stanza, len, &at, &empty) == -1)
		return -1;
	size_t dlen = strlen(delay);
	/* An empty element becomes "<message ...>" DELAY "</message>". */
	size_t total = empty ? at + 1 + dlen + 10 : len + dlen;
	if (total >= out_size)
		return -1;
	memcpy(out, stanza, at);
	char *p = out + at;
	if (empty)
		*p++ = '>';
	memcpy(p, delay, dlen);
	p += dlen;
	if (empty)
		memcpy(p, "</message>", 10);
	else
		memcpy(p, stanza + at, len - at);
	out[total] = '\0';
	return (int)total;
}
