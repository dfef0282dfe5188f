/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-router: the routing process of a node.
 *
 * Runs under rxmppd (common/child.c does the handshake and keeps the
 * channels to the listener and the elector).  From the listener:
 * SESSION_UP/DOWN/PRESENCE and STANZA; to it: DELIVER, SESSION_KICK and
 * ROUTED (router_confirm.c).  From the elector: LEADER.  To the IM process:
 * IM_STANZA; from it: IM_OUT (router_im.c).  In a cluster, stanza links to the other
 * nodes' routers (router_cluster.c).  When the listener goes away, its sessions are forgotten (its
 * clients log in again); when this process restarts, the listener announces its sessions again, so
 * no state here has to survive a crash.
 */
#include <errno.h>
#include <string.h>

#include "common/child.h"
#include "common/jid.h"
#include "common/log.h"
#include "router.h"

int router_deliver(uint64_t session, const char *bytes, size_t len)
{
	if (child_send(PROC_LISTENER, PROTO_DELIVER, session, bytes, len, -1) == 0)
		return 0;
	/* ENOBUFS: the channel is beyond its budget (common/ipc.h); the caller
	 * answers the sender. */
	log_debug("cannot deliver to session %llu: %s", (unsigned long long)session,
		  errno == ENOBUFS ? "the listener's queue is full" : "the listener is away");
	return -1;
}

void router_kick(uint64_t session, uint32_t reason)
{
	struct proto_kick kick = {.reason = reason};
	child_send(PROC_LISTENER, PROTO_SESSION_KICK, session, &kick, sizeof(kick), -1);
}

int router_deliver_to(const struct rsession *target, const char *bytes, size_t len)
{
	if (target->ref.node != ROUTER_LOCAL) {
		return router_cluster_deliver(target, bytes, len);
	} else if (!router_cluster_already_delivered((struct rsession *)target)) {
		router_sm_local_delivery(target, bytes, len);
		return router_deliver(target->ref.session, bytes, len);
	}
	return 0;
}

/* Returns the stanza's number in the relay, or 0 when it was routed here. */
static uint64_t router_from_listener_stanza(uint64_t session, const void *data, size_t len)
{
	static struct proto_route_view r;
	struct rref ref = {ROUTER_LOCAL, session};
	if (proto_route_unpack(data, len, &r) == -1) {
		log_warnx("malformed routing header from session %llu; dropped",
			  (unsigned long long)session);
		router_confirm_stanza(0);
		return 0;
	}
	/* What only the leader can route goes there. */
	router_cluster_catch_up();
	uint64_t kept = 0;
	if (!router_route_stanza(ref, &r, false)) {
		kept = router_cluster_forward(session, data, len);
		router_metrics_queued(r.kind, kept == 0);
	} else {
		router_metrics_routed(r.kind);
	}
	router_confirm_stanza(kept);
	return kept;
}

static bool router_from_listener(const struct ipc_msg *msg)
{
	struct rref ref = {ROUTER_LOCAL, msg->peer};
	switch (msg->type) {
	case PROTO_SESSION_UP: {
		struct proto_session session;
		if (msg->len < sizeof(session))
			return false;
		memcpy(&session, msg->data, sizeof(session));
		char jid[JID_MAX];
		if (session.jid_len == 0 || session.jid_len >= sizeof(jid) ||
		    msg->len != sizeof(session) + session.jid_len ||
		    session.kind > PROTO_SESSION_COMPONENT)
			return false;
		memcpy(jid, (const char *)msg->data + sizeof(session), session.jid_len);
		jid[session.jid_len] = '\0';
		struct rsession *s = router_session_add(ref, session.kind, jid);
		if (s == NULL)
			log_warnx("out of memory: session %s not routable", jid);
		else
			router_cluster_session_up(s);
		return true;
	}
	case PROTO_SESSION_DOWN: {
		const struct rsession *gone = router_session_by_ref(ref);
		if (gone != NULL)
			router_im_session_gone(gone);
		router_sm_session_down(ref);
		router_session_remove(ref);
		router_cluster_session_down(ref);
		return true;
	}
	case PROTO_SESSION_PRESENCE: {
		struct proto_presence presence;
		if (ipc_get_data(msg, &presence, sizeof(presence)) == -1)
			return false;
		router_session_presence(ref, presence.priority, presence.available != 0);
		struct rsession *s = router_session_by_ref(ref);
		if (s != NULL)
			router_cluster_session_presence(s);
		return true;
	}
	case PROTO_STANZA:
		(void)router_from_listener_stanza(msg->peer, msg->data, msg->len);
		return true;
	case PROTO_SM_STANZA_IN: {
		/* Its count goes to the keeper right after it, in the same turn:
		 * the same record on the link to the leader (on the leader, once
		 * it is safe beyond this node: router_counts.h). */
		struct proto_sm_count count;
		if (msg->len < sizeof(count))
			return false;
		memcpy(&count, msg->data, sizeof(count));
		if (count.kind != 0)
			return false;
		uint64_t seq = router_from_listener_stanza(
		    msg->peer, (const char *)msg->data + sizeof(count), msg->len - sizeof(count));
		router_sm_handled(msg->peer, count.value, seq);
		return true;
	}
	case PROTO_SM_OPEN:
	case PROTO_SM_STANZA:
	case PROTO_SM_ACKED:
	case PROTO_SM_HANDLED:
	case PROTO_SM_RESUME:
	case PROTO_SM_GIVEN:
		return router_sm_listener_message(msg);
	default:
		return false;
	}
}

