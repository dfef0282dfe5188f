/* SPDX-License-Identifier: MIT */
/*
 * The set a node serves over TLS: its private key, its certificate and the
 * chain sent after it (the rest of the certificate file, then the bundle).
 * Checked the same way wherever it is read, by the certificate worker at
 * start, on reload and when the files change, and by `rxmppctl certs`
 * before it edits the configuration.  A set is refused when it could not
 * work for clients: unreadable or encrypted key, key and certificate that
 * do not belong together, chain out of order or with strangers in it, an
 * expired or not yet valid member, a certificate that does not cover the
 * domain or is not meant for TLS servers.  What might still work (an
 * issuer we cannot see, a duplicate, no clientAuth for cluster links) is a
 * warning.
 */
#ifndef RXMPP_CERT_SET_H
#define RXMPP_CERT_SET_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct cert_set {
	EVP_PKEY *key;
	STACK_OF(X509) * chain; /* the node's certificate first */
	time_t not_after;	/* when the first member of the chain expires */
	char expiring[600];	/* that member, "#N (subject)" */
	char subject[512];	/* the node's certificate */
};

struct cert_set_files {
	const char *key;
	const char *certificate;
	const char *bundle; /* NULL or "" for none */
};

/* Loads and checks the set for `domain` at time `now`; `cluster` adds the
 * check that cluster peer links can use the certificate as a client.
 * Warnings go to `warnings`, one per line.  -1 with the reason (naming the
 * file and the certificate) for a set that must not be used. */
int cert_set_load(const struct cert_set_files *files, const char *domain, bool cluster, time_t now,
		  struct cert_set *out, char *why, size_t why_size, char *warnings,
		  size_t warnings_size);
void cert_set_free(struct cert_set *set);
/* The key and then the chain as PEM, as the listener loads them. */
int cert_set_pem(const struct cert_set *set, char **out, size_t *len);

#endif
