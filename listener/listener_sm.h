/* SPDX-License-Identifier: MIT */
/*
 * XEP-0198 stream management of one client session, as a pure state
 * machine: the two handled counters, the queue of stanzas sent and not yet
 * acknowledged, when to ask for an acknowledgement, whether an `h` the
 * client reports is possible, and what a resumption replays.  No sockets,
 * clock or randomness: listener_client_sm.c does the I/O and hands in the
 * random bytes of the resumption id.
 *
 * Counters are 32 bits and wrap (XEP-0198 section 4: h is "mod 2^32"); the
 * queue holds exactly the stanzas numbered acked+1 .. sent.
 *
 * The whole state is one struct, and listener_sm_serialise /
 * listener_sm_restore turn it into bytes and back, so that it can be
 * copied to another node (resumption after the holding node died builds on
 * it).  The resumption id is 128 random bits in hex: it encodes nothing,
 * and cannot be guessed.
 */
#ifndef RXMPP_LISTENER_SM_H
#define RXMPP_LISTENER_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define XML_NS_SM	       "urn:xmpp:sm:3"
#define LISTENER_SM_RANDOM_LEN 16
#define LISTENER_SM_ID_LEN     (2 * LISTENER_SM_RANDOM_LEN)

/* One stanza sent and not acknowledged: its bytes as written. */
struct listener_sm_item {
	struct listener_sm_item *next;
	uint32_t len;
	char bytes[];
};

struct listener_sm_limits {
	uint32_t max_stanzas; /* unacknowledged stanzas held */
	uint32_t max_bytes;   /* and their bytes */
};

struct listener_sm {
	bool resumable;
	char id[LISTENER_SM_ID_LEN + 1]; /* resumable only */
	uint32_t max_seconds;		 /* how long a detached session waits */
	uint32_t handled;		 /* stanzas handled from the client: our h */
	uint32_t sent;			 /* stanzas sent to the client */
	uint32_t acked;			 /* the client's last h */
	bool requested;			 /* an <r/> went out and no <a/> came since */
	/* The stanzas acked+1 .. sent, oldest first. */
	struct listener_sm_item *head, **tail;
	uint32_t count;
	size_t bytes;
};

enum listener_sm_verdict {
	LISTENER_SM_FINE,      /* nothing to do */
	LISTENER_SM_REQUEST,   /* send <r/>: the queue is filling */
	LISTENER_SM_OVER,      /* past a limit: the session must end */
	LISTENER_SM_NO_MEMORY, /* not kept: the session must end */
};

/* Enabled with `random` (LISTENER_SM_RANDOM_LEN bytes) for the id; both
 * counters start at 0 (XEP-0198 section 3). */
void listener_sm_init(struct listener_sm *sm, bool resumable, uint32_t max_seconds,
		      const unsigned char *random);
/* A session resumed from what another node kept: id `id` (at most
 * LISTENER_SM_ID_LEN characters), the handled count it kept and the
 * client's `h`; the stanzas after h follow (listener_sm_sent). */
void listener_sm_resumed(struct listener_sm *sm, const char *id, uint32_t max_seconds,
			 uint32_t handled, uint32_t h);
void listener_sm_free(struct listener_sm *sm);
/* A stanza came from the client. */
void listener_sm_handled(struct listener_sm *sm);
/* A stanza goes to the client: kept until acknowledged.  The request
 * comes once a quarter of either limit is unacknowledged and no request is
 * outstanding, so that a client that answers never nears the limits. */
enum listener_sm_verdict listener_sm_sent(struct listener_sm *sm,
					  const struct listener_sm_limits *limits,
					  const char *bytes, size_t len);
/* The client has handled `h` stanzas: those are let go.  -1 when `h`
 * acknowledges more than was sent (or goes back), changing nothing. */
int listener_sm_acked(struct listener_sm *sm, uint32_t h);
/* Marks an <r/> as sent: no other until an <a/> comes. */
void listener_sm_requested(struct listener_sm *sm);
/* Parses an `h` attribute: decimal, 0 .. 2^32-1; -1 otherwise. */
int listener_sm_parse_h(const char *text, uint32_t *h);

/* The state as bytes (a fixed header, then each queued stanza with its
 * length) and back; restore replaces `sm` (freed first by the caller) and
 * returns -1 on malformed input or no memory, holding nothing. */
int listener_sm_serialise(const struct listener_sm *sm, struct buf *out);
int listener_sm_restore(struct listener_sm *sm, const char *data, size_t len);

#endif
