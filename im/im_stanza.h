/* SPDX-License-Identifier: MIT */
/*
 * One stanza's bytes parsed into a tree, for the im process: the router
 * hands stanzas over one at a time, and common/xml parses streams, so each
 * is parsed as the only element of a stream of its own (as the listener
 * reads back a stanza it could not deliver).  The limits are the
 * listener's: the router already bounded the stanza's size.
 */
#ifndef RXMPP_IM_STANZA_H
#define RXMPP_IM_STANZA_H

#include <stddef.h>

#include "common/xml.h"

/* Calls `fn` with the stanza's tree (valid during the call); 0, or -1
 * when the bytes are not one well-formed element within `limits` or
 * memory ran out. */
int im_stanza_parse(const char *bytes, size_t len, const struct xml_limits *limits,
		    void (*fn)(void *arg, struct xml_node *stanza), void *arg);

#endif
