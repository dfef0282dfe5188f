/* SPDX-License-Identifier: MIT */
/*
 * Drain (rxmppctl drain), in the listener: the node is being emptied for
 * maintenance.  The supervisor sends CTL_DRAIN (struct proto_drain) when an
 * administrator drains or undrains the node, and with every configuration,
 * so that a restarted listener drains on; nothing is answered.
 *
 * While draining, a client or call-bridge stream that opens is told at once
 * where to go (RFC 6120 4.9.3.19 <see-other-host/>, another member's
 * client address, or <system-shutdown/> when none is known): accepting and
 * redirecting tells a client more than a refused connection would.  The
 * sessions already held are redirected the same way, `rate` a second, in
 * steps of DRAIN_STEP_MS, so that a node with thousands of clients does not
 * send them all to the other nodes in the same instant (a log-in storm
 * there).  The targets are taken in turn, so the clients spread over the
 * other members.  listener_conn_redirect says why nothing in flight is lost.
 *
 * Undraining stops the redirections; streams that were told to go are not
 * called back.
 */
#include <string.h>

#include "common/log.h"
#include "listener.h"

/* Sessions are redirected in small steps rather than once a second: the
 * load on the other nodes stays even. */
#define DRAIN_STEP_MS 100

static struct {
	struct proto_drain want;
	struct ev_timer *timer;
	uint32_t next_target;
	uint64_t credit_ms; /* sessions owed, in milliseconds of rate (rate * ms / 1000) */
} drain;

static const char *drain_next_target(void)
{
	if (drain.want.count == 0)
		return NULL;
	const char *target = drain.want.targets[drain.next_target % drain.want.count];
	drain.next_target++;
	return target;
}

/* The targets are client addresses; a call bridge is ended with
 * <system-shutdown/> and finds another node through its SRV records. */
static const char *drain_target_for(const struct conn *c)
{
	return c->kind == PROTO_SOCKET_COMPONENT ? NULL : drain_next_target();
}

static bool drain_is_session(const struct conn *c)
{
	return (c->state == CONN_SESSION || c->state == CONN_COMPONENT) && !c->redirected;
}

static int64_t drain_step(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	/* A session waiting to be resumed cannot be resumed here (its client
	 * is redirected when it comes back): what it holds is routed again. */
	listener_client_sm_end_detached("the node is draining");
	drain.credit_ms += (uint64_t)drain.want.rate * DRAIN_STEP_MS;
	unsigned redirected = 0, left = 0;
	for (struct conn *c = listener_state.conns; c != NULL; c = c->next) {
		if (!drain_is_session(c))
			continue;
		if (drain.credit_ms < 1000) {
			left++;
			continue;
		}
		drain.credit_ms -= 1000;
		/* Its session's last log line says where it was sent. */
		listener_conn_redirect(c, drain_target_for(c));
		redirected++;
	}
	/* Credit does not pile up while there is nobody to send away. */
	if (left == 0)
		drain.credit_ms = 0;
	if (redirected > 0)
		log_debug("drain: %u sessions redirected, %u left", redirected, left);
	return DRAIN_STEP_MS;
}

bool listener_drain_stream_open(struct conn *c)
{
	if (!drain.want.on)
		return false;
	listener_conn_redirect(c, drain_target_for(c));
	return true;
}

bool listener_drain_message(const struct ipc_msg *msg)
{
	struct proto_drain want;
	if (msg->fd != -1 || ipc_get_data(msg, &want, sizeof(want)) == -1 ||
	    proto_drain_check(&want) == -1)
		return false;
	bool was = drain.want.on;
	drain.want = want;
	if (want.on && drain.timer == NULL) {
		drain.credit_ms = 0;
		drain.timer = ev_timer_add(listener_state.loop, DRAIN_STEP_MS, drain_step, NULL);
		if (drain.timer == NULL)
			log_warn("drain: no timer; new streams are redirected, sessions stay");
	} else if (!want.on && drain.timer != NULL) {
		ev_timer_del(drain.timer);
		drain.timer = NULL;
	}
	if (want.on != was)
		log_info("%s", want.on ? "draining: new streams and sessions go to other nodes"
				       : "no longer draining");
	return true;
}
