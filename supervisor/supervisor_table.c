/* SPDX-License-Identifier: MIT */
/*
 * The process table of rxmppd: what the supervisor knows of each child,
 * as data (struct child_spec in supervisor.h).  Spawning, the handshake,
 * the sockets handed out, restarts after a death or a reload, shutdown
 * order and the names in logs and rxmppctl status all read it
 * (supervisor_children.c, rxmppd.c).  The channels between children are
 * the one table that the children read too: proc_links in common/proc.c.
 */
#include "supervisor.h"

/* After keepalived and Postfix master: the first death after a good run
 * is restarted at once, each further one in a row waits twice as long; a
 * child that dies before it is ready again and again is throttled; a
 * minute of ready uptime forgives the past. */
static const struct child_restart_policy child_policy_default = {
    .backoff_first_ms = 250,
    .backoff_max_ms = 60000,
    .throttle_after = 5,
    .forgive_after_ms = 60000,
    .ready_timeout_ms = 30000, /* not ready by then: hung, not slow */
    .stop_grace_ms = 5000,
};

/* Start order; shutdown goes the other way, so the listener stops taking
 * connections before the processes behind it go. */
const struct child_spec supervisor_child_specs[] = {
    {
	.role = PROC_CERTWORKER,
	.executable = "rxmpp-certworker",
	.needed_for_ready = true,
	.policy = &child_policy_default,
    },
    {
	.role = PROC_ELECTOR,
	.executable = "rxmpp-elector",
	.needed_for_ready = true,
	/* Peer links; read with the node's identity only at start. */
	.socket_kinds = 1u << PROTO_SOCKET_CLUSTER,
	.socket_message = PROTO_CLUSTER_SOCKET,
	.restart_on = CHILD_RESTART_CLUSTER | CHILD_RESTART_SOCKETS,
	.policy = &child_policy_default,
    },
    {
	/* After the elector, whose users' data it reads and writes; before
	 * the router, which hands it the IM stanzas.  It holds nothing that
	 * must survive it: every user's data is the elector's. */
	.role = PROC_IM,
	.executable = "rxmpp-im",
	.needed_for_ready = true,
	/* Nothing restarts it: a reload reaches it as a new configuration,
	 * and it writes no domain of its own into what it sends. */
	.policy = &child_policy_default,
    },
    {
	.role = PROC_ROUTER,
	.executable = "rxmpp-router",
	.needed_for_ready = true,
	/* Stanza links, as the elector's peer links. */
	.socket_kinds = 1u << PROTO_SOCKET_STANZAS,
	.socket_message = PROTO_CLUSTER_SOCKET,
	.restart_on = CHILD_RESTART_CLUSTER | CHILD_RESTART_SOCKETS,
	.policy = &child_policy_default,
    },
    {
	.role = PROC_LISTENER,
	.executable = "rxmpp-listener",
	.needed_for_ready = true,
	.socket_kinds = 1u << PROTO_SOCKET_CLIENT | 1u << PROTO_SOCKET_CLIENT_TLS |
			1u << PROTO_SOCKET_COMPONENT,
	.socket_message = PROTO_LISTEN_SOCKET,
	/* Sockets come and go under its sessions (LISTEN_SOCKET, LISTEN_CLOSE). */
	.sockets_live = true,
	.gets_callbridges = true,
	/* Sessions carry JIDs of the old domain: their clients log in again. */
	.restart_on = CHILD_RESTART_DOMAIN,
	.policy = &child_policy_default,
    },
};
