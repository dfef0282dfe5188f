/* SPDX-License-Identifier: MIT */
/*
 * The stored form of a roster item: the value the im process puts into the
 * user's ROSTER collection of the replicated store under the contact's
 * prepared bare JID (the key).  The store does not read it; every node
 * decodes it, so the format is fixed and the decoder strict: a value that
 * is not exactly what im_rosterval_encode writes is refused, never guessed
 * at.
 *
 *   u8  format (1)
 *   u8  state (enum im_sub_state, RFC 6121 A.1)
 *   u8  flags: 1 pre-approved, 2 listed; no other bit
 *   u16 name length, name bytes (0: no name)
 *   u16 status length, status bytes (0: none; only with a request waiting)
 *   u16 group count, then each group: u16 length (not 0), bytes
 *
 * Integers big-endian; strings UTF-8 without NUL, within the limits, no
 * group twice.  A pre-approval only where RFC 6121 3.4 allows one; an item
 * not listed holds only a waiting request (state "None + Pending In", no
 * name, no group).
 */
#ifndef RXMPP_IM_ROSTERVAL_H
#define RXMPP_IM_ROSTERVAL_H

#include <stddef.h>

#include "im_roster.h"

#define IM_ROSTERVAL_FORMAT 1

/* The encoded size of `item`. */
size_t im_rosterval_size(const struct im_roster_item *item);
/* Encodes `item` (not its jid: that is the key); its size, or 0 when it
 * does not fit in `out_size`. */
size_t im_rosterval_encode(const struct im_roster_item *item, unsigned char *out, size_t out_size);
/* Decodes the item stored under `key` into `item` (owning its strings:
 * im_roster_item_free); 0, or -1 with the reason in `why` (a constant
 * string naming the field, never the input). */
int im_rosterval_decode(const char *key, size_t key_len, const unsigned char *value, size_t len,
			const struct im_roster_limits *limits, struct im_roster_item *item,
			const char **why);
/* Whether `len` bytes are valid UTF-8 with no NUL and no surrogates or
 * overlong forms (what XML character data may carry). */
int im_rosterval_utf8_valid(const char *text, size_t len);

#endif
