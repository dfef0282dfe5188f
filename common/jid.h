/* SPDX-License-Identifier: MIT */
/*
 * XMPP addresses (RFC 7622): the syntax of a JID, splitting it into its
 * parts and checking each part's characters.  Preparing a JID from a client
 * into the form used as a routing key is jidprep.h's work; this module only
 * reads JIDs and needs no Unicode tables (the router uses it on JIDs the
 * listener has prepared).
 */
#ifndef RXMPP_JID_H
#define RXMPP_JID_H

#include <stdbool.h>
#include <stddef.h>

#define JID_PART_MAX 1023
/* local@domain/resource with each part at its limit, plus the NUL. */
#define JID_MAX (3 * JID_PART_MAX + 3)

struct jid_parts {
	const char *local;
	size_t local_len; /* 0: no localpart */
	const char *domain;
	size_t domain_len;
	const char *resource;
	size_t resource_len; /* 0: no resourcepart (a bare JID) */
};

/* Splits and validates `len` bytes; -1 when it is not a valid JID. */
int jid_split(const char *text, size_t len, struct jid_parts *out);
/* Writes the bare form (no resource) of a normal JID; its length. */
size_t jid_bare(const char *jid, char *out, size_t out_size);

#endif
