/* SPDX-License-Identifier: MIT */
/*
 * Making keys, certificate requests and certificates: what `rxmpp-certtool
 * csr`, `selfsigned` and `ca make|sign` do, and what the unit tests use to
 * build their fixtures.  Subjects are given in the CMS `pki csr` syntax
 * (CN:value, OU:, O:, L:, ST:, C:, subjectAltName:a,b,...).
 */
#ifndef RXMPP_CERT_MAKE_H
#define RXMPP_CERT_MAKE_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum cert_key_type {
	CERT_KEY_RSA2048, /* the CMS default */
	CERT_KEY_RSA3072,
	CERT_KEY_RSA4096,
	CERT_KEY_P256,
	CERT_KEY_P384,
};

/* "rsa2048", "rsa3072", "rsa4096", "p256", "p384" */
int cert_key_type_parse(const char *text, enum cert_key_type *out);
EVP_PKEY *cert_key_generate(enum cert_key_type type);

struct cert_spec {
	X509_NAME *name;
	/* "DNS:a.example,IP:192.0.2.1" as OpenSSL's configuration syntax. */
	char sans[4096];
	char common_name[256];
};

/* Reads CN:…, OU:…, O:…, L:…, ST:…, C:… and subjectAltName:… arguments;
 * an alternative name is an IP address or a DNS name (a leading "*." is
 * allowed).  -1 with the reason for an argument it cannot take. */
int cert_spec_parse(int argc, char **argv, struct cert_spec *spec, char *why, size_t why_size);
void cert_spec_free(struct cert_spec *spec);
/* Whether the common name is also among the alternative names (RFC 6125:
 * clients look at the alternative names only). */
bool cert_spec_cn_in_sans(const struct cert_spec *spec);

X509_REQ *cert_make_csr(EVP_PKEY *key, const struct cert_spec *spec, char *why, size_t why_size);

enum cert_profile {
	CERT_PROFILE_SERVER, /* TLS server and client (cluster peers use both) */
	CERT_PROFILE_CA,     /* a root or intermediate certificate authority */
};

/* Signs a certificate for `req`'s subject, names and key with `issuer_key`;
 * `issuer` NULL makes it self-signed.  Valid from `not_before` to
 * `not_after`. */
X509 *cert_make_cert(X509_REQ *req, X509 *issuer, EVP_PKEY *issuer_key, enum cert_profile profile,
		     time_t not_before, time_t not_after, char *why, size_t why_size);

/* PEM text of a key, a request or certificates, for writing. */
int cert_pem_key(EVP_PKEY *key, char **out, size_t *len);
int cert_pem_csr(X509_REQ *req, char **out, size_t *len);
int cert_pem_certs(STACK_OF(X509) * certs, char **out, size_t *len);

#endif
