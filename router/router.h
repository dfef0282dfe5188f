/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-router: shared declarations of its parts.
 *
 *   router_main.c   the process: configuration, the channel to the listener
 *   router_table.c  the routing table: sessions, full and bare JIDs, components
 *   router_route.c  routing rules (RFC 6120 10, RFC 6121 8), errors and the
 *                   server's own iqs
 *   router_cluster.c  stanza links to the other nodes' routers (the shell)
 *   router_relay.c    the relay protocol between them, a pure core
 *   router_admin.c    rxmppctl sessions and kick across the cluster
 *   router_confirm.c  which of the listener's stanzas are done (PROTO_ROUTED)
 *   router_im.c     the IM stanzas handed to im, and what im sends back
 *   router_imwait.c the iqs handed to im and not answered yet
 *
 * The router never parses XML: it routes on the header the listener sends
 * with each stanza, and writes the few replies it makes itself.
 */
#ifndef RXMPP_ROUTER_H
#define RXMPP_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/uio.h>

#include "common/ipc.h"
#include "common/metrics.h"
#include "common/proto.h"
#include "common/config.h"
#include "router_relay.h"
#include "router_relay_wire.h"

/* The node a session lives on: ROUTER_LOCAL for this node's listener, or
 * another node's id (known on the leader, which routes for the cluster). */
#define ROUTER_LOCAL RELAY_LOCAL

struct rref {
	uint64_t node;
	uint64_t session;
};

struct rsession {
	struct rref ref;
	uint32_t kind; /* enum proto_session_kind */
	char *jid;     /* full JID of a client, or a component's address */
	char *bare;
	bool available;
	int priority;
	uint64_t seq; /* when it last bound or sent presence: newer wins ties */
	struct rsession *next_of_bare;
	/* What it got from each origin, so that a stanza sent again after a
	 * leader change is not delivered twice. */
	struct relay_marks delivered;
	/* Stream management across nodes (router_sm.c): its resumption id
	 * once reported (here: by the listener; at the leader: by the node
	 * that holds it), and whether the leader keeps it (here). */
	char *sm_id;
	bool sm_keeping;
	uint64_t sm_keeper;  /* here, while this node leads: the follower keeping it */
	uint32_t sm_counted; /* here, while this node leads: the last count it was told */
	/* Here, on a follower: the leader asked for it (a handover), so what
	 * is routed to it goes to the leader, which holds it for the asker;
	 * delivered here it would find the session gone. */
	bool sm_given_up;
};

/* router_table.c */
int router_routing_table_init(void);
struct rsession *router_session_add(struct rref ref, uint32_t kind, const char *jid);
void router_session_remove(struct rref ref);
void router_session_presence(struct rref ref, int priority, bool available);
struct rsession *router_session_by_ref(struct rref ref);
struct rsession *router_session_by_jid(const char *jid);
struct rsession *router_sessions_of_bare(const char *bare);
/* Forgets every session of `node` (its listener or its link went away). */
void router_sessions_clear_node(uint64_t node);
size_t router_session_count(void);
/* Calls fn for every session, or every component session. */
void router_sessions_each(void (*fn)(struct rsession *s, void *arg), void *arg);
void router_components_each(void (*fn)(struct rsession *s, void *arg), void *arg);

/* router_route.c */
void router_route_init(const struct config *cfg);
/* Routes a stanza from `origin`; false when it must go through the relay
 * (in a cluster, a local stanza for a recipient not held here). */
bool router_route_stanza(struct rref origin, const struct proto_route_view *r, bool forwarded);
/* An RFC 6120 error reply to `origin` for the stanza `r`. */
void router_route_bounce(struct rref origin, const struct proto_route_view *r, const char *type,
			 const char *condition);

/* router_im.c */
/* A stanza the IM process handles for the sender's own account (a
 * roster get or set, broadcast presence). */
bool router_im_wants(const struct proto_route_view *r);
/* A subscription stanza (RFC 6121 3), which the IM process handles for a
 * local contact. */
bool router_im_subscription(const struct proto_route_view *r);
/* A session is removed: if it was available, im hears of an unavailable
 * presence in its name (on the router that routes for the cluster). */
void router_im_session_gone(const struct rsession *s);
/* Hands it to im (PROTO_IM_STANZA); answers the sender when it cannot. */
void router_im_hand(struct rref origin, const struct proto_route_view *r);
/* router_imwait.c: the iqs handed to im that it has not answered.  Add:
 * the number for proto_im_origin.handoff, 0 when the table is full (do
 * not hand it over). */
