/* SPDX-License-Identifier: MIT */
/* SASL mechanisms; see listener_sasl.h.  Runs in the listener. */
#include "listener_sasl.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mechanism_names[SASL_MECHANISM_COUNT] = {
    [SASL_SCRAM_SHA_256] = "SCRAM-SHA-256",
    [SASL_SCRAM_SHA_1] = "SCRAM-SHA-1",
    [SASL_PLAIN] = "PLAIN",
};

/* Keys for names that do not exist: derived once from a random secret, so
 * the salt an unknown name gets is stable and looks like any other. */
static unsigned char unknown_secret[32];
static bool unknown_secret_ready;

const char *listener_sasl_mechanism_name(enum sasl_mechanism mechanism)
{
	return mechanism_names[mechanism];
}

int listener_sasl_mechanism_parse(const char *name, enum sasl_mechanism *mechanism)
{
	for (int m = 0; m < SASL_MECHANISM_COUNT; m++) {
		if (strcmp(name, mechanism_names[m]) == 0) {
			*mechanism = (enum sasl_mechanism)m;
			return 0;
		}
	}
	return -1;
}

void listener_sasl_init(struct sasl *s)
{
	memset(s, 0, sizeof(*s));
}

void listener_sasl_free(struct sasl *s)
{
	free(s->client_first_bare);
	free(s->server_first);
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	listener_sasl_init(s);
}

const char *listener_sasl_user(const struct sasl *s)
{
	return s->user;
}

static enum sasl_result fail(struct buf *out, const char *condition)
{
	buf_reset(out, 0);
	buf_append(out, condition, strlen(condition));
	return SASL_FAILURE;
}

static enum scram_hash mechanism_hash(enum sasl_mechanism m)
{
	return m == SASL_SCRAM_SHA_1 ? SCRAM_SHA_1 : SCRAM_SHA_256;
}

/* Decodes a SCRAM saslname (=2C for ',' and =3D for '=') into a prepared
 * localpart; the reason in `why` when the name cannot be prepared. */
static int scram_username(const char *in, size_t len, char *out, size_t size, char *why,
			  size_t why_size)
{
	char raw[JID_PART_MAX + 1];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (n + 1 >= sizeof(raw))
			return -1;
		if (in[i] == '=') {
			if (i + 2 >= len)
				return -1;
			if (strncmp(in + i, "=2C", 3) == 0)
				raw[n++] = ',';
			else if (strncmp(in + i, "=3D", 3) == 0)
				raw[n++] = '=';
			else
				return -1;
			i += 2;
			continue;
		}
		if (in[i] == ',')
			return -1;
		raw[n++] = in[i];
	}
	return jidprep_node(raw, n, out, size, why, why_size);
}

/* -1 when there are no random bytes: the exchange then fails as a
 * temporary failure, never with keys someone could predict. */
static int unknown_keys(const char *user, enum scram_hash hash, struct scram_keys *keys)
{
	if (!unknown_secret_ready) {
		if (RAND_bytes(unknown_secret, sizeof(unknown_secret)) != 1)
			return -1;
		unknown_secret_ready = true;
	}
	unsigned char mac[SCRAM_KEY_MAX];
	if (scram_hmac(SCRAM_SHA_256, unknown_secret, sizeof(unknown_secret), user, strlen(user),
		       mac) == -1)
		return -1;
	memset(keys, 0, sizeof(*keys));
	keys->iterations = SCRAM_ITERATIONS;
	keys->salt_len = SCRAM_SALT_LEN;
	memcpy(keys->salt, mac, SCRAM_SALT_LEN);
	/* Keys no proof can match: random, never compared successfully. */
	if (RAND_bytes(keys->stored_key, (int)scram_key_len(hash)) != 1 ||
	    RAND_bytes(keys->server_key, (int)scram_key_len(hash)) != 1)
		return -1;
	return 0;
}

