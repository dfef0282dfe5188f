/* SPDX-License-Identifier: MIT */
/*
 * The arithmetic of SCRAM (RFC 5802, RFC 7677) shared by account storage
 * and the listener's SASL server: salted password, client and server keys,
 * signatures, base64.  OpenSSL does the hashing; nothing here stores or logs
 * a password.
 */
#ifndef RXMPP_SCRAM_H
#define RXMPP_SCRAM_H

#include <stdbool.h>
#include <stddef.h>

#define SCRAM_KEY_MAX	 32 /* SHA-256 */
#define SCRAM_SALT_LEN	 16
#define SCRAM_ITERATIONS 4096

enum scram_hash {
	SCRAM_SHA_1,
	SCRAM_SHA_256,
	SCRAM_HASH_COUNT,
};

const char *scram_mechanism_name(enum scram_hash hash); /* "SCRAM-SHA-1" */
size_t scram_key_len(enum scram_hash hash);

struct scram_keys {
	unsigned iterations;
	unsigned char salt[SCRAM_SALT_LEN];
	size_t salt_len;
	unsigned char stored_key[SCRAM_KEY_MAX];
	unsigned char server_key[SCRAM_KEY_MAX];
};

/* Derives StoredKey and ServerKey from a password, a salt and iterations. */
int scram_derive(enum scram_hash hash, const char *password, size_t password_len,
		 const unsigned char *salt, size_t salt_len, unsigned iterations,
		 struct scram_keys *out);
/* The same with a fresh random salt. */
int scram_derive_random(enum scram_hash hash, const char *password, size_t password_len,
			unsigned iterations, struct scram_keys *out);

/* HMAC(key, data) and H(data) with the mechanism's hash; out holds scram_key_len. */
int scram_hmac(enum scram_hash hash, const unsigned char *key, size_t key_len, const void *data,
	       size_t data_len, unsigned char *out);
int scram_digest(enum scram_hash hash, const void *data, size_t data_len, unsigned char *out);

/* Base64 without line breaks.  Encode returns the length written (out needs
 * 4*ceil(n/3)+1); decode returns the decoded length or -1 when malformed. */
size_t scram_base64_encode(const unsigned char *in, size_t len, char *out);
int scram_base64_decode(const char *in, size_t len, unsigned char *out, size_t out_size);

/* Compares without revealing where the first difference is. */
bool scram_equal(const void *a, const void *b, size_t len);

#endif
