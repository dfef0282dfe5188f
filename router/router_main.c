/*
 * rxmpp-router: the routing process of a node.
 *
 * Runs under rxmppd (common/child.c does the handshake and keeps the
 * channels to the listener and the elector).  From the listener:
 * SESSION_UP/DOWN/PRESENCE and STANZA; to it: DELIVER and SESSION_KICK.
 * When the listener goes away, its sessions are forgotten (its clients log
 * in again); when this process restarts, the listener announces its
 * sessions again, so no state here has to survive a crash.
 */
#include <string.h>

#include "common/child.h"
#include "common/jid.h"
#include "common/log.h"
#include "router.h"

void router_deliver(uint64_t session, const char *bytes, size_t len)
{
	if (child_send(PROC_LISTENER, PROTO_DELIVER, session, bytes, len, -1) == -1)
		log_debug("cannot deliver to session %llu: the listener is away",
			  (unsigned long long)session);
}

void router_kick(uint64_t session, uint32_t reason)
{
	struct proto_kick kick = {.reason = reason};
	child_send(PROC_LISTENER, PROTO_SESSION_KICK, session, &kick, sizeof(kick), -1);
}

static bool router_from_listener(const struct ipc_msg *msg)
{
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
		if (session_add(msg->peer, session.kind, jid) == NULL)
			log_warnx("out of memory: session %s not routable", jid);
		return true;
	}
	case PROTO_SESSION_DOWN:
		session_remove(msg->peer);
		return true;
	case PROTO_SESSION_PRESENCE: {
		struct proto_presence presence;
		if (msg->len != sizeof(presence))
			return false;
		memcpy(&presence, msg->data, sizeof(presence));
		session_presence(msg->peer, presence.priority, presence.available != 0);
		return true;
	}
	case PROTO_STANZA:
		route_stanza(msg->peer, msg->data, msg->len);
		return true;
	default:
		return false;
	}
}

static bool router_from_elector(const struct ipc_msg *msg)
{
	struct proto_leader leader;
	if (msg->type != PROTO_LEADER || msg->len != sizeof(leader))
		return false;
	memcpy(&leader, msg->data, sizeof(leader));
	leader.address[sizeof(leader.address) - 1] = '\0';
	/* Forwarding stanzas to the leader builds on this. */
	log_debug("leader %016llx at %s in term %llu", (unsigned long long)leader.leader,
		  leader.address[0] ? leader.address : "-", (unsigned long long)leader.term);
	return true;
}

static bool router_peer_message(enum proc_role peer, const struct ipc_msg *msg)
{
	if (msg->fd != -1)
		return false;
	if (peer == PROC_ELECTOR)
		return router_from_elector(msg);
	return peer == PROC_LISTENER && router_from_listener(msg);
}

static void router_peer_down(enum proc_role peer)
{
	if (peer == PROC_LISTENER)
		sessions_clear();
}

static int router_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	if (first && routing_table_init() == -1)
		return -1;
	route_init(cfg);
	return 0;
}

static const struct child_ops router_ops = {
    .role = PROC_ROUTER,
    .configure = router_configure,
    .peer_down = router_peer_down,
    .peer_message = router_peer_message,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &router_ops);
}
