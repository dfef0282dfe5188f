/* SPDX-License-Identifier: MIT */
/*
 * Offline messages (XEP-0160, RFC 6121 8.5.2.2.1), pure: whether one more
 * message fits the user's quota and which error the sender gets when it
 * does not; the stored form of a message (the value the im process appends
 * to the user's OFFLINE collection, whose key is the log index of the
 * append, so that every node holds the queue in the same order); the order
 * of delivery; and the XEP-0203 <delay/> added to each message when it is
 * delivered, stamped with the time it was stored.  The time is an input:
 * nothing here reads a clock.
 *
 * Stored form: u8 format (1), u64 stamp (seconds since 1970-01-01 UTC,
 * at most the end of year 9999), then the stanza, a <message/> element as
 * the im process wrote it (attribute values may hold '>' unescaped, as
 * xml_serialize writes them and XML allows).
 * Key: u64, big-endian.
 */
#ifndef RXMPP_IM_OFFLINE_H
#define RXMPP_IM_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "im_roster.h"

#define IM_OFFLINE_FORMAT 1
#define IM_OFFLINE_HEADER 9
/* 9999-12-31T23:59:59Z: a four-digit year, as XEP-0082 writes it. */
#define IM_OFFLINE_STAMP_MAX INT64_C(253402300799)
/* Room for the <delay/> element with a domain of JID_PART_MAX bytes. */
#define IM_OFFLINE_DELAY_MAX 1200

struct im_offline_quota {
	size_t count_max; /* messages per user */
	size_t bytes_max; /* bytes of stanzas per user */
};

/* What a user's queue holds now. */
struct im_offline_usage {
	size_t count;
	size_t bytes;
};

/* Whether a stanza of `len` bytes may be stored; 0, or -1 with `err`:
 * service-unavailable (cancel), without a text.  RFC 6121 8.5.2.2.1 names
 * it for a message the server does not store, and it is the answer for an
 * account that does not exist (8.5.1): a full queue tells a stranger
 * nothing about the account, which <resource-constraint/> would (and
 * retrying does not help until the user comes online, so not "wait"). */
int im_offline_admit(const struct im_offline_quota *q, const struct im_offline_usage *u, size_t len,
		     struct im_error *err);

/* One stored message; `stanza` points into the decoded value. */
struct im_offline_entry {
	uint64_t key; /* the log index of its append: the delivery order */
	int64_t stamp;
	const char *stanza;
	size_t len;
};

/* The stored form; its size, or 0 when `out_size` is too small or the
 * stamp out of range. */
size_t im_offline_encode(int64_t stamp, const char *stanza, size_t len, unsigned char *out,
			 size_t out_size);
/* Strict: the key is 8 bytes, the format 1, the stamp in range, the stanza
 * at most `stanza_max` bytes and a <message> element (im_offline_stamp can
 * add the delay to it).  0, or -1 with a constant reason in `why`. */
int im_offline_decode(const unsigned char *key, size_t key_len, const unsigned char *value,
		      size_t len, size_t stanza_max, struct im_offline_entry *e, const char **why);
/* Sorts entries into delivery order: the order they were stored in. */
void im_offline_sort(struct im_offline_entry *e, size_t n);

/* The XEP-0203 element for a message stored at `stamp` by the server of
 * `domain`: 'from' is the entity that delayed the stanza (XEP-0203; the
 * server's domain, as in XEP-0160's example), 'stamp' the time in UTC as
 * XEP-0082 writes it, the text "Offline Storage" as XEP-0160 shows.
 * Its length, or -1 when the domain is not a domainpart or it does not
 * fit. */
int im_offline_delay(const char *domain, int64_t stamp, char *out, size_t out_size);
/* Writes `stanza` with `delay` as its last child into `out`; the length, or
 * -1 when it does not fit or the stanza is not a <message/> element. */
int im_offline_stamp(const char *stanza, size_t len, const char *delay, char *out, size_t out_size);

#endif