static enum sasl_result scram_first(struct sasl *s, const char *in, size_t in_len,
				    sasl_lookup_fn *lookup, void *arg, struct buf *out)
{
	/* gs2-header: "n,," or "y,," (we offer no channel binding); no authzid
	 * other than empty. */
	if (in_len < 3 || (in[0] != 'n' && in[0] != 'y') || in[1] != ',' || in[2] != ',')
		return fail(out, in_len >= 1 && in[0] == 'p' ? "invalid-mechanism"
							     : "malformed-request");
	const char *bare = in + 3;
	size_t bare_len = in_len - 3;
	if (bare_len < 5 || strncmp(bare, "n=", 2) != 0)
		return fail(out, "malformed-request");
	const char *comma = memchr(bare, ',', bare_len);
	if (comma == NULL || (size_t)(bare + bare_len - comma) < 4 || strncmp(comma, ",r=", 3) != 0)
		return fail(out, "malformed-request");
	const char *client_nonce = comma + 3;
	size_t client_nonce_len = (size_t)(bare + bare_len - client_nonce);
	const char *ext = memchr(client_nonce, ',', client_nonce_len);
	if (ext != NULL)
		client_nonce_len = (size_t)(ext - client_nonce);
	if (client_nonce_len == 0 || client_nonce_len > 64)
		return fail(out, "malformed-request");
	for (size_t i = 0; i < client_nonce_len; i++) {
		if (client_nonce[i] < 0x21 || client_nonce[i] > 0x7e || client_nonce[i] == ',')
			return fail(out, "malformed-request");
	}
	if (scram_username(bare + 2, (size_t)(comma - bare - 2), s->user, sizeof(s->user), s->why,
			   sizeof(s->why)) == -1)
		return fail(out, "malformed-request");

	enum scram_hash hash = mechanism_hash(s->mechanism);
	const struct scram_keys *keys = lookup(s->user, hash, arg);
	s->known = keys != NULL;
	if (keys != NULL)
		s->keys = *keys;
	else if (unknown_keys(s->user, hash, &s->keys) == -1)
		return fail(out, "temporary-auth-failure");

	char server_nonce[40];
	if (s->forced_server_nonce != NULL) {
		snprintf(server_nonce, sizeof(server_nonce), "%s", s->forced_server_nonce);
	} else {
		unsigned char random[18];
		if (RAND_bytes(random, sizeof(random)) != 1)
			return fail(out, "temporary-auth-failure");
		scram_base64_encode(random, sizeof(random), server_nonce);
	}
	snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)client_nonce_len, client_nonce,
		 server_nonce);
	char salt[64];
	scram_base64_encode(s->keys.salt, s->keys.salt_len, salt);
	char server_first[256];
	int n = snprintf(server_first, sizeof(server_first), "r=%s,s=%s,i=%u", s->nonce, salt,
			 s->keys.iterations);
	s->client_first_bare = strndup(bare, bare_len);
	s->server_first = strdup(server_first);
	if (s->client_first_bare == NULL || s->server_first == NULL)
		return fail(out, "temporary-auth-failure");
	/* The gs2 header is needed again to check c= in the final message. */
	s->step = in[0] == 'y' ? 2 : 1;
	buf_reset(out, 0);
	buf_append(out, server_first, (size_t)n);
	return SASL_CONTINUE;
}

static enum sasl_result scram_final(struct sasl *s, const char *in, size_t in_len, struct buf *out)
{
	char expected_c[16];
	const char *gs2 = s->step == 2 ? "y,," : "n,,";
	size_t c_len = scram_base64_encode((const unsigned char *)gs2, 3, expected_c);
	/* "c=biws,r=NONCE,p=PROOF" */
	const char *proof = NULL;
	for (size_t i = 0; i + 3 <= in_len; i++) {
		if (strncmp(in + i, ",p=", 3) == 0)
			proof = in + i;
	}
	if (in_len < 2 + c_len || strncmp(in, "c=", 2) != 0 ||
	    memcmp(in + 2, expected_c, c_len) != 0 || proof == NULL)
		return fail(out, "malformed-request");
	size_t without_proof_len = (size_t)(proof - in);
	const char *r = in + 2 + c_len;
	size_t nonce_len = strlen(s->nonce);
	if ((size_t)(proof - r) != 3 + nonce_len || strncmp(r, ",r=", 3) != 0 ||
	    memcmp(r + 3, s->nonce, nonce_len) != 0)
		return fail(out, "malformed-request");

	enum scram_hash hash = mechanism_hash(s->mechanism);
	size_t key_len = scram_key_len(hash);
	unsigned char client_proof[SCRAM_KEY_MAX + 3];
	const char *proof_b64 = proof + 3;
	if (scram_base64_decode(proof_b64, (size_t)(in + in_len - proof_b64), client_proof,
				sizeof(client_proof)) != (int)key_len)
		return fail(out, "malformed-request");

