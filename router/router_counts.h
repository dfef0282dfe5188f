/* SPDX-License-Identifier: MIT */
/*
 * The handled counts of the leader's own resumable sessions on their way
 * to the follower that keeps them (router/router_keep.h), as a pure state
 * machine: no I/O, no clock.  The router's stream-management shell
 * (router_sm.c) feeds it and sends what it lets go.
 *
 * Why.  The count of a client's stanzas that the keeper holds becomes the
 * `h` of `<resumed/>` if the holder dies: the client sends again only what
 * that count does not cover.  For a client on a follower the stanza and
 * its count leave in one record to the leader, so both arrive or neither.
 * For a client on the leader the stanza may go to a third node (neither
 * the leader nor the keeper) while its count goes to the keeper, on two
 * links that a node's death cuts at independent points: a count that
 * arrived while its stanza did not would make the client drop a stanza
 * nobody has -- lost.  So a count goes to the keeper only once every
 * stanza it covers is safe beyond the leader: routed here only (answered,
 * bounced, or delivered to a session of this node, whose keeper hears of
 * it first on the same link), delivered to the keeper's own node (on the
 * same link, before the count), or confirmed by the third node
 * (DELIVERED: the relay no longer keeps it).
 *
 * What remains (README "What happens to my clients when a node dies"): a
 * stanza a third node has while its count has not reached the keeper when
 * the leader dies is sent again by the client and arrives twice.  Never
 * lost; twice only in that window of one round trip.
 *
 * A session's counts leave in the order they came, so that they never go
 * back: one waiting for a third node holds back that session's later
 * ones by that round trip, and no other session's.
 */
#ifndef RXMPP_ROUTER_COUNTS_H
#define RXMPP_ROUTER_COUNTS_H

#include <stdbool.h>
#include <stdint.h>

struct counts;

struct counts *router_counts_new(void);
void router_counts_free(struct counts *c);

/* The local session `session` handled its stanzas up to `count`; the last
 * of them went to the relay as `seq` (0: not through the relay, or none). */
void router_counts_add(struct counts *c, uint64_t session, uint32_t count, uint64_t seq);
/* The relay routed `seq` (a stanza of this node) to this node's sessions
 * and the keeper's node only: its count need not wait for confirmations.
 * It may come before router_counts_add for the same `seq`. */
void router_counts_safe(struct counts *c, uint64_t seq);
/* A count that may go now (a session's highest that may): the relay
 * keeps no stanza of this node below `oldest` (router_relay_oldest).
 * False when none. */
bool router_counts_next(struct counts *c, uint64_t oldest, uint64_t *session, uint32_t *count);

#endif
