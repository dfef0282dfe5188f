/* SPDX-License-Identifier: MIT */
/* The server's TLS context (common/tls.c) after a real in-memory TLS 1.3
 * handshake: the client is sent one session ticket, not OpenSSL's default
 * two (each costs the server work on every full handshake, and a client
 * holds one connection per account). */
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/config.h"
#include "common/tls.h"
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

Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	tcase_add_test(tc, test_one_ticket_per_full_handshake);
	suite_add_tcase(s, tc);
	return s;
}
