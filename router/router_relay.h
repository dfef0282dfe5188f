/* SPDX-License-Identifier: MIT */
/*
 * The cluster relay core: how stanzas cross between the routers of a
 * cluster without being lost or delivered twice across a failover, as a
 * pure deterministic state machine.  No sockets, no clock, no randomness
 * of its own (the epoch is handed in): the shell (router_cluster.c) feeds
 * it inputs and takes out, in order, what to do (router_relay_next).
 *
 * The protocol.  A node delivers to its own sessions itself; every other
 * stanza goes through the relay (router_relay_forward), numbered (its node, its
 * epoch, a sequence number), and is kept until the leader acknowledges it:
 * a follower forwards it to the leader, the leader routes its own at once.
 * The leader routes a forwarded stanza with every node's sessions; each
 * delivery to another node carries the number and asks that node to
 * confirm it (DELIVER, DELIVERED); the leader keeps a copy, sends it again
 * if the link to that node drops and comes back, and gives it up with the
 * node after `relink_ms`, bouncing it to its sender (the node may have
 * delivered it and lost only the confirmation: a needless error then,
 * never a silent loss; its error is not kept: the stanza's ACK follows it
 * on the same link).  A delivery the leader makes outside a route (a
 * stanza the keeper replays
 * to a resumed session, router/router_keep.h, an answer of the IM process,
 * router/router_im.c) is kept and sent again the
 * same way, numbered in the leader's outside series (its node, the
 * complement of its epoch, a number of its own) for the receiving session
 * to drop a copy it had; given up with its node, it goes back to the shell
 * to be routed again (RETURN).  Once every delivery of a stanza is confirmed
 * (or given up) the leader acknowledges it to its origin (ACK).  After a
 * leader change, or when its link drops, the origin sends everything
 * unacknowledged again, in order, and a receiving node drops what a session
 * already got from that origin (router_relay_seen_before: per session, the
 * highest sequence number delivered from each origin and epoch, and which
 * of the RELAY_MARK_WINDOW numbers below it were delivered: the next leader
 * may route a stanza sent again to another session than the first did, one
 * that had later stanzas of that origin).  A follower confirms a delivery
 * only once its listener took it (router_relay_delivered_here); one the
 * listener refuses (its channel full) closes the link to the leader, which
 * sends it again, with what followed it, on the next.
 * A node that stops leading closes the links of the others, which then
 * send again, in order, what it had not acknowledged.
 *
 * A new leader routes nothing forwarded, and nothing of its own that needs
 * another node's sessions, until it is warm: every member it heard lately
 * (`alive`, from the elector) has linked, registered its sessions and said
 * SYNCED, or `warmup` ms passed (a member may have died meanwhile).  Until
 * then it holds what others forward.  Routing earlier would bounce stanzas
 * for sessions whose node had not registered them yet.  A warm leader that
 * loses a follower's link warms again the same way: the follower may only
 * have gone to follow a new leader (a transfer: this one routes on until
 * it hears of it), and its sessions are then not gone from the cluster.
 *
 * While no leader is reachable, stanzas wait in a bounded queue; what does
 * not fit, or waits longer than `queue_max_wait` without ever reaching a
 * leader, is bounced to its sender; nothing is dropped silently.  What
 * reached a leader may have been delivered, so it is never bounced: it
 * waits for its ack, and goes again to the next leader.
 *
 * Inputs: router_relay_tick (time), router_relay_leader (who leads), router_relay_up_link (the
 * link to the leader came up or went), router_relay_peer_link (a link from another
 * node, at a leader), router_relay_forward, router_relay_step (a decoded frame of type
 * FORWARD, DELIVER, DELIVERED, ACK or SYNCED), router_relay_catch_up.  While the
 * shell routes a ROUTE output it brackets it with router_relay_route_begin/end and
 * asks router_relay_deliver_remote for each delivery to another node; it asks
 * the same for each delivery to another node it makes outside a route.
 *
 * Not covered: a leader that stops leading forgets its deliveries outside
 * routes that were not confirmed, as it forgets all it delivered (its links
 * close).  For a routed stanza the origin sends it again to the next
 * leader; for an error, the acknowledgement of the stanza it answers comes
 * after it on the same link, so an error lost leaves that stanza
 * unacknowledged and sent again.  But a stanza the keeper replays to a
 * resumed session, and an answer of the IM process, are lost if they are
 * in flight (not confirmed) when this node stops leading or dies: the
 * stanzas a keeper replays were acknowledged to their origins when it took
 * them, and it hands only the numbered ones to the next leader
 * (router_sm.c); the iq an IM answer answers was acknowledged when its route
 * ended.  The shell logs how many it forgot (router_relay_outside_forgotten);
 * the simulation counts them ("LOST, abandoned").
 * Also not covered: a stanza sent again that the next leader routes to a
 * session which had a stanza of its origin more than RELAY_MARK_WINDOW
 * numbers later is taken for a copy.
 */
#ifndef RXMPP_ROUTER_RELAY_H
#define RXMPP_ROUTER_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router_relay_wire.h"

