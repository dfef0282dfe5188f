/* SPDX-License-Identifier: MIT */
/*
 * The SASL server of the listener: SCRAM-SHA-256, SCRAM-SHA-1 (RFC 5802,
 * RFC 7677; no channel binding) and PLAIN (RFC 4616; the connection offers
 * it only inside TLS).  Credentials are the salted keys of the accounts
 * file; a password is never stored and never logged.  An unknown user gets
 * the same exchange as a known one with a wrong password, so the replies do
 * not tell which names exist.
 */
#ifndef RXMPP_LISTENER_SASL_H
#define RXMPP_LISTENER_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/jid.h"
#include "common/jidprep.h"
#include "common/scram.h"

enum sasl_mechanism {
	SASL_SCRAM_SHA_256,
	SASL_SCRAM_SHA_1,
	SASL_PLAIN,
	SASL_MECHANISM_COUNT,
};

const char *listener_sasl_mechanism_name(enum sasl_mechanism mechanism);
int listener_sasl_mechanism_parse(const char *name, enum sasl_mechanism *mechanism);

/* Finds the keys of `user` for `hash`; NULL when there is no such account. */
typedef const struct scram_keys *sasl_lookup_fn(const char *user, enum scram_hash hash, void *arg);

enum sasl_result {
	SASL_CONTINUE, /* send `out` as a challenge */
	SASL_SUCCESS,  /* authenticated as listener_sasl_user(); `out` is the additional data */
	SASL_FAILURE,  /* send <failure> with the condition in `out`, and `why` as its text */
};

struct sasl {
	enum sasl_mechanism mechanism;
	int step;
	char user[JID_PART_MAX + 1];
	char why[JIDPREP_WHY_MAX]; /* a failure's reason for the client, or "" */
	char *client_first_bare;
	char *server_first;
	char nonce[128];
	struct scram_keys keys;
	bool known;
	const char *forced_server_nonce; /* tests only: the RFC's example nonce */
};

void listener_sasl_init(struct sasl *s);
void listener_sasl_free(struct sasl *s);

/* `in` is the decoded initial response or response (may be empty). */
enum sasl_result listener_sasl_start(struct sasl *s, enum sasl_mechanism mechanism, const char *in,
				     size_t in_len, sasl_lookup_fn *lookup, void *arg,
				     struct buf *out);
enum sasl_result listener_sasl_step(struct sasl *s, const char *in, size_t in_len, struct buf *out);
const char *listener_sasl_user(const struct sasl *s);

#endif
