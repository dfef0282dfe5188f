/* SPDX-License-Identifier: MIT */
/*
 * The client side of XEP-0198 stream management for rxmpp-load (--sm):
 * `<enable resume='true'/>` after bind, both counters (32 bits, wrapping),
 * `<r/>` after every `ack_every` stanzas sent and an unasked `<a h/>` after
 * every `ack_every` received, the answer to the server's `<r/>`, the
 * stanzas the server has not acknowledged kept, and on the next connection
 * `<resume previd h/>` with what the server did not acknowledge sent
 * again -- what a client that resumes on another node does.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

struct load_sm {
	char id[64];	  /* the resumption id; "" before <enabled/> */
	bool counting;	  /* <enable/> or <resume/> sent: our stanzas are numbered */
	bool enabled;	  /* <enabled/> or <resumed/> came: the server's are */
	bool resuming;	  /* the next stream resumes instead of binding */
	uint32_t in;	  /* stanzas received and handled: our h */
	uint32_t in_told; /* the last h we sent */
	uint32_t out_acked;
	/* Sent and not acknowledged, in order: numbers out_acked+1 on. */
	char **queue;
	size_t head, len, cap;
	unsigned ack_every, since_request;
};

unsigned load_sm_resumes, load_sm_failures;
uint64_t load_sm_sent_again;

void load_sm_attach(struct session *s, unsigned ack_every)
{
	s->sm = calloc(1, sizeof(*s->sm));
	if (s->sm == NULL) {
		fprintf(stderr, "rxmpp-load: out of memory for stream management\n");
		exit(1);
	}
	s->sm->ack_every = ack_every ? ack_every : 1;
}

static void drop_front(struct load_sm *sm, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(sm->queue[sm->head]);
		sm->head = (sm->head + 1) % sm->cap;
	}
	sm->len -= count;
	sm->out_acked += (uint32_t)count;
}

static void keep(struct load_sm *sm, char *stanza)
{
	if (sm->len == sm->cap) {
		size_t cap = sm->cap ? sm->cap * 2 : 16;
		char **grown = malloc(cap * sizeof(*grown));
		if (grown == NULL) {
			fprintf(stderr, "rxmpp-load: out of memory for unacknowledged stanzas\n");
			exit(1);
		}
		for (size_t i = 0; i < sm->len; i++)
			grown[i] = sm->queue[(sm->head + i) % sm->cap];
		free(sm->queue);
		sm->queue = grown;
		sm->head = 0;
		sm->cap = cap;
	}
	sm->queue[(sm->head + sm->len++) % sm->cap] = stanza;
}

/* The server acknowledged up to h: false if it says more than was sent. */
static bool acked(struct load_sm *sm, uint32_t h)
{
	uint32_t count = h - sm->out_acked; /* wraps as the counters do */
	if (count > sm->len)
		return false;
	drop_front(sm, count);
	return true;
}

static void forget(struct load_sm *sm)
{
	drop_front(sm, sm->len);
	*sm = (struct load_sm){.queue = sm->queue, .cap = sm->cap, .ack_every = sm->ack_every};
}

void load_sm_reconnecting(struct session *s)
{
	struct load_sm *sm = s->sm;
	sm->counting = sm->enabled = false;
	sm->resuming = sm->id[0] != '\0';
	sm->since_request = 0;
}

bool load_sm_resuming(const struct session *s)
{
	return s->sm != NULL && s->sm->resuming;
}

void load_sm_resume(struct session *s)
{
	load_sendf(s, "<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%" PRIu32 "'/>", s->sm->id,
		   s->sm->in);
	s->sm->in_told = s->sm->in;
	s->sm->counting = true;
}

void load_sm_bound(struct session *s)
{
	forget(s->sm);
	load_sendf(s, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
	s->sm->counting = true;
}

void load_sm_stanzaf(struct session *s, const char *format, ...)
{
	char text[2048];
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(text, sizeof(text), format, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		load_close(s, "a stanza too long for the load generator");
		return;
	}
	load_send(s, text, (size_t)n);
	struct load_sm *sm = s->sm;
	if (sm == NULL || !sm->counting)
		return;
	char *copy = strdup(text);
	if (copy == NULL) {
		fprintf(stderr, "rxmpp-load: out of memory for unacknowledged stanzas\n");
		exit(1);
	}
	keep(sm, copy);
	if (++sm->since_request >= sm->ack_every) {
		load_sendf(s, "<r xmlns='urn:xmpp:sm:3'/>");
		sm->since_request = 0;
	}
}

void load_sm_received(struct session *s)
{
	struct load_sm *sm = s->sm;
	if (sm == NULL || !sm->enabled)
		return;
	sm->in++;
	if (sm->in - sm->in_told >= sm->ack_every) {
		load_sendf(s, "<a xmlns='urn:xmpp:sm:3' h='%" PRIu32 "'/>", sm->in);
		sm->in_told = sm->in;
	}
}

static bool parse_h(const char *text, uint32_t *h)
{
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (*text == '\0' || *end != '\0' || v > UINT32_MAX)
		return false;
	*h = (uint32_t)v;
	return true;
}

enum load_sm_step load_sm_element(struct session *s, const char *name)
{
	struct load_sm *sm = s->sm;
	uint32_t h;
	if (strcmp(name, "r") == 0) {
		load_sendf(s, "<a xmlns='urn:xmpp:sm:3' h='%" PRIu32 "'/>", sm->in);
		sm->in_told = sm->in;
		return LOAD_SM_HANDLED;
	}
	if (strcmp(name, "a") == 0) {
		if (!parse_h(s->h, &h) || !acked(sm, h))
			load_close(s, "the server acknowledged more than was sent");
		return LOAD_SM_HANDLED;
	}
	if (strcmp(name, "enabled") == 0) {
		snprintf(sm->id, sizeof(sm->id), "%s", s->id);
		sm->enabled = true;
		return LOAD_SM_READY;
	}
	if (strcmp(name, "resumed") == 0) {
		if (!parse_h(s->h, &h) || !acked(sm, h)) {
			load_close(s, "resumed with more acknowledged than was sent");
			return LOAD_SM_HANDLED;
		}
		/* What the server did not have goes again, under the numbers it
		 * had (not counted twice). */
		for (size_t i = 0; i < sm->len; i++) {
			const char *stanza = sm->queue[(sm->head + i) % sm->cap];
			load_send(s, stanza, strlen(stanza));
		}
		load_sm_sent_again += sm->len;
		if (sm->len > 0)
			load_sendf(s, "<r xmlns='urn:xmpp:sm:3'/>");
		sm->resuming = false;
		sm->enabled = true;
		load_sm_resumes++;
		return LOAD_SM_READY;
	}
	if (strcmp(name, "failed") == 0) {
		if (!sm->resuming) {
			load_close(s, "stream management refused");
			return LOAD_SM_HANDLED;
		}
		/* The session is gone: a client binds afresh, and what it had
		 * not had acknowledged is not sent again (it could be twice). */
		load_sm_failures++;
		forget(sm);
		return LOAD_SM_REBIND;
	}
	return LOAD_SM_NONE;
}

unsigned load_sm_unacked(const struct session *s)
{
	return s->sm != NULL ? (unsigned)s->sm->len : 0;
}
