/* SPDX-License-Identifier: MIT */
/* The server's TLS context (common/tls.c) after a real in-memory TLS 1.3
 * handshake: the client is sent one session ticket, not OpenSSL's default
 * two (each costs the server work on every full handshake, and a client
 * holds one connection per account), and the suite is AES-128-GCM with
 * SHA-256, the server's first; a ticket from one node opens on
 * another that shares the cluster's ticket key (common/tls_ticket.c). */
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/tls.h"
#include "common/tls_ticket.h"
#include "unit.h"

static int tickets_seen;

static int count_ticket(SSL *ssl, SSL_SESSION *session)
{
	(void)ssl, (void)session;
	tickets_seen++;
	return 0; /* not kept: OpenSSL frees it */
}

/* A self-signed P-256 key and certificate as one PEM text (key first, as
 * tls_context_from_pem reads it). */
static size_t server_pem(char *out, size_t size)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	ck_assert_ptr_nonnull(key);
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
				   (const unsigned char *)"tls.test", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_set_pubkey(cert, key);
	ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
	BIO *bio = BIO_new(BIO_s_mem());
	ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
	ck_assert_int_eq(PEM_write_bio_X509(bio, cert), 1);
	int n = BIO_read(bio, out, (int)size);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, (int)size);
	BIO_free(bio);
	X509_free(cert);
	EVP_PKEY_free(key);
	return (size_t)n;
}

START_TEST(test_one_ticket_per_full_handshake)
{
	static char pem[8192];
	size_t len = server_pem(pem, sizeof(pem));
	struct config_tls cfg = {.min_version = CONFIG_TLS_1_3};
	char why[256] = "";
	SSL_CTX *server_ctx = tls_context_from_pem(&cfg, pem, len, why, sizeof(why));
	ck_assert_msg(server_ctx != NULL, "%s", why);
	SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_CLIENT);
	SSL_CTX_sess_set_new_cb(client_ctx, count_ticket);
	SSL *client = SSL_new(client_ctx), *server = SSL_new(server_ctx);
	BIO *client_bio, *server_bio;
	ck_assert_int_eq(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
	SSL_set_bio(client, client_bio, client_bio);
	SSL_set_bio(server, server_bio, server_bio);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	bool client_done = false, server_done = false;
	for (int i = 0; i < 10 && !(client_done && server_done); i++) {
		client_done = client_done || SSL_do_handshake(client) == 1;
		server_done = server_done || SSL_do_handshake(server) == 1;
	}
	ck_assert(client_done && server_done);
	ck_assert_int_eq(SSL_version(client), TLS1_3_VERSION);
	/* The client offers OpenSSL's order (AES-256-GCM first); the server's
	 * own order chooses. */
	ck_assert_str_eq(SSL_get_cipher_name(client), "TLS_AES_128_GCM_SHA256");
	/* TLS 1.3 tickets follow the handshake; the client reads them with
	 * the server's first data. */
	char byte;
	ck_assert_int_eq(SSL_write(server, "x", 1), 1);
	ck_assert_int_eq(SSL_read(client, &byte, 1), 1);
	ck_assert_int_eq(tickets_seen, 1);
	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(client_ctx);
	SSL_CTX_free(server_ctx);
}
END_TEST

/* Cluster-shared tickets (common/tls_ticket.c) */

static const char ticket_key_hex[] =
    "00112233445566778899aabbccddeeff0123456789abcdef0011223344556677";

/* A node's TLS set: its own key and certificate, then, with `key_hex`, a
 * ticket key block as the certificate worker appends it. */
static SSL_CTX *node_context(const char *key_hex)
{
	static char pem[8192];
	size_t len = server_pem(pem, sizeof(pem) - 200);
	if (key_hex != NULL) {
		unsigned char key[32], encoded[64];
		for (int i = 0; i < 32; i++)
			ck_assert_int_eq(sscanf(key_hex + 2 * i, "%2hhx", &key[i]), 1);
		EVP_EncodeBlock(encoded, key, sizeof(key));
		len += (size_t)snprintf(pem + len, sizeof(pem) - len,
					"-----BEGIN RXMPP TLS TICKET KEY-----\n%s\n"
					"-----END RXMPP TLS TICKET KEY-----\n",
					(const char *)encoded);
	}
	struct config_tls cfg = {.min_version = CONFIG_TLS_1_3};
	char why[256] = "";
	SSL_CTX *ctx = tls_context_from_pem(&cfg, pem, len, why, sizeof(why));
	ck_assert_msg(ctx != NULL, "%s", why);
	return ctx;
}

static SSL_SESSION *kept_session;

static int keep_session(SSL *ssl, SSL_SESSION *session)
{
	(void)ssl;
	SSL_SESSION_free(kept_session);
	kept_session = session;
	return 1;
}

/* One connection from a client offering `offer` (or none) to `server_ctx`;
 * true when the session was resumed.  The ticket it is given is kept. */
