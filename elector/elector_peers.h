/* SPDX-License-Identifier: MIT */
/*
 * Which certificates may be cluster members, in the elector.  A peer's
 * certificate has passed the trust bundle (common/tls.c) before it gets
 * here; whether its holder may join, or speak for a node it has not joined
 * as, is decided here:
 *   - a trust bundle of end-entity certificates only (no CA): exactly the
 *     certificates in the bundle may join;
 *   - a trust bundle that holds a CA (any certificate with CA:TRUE): only a
 *     certificate that carries one of cluster.peer_names (a DNS name of its
 *     subjectAltName, its IP address, or its common name; wildcards in the
 *     certificate do not count) may join, and with peer_names empty none.
 * A member keeps its place by its certificate's fingerprint (elector_core.h)
 * whatever these rules say later.
 */
#ifndef RXMPP_ELECTOR_PEERS_H
#define RXMPP_ELECTOR_PEERS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

/* May the holder of `cert` join?  false with the reason in `*why`. */
bool elector_peers_may_join(SSL_CTX *ctx, const struct config_names *names, X509 *cert,
			    const char **why);
/* The SHA-256 fingerprint of this node's own certificate in `ctx`. */
int elector_peers_own_fingerprint(SSL_CTX *ctx, uint8_t *fingerprint, size_t size);

#endif
