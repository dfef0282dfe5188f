/* SPDX-License-Identifier: MIT */
/*
 * Reading the files an administrator hands us: PEM with any mix of
 * certificates, one private key and certificate requests, or a single DER
 * object.  Used by rxmpp-certtool, the certificate worker and rxmppctl.
 * Key material is only decoded, never printed; buffers that held it are
 * cleansed.  An encrypted key is recognised and reported, never prompted
 * for.
 */
#ifndef RXMPP_CERT_LOAD_H
#define RXMPP_CERT_LOAD_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

/* The largest file taken: bundles of a few dozen certificates fit well. */
#define CERT_FILE_MAX (1024 * 1024)

struct cert_file {
	STACK_OF(X509) * certs; /* in file order */
	EVP_PKEY *key;		/* the first unencrypted private key, or NULL */
	X509_REQ *csr;		/* the first certificate request, or NULL */
	unsigned keys;		/* private keys seen, encrypted ones included */
	bool key_encrypted;	/* a private key needs a passphrase */
	unsigned unknown;	/* PEM blocks of other kinds (skipped) */
};

/* Loads `path`; -1 with the reason if it cannot be read or holds a block
 * that does not decode (naming the block's position and kind). */
int cert_file_load(const char *path, struct cert_file *out, char *why, size_t why_size);
/* The same for bytes already in memory; `name` is used in messages. */
int cert_file_parse(const char *name, const char *data, size_t len, struct cert_file *out,
		    char *why, size_t why_size);
void cert_file_free(struct cert_file *f);
/* Nothing of interest: no certificate, key or request. */
bool cert_file_empty(const struct cert_file *f);

#endif
