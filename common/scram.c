/* SPDX-License-Identifier: MIT */
/* SCRAM arithmetic with OpenSSL 3; see scram.h. */
#include "scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

static const EVP_MD *scram_md(enum scram_hash hash)
{
	return hash == SCRAM_SHA_1 ? EVP_sha1() : EVP_sha256();
}

const char *scram_mechanism_name(enum scram_hash hash)
{
	return hash == SCRAM_SHA_1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

size_t scram_key_len(enum scram_hash hash)
{
	return hash == SCRAM_SHA_1 ? 20 : 32;
}

int scram_hmac(enum scram_hash hash, const unsigned char *key, size_t key_len, const void *data,
	       size_t data_len, unsigned char *out)
{
	unsigned int out_len = 0;
	if (HMAC(scram_md(hash), key, (int)key_len, data, data_len, out, &out_len) == NULL)
		return -1;
	return out_len == scram_key_len(hash) ? 0 : -1;
}

int scram_digest(enum scram_hash hash, const void *data, size_t data_len, unsigned char *out)
{
	unsigned int out_len = 0;
	if (EVP_Digest(data, data_len, out, &out_len, scram_md(hash), NULL) != 1)
		return -1;
	return out_len == scram_key_len(hash) ? 0 : -1;
}

int scram_derive(enum scram_hash hash, const char *password, size_t password_len,
		 const unsigned char *salt, size_t salt_len, unsigned iterations,
		 struct scram_keys *out)
{
	unsigned char salted[SCRAM_KEY_MAX], client_key[SCRAM_KEY_MAX];
	size_t key_len = scram_key_len(hash);
	int rc = -1;

	if (salt_len > sizeof(out->salt) || iterations == 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->iterations = iterations;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	if (PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, (int)iterations,
			      scram_md(hash), (int)key_len, salted) != 1)
		goto done;
	if (scram_hmac(hash, salted, key_len, "Client Key", 10, client_key) == -1 ||
	    scram_digest(hash, client_key, key_len, out->stored_key) == -1 ||
	    scram_hmac(hash, salted, key_len, "Server Key", 10, out->server_key) == -1)
		goto done;
	rc = 0;
done:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return rc;
}

int scram_derive_random(enum scram_hash hash, const char *password, size_t password_len,
			unsigned iterations, struct scram_keys *out)
{
	unsigned char salt[SCRAM_SALT_LEN];
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	return scram_derive(hash, password, password_len, salt, sizeof(salt), iterations, out);
}

size_t scram_base64_encode(const unsigned char *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int scram_base64_decode(const char *in, size_t len, unsigned char *out, size_t out_size)
{
	if (len % 4 != 0)
		return -1;
	if (len == 0)
		return 0;
	size_t padding = (in[len - 1] == '=') + (in[len - 2] == '=');
	size_t decoded = len / 4 * 3 - padding;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/' ||
			  (c == '=' && i >= len - padding);
		if (!ok)
			return -1;
	}
	/* EVP_DecodeBlock writes whole groups of three, padding included. */
	unsigned char scratch[3 * 1024];
	unsigned char *target = decoded + padding <= out_size ? out : scratch;
	if (decoded > out_size || (target == scratch && len / 4 * 3 > sizeof(scratch)))
		return -1;
	if (EVP_DecodeBlock(target, (const unsigned char *)in, (int)len) < 0)
		return -1;
	if (target == scratch)
		memcpy(out, scratch, decoded);
	return (int)decoded;
}

bool scram_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