	struct buf auth_message;
	buf_init(&auth_message, 4096);
	buf_append(&auth_message, s->client_first_bare, strlen(s->client_first_bare));
	buf_append(&auth_message, ",", 1);
	buf_append(&auth_message, s->server_first, strlen(s->server_first));
	buf_append(&auth_message, ",", 1);
	if (buf_append(&auth_message, in, without_proof_len) == -1) {
		buf_free(&auth_message);
		return fail(out, "malformed-request");
	}
	unsigned char client_signature[SCRAM_KEY_MAX], client_key[SCRAM_KEY_MAX];
	unsigned char stored_key[SCRAM_KEY_MAX], server_signature[SCRAM_KEY_MAX];
	int rc = scram_hmac(hash, s->keys.stored_key, key_len, buf_head(&auth_message),
			    buf_len(&auth_message), client_signature);
	for (size_t i = 0; i < key_len; i++)
		client_key[i] = client_proof[i] ^ client_signature[i];
	rc |= scram_digest(hash, client_key, key_len, stored_key);
	rc |= scram_hmac(hash, s->keys.server_key, key_len, buf_head(&auth_message),
			 buf_len(&auth_message), server_signature);
	buf_free(&auth_message);
	OPENSSL_cleanse(client_key, sizeof(client_key));
	bool match = scram_equal(stored_key, s->keys.stored_key, key_len);
	if (rc != 0 || !match || !s->known)
		return fail(out, "not-authorized");

	char v[64];
	int n = snprintf(v, sizeof(v), "v=");
	n += (int)scram_base64_encode(server_signature, key_len, v + n);
	buf_reset(out, 0);
	buf_append(out, v, (size_t)n);
	return SASL_SUCCESS;
}

/* PLAIN: [authzid] NUL authcid NUL password, checked against the stored
 * SCRAM-SHA-256 keys by deriving them again from the password. */
static enum sasl_result plain(struct sasl *s, const char *in, size_t in_len, sasl_lookup_fn *lookup,
			      void *arg, struct buf *out)
{
	const char *first = memchr(in, '\0', in_len);
	const char *second =
	    first ? memchr(first + 1, '\0', (size_t)(in + in_len - first - 1)) : NULL;
	if (second == NULL)
		return fail(out, "malformed-request");
	const char *authcid = first + 1;
	size_t authcid_len = (size_t)(second - authcid);
	const char *password = second + 1;
	size_t password_len = (size_t)(in + in_len - password);
	if (jidprep_node(authcid, authcid_len, s->user, sizeof(s->user), s->why, sizeof(s->why)) ==
	    -1)
		return fail(out, "malformed-request");
	if (password_len == 0)
		return fail(out, "not-authorized");
	/* An authorization identity other than the user's own is not granted. */
	if (first != in) {
		char authzid[JID_MAX];
		size_t len = (size_t)(first - in);
		size_t user_len = strlen(s->user);
		char why[JIDPREP_WHY_MAX];
		if (len >= sizeof(authzid) ||
		    jidprep_jid(in, len, authzid, sizeof(authzid), why, sizeof(why)) == -1 ||
		    strncmp(authzid, s->user, user_len) != 0 || authzid[user_len] != '@' ||
		    strchr(authzid, '/') != NULL)
			return fail(out, "invalid-authzid");
	}
	const struct scram_keys *stored = lookup(s->user, SCRAM_SHA_256, arg);
	struct scram_keys derived, fake;
	if (stored == NULL) {
		if (unknown_keys(s->user, SCRAM_SHA_256, &fake) == -1)
			return fail(out, "temporary-auth-failure");
		stored = &fake;
	}
	/* Derive even for unknown names, so the time taken does not tell. */
	int rc = scram_derive(SCRAM_SHA_256, password, password_len, stored->salt, stored->salt_len,
			      stored->iterations, &derived);
	bool match =
	    rc == 0 && stored != &fake &&
	    scram_equal(derived.stored_key, stored->stored_key, scram_key_len(SCRAM_SHA_256));
	OPENSSL_cleanse(&derived, sizeof(derived));
	if (!match)
		return fail(out, "not-authorized");
	buf_reset(out, 0);
	return SASL_SUCCESS;
}

enum sasl_result listener_sasl_start(struct sasl *s, enum sasl_mechanism mechanism, const char *in,
				     size_t in_len, sasl_lookup_fn *lookup, void *arg,
				     struct buf *out)
{
	s->mechanism = mechanism;
	if (mechanism == SASL_PLAIN)
		return in_len == 0 ? fail(out, "malformed-request")
				   : plain(s, in, in_len, lookup, arg, out);
	return scram_first(s, in, in_len, lookup, arg, out);
}

enum sasl_result listener_sasl_step(struct sasl *s, const char *in, size_t in_len, struct buf *out)
{
	if (s->mechanism == SASL_PLAIN || s->step == 0 || s->client_first_bare == NULL)
		return fail(out, "malformed-request");
	enum sasl_result result = scram_final(s, in, in_len, out);
	s->step = 0;
	return result;
}
