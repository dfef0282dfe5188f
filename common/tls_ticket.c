/* SPDX-License-Identifier: MIT */
/* Session tickets under the cluster's shared key; see tls_ticket.h. */
#include "tls_ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HOUR 3600
/* The hours whose keys open a ticket: TLS_TICKET_HOURS back, one ahead. */
#define SLOTS	 (TLS_TICKET_HOURS + 2)
#define NAME_LEN 16 /* OpenSSL's ticket key name */

struct hour_key {
	int64_t hour; /* since 1970; -1 before it is derived */
	unsigned char name[NAME_LEN];
	unsigned char aes[32];	/* AES-256-CBC, OpenSSL's ticket cipher */
	unsigned char hmac[32]; /* HMAC-SHA256 over the sealed ticket */
};

struct ticket_keys {
	unsigned char master[TLS_TICKET_KEY_LEN];
	struct hour_key slot[SLOTS]; /* the hour h in slot h % SLOTS */
	/* TLS 1.2 tickets: random, this context's own (see tls_ticket.h). */
	struct hour_key own;
};

static int ex_index = -1;

static void keys_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	OPENSSL_clear_free(ptr, sizeof(struct ticket_keys));
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tls_ticket_key_read(const char *path, unsigned char key[TLS_TICKET_KEY_LEN], char *why,
			size_t why_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(why, why_size, "%s: cannot open the TLS ticket key: %s", path,
			 strerror(errno));
		return -1;
	}
	/* One byte more than a key and its newline: a longer file is refused. */
	char text[TLS_TICKET_KEY_LEN * 2 + 2];
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(why, why_size, "%s: the TLS ticket key is not a regular file", path);
	} else if ((st.st_mode & 077) != 0) {
		snprintf(why, why_size,
			 "%s: mode %04o lets others than its owner read the TLS ticket key; "
			 "make it 0600 or 0400",
			 path, (unsigned)(st.st_mode & 07777));
	} else {
		ssize_t n = read(fd, text, sizeof(text));
		size_t len = n > 0 ? (size_t)n : 0;
		if (len > 0 && len < sizeof(text) && text[len - 1] == '\n')
			len--;
		bool ok = len == TLS_TICKET_KEY_LEN * 2;
		for (size_t i = 0; ok && i < TLS_TICKET_KEY_LEN; i++) {
			int high = hex_digit(text[2 * i]), low = hex_digit(text[2 * i + 1]);
			ok = high >= 0 && low >= 0;
			key[i] = (unsigned char)(ok ? high << 4 | low : 0);
		}
		if (ok)
			rc = 0;
		else
			snprintf(why, why_size,
				 "%s: not a TLS ticket key: 64 hex digits (32 random bytes) and "
				 "an optional newline expected, as `openssl rand -hex 32` writes",
				 path);
	}
	OPENSSL_cleanse(text, sizeof(text));
	if (rc == -1)
		OPENSSL_cleanse(key, TLS_TICKET_KEY_LEN);
	close(fd);
	return rc;
}

int tls_ticket_key_id(const unsigned char key[TLS_TICKET_KEY_LEN], char id[TLS_TICKET_ID_LEN])
{
	static const char label[] = "rxmpp tls ticket key id";
	unsigned char mac[32];
	size_t mac_len = 0;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, TLS_TICKET_KEY_LEN,
		      (const unsigned char *)label, sizeof(label) - 1, mac, sizeof(mac),
		      &mac_len) == NULL)
		return -1;
	for (int i = 0; i < (TLS_TICKET_ID_LEN - 1) / 2; i++)
		snprintf(id + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

/* The keys of `hour`: HKDF-SHA256 of the master, the hour in the info. */
static int derive(const unsigned char *master, int64_t hour, struct hour_key *k)
{
	char info[48];
	int info_len =
	    snprintf(info, sizeof(info), "rxmpp tls ticket key, hour %lld", (long long)hour);
	static const char salt[] = "rxmpp tls ticket";
	unsigned char out[NAME_LEN + 32 + 32];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master,
					      TLS_TICKET_KEY_LEN),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, sizeof(salt) - 1),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, (size_t)info_len),
	    OSSL_PARAM_construct_end()};
	bool ok = kctx != NULL && EVP_KDF_derive(kctx, out, sizeof(out), params) == 1;
	EVP_KDF_CTX_free(kctx);
	if (ok) {
		memcpy(k->name, out, NAME_LEN);
		memcpy(k->aes, out + NAME_LEN, sizeof(k->aes));
		memcpy(k->hmac, out + NAME_LEN + sizeof(k->aes), sizeof(k->hmac));
		k->hour = hour;
	}
	OPENSSL_cleanse(out, sizeof(out));
	return ok ? 0 : -1;
}

