/* SPDX-License-Identifier: MIT */
/*
 * Admission of new connections by peer address: the per-address limits of
 * rxmpp.yaml(5) (limits.connection_rate_per_address and _burst_,
 * max_unauthenticated_per_address, max_connections_per_address) with
 * limits.trusted_networks exempt.  Runs in rxmpp-listener; pure (no
 * socket, no clock: the caller passes the time), so that it is tested in
 * memory (tests/unit/check_listener_admit.c).
 *
 * Why these limits and not a cap on sessions: many users legitimately
 * share one address (a conferencing web gateway logs every browser user in
 * from its own address; so do NAT'd offices and load balancers), and an
 * established session already proved its credentials.  What one address
 * can cost without credentials is handshake work (bounded by the rate of
 * new connections, a token bucket) and memory held by connections that
 * never authenticate (bounded by the cap on unauthenticated ones, each of
 * which also ends at limits.tls_handshake_timeout / auth_timeout).
 *
 * Each address has an entry while it has connections or its bucket is
 * not yet full again; listener_admit_sweep forgets the others, so that
 * closing every connection does not hand an address a fresh burst.
 */
#ifndef RXMPP_LISTENER_ADMIT_H
#define RXMPP_LISTENER_ADMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

struct table;

struct listener_admit {
	struct table *by_address; /* struct listener_admit_address by peer address text */
};

enum listener_admit_verdict {
	LISTENER_ADMIT_OK,		/* counted: connected and unauthenticated */
	LISTENER_ADMIT_RATE,		/* the address's bucket is empty */
	LISTENER_ADMIT_UNAUTHENTICATED, /* max_unauthenticated_per_address reached */
	LISTENER_ADMIT_CONNECTIONS,	/* max_connections_per_address reached */
	LISTENER_ADMIT_NO_MEMORY,
};

int listener_admit_init(struct listener_admit *x);
void listener_admit_free(struct listener_admit *x);
/* Decides on a new connection from `address` at `now_ms` (monotonic); a
 * `trusted` peer passes every limit but is still counted.  Only
 * LISTENER_ADMIT_OK counts the connection (and takes a token). */
enum listener_admit_verdict listener_admit_open(struct listener_admit *x,
						const struct config_limits *limits,
						const char *address, bool trusted, int64_t now_ms);
/* The connection from `address` authenticated (SASL success, or a call
 * bridge's handshake): it no longer counts as unauthenticated. */
void listener_admit_authenticated(struct listener_admit *x, const char *address);
/* A counted connection from `address` closed; `authenticated` as it was. */
void listener_admit_close(struct listener_admit *x, const char *address, bool authenticated);
/* Forgets addresses without connections whose bucket has filled up again. */
void listener_admit_sweep(struct listener_admit *x, const struct config_limits *limits,
			  int64_t now_ms);
/* Connections from `address`, and how many of them are unauthenticated. */
unsigned listener_admit_count(const struct listener_admit *x, const char *address,
			      unsigned *unauthenticated);
/* Addresses remembered (for tests and the sweep's effect). */
unsigned listener_admit_addresses(const struct listener_admit *x);
/* The reason of a refusal, for the log. */
const char *listener_admit_reason(enum listener_admit_verdict verdict);

#endif