static bool connect_once_max(SSL_CTX *server_ctx, SSL_SESSION *offer, int max_version)
{
	SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(client_ctx, max_version);
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(client_ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(client_ctx, keep_session);
	SSL *client = SSL_new(client_ctx), *server = SSL_new(server_ctx);
	if (offer != NULL)
		ck_assert_int_eq(SSL_set_session(client, offer), 1);
	BIO *client_bio, *server_bio;
	ck_assert_int_eq(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
	SSL_set_bio(client, client_bio, client_bio);
	SSL_set_bio(server, server_bio, server_bio);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	bool client_done = false, server_done = false;
	for (int i = 0; i < 10 && !(client_done && server_done); i++) {
		client_done = client_done || SSL_do_handshake(client) == 1;
		server_done = server_done || SSL_do_handshake(server) == 1;
	}
	ck_assert(client_done && server_done);
	char byte;
	ck_assert_int_eq(SSL_write(server, "x", 1), 1);
	ck_assert_int_eq(SSL_read(client, &byte, 1), 1);
	bool reused = SSL_session_reused(client) == 1;
	ck_assert_int_eq(reused, SSL_session_reused(server) == 1);
	/* Closed cleanly: OpenSSL takes a session closed otherwise for bad. */
	SSL_shutdown(client);
	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(client_ctx);
	return reused;
}

static bool connect_once(SSL_CTX *server_ctx, SSL_SESSION *offer)
{
	return connect_once_max(server_ctx, offer, TLS1_3_VERSION);
}

/* The client of one node resumes on another that shares the ticket key;
 * with another key, or none (each context its own random key, as before),
 * it is given a full handshake and gets in all the same. */
START_TEST(test_ticket_opens_on_another_node_with_the_same_key)
{
	SSL_CTX *a = node_context(ticket_key_hex), *b = node_context(ticket_key_hex);
	SSL_CTX *other =
	    node_context("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100");
	SSL_CTX *plain_a = node_context(NULL), *plain_b = node_context(NULL);
	ck_assert(!connect_once(a, NULL));
	ck_assert_ptr_nonnull(kept_session);
	SSL_SESSION *from_a = kept_session;
	SSL_SESSION_up_ref(from_a);
	ck_assert(connect_once(b, from_a));
	ck_assert(!connect_once(other, from_a));
	ck_assert(!connect_once(plain_a, NULL));
	SSL_SESSION *from_plain_a = kept_session;
	SSL_SESSION_up_ref(from_plain_a);
	ck_assert(!connect_once(plain_b, from_plain_a));
	ck_assert(connect_once(plain_a, from_plain_a));
	SSL_SESSION_free(from_a);
	SSL_SESSION_free(from_plain_a);
	SSL_SESSION_free(kept_session);
	kept_session = NULL;
	SSL_CTX_free(a);
	SSL_CTX_free(b);
	SSL_CTX_free(other);
	SSL_CTX_free(plain_a);
	SSL_CTX_free(plain_b);
}
END_TEST

/* A TLS 1.2 ticket holds the session's master secret: it is never sealed
 * under the cluster's key (which lives in a file), only under the
 * context's own random key, so it opens where it was made and nowhere
 * else. */
START_TEST(test_tls12_tickets_stay_with_their_node)
{
	SSL_CTX *a = node_context(ticket_key_hex), *b = node_context(ticket_key_hex);
	SSL_CTX_set_min_proto_version(a, TLS1_2_VERSION);
	SSL_CTX_set_min_proto_version(b, TLS1_2_VERSION);
	ck_assert(!connect_once_max(a, NULL, TLS1_2_VERSION));
	ck_assert_ptr_nonnull(kept_session);
	ck_assert_int_eq(SSL_SESSION_get_protocol_version(kept_session), TLS1_2_VERSION);
	SSL_SESSION *from_a = kept_session;
	SSL_SESSION_up_ref(from_a);
	ck_assert(!connect_once_max(b, from_a, TLS1_2_VERSION));
	ck_assert(connect_once_max(a, from_a, TLS1_2_VERSION));
	SSL_SESSION_free(from_a);
	SSL_SESSION_free(kept_session);
	kept_session = NULL;
	SSL_CTX_free(a);
	SSL_CTX_free(b);
}
END_TEST

static void write_key_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* The key file: the owner's only, 64 hex digits; the reason never shows
 * the key. */
START_TEST(test_ticket_key_file)
{
	char path[] = "/tmp/rxmpp-ticket-key-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	close(fd);
	unsigned char key[32];
	char why[512];
	char text[80];
	snprintf(text, sizeof(text), "%s\n", ticket_key_hex);
	write_key_file(path, text, 0600);
	ck_assert_int_eq(tls_ticket_key_read(path, key, why, sizeof(why)), 0);
	ck_assert_int_eq(key[0], 0x00);
	ck_assert_int_eq(key[1], 0x11);
	ck_assert_int_eq(key[31], 0x77);
	write_key_file(path, ticket_key_hex, 0400);
	ck_assert_int_eq(tls_ticket_key_read(path, key, why, sizeof(why)), 0);
	write_key_file(path, text, 0640);
	ck_assert_int_eq(tls_ticket_key_read(path, key, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "mode 0640") != NULL, "%s", why);
	ck_assert_msg(strstr(why, "0011223344") == NULL, "%s", why);
	write_key_file(path, "0011223344\n", 0600);
	ck_assert_int_eq(tls_ticket_key_read(path, key, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "64 hex digits") != NULL, "%s", why);
	snprintf(text, sizeof(text), "%s00\n", ticket_key_hex);
	write_key_file(path, text, 0600);
	ck_assert_int_eq(tls_ticket_key_read(path, key, why, sizeof(why)), -1);
	snprintf(text, sizeof(text), "%.63sg\n", ticket_key_hex);
	write_key_file(path, text, 0600);
	ck_assert_int_eq(tls_ticket_key_read(path, key, why, sizeof(why)), -1);
	unlink(path);
	ck_assert_int_eq(tls_ticket_key_read(path, key, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "cannot open") != NULL, "%s", why);
}
END_TEST

Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	tcase_add_test(tc, test_one_ticket_per_full_handshake);
	tcase_add_test(tc, test_ticket_opens_on_another_node_with_the_same_key);
	tcase_add_test(tc, test_tls12_tickets_stay_with_their_node);
	tcase_add_test(tc, test_ticket_key_file);
	suite_add_tcase(s, tc);
	return s;
}