#define RELAY_LOCAL	  0 /* "this node" where a node id is expected */
#define RELAY_ORIGINS_MAX 16

struct relay_options {
	uint64_t epoch; /* drawn at start: tells this run's numbers from a previous one's */
	size_t queue_max_stanzas;
	size_t queue_max_bytes;
	int64_t queue_max_wait_ms;
	int64_t warmup_ms;
	/* How long a leader keeps what it delivered to a node whose link
	 * dropped, to send it again when the node links again; then it gives
	 * it up as gone with the node.  Longer than it takes this leader to
	 * hear that it no longer leads (then the origins send it again). */
	int64_t relink_ms;
};

enum relay_out_kind {
	/* A frame on the link to the leader (`to_leader`) or on the link from
	 * `node`: `type`, `head` (head_len bytes), then `data` (len bytes). */
	RELAY_OUT_SEND,
	/* Register every local session on the link to the leader (REGISTER
	 * frames), now: the SYNCED and forwards that follow rely on it. */
	RELAY_OUT_REGISTER_ALL,
	/* Route the stanza `data` (routing header and stanza) from `session`
	 * on node `node` (RELAY_LOCAL: here), named `key`, between
	 * router_relay_route_begin and router_relay_route_end. */
	RELAY_OUT_ROUTE,
	/* Deliver `data` to the local session `session` unless
	 * router_relay_seen_before says it had `key` already, then say
	 * whether it was handed on (router_relay_delivered_here): only then
	 * is it confirmed.  `head.deliver` is the DELIVER header. */
	RELAY_OUT_DELIVER,
	/* Bounce the stanza `data` (routing header and stanza) to its sender
	 * `session` on node `node` (RELAY_LOCAL: here): `why`. */
	RELAY_OUT_BOUNCE,
	/* Forget every session of `node`: its link went. */
	RELAY_OUT_FORGET,
	/* Close the link from `node` (no longer leading); or, `to_leader`,
	 * the link to the leader, which then sends again on the next one
	 * what this node did not confirm (it could not deliver it). */
	RELAY_OUT_CLOSE,
	/* A delivery made outside a route to `session` on `node`, given up
	 * with that node: `data` is the stanza as it was delivered (no routing
	 * header).  Route it again as one whose session is gone: it reaches
	 * its recipient's JID if that is connected again elsewhere; otherwise
	 * a message goes to another resource or its sender hears an error
	 * (RFC 6121 8.5.3.2), and an error or a result goes to nobody. */
	RELAY_OUT_RETURN,
};

struct relay_key {
	uint64_t node;
	uint64_t epoch;
	uint64_t seq; /* 0: none (no deduplication) */
};

struct relay_out {
	enum relay_out_kind kind;
	bool to_leader;
	uint64_t node;
	uint16_t type;
	union {
		struct relay_wire_forward forward;
		struct relay_wire_deliver deliver;
		struct relay_wire_delivered delivered;
		struct relay_wire_ack ack;
	} head;
	size_t head_len;
	uint64_t session;
	struct relay_key key;
	const char *why;
	const char *data;
	size_t len;
};

/* How far below an origin's highest number a session remembers which
 * numbers it had (router_relay_seen_before). */
#define RELAY_MARK_WINDOW 256

/* Per session and origin: the highest stanza delivered, and which of the
 * RELAY_MARK_WINDOW numbers below it were delivered too (bit k: key.seq
 * - 1 - k). */
struct relay_mark {
	struct relay_key key;
	uint64_t below[RELAY_MARK_WINDOW / 64];
};

struct relay_marks {
	struct relay_mark last[RELAY_ORIGINS_MAX];
};

struct relay;

struct relay *router_relay_new(const struct relay_options *options);
void router_relay_free(struct relay *r);
/* New queue limits (a reload). */
void router_relay_set_limits(struct relay *r, size_t max_stanzas, size_t max_bytes,
			     int64_t max_wait_ms);

/* Inputs */
void router_relay_tick(struct relay *r, int64_t now_ms);
/* The elector's view: this node's id, who leads in which term, and how
 * many members it heard lately (this node included).  True when the leader
 * or the term changed: the link to the old leader is then of no use. */
bool router_relay_leader(struct relay *r, uint64_t self, uint64_t leader, uint64_t term,
			 uint32_t alive);
/* The link to the leader (router_relay_link_wanted) came up, or went. */
void router_relay_up_link(struct relay *r, bool up);
/* A link from `node` came up (hello received), or went. */
void router_relay_peer_link(struct relay *r, uint64_t node, bool up);
/* A stanza of local `session` that only the leader can route; copied.
 * Returns its sequence number, kept until the leader acknowledges it (or
 * it is bounced), or 0 when it is bounced at once (the queue is full). */
uint64_t router_relay_forward(struct relay *r, uint64_t session, const void *data, size_t len);
/* A decoded relay frame (FORWARD, DELIVER, DELIVERED, ACK, SYNCED) from
 * `node`, on the link to the leader (`from_leader`) or on one from another
 * node; -1 with `*why` when it has no business there (close the link).
 * Its data must stay valid until router_relay_next returns false. */
