/* SPDX-License-Identifier: MIT */
/*
 * XEP-0352 client state indication of one client session (pure; see
 * listener_csi.h).  Run by the listener; fails only for lack of memory,
 * when the caller sends the stanza at once instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "listener_csi.h"

void listener_csi_init(struct listener_csi *csi)
{
	memset(csi, 0, sizeof(*csi));
	csi->tail = &csi->head;
}

/* The name of the first tag: its length, from bytes[1]. */
static size_t csi_tag_name(const char *bytes, size_t len)
{
	size_t n = 1;
	while (n < len && bytes[n] != ' ' && bytes[n] != '>' && bytes[n] != '/')
		n++;
	return len > 0 && bytes[0] == '<' ? n - 1 : 0;
}

static bool csi_is(const char *bytes, size_t len, const char *name)
{
	size_t n = csi_tag_name(bytes, len);
	return n == strlen(name) && memcmp(bytes + 1, name, n) == 0;
}

/* The value of attribute `name` of the first tag, unescaped entities left
 * as they are (compared, never shown); NULL when absent. */
static const char *csi_attr(const char *bytes, size_t len, const char *name, size_t *value_len)
{
	size_t at = 1 + csi_tag_name(bytes, len), want = strlen(name);
	while (at < len) {
		while (at < len && bytes[at] == ' ')
			at++;
		if (at >= len || bytes[at] == '>' || bytes[at] == '/')
			return NULL;
		size_t start = at;
		while (at < len && bytes[at] != '=')
			at++;
		size_t name_len = at - start;
		if (at + 1 >= len || (bytes[at + 1] != '"' && bytes[at + 1] != '\''))
			return NULL;
		char quote = bytes[at + 1];
		size_t value = at + 2;
		const char *end = memchr(bytes + value, quote, len - value);
		if (end == NULL)
			return NULL;
		if (name_len == want && memcmp(bytes + start, name, want) == 0) {
			*value_len = (size_t)(end - (bytes + value));
			return bytes + value;
		}
		at = (size_t)(end - bytes) + 1;
	}
	return NULL;
}

/* Available or unavailable presence: only its latest state matters. */
static bool csi_replaceable_presence(const char *bytes, size_t len)
{
	if (!csi_is(bytes, len, "presence"))
		return false;
	size_t n;
	const char *type = csi_attr(bytes, len, "type", &n);
	return type == NULL || (n == 11 && memcmp(type, "unavailable", 11) == 0);
}

static bool csi_has_body(const char *bytes, size_t len)
{
	for (const char *p = bytes; (p = memmem(p, len - (size_t)(p - bytes), "<body", 5)) != NULL;
	     p += 5) {
		size_t rest = len - (size_t)(p - bytes);
		if (rest > 5 && (p[5] == '>' || p[5] == ' ' || p[5] == '/'))
			return true;
	}
	return false;
}

bool listener_csi_urgent(const char *bytes, size_t len)
{
	if (csi_replaceable_presence(bytes, len))
		return false;
	if (csi_is(bytes, len, "message")) {
		/* Sent to the account rather than to this device: a notification
		 * the user is meant to see wherever they are. */
		size_t n;
		const char *to = csi_attr(bytes, len, "to", &n);
		return csi_has_body(bytes, len) || (to != NULL && memchr(to, '/', n) == NULL);
	}
	/* An iq, a subscription request, anything unknown: now. */
	return true;
}

int listener_csi_offer(struct listener_csi *csi, uint32_t max_held, const char *bytes, size_t len,
		       enum listener_csi_verdict *verdict)
{
	if (!csi->inactive || listener_csi_urgent(bytes, len)) {
		*verdict = LISTENER_CSI_SEND;
		return 0;
	}
	bool presence = csi_replaceable_presence(bytes, len);
	size_t from_len = 0;
	const char *from = csi_attr(bytes, len, "from", &from_len);
	if (from == NULL)
		from_len = 0;
	struct listener_csi_item *item = malloc(sizeof(*item) + len + from_len + 1);
	if (item == NULL || len > UINT32_MAX) {
		free(item);
		errno = ENOMEM;
		return -1;
	}
	item->next = NULL;
	item->presence = presence;
	item->len = (uint32_t)len;
	memcpy(item->bytes, bytes, len);
	item->from = item->bytes + len;
	memcpy(item->from, from != NULL ? from : "", from_len);
	item->from[from_len] = '\0';
	if (presence) {
		/* The sender's earlier presence is out of date: this one replaces it. */
		for (struct listener_csi_item **p = &csi->head; *p != NULL; p = &(*p)->next) {
			struct listener_csi_item *old = *p;
			if (old->presence && strcmp(old->from, item->from) == 0) {
				*p = old->next;
				if (csi->tail == &old->next)
					csi->tail = p;
				free(old);
				csi->count--;
				break;
			}
		}
	}
	*csi->tail = item;
	csi->tail = &item->next;
	csi->count++;
	*verdict = csi->count >= max_held ? LISTENER_CSI_FLUSH : LISTENER_CSI_HELD;
	return 0;
}

struct listener_csi_item *listener_csi_take(struct listener_csi *csi)
{
	struct listener_csi_item *item = csi->head;
	if (item == NULL)
		return NULL;
	csi->head = item->next;
	if (csi->head == NULL)
		csi->tail = &csi->head;
	csi->count--;
	return item;
}
