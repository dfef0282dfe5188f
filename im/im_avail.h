/* SPDX-License-Identifier: MIT */
/*
 * Who is available, as the im process that does the IM work (the leader's,
 * or a lone node's) has seen it: per bare JID, each available resource
 * with its last broadcast presence (the stanza's bytes, 'from' stamped),
 * what a probe on a contact's initial presence is answered with (RFC 6121
 * 4.3.2) and what a new subscriber is sent (3.1.5).  Ephemeral, not
 * replicated (iface18 "Presence is not replicated"): a new leader's im
 * starts empty and learns it as clients send presence.
 */
#ifndef RXMPP_IM_AVAIL_H
#define RXMPP_IM_AVAIL_H

#include <stdbool.h>
#include <stddef.h>

struct im_avail_res {
	char *full;
	char *stanza; /* the last available presence */
	size_t len;
};

struct im_avail_user {
	size_t count;
	struct im_avail_res *res;
};

/* 0, or -1 when memory ran out. */
int im_avail_init(void);
/* Records the available presence of `full` (of `bare`); 1 when the
 * resource was not available before (initial presence), 0 when it was,
 * -1 when memory ran out (nothing recorded). */
int im_avail_set(const char *bare, const char *full, const char *stanza, size_t len);
/* Forgets `full`; whether it was available. */
bool im_avail_remove(const char *bare, const char *full);
/* The available resources of `bare`, or NULL for none; valid until the
 * next change. */
const struct im_avail_user *im_avail_of(const char *bare);

#endif