uint64_t router_imwait_add(struct rref origin, const struct proto_route_view *r);
/* im answered it (or it was not handed over); 0 is nothing. */
void router_imwait_answered(uint64_t number);
/* The channel to im went down: each one left is answered
 * internal-server-error (wait). */
void router_imwait_fail_all(void);
/* A message on the channel from im; false for one it must not send. */
bool router_im_message(const struct ipc_msg *msg);

/* router_cluster.c: stanza links between the nodes' routers, the shell of
 * the relay core (router_relay.c) */
void router_cluster_init(const struct config *cfg);
void router_cluster_socket(int fd);
void router_cluster_leader(const struct proto_leader *leader);
/* Who may hold a stanza link (router_members.h); links of others close. */
void router_cluster_members(const struct proto_members *members);
bool router_cluster_relaying(void); /* stanzas it cannot deliver go through the relay */
/* A stanza from a local session for a recipient not held here. */
/* Returns the relay's number for the stanza while the relay keeps it, 0
 * when it bounced it at once (its queue full). */
uint64_t router_cluster_forward(uint64_t session, const void *data, size_t len);
/* The channel to the listener is congested, or no longer: the stanza link
 * to the leader is not read meanwhile (backpressure). */
void router_cluster_listener_congested(bool congested);
/* Stanzas the relay holds (0 without a cluster). */
size_t router_cluster_queued(void);
/* The relay number of the oldest stanza the relay keeps; UINT64_MAX for none. */
uint64_t router_cluster_oldest_kept(void);
/* Bytes for a session on another node (leader only); -1 when that node
 * is no longer reached (router_cluster_reaches): the session is gone. */
int router_cluster_deliver(const struct rsession *target, const char *bytes, size_t len);
/* Whether a session on `node` is there to deliver to: this node's, or one
 * of a node linked here (router_relay_reaches).  The table lists a lost
 * node's sessions until the relay's FORGET of it is done; router_route.c
 * routes a stanza for one as for a session that ended. */
bool router_cluster_reaches(uint64_t node);
void router_cluster_kick(const struct rsession *target, uint32_t reason);
/* The forwarded stanza being routed already reached `s` (sent again after
 * a leader change): skip it.  Marks it delivered otherwise. */
bool router_cluster_already_delivered(struct rsession *s);
/* Local session changes, for the leader's table. */
void router_cluster_session_up(const struct rsession *s);
void router_cluster_session_down(struct rref ref);
void router_cluster_session_presence(const struct rsession *s);
/* The listener went away and took this node's sessions. */
void router_cluster_local_forgotten(void);
/* The relay's unconfirmed deliveries to a session that the keeper took
 * over (router_relay_taken_over). */
void router_cluster_taken_over(uint64_t node, uint64_t session);
/* A leader routes what waited before anything newer (order per sender). */
void router_cluster_catch_up(void);
/* A reload: new trust bundle and queue limits (links made from now on). */
int router_cluster_reconfigure(const struct config *cfg, char *why, size_t why_size);
void router_cluster_stop(void);
/* This node's id and the leader's (0 when none is known or no cluster). */
void router_cluster_identity(uint64_t *self, uint64_t *leader);
uint64_t router_cluster_self(void);
bool router_cluster_leading(void);
/* A KEEP_ frame to `node` (0: the leader), on a link of protocol 4 or
 * later; -1 when there is none, or when the frame could not be queued
 * (the link then breaks, and closes on the next turn). */
int router_cluster_keep_send(uint64_t node, uint16_t type, const void *a, size_t alen,
			     const void *b, size_t blen);
/* A follower whose link to the leader is up and speaks protocol 4. */
bool router_cluster_keeps(void);
/* A leader: a follower linked at protocol 4 to keep its sessions, or 0. */
uint64_t router_cluster_keeper_node(void);
/* A leader: whether `node` has a stanza link to it. */
bool router_cluster_linked(uint64_t node);
/* A follower: the leader its link leads to (0: none). */
uint64_t router_cluster_leader_node(void);
/* The relay key of the stanza being routed ({0} outside a route). */
struct relay_key router_cluster_route_key(void);
/* A question to the leader over the stanza link; -1 without a link up. */
int router_cluster_query(const struct relay_wire_query *q, const char *jid);
/* The leader's answer to `node`'s question `id`: iov[0..1], a
 * CLUSTER_SESSIONS payload. */
