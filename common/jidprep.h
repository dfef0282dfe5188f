/* SPDX-License-Identifier: MIT */
/*
 * JID preparation (RFC 6122, RFC 3920 appendices A and B): the localpart by
 * the Nodeprep profile, the domainpart by Nameprep (RFC 3491), the
 * resourcepart by Resourceprep, all three stringprep (RFC 3454) profiles of
 * GNU libidn, as Prosody prepares them.  Debian 12 has no PRECIS (RFC 7622)
 * library for C; stringprep and PRECIS agree on the common cases (case
 * folding, compatibility forms, refusing '@' '/' and controls in a
 * localpart) and clients of either kind log in.
 *
 * Pure functions: bytes in, the prepared form or the reason out.  The input
 * must be valid UTF-8; each prepared part is at most JID_PART_MAX bytes;
 * code points unassigned in Unicode 3.2 are refused in localparts and
 * domainparts (stored strings, RFC 3454 7) and let through in resourceparts
 * (queries: a device name may hold a newer emoji).  Reasons name the part and the code point
 * ("localpart: prohibited character U+0040"), never more of the input than that.
 */
#ifndef RXMPP_JIDPREP_H
#define RXMPP_JIDPREP_H

#include <stddef.h>

/* Room for any reason these functions write. */
#define JIDPREP_WHY_MAX 96

/* Prepares a whole JID (local@domain/resource, local and resource
 * optional); writes it NUL-terminated into `out`.  Its length, or -1 with
 * the reason in `why` and "" in `out`. */
int jidprep_jid(const char *text, size_t len, char *out, size_t out_size, char *why,
		size_t why_size);
/* A localpart on its own (an account name), by Nodeprep; the reason has
 * no part name ("prohibited character U+0040"). */
int jidprep_node(const char *text, size_t len, char *out, size_t out_size, char *why,
		 size_t why_size);

#endif
