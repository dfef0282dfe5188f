/* SPDX-License-Identifier: MIT */
/*
 * Leadership transfer requests and their outcome; see elector_handover.h.
 * Runs in the elector process.  The outcome is read off the core after
 * each tick (who leads, whether a transfer is still under way) rather
 * than signalled by it, so that the core keeps one output (elector_ready).
 */
#include "elector_handover.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* A member's request for a transfer the leader just gave up is refused for
 * this long, rather than started again by the asker's next retry. */
#define GAVE_UP_MEMORY_MS 1000

static const char *address_of(const struct elector *core, uint64_t id)
{
	const struct elector_config *c = elector_config(core);
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->members[i].id == id)
			return c->members[i].address;
	}
	return "?";
}

static void answer(struct elector_handover *h, struct elector_handover_news *news, bool ok,
		   uint64_t token, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void answer(struct elector_handover *h, struct elector_handover_news *news, bool ok,
		   uint64_t token, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(news->text, sizeof(news->text), fmt, ap);
	va_end(ap);
	news->answer = true;
	news->ok = ok;
	news->token = token;
	if (h->waiting && h->token == token)
		h->waiting = false;
}

/* The core's transfer, begun (or continued) for `target`. */
static int begin(struct elector_handover *h, struct elector *core, uint64_t target)
{
	if (elector_transfer(core, target) == -1)
		return -1;
	elector_handover_watch(h, core, 0, &(struct elector_handover_news){0});
	return 0;
}

void elector_handover_start(struct elector_handover *h, struct elector *core, uint64_t self,
			    uint64_t token, uint64_t target, bool yield, int64_t now_ms,
			    int64_t election_max_ms, struct elector_handover_news *news)
{
	memset(news, 0, sizeof(*news));
	if (h->waiting) {
		answer(h, news, false, token,
		       "a leadership transfer is under way; try again shortly");
		return;
	}
	if (elector_role(core) != ELECTOR_LEADER) {
		/* Only the supervisor and drain yield, and only the leader asks
		 * here for a transfer (followers ask the leader). */
		answer(h, news, yield, token, "this node does not lead: nothing to hand over");
		return;
	}
	if (target == self) {
		answer(h, news, true, token, "this node leads already");
		return;
	}
	if (elector_config(core)->count < 2) {
		answer(h, news, yield, token,
		       "this node runs alone: no member to hand leadership to");
		return;
	}
	if (begin(h, core, target) == -1) {
		if (target == ELECTOR_NONE)
			answer(
			    h, news, false, token,
			    "no other member has answered lately: no member to hand leadership to");
		else
			answer(h, news, false, token,
			       "cannot hand leadership to %016" PRIx64
			       " now: another transfer is under way",
			       target);
		return;
	}
	h->waiting = true;
	h->token = token;
	h->deadline = now_ms + 2 * election_max_ms;
}

void elector_handover_watch(struct elector_handover *h, struct elector *core, int64_t now_ms,
			    struct elector_handover_news *news)
{
	memset(news, 0, sizeof(*news));
	uint64_t target = elector_transferee(core);
	bool leads = elector_role(core) == ELECTOR_LEADER;
	if (target != ELECTOR_NONE && target != h->watched)
		log_info("handing leadership to %016" PRIx64 " at %s", target,
			 address_of(core, target));
	if (target == ELECTOR_NONE && h->watched != ELECTOR_NONE && leads) {
		log_warnx("%016" PRIx64 " at %s did not take leadership over within the election "
			  "timeout; this node leads on",
			  h->watched, address_of(core, h->watched));
		h->gave_up = h->watched;
		h->gave_up_at = now_ms;
		if (h->waiting)
			answer(h, news, false, h->token,
			       "%016" PRIx64 " at %s did not take leadership over within the "
			       "election timeout; this node leads on",
			       h->watched, address_of(core, h->watched));
	}
	h->watched = target;
	if (!h->waiting || leads)
		return;
	uint64_t leader = elector_leader(core);
	if (leader != ELECTOR_NONE)
		answer(h, news, true, h->token,
		       "leadership handed over: %016" PRIx64 " at %s leads in term %" PRIu64,
		       leader, address_of(core, leader), elector_term(core));
	else if (now_ms >= h->deadline)
		answer(h, news, false, h->token,
		       "this node no longer leads, but no leader is known yet");
}

int elector_handover_remote(struct elector_handover *h, struct elector *core, uint64_t self,
			    uint64_t target, int64_t now_ms, const char **why)
{
	if (target == self)
		return 0;
	if (h->gave_up != ELECTOR_NONE && (target == ELECTOR_NONE || target == h->gave_up) &&
	    elector_transferee(core) == ELECTOR_NONE &&
	    now_ms - h->gave_up_at < GAVE_UP_MEMORY_MS) {
		*why = "the member chosen did not take leadership over within the election "
		       "timeout; the leader leads on";
		return -1;
	}
	if (begin(h, core, target) == -1) {
		*why = target == ELECTOR_NONE ? "no other member has answered the leader lately"
					      : "another leadership transfer is under way";
		return -1;
	}
	return 1;
}