static struct hour_key *key_of_hour(struct ticket_keys *keys, int64_t hour)
{
	struct hour_key *k = &keys->slot[hour % SLOTS];
	if (k->hour != hour && derive(keys->master, hour, k) == -1)
		return NULL;
	return k;
}

/* OpenSSL's ticket callback: 1 sealed or opened, 2 opened under an older
 * hour's key (OpenSSL then issues a fresh ticket), 0 no key opens it (a
 * full handshake), -1 failure. */
static int ticket_key_cb(SSL *ssl, unsigned char key_name[NAME_LEN],
			 unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *cipher,
			 EVP_MAC_CTX *mac, int enc)
{
	struct ticket_keys *keys = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
	int64_t now = (int64_t)time(NULL) / HOUR;
	struct hour_key *k = NULL;
	int rc = 1;
	if (keys == NULL)
		return -1;
	bool tls13 = SSL_version(ssl) == TLS1_3_VERSION;
	if (enc) {
		k = tls13 ? key_of_hour(keys, now) : &keys->own;
		if (k == NULL || RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
			return -1;
		memcpy(key_name, k->name, NAME_LEN);
	} else if (!tls13) {
		if (CRYPTO_memcmp(keys->own.name, key_name, NAME_LEN) != 0)
			return 0;
		k = &keys->own;
	} else {
		for (int64_t hour = now + 1; hour >= now - TLS_TICKET_HOURS && k == NULL; hour--) {
			struct hour_key *candidate = key_of_hour(keys, hour);
			if (candidate != NULL &&
			    CRYPTO_memcmp(candidate->name, key_name, NAME_LEN) == 0)
				k = candidate;
		}
		if (k == NULL)
			return 0;
		rc = k->hour == now ? 1 : 2;
	}
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac, sizeof(k->hmac)),
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};
	if (EVP_MAC_CTX_set_params(mac, params) != 1 ||
	    EVP_CipherInit_ex(cipher, EVP_aes_256_cbc(), NULL, k->aes, iv, enc) != 1)
		return -1;
	return rc;
}

int tls_ticket_use(SSL_CTX *ctx, const unsigned char key[TLS_TICKET_KEY_LEN], char *why,
		   size_t why_size)
{
	if (ex_index == -1)
		ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, keys_free);
	struct ticket_keys *keys = ex_index != -1 ? OPENSSL_zalloc(sizeof(*keys)) : NULL;
	if (keys == NULL) {
		snprintf(why, why_size, "no memory for the TLS ticket key");
		return -1;
	}
	memcpy(keys->master, key, TLS_TICKET_KEY_LEN);
	for (int i = 0; i < SLOTS; i++)
		keys->slot[i].hour = -1;
	keys->own.hour = -1;
	if (RAND_bytes(keys->own.name, NAME_LEN) != 1 ||
	    RAND_bytes(keys->own.aes, sizeof(keys->own.aes)) != 1 ||
	    RAND_bytes(keys->own.hmac, sizeof(keys->own.hmac)) != 1) {
		OPENSSL_clear_free(keys, sizeof(*keys));
		snprintf(why, why_size, "no random bytes for the TLS ticket keys");
		return -1;
	}
	if (SSL_CTX_set_ex_data(ctx, ex_index, keys) != 1) {
		OPENSSL_clear_free(keys, sizeof(*keys));
		snprintf(why, why_size, "cannot attach the TLS ticket key");
		return -1;
	}
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
	SSL_CTX_set_timeout(ctx, TLS_TICKET_HOURS * HOUR);
	return 0;
}
