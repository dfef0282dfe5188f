/* SPDX-License-Identifier: MIT */
/*
 * The iqs the router handed to the IM process and im has not answered
 * yet (router_im.c), so that none goes unanswered when im dies: each
 * gets a number that im sends back with the job's stanzas
 * (proto_im_origin.handoff); im's answer (PROTO_IM_OUT to the origin)
 * removes it, and when the channel to im goes down every one left is
 * answered internal-server-error of type wait (RFC 6120 8.3.3.8, 8.3.2:
 * the client may retry; the restarted im takes it).
 *
 * Bounded (ROUTER_IMWAIT_MAX, twice im's queue): when full, an iq is not
 * handed over at all (the caller answers it).  Numbers grow with each
 * hand-off, so the table is in order and im, which answers in order,
 * nearly always answers the oldest.  They start from this router's pid
 * in the high bits: a job of im from before a router restart does not
 * take the place of a new one.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "router.h"

#define ROUTER_IMWAIT_MAX 8192

struct waiting {
	uint64_t number; /* 0: answered, a hole until it reaches the head */
	struct rref origin;
	uint32_t type;
	char *strings; /* id, from, to: each NUL-terminated */
};

static struct {
	struct waiting ring[ROUTER_IMWAIT_MAX];
	size_t head, count;
	uint64_t next;
} t;

uint64_t router_imwait_add(struct rref origin, const struct proto_route_view *r)
{
	if (t.next == 0)
		t.next = (uint64_t)getpid() << 32 | 1;
	if (t.count == ROUTER_IMWAIT_MAX)
		return 0;
	size_t id_len = strlen(r->id) + 1, from_len = strlen(r->from) + 1;
	size_t to_len = strlen(r->to) + 1;
	char *strings = malloc(id_len + from_len + to_len);
	if (strings == NULL)
		return 0;
	memcpy(strings, r->id, id_len);
	memcpy(strings + id_len, r->from, from_len);
	memcpy(strings + id_len + from_len, r->to, to_len);
	struct waiting *w = &t.ring[(t.head + t.count++) % ROUTER_IMWAIT_MAX];
	*w = (struct waiting){t.next++, origin, r->type, strings};
	return w->number;
}

void router_imwait_answered(uint64_t number)
{
	if (number == 0)
		return;
	for (size_t i = 0; i < t.count; i++) {
		struct waiting *w = &t.ring[(t.head + i) % ROUTER_IMWAIT_MAX];
		if (w->number != number)
			continue;
		w->number = 0;
		free(w->strings);
		w->strings = NULL;
		break;
	}
	while (t.count > 0 && t.ring[t.head].number == 0) {
		t.head = (t.head + 1) % ROUTER_IMWAIT_MAX;
		t.count--;
	}
}

void router_imwait_fail_all(void)
{
	static struct proto_route_view r;
	size_t failed = 0;
	for (; t.count > 0; t.count--, t.head = (t.head + 1) % ROUTER_IMWAIT_MAX) {
		struct waiting *w = &t.ring[t.head];
		if (w->number == 0)
			continue;
		const char *id = w->strings, *from = id + strlen(id) + 1;
		const char *to = from + strlen(from) + 1;
		r = (struct proto_route_view){.kind = PROTO_STANZA_IQ, .type = w->type};
		memcpy(r.id, id, strlen(id) + 1);
		memcpy(r.from, from, strlen(from) + 1);
		memcpy(r.to, to, strlen(to) + 1);
		router_route_bounce(w->origin, &r, "wait", "internal-server-error");
		free(w->strings);
		*w = (struct waiting){0};
		failed++;
	}
	t.head = 0;
	if (failed > 0)
		log_warnx("im went away with %zu iqs unanswered; answered internal-server-error",
			  failed);
}
