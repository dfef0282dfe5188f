/* SPDX-License-Identifier: MIT */
/*
 * Leaving without a failover: before rxmppd stops its children (SIGTERM,
 * SIGINT, systemctl stop), a node that leads the cluster hands leadership
 * to the most up-to-date other member, so that the clients of the other
 * nodes see a leadership transfer (a few milliseconds) instead of an
 * election after the node is gone.  Runs in the supervisor.
 *
 * It asks the elector (PROTO_CLUSTER_REQUEST, PROTO_CLUSTER_OP_YIELD) with
 * a token no control client holds, and stops the children once the
 * elector answers (PROTO_CLUSTER_RESULT: another member leads, this node
 * did not lead, or the transfer failed), or after HANDOVER_WAIT_MS more
 * than two maximum election timeouts (the elector answers within those),
 * or at once when the elector cannot be asked.  A node stopping is never
 * held up for longer than that.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "supervisor.h"

/* Control clients' tokens count up from 1: this one is never theirs. */
#define HANDOVER_TOKEN	 UINT64_MAX
#define HANDOVER_WAIT_MS 1000

static struct {
	void (*then)(void);
	struct ev_timer *timer;
} handover;

static void handover_done(void)
{
	void (*then)(void) = handover.then;
	if (handover.timer != NULL)
		ev_timer_del(handover.timer);
	handover = (typeof(handover)){0};
	if (then != NULL)
		then();
}

static int64_t handover_overdue(struct ev_timer *timer, void *arg)
{
	(void)timer, (void)arg;
	handover.timer = NULL;
	log_warnx("the elector did not say within %u ms whether leadership was handed over; "
		  "stopping anyway",
		  2 * supervisor_state.cfg.cluster.election_timeout_max_ms + HANDOVER_WAIT_MS);
	handover_done();
	return EV_TIMER_DONE;
}

void supervisor_handover_start(void (*then)(void))
{
	struct proto_cluster_request request = {.op = PROTO_CLUSTER_OP_YIELD};
	if (!supervisor_state.cfg.cluster.enabled ||
	    supervisor_children_send(PROC_ELECTOR, PROTO_CLUSTER_REQUEST, HANDOVER_TOKEN, &request,
				     sizeof(request)) == -1) {
		then();
		return;
	}
	handover.then = then;
	handover.timer = ev_timer_add(
	    supervisor_state.loop,
	    2 * (int64_t)supervisor_state.cfg.cluster.election_timeout_max_ms + HANDOVER_WAIT_MS,
	    handover_overdue, NULL);
}

bool supervisor_handover_answer(uint64_t token, uint16_t type, const void *data, size_t len)
{
	if (token != HANDOVER_TOKEN)
		return false;
	if (type != PROTO_CLUSTER_RESULT || handover.then == NULL)
		return true; /* progress lines, or an answer after the wait ended */
	struct proto_result result;
	if (len < sizeof(result)) {
		log_warnx("a malformed answer about the leadership transfer; stopping anyway");
	} else {
		memcpy(&result, data, sizeof(result));
		size_t text_len = len - sizeof(result);
		if (result.message_len < text_len)
			text_len = result.message_len;
		(result.ok ? log_info : log_warnx)("before stopping: %.*s", (int)text_len,
						   (const char *)data + sizeof(result));
	}
	handover_done();
	return true;
}
