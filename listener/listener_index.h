/* SPDX-License-Identifier: MIT */
/*
 * The listener's connections found without walking them: by id (where the
 * router delivers), how many are bound clients and connected call
 * bridges (max_sessions and the counts in rxmppctl status) and how many
 * bound sessions each account has (max_resources_per_user).  Socket-free,
 * so that it is tested in memory (tests/unit/check_listener_index.c).
 *
 * A connection is added once accepted and removed once closed, whatever
 * the path (peer gone, stream error, disable, stop); the counts follow
 * those two calls and listener_index_count_session, so they cannot drift.
 * A session waiting to be resumed has no connection but still counts
 * (listener_index_hold, then listener_index_release): it holds memory
 * and its full JID as a connected one does.
 */
#ifndef RXMPP_LISTENER_INDEX_H
#define RXMPP_LISTENER_INDEX_H

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct table;

struct listener_index {
	struct table *by_id;   /* struct conn by its id (8 bytes, host order) */
	struct table *by_user; /* struct listener_count of bound sessions by account */
	unsigned clients;      /* bound client sessions */
	unsigned components;   /* authenticated call bridges */
};

int listener_index_init(struct listener_index *x);
void listener_index_free(struct listener_index *x);
/* Indexes `c` under its id; -1 (ENOMEM) changes nothing. */
int listener_index_add(struct listener_index *x, struct conn *c);
/* Forgets `c` and, if it was counted as a session, uncounts it. */
void listener_index_remove(struct listener_index *x, struct conn *c);
struct conn *listener_index_find(const struct listener_index *x, uint64_t id);
/* `c` became a bound client (c->user set) or an authenticated call bridge
 * (once); -1 (ENOMEM) counts nothing. */
int listener_index_count_session(struct listener_index *x, struct conn *c);
/* A client session of `user` without a connection (XEP-0198: waiting to
 * be resumed) counts as one; -1 (ENOMEM) counts nothing.  Released once. */
int listener_index_hold(struct listener_index *x, const char *user);
void listener_index_release(struct listener_index *x, const char *user);
/* Bound client sessions of the account `user`. */
unsigned listener_index_count_user(const struct listener_index *x, const char *user);

#endif
