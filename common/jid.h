/* SPDX-License-Identifier: MIT */
/*
 * XMPP addresses (RFC 7622): splitting, validation and the normal form used
 * as routing keys.  The localpart is folded to lower case (the
 * UsernameCaseMapped profile; ASCII only: other scripts are compared as
 * given), the domainpart is a lower-case DNS name, the resourcepart is kept
 * as it is.  Full PRECIS (Unicode normalisation) is not applied.
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
/* Writes the normal form of `text` into `out`; its length, or -1. */
int jid_normalize(const char *text, size_t len, char *out, size_t out_size);
/* Writes the bare form (no resource) of a normal JID; its length. */
size_t jid_bare(const char *jid, char *out, size_t out_size);
/* A localpart on its own (an account name) in normal form; its length, or -1. */
int jid_normalize_local(const char *text, size_t len, char *out, size_t out_size);

#endif
