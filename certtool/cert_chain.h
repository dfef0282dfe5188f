/* SPDX-License-Identifier: MIT */
/*
 * Chains of certificates: the order a bundle must have (the server's own
 * certificate first, each certificate issued by the next, the root last),
 * what is wrong with a given one, and full verification with the exact
 * reason on failure.  Pure functions of their inputs (the clock is an
 * argument), shared by rxmpp-certtool, the certificate worker and the
 * unit tests.  Certificates are named "#N (subject)", N counting from 1 in
 * the order they were given.
 */
#ifndef RXMPP_CERT_CHAIN_H
#define RXMPP_CERT_CHAIN_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CERT_CHAIN_MAX 64

struct cert_chain_report {
	/* The chain found, leaf first, as indexes into the input. */
	int order[CERT_CHAIN_MAX];
	int length;
	unsigned duplicates;	/* certificates given twice (the later ones) */
	unsigned unrelated;	/* certificates that are not in the chain */
	bool misordered;	/* the chain is there, in another order */
	bool issuer_missing;	/* the last one's issuer is neither given nor trusted */
	bool ends_trusted;	/* the last one is, or is issued by, a trusted one */
	unsigned expired;	/* members past their notAfter */
	unsigned not_yet_valid; /* members before their notBefore */
	/* One line per finding, and the right order when it differs. */
	char text[8192];
};

/* Finds the chain in `certs` and what is wrong with their order.  `trust`
 * (may be NULL) is asked for the issuer of the chain's last certificate.
 * -1 only for an empty or oversized input (with the reason in r->text). */
int cert_chain_analyse(STACK_OF(X509) * certs, X509_STORE *trust, time_t now,
		       struct cert_chain_report *r);
/* Any finding at all. */
bool cert_chain_has_problems(const struct cert_chain_report *r);

/* Verifies `leaf` against `trust`, with `untrusted` offered as
 * intermediates; `purpose` is an X509_PURPOSE_* or 0, `name` a DNS name or
 * IP address the certificate must cover (NULL: any), `now` the time to
 * check at.  On success *chain (if asked for) is the verified chain, leaf
 * first; on failure `why` names the certificate and the reason. */
int cert_verify(X509 *leaf, STACK_OF(X509) * untrusted, X509_STORE *trust, int purpose,
		const char *name, time_t now, STACK_OF(X509) * *chain, char *why, size_t why_size);

/* "#3 (CN=Example CA)" */
void cert_label(STACK_OF(X509) * certs, int index, char *out, size_t size);

#endif