static bool router_from_elector(const struct ipc_msg *msg)
{
	if (msg->type == PROTO_MEMBERS) {
		struct proto_members members;
		if (ipc_get_data(msg, &members, sizeof(members)) == -1)
			return false;
		router_cluster_members(&members);
		return true;
	}
	struct proto_leader leader;
	if (msg->type != PROTO_LEADER || ipc_get_data(msg, &leader, sizeof(leader)) == -1)
		return false;
	leader.address[sizeof(leader.address) - 1] = '\0';
	router_cluster_leader(&leader);
	return true;
}

static bool router_peer_message(enum proc_role peer, const struct ipc_msg *msg)
{
	if (msg->fd != -1)
		return false;
	if (peer == PROC_ELECTOR)
		return router_from_elector(msg);
	if (peer == PROC_IM)
		return router_im_message(msg);
	return peer == PROC_LISTENER && router_from_listener(msg);
}

static void router_peer_down(enum proc_role peer)
{
	if (peer == PROC_IM)
		router_imwait_fail_all();
	if (peer == PROC_LISTENER) {
		router_sessions_clear_node(ROUTER_LOCAL);
		router_cluster_local_forgotten();
		/* The next listener counts its stanzas from zero. */
		router_confirm_reset();
	}
}

/* Backpressure (common/ipc.h): what the listener sends is what fills the
 * channel back to it, so its input waits while that channel drains.  The
 * listener never stops reading ours, so this cannot wait on itself. */
static void router_peer_pressure(enum proc_role peer, bool congested)
{
	if (peer == PROC_LISTENER) {
		child_peer_pause_input(PROC_LISTENER, congested);
		/* The leader's deliveries fill the same channel. */
		router_cluster_listener_congested(congested);
	}
}

static bool router_supervisor_message(const struct ipc_msg *msg)
{
	if (msg->type == PROTO_CTL_CLUSTER_SESSIONS || msg->type == PROTO_CTL_CLUSTER_KICK)
		return router_admin_supervisor_message(msg);
	struct proto_listen_socket socket_info;
	if (msg->type != PROTO_CLUSTER_SOCKET || msg->fd == -1 ||
	    ipc_get_data(msg, &socket_info, sizeof(socket_info)) == -1)
		return false;
	router_cluster_socket(msg->fd);
	return true;
}

static int router_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	if (first) {
		if (router_routing_table_init() == -1 || router_confirm_init(child_loop()) == -1)
			return -1;
		router_cluster_init(cfg);
	} else if (router_cluster_reconfigure(cfg, why, why_size) == -1) {
		return -1;
	}
	router_route_init(cfg);
	router_sm_init(cfg);
	return 0;
}

static const struct child_ops router_ops = {
    .role = PROC_ROUTER,
    .configure = router_configure,
    .peer_down = router_peer_down,
    .peer_pressure = router_peer_pressure,
    .peer_message = router_peer_message,
    .supervisor_message = router_supervisor_message,
    .stop = router_cluster_stop,
    .metrics = router_metrics,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &router_ops);
}
