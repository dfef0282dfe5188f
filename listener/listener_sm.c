/* SPDX-License-Identifier: MIT */
/*
 * XEP-0198 stream management state of one client session (pure; see
 * listener_sm.h).  Run by the listener; fails only for lack of memory,
 * which the caller turns into the end of the session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener_sm.h"

void listener_sm_init(struct listener_sm *sm, bool resumable, uint32_t max_seconds,
		      const unsigned char *random)
{
	memset(sm, 0, sizeof(*sm));
	sm->resumable = resumable;
	sm->max_seconds = max_seconds;
	for (size_t i = 0; i < LISTENER_SM_RANDOM_LEN; i++)
		snprintf(sm->id + 2 * i, 3, "%02x", random[i]);
	sm->tail = &sm->head;
}

void listener_sm_resumed(struct listener_sm *sm, const char *id, uint32_t max_seconds,
			 uint32_t handled, uint32_t h)
{
	memset(sm, 0, sizeof(*sm));
	sm->resumable = true;
	sm->max_seconds = max_seconds;
	snprintf(sm->id, sizeof(sm->id), "%s", id);
	sm->handled = handled;
	sm->acked = sm->sent = h;
	sm->tail = &sm->head;
}

void listener_sm_free(struct listener_sm *sm)
{
	while (sm->head != NULL) {
		struct listener_sm_item *item = sm->head;
		sm->head = item->next;
		free(item);
	}
	sm->tail = &sm->head;
	sm->count = 0;
	sm->bytes = 0;
}

void listener_sm_handled(struct listener_sm *sm)
{
	sm->handled++; /* unsigned: wraps at 2^32 as XEP-0198 says */
}

static int sm_append(struct listener_sm *sm, const char *bytes, size_t len)
{
	struct listener_sm_item *item = malloc(sizeof(*item) + len);
	if (item == NULL)
		return -1;
	item->next = NULL;
	item->len = (uint32_t)len;
	memcpy(item->bytes, bytes, len);
	*sm->tail = item;
	sm->tail = &item->next;
	sm->count++;
	sm->bytes += len;
	return 0;
}

enum listener_sm_verdict listener_sm_sent(struct listener_sm *sm,
					  const struct listener_sm_limits *limits,
					  const char *bytes, size_t len)
{
	if (len > UINT32_MAX || sm_append(sm, bytes, len) == -1)
		return LISTENER_SM_NO_MEMORY;
	sm->sent++;
	if (sm->count > limits->max_stanzas || sm->bytes > limits->max_bytes)
		return LISTENER_SM_OVER;
	if (!sm->requested &&
	    (sm->count >= limits->max_stanzas / 4 || sm->bytes >= limits->max_bytes / 4))
		return LISTENER_SM_REQUEST;
	return LISTENER_SM_FINE;
}

int listener_sm_acked(struct listener_sm *sm, uint32_t h)
{
	/* Modular: h - acked is how many more it handled, across the wrap. */
	uint32_t newly = h - sm->acked;
	if (newly > sm->count)
		return -1;
	for (uint32_t i = 0; i < newly; i++) {
		struct listener_sm_item *item = sm->head;
		sm->head = item->next;
		sm->bytes -= item->len;
		free(item);
	}
	if (sm->head == NULL)
		sm->tail = &sm->head;
	sm->count -= newly;
	sm->acked = h;
	sm->requested = false;
	return 0;
}

void listener_sm_requested(struct listener_sm *sm)
{
	sm->requested = true;
}

int listener_sm_parse_h(const char *text, uint32_t *h)
{
	if (text == NULL || text[0] == '\0' || strlen(text) > 10)
		return -1;
	uint64_t value = 0;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		value = value * 10 + (uint64_t)(*p - '0');
	}
	if (value > UINT32_MAX)
		return -1;
	*h = (uint32_t)value;
	return 0;
}

/* The fixed part of the serialised state: host order, for a peer of the
 * same build (the cluster's nodes run one version). */
struct sm_wire {
	uint32_t version;
	uint32_t resumable;
	uint32_t max_seconds;
	uint32_t handled, sent, acked, requested, count;
	char id[LISTENER_SM_ID_LEN];
};
_Static_assert(sizeof(struct sm_wire) == 64, "the serialised state keeps its layout");
#define SM_WIRE_VERSION 1

int listener_sm_serialise(const struct listener_sm *sm, struct buf *out)
{
	struct sm_wire wire = {
	    .version = SM_WIRE_VERSION,
	    .resumable = sm->resumable,
	    .max_seconds = sm->max_seconds,
	    .handled = sm->handled,
	    .sent = sm->sent,
	    .acked = sm->acked,
	    .requested = sm->requested,
	    .count = sm->count,
	};
	memcpy(wire.id, sm->id, LISTENER_SM_ID_LEN);
	if (buf_append(out, &wire, sizeof(wire)) == -1)
		return -1;
	for (const struct listener_sm_item *item = sm->head; item != NULL; item = item->next) {
		if (buf_append(out, &item->len, sizeof(item->len)) == -1 ||
		    buf_append(out, item->bytes, item->len) == -1)
			return -1;
	}
	return 0;
}

int listener_sm_restore(struct listener_sm *sm, const char *data, size_t len)
{
	struct sm_wire wire;
	memset(sm, 0, sizeof(*sm));
	sm->tail = &sm->head;
	if (len < sizeof(wire)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(&wire, data, sizeof(wire));
	if (wire.version != SM_WIRE_VERSION || wire.resumable > 1 || wire.requested > 1 ||
	    wire.sent - wire.acked != wire.count) {
		errno = EINVAL;
		return -1;
	}
	size_t at = sizeof(wire);
	for (uint32_t i = 0; i < wire.count; i++) {
		uint32_t item_len;
		if (len - at < sizeof(item_len))
			goto malformed;
		memcpy(&item_len, data + at, sizeof(item_len));
		at += sizeof(item_len);
		if (len - at < item_len)
			goto malformed;
		if (sm_append(sm, data + at, item_len) == -1) {
			listener_sm_free(sm);
			return -1;
		}
		at += item_len;
	}
	if (at != len)
		goto malformed;
	sm->resumable = wire.resumable;
	sm->max_seconds = wire.max_seconds;
	sm->handled = wire.handled;
	sm->sent = wire.sent;
	sm->acked = wire.acked;
	sm->requested = wire.requested;
	memcpy(sm->id, wire.id, LISTENER_SM_ID_LEN);
	sm->id[LISTENER_SM_ID_LEN] = '\0';
	return 0;
malformed:
	listener_sm_free(sm);
	errno = EINVAL;
	return -1;
}