int router_relay_step(struct relay *r, uint64_t node, bool from_leader,
		      const struct relay_wire_msg *m, const char **why);
/* The shell performed the DELIVER output `deliver`: `ok` when it handed
 * the stanza on (or dropped it as a copy), and it is confirmed; otherwise
 * (the listener's channel is full) the session's marks must be as before
 * it, and this node closes its link to the leader (a CLOSE output): the
 * leader sends it again, with what followed it, on the next link. */
void router_relay_delivered_here(struct relay *r, const struct relay_out *deliver, bool ok);
/* The deliveries to `session` on `node` not yet confirmed are done with:
 * another keeps them (a stream-management session whose node was lost,
 * router/router_keep.h), so they are neither sent again nor bounced. */
void router_relay_taken_over(struct relay *r, uint64_t node, uint64_t session);
/* Before a warm leader routes anything new: what waited goes first. */
void router_relay_catch_up(struct relay *r);

/* Outputs, first in first out.  Pointers in `out` stay valid until
 * router_relay_next returns false. */
bool router_relay_next(struct relay *r, struct relay_out *out);

/* Routing a ROUTE output */
void router_relay_route_begin(struct relay *r, const struct relay_out *route);
/* The key of the stanza being routed ({0} outside a route). */
struct relay_key router_relay_route_key(const struct relay *r);
/* The key a delivery to `session` on `node` (RELAY_LOCAL: here) in the
 * route under way is deduplicated by (router_relay_seen_before): the
 * route's, but none ({0}) for the stanza's own sender (an error, a
 * result), whose marks of its own series are not in routing order.  An
 * answer sent again may then arrive twice (a needless copy); one taken
 * for a copy would be lost. */
struct relay_key router_relay_route_key_to(const struct relay *r, uint64_t node, uint64_t session);
/* The rest of the route under way goes to a session the router chose
 * among others (a message to a bare JID, or for a full JID that is not
 * online, RFC 6121 8.5.2.1 and 8.5.3.2): another leader, routing it again
 * after a failover, may choose another, which may have had a later stanza
 * of the same origin; a mark would take it for a copy and lose it.  Its
 * deliveries carry no key (router_relay_route_key_to gives {0}): sent
 * again, such a stanza may arrive twice, or after a later one, never be
 * lost. */
void router_relay_route_chosen(struct relay *r);
/* A delivery of `len` bytes to `session` on `node`: fills the DELIVER
 * header to send with them, asks for a confirmation and keeps a copy until
 * then.  Inside a route it carries the route's key and holds back the
 * stanza's acknowledgement; outside a route (a bounce, a replay) it is
 * numbered in this node's outside series, except the error of a delivery
 * given up (a BOUNCE output to another node), whose stanza's ACK follows it
 * on the same link: it is not kept (delivery 0).  False when there is no
 * link to that node (its sessions are gone). */
bool router_relay_deliver_remote(struct relay *r, uint64_t node, uint64_t session,
				 const void *bytes, size_t len, struct relay_wire_deliver *out);
void router_relay_route_end(struct relay *r);

/* True when `key` already reached the session of `marks` (sent again after
 * a leader change); otherwise records it.  Exact within RELAY_MARK_WINDOW
 * numbers below the origin's highest delivered: a stanza that the next
 * leader routes to another session than the first did (another resource,
 * RFC 6121 8.5.2.1 and 8.5.3.2), which had later stanzas of that origin,
 * is delivered, not taken for a copy.  Farther below, it is taken for a
 * copy (a burst of resends after a failover is mostly that). */
bool router_relay_seen_before(struct relay_marks *marks, struct relay_key key);

/* Queries */
bool router_relay_leading(const struct relay *r);
/* A leader that routes for every node (warm). */
bool router_relay_routes_for_all(const struct relay *r);
/* The node to keep a link to (the leader, when following), or 0. */
uint64_t router_relay_link_wanted(const struct relay *r);
/* True when `node` is this one, or a node with a link here.  A node whose
 * link went is not, at once, although its sessions are forgotten only when
 * its FORGET output comes, behind what was queued before it (a route of a
 * batch in which an earlier stanza closed that node's link): its sessions
 * are gone all the same, and a stanza for one is routed as for a session
 * that ended, not handed to router_relay_deliver_remote. */
bool router_relay_reaches(const struct relay *r, uint64_t node);
size_t router_relay_queued(const struct relay *r);
/* How many deliveries outside a route, not confirmed, this node forgot
 * when it stopped leading, since the last call: lost unless their node
 * had them ("Not covered" above), for the shell to say so. */
size_t router_relay_outside_forgotten(struct relay *r);
/* The sequence number of the oldest stanza of this node still kept (not
 * acknowledged, not bounced); UINT64_MAX when none.  Numbers only grow. */
uint64_t router_relay_oldest(const struct relay *r);

#endif