void router_cluster_answer(uint64_t node, uint64_t id, const struct iovec *iov);

/* router_admin.c */
/* CTL_CLUSTER_SESSIONS and CTL_CLUSTER_KICK from the supervisor; false for
 * another type or a malformed request. */
bool router_admin_supervisor_message(const struct ipc_msg *msg);
/* A follower's question (leader side) and the leader's answer (follower). */
void router_admin_query(uint64_t node, const struct relay_wire_query *q, const char *jid);
void router_admin_answer(uint64_t id, const char *data, size_t len);

/* router_sm.c: stream management across nodes, the shell of router_keep.c */
void router_sm_init(const struct config *cfg);
/* SM_OPEN, SM_STANZA, SM_ACKED, SM_HANDLED, SM_RESUME from the listener;
 * false when malformed. */
bool router_sm_listener_message(const struct ipc_msg *msg);
/* A local session's stanzas handled, counted with one routed (SM_STANZA_IN)
 * that went to the relay as `seq` (0: routed here). */
void router_sm_handled(uint64_t session, uint32_t handled, uint64_t seq);
/* Leader: the relay routes a stanza of this node's `session` as `seq`
 * (begin, end); the counts that wait for the relay may go (release). */
void router_sm_route_begin(uint64_t session);
void router_sm_route_end(uint64_t seq);
void router_sm_counts_release(void);
/* Before a session of this node is removed: the keeper lets it go. */
void router_sm_session_down(struct rref ref);
/* A KEEP_ frame from `node` (on the link to the leader: from_leader); -1
 * with `why` when it has no business there. */
int router_sm_frame(uint64_t node, bool from_leader, const struct relay_wire_msg *m,
		    const char **why);
void router_sm_resume_here(uint64_t node, uint64_t asker, const struct proto_sm_resume *q,
			   const char *user);
/* Follower: the link to the leader came up (after REGISTER_ALL), or went. */
void router_sm_up_link(bool up);
/* Leader: it leads (keeps) or no longer does; a node's sessions are lost. */
void router_sm_leading(bool leading);
void router_sm_node_lost(uint64_t node, int64_t now_ms);
/* Leader: a delivery to `target` on another node; a stanza routed for a
 * full JID nobody holds (true: held for a session waiting for its
 * resumption). */
void router_sm_delivered(const struct rsession *target, const char *bytes, size_t len);
/* Leader: a delivery to a session here (a follower keeps a copy). */
void router_sm_local_delivery(const struct rsession *target, const char *bytes, size_t len);
/* Leader: a follower linked (one can keep the leader's sessions now). */
void router_sm_follower_linked(void);
bool router_sm_hold(struct rref origin, const struct proto_route_view *r, struct relay_key key);
/* Leader: a delivery to `target`, a session being handed over: held for
 * it instead, as router_sm_hold (true: held). */
bool router_sm_hold_for(struct rref origin, const struct proto_route_view *r,
			const struct rsession *target, struct relay_key key);
void router_sm_tick(int64_t now_ms);

/* router_metrics.c: counted by the routing code, reported by the child
 * runtime (child_ops.metrics); `kind` is enum proto_stanza_kind. */
void router_metrics_routed(uint32_t kind);
void router_metrics_bounced(uint32_t kind);
/* Handed to the relay, or (`overflow`) bounced at once as its queue was full. */
void router_metrics_queued(uint32_t kind, bool overflow);
void router_metrics(struct metrics_set *set);

/* router_main.c */
/* -1 when the listener is away or its channel is beyond its budget. */
int router_deliver(uint64_t session, const char *bytes, size_t len);
void router_kick(uint64_t session, uint32_t reason);
/* Delivers to a session wherever it lives (locally, or through the leader);
 * -1 when a local delivery was refused (router_deliver) or the session's
 * node is no longer reached (router_cluster_deliver). */
int router_deliver_to(const struct rsession *target, const char *bytes, size_t len);

/* router_confirm.c: PROTO_ROUTED to the listener.  Every STANZA from the
 * listener is counted once it is routed, with the relay number it got (0:
 * none, done); a new channel to the listener starts the count again. */
int router_confirm_init(struct ev_loop *loop);
void router_confirm_stanza(uint64_t relay_seq);
void router_confirm_reset(void);

#endif
