/* SPDX-License-Identifier: MIT */
/*
 * SASL: the SCRAM exchanges of RFC 5802 (SHA-1) and RFC 7677 (SHA-256)
 * reproduced byte for byte with the RFCs' nonces and salts, wrong proofs and
 * unknown users refused, PLAIN, malformed messages; plus the XEP-0114
 * handshake digest and the SCRAM helpers.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/scram.h"
#include "listener/listener_handshake.h"
#include "listener/listener_sasl.h"
#include "unit.h"

static struct scram_keys user_keys[SCRAM_HASH_COUNT];

static const struct scram_keys *lookup(const char *user, enum scram_hash hash, void *arg)
{
	(void)arg;
	return strcmp(user, "user") == 0 ? &user_keys[hash] : NULL;
}

static void derive_user(enum scram_hash hash, const char *salt_b64)
{
	unsigned char salt[32];
	int len = scram_base64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(scram_derive(hash, "pencil", 6, salt, (size_t)len, 4096, &user_keys[hash]),
			 0);
}

static char *text_of(struct buf *b)
{
	buf_append(b, "", 1);
	return (char *)buf_head(b);
}

static void run_rfc_exchange(enum sasl_mechanism mech, enum scram_hash hash, const char *salt,
			     const char *client_first, const char *server_nonce,
			     const char *server_first, const char *client_final,
			     const char *server_final)
{
	derive_user(hash, salt);
	struct sasl s;
	struct buf out;
	listener_sasl_init(&s);
	buf_init(&out, 4096);
	s.forced_server_nonce = server_nonce;
	ck_assert_int_eq(
	    listener_sasl_start(&s, mech, client_first, strlen(client_first), lookup, NULL, &out),
	    SASL_CONTINUE);
	ck_assert_str_eq(text_of(&out), server_first);
	buf_reset(&out, 0);
	ck_assert_int_eq(listener_sasl_step(&s, client_final, strlen(client_final), &out),
			 SASL_SUCCESS);
	ck_assert_str_eq(text_of(&out), server_final);
	ck_assert_str_eq(listener_sasl_user(&s), "user");
	listener_sasl_free(&s);
	buf_free(&out);
}

START_TEST(test_rfc5802_scram_sha_1)
{
	run_rfc_exchange(SASL_SCRAM_SHA_1, SCRAM_SHA_1, "QSXCR+Q6sek8bf92",
			 "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
			 "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
			 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			 "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}
END_TEST

START_TEST(test_rfc7677_scram_sha_256)
{
	run_rfc_exchange(SASL_SCRAM_SHA_256, SCRAM_SHA_256,
			 "W22ZaJ0SNY7soEsUEjb6gQ==", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			 "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}
END_TEST

static enum sasl_result final_with(const char *client_first, const char *client_final,
				   struct buf *out)
{
	derive_user(SCRAM_SHA_1, "QSXCR+Q6sek8bf92");
	struct sasl s;
	listener_sasl_init(&s);
	s.forced_server_nonce = "3rfcNHYJY1ZVvWVs7j";
	enum sasl_result r = listener_sasl_start(&s, SASL_SCRAM_SHA_1, client_first,
						 strlen(client_first), lookup, NULL, out);
	if (r == SASL_CONTINUE) {
		buf_reset(out, 0);
		r = listener_sasl_step(&s, client_final, strlen(client_final), out);
	}
	listener_sasl_free(&s);
	return r;
}

START_TEST(test_wrong_proof_unknown_user_and_bad_messages)
{
	struct buf out;
	buf_init(&out, 4096);
	const char *first = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
	const char *nonce = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
	char final[256];

	snprintf(final, sizeof(final), "c=biws,%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", nonce);
	ck_assert_int_eq(final_with(first, final, &out), SASL_FAILURE);
	ck_assert_str_eq(text_of(&out), "not-authorized");

	/* The right proof for "user" does not open another account. */
	buf_reset(&out, 0);
	snprintf(final, sizeof(final), "c=biws,%s,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", nonce);
	ck_assert_int_eq(final_with("n,,n=other,r=fyko+d2lbbFgONRv9qkxdawL", final, &out),
			 SASL_FAILURE);
	ck_assert_str_eq(text_of(&out), "not-authorized");

	/* A nonce that is not the one agreed. */
	buf_reset(&out, 0);
	ck_assert_int_eq(
	    final_with(
		first,
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawLXXXX,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", &out),
	    SASL_FAILURE);
	ck_assert_str_eq(text_of(&out), "malformed-request");

	const char *bad_firsts[] = {"",
				    "x",
				    "n,,",
				    "n,,user",
				    "n,,n=user",
				    "n,,n=user,r=",
				    "n,,n=a=ZZb,r=abc",
				    "p=tls-unique,,n=user,r=abc"};
	for (size_t i = 0; i < sizeof(bad_firsts) / sizeof(bad_firsts[0]); i++) {
		buf_reset(&out, 0);
		ck_assert_msg(final_with(bad_firsts[i], "", &out) == SASL_FAILURE, "accepted '%s'",
			      bad_firsts[i]);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_plain)
{
	derive_user(SCRAM_SHA_256, "W22ZaJ0SNY7soEsUEjb6gQ==");
	struct sasl s;
	struct buf out;
	buf_init(&out, 256);
	struct {
		const char *msg;
		size_t len;
		enum sasl_result expect;
	} cases[] = {
	    {"\0user\0pencil", 12, SASL_SUCCESS},
	    {"user@example.com\0user\0pencil", 28, SASL_SUCCESS},
	    {"\0USER\0pencil", 12, SASL_SUCCESS}, /* localparts fold case */
	    {"\0user\0pencil2", 13, SASL_FAILURE},
	    {"\0nobody\0pencil", 14, SASL_FAILURE},
	    {"admin@example.com\0user\0pencil", 29, SASL_FAILURE},
	    {"\0user", 5, SASL_FAILURE},
	    {"\0user\0", 6, SASL_FAILURE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		listener_sasl_init(&s);
		buf_reset(&out, 0);
		ck_assert_msg(listener_sasl_start(&s, SASL_PLAIN, cases[i].msg, cases[i].len,
						  lookup, NULL, &out) == cases[i].expect,
			      "case %zu", i);
		listener_sasl_free(&s);
	}
	/* A name the Nodeprep profile refuses fails with the reason, for
	 * PLAIN and SCRAM alike; "U\xc5\xbfER" (a long s) is prepared to "user". */
	listener_sasl_init(&s);
	buf_reset(&out, 0);
	ck_assert_int_eq(
	    listener_sasl_start(&s, SASL_PLAIN, "\0us@er\0pencil", 14, lookup, NULL, &out),
	    SASL_FAILURE);
	ck_assert_str_eq(text_of(&out), "malformed-request");
	ck_assert_str_eq(s.why, "prohibited character U+0040");
	listener_sasl_free(&s);
	listener_sasl_init(&s);
	buf_reset(&out, 0);
	ck_assert_int_eq(listener_sasl_start(&s, SASL_PLAIN,
					     "\0U\xc5\xbf"
					     "ER\0pencil",
					     13, lookup, NULL, &out),
			 SASL_SUCCESS);
	ck_assert_str_eq(listener_sasl_user(&s), "user");
	listener_sasl_free(&s);
	listener_sasl_init(&s);
	buf_reset(&out, 0);
	const char *first = "n,,n=u\xffser,r=abc";
	ck_assert_int_eq(
	    listener_sasl_start(&s, SASL_SCRAM_SHA_256, first, strlen(first), lookup, NULL, &out),
	    SASL_FAILURE);
	ck_assert_str_eq(s.why, "invalid UTF-8 at byte 2");
	listener_sasl_free(&s);
	buf_free(&out);
}
END_TEST

START_TEST(test_handshake_digest)
{
	char digest[41];
	/* Computed independently: sha1("3BF96D32" "private-secret"). */
	listener_handshake_digest("3BF96D32", "private-secret", digest);
	ck_assert_str_eq(digest, "b46c341dd5d3d8d6684fa43581a19805a675f43b");
}
END_TEST

START_TEST(test_base64)
{
	unsigned char out[32];
	char text[64];
	ck_assert_int_eq(scram_base64_decode("Zm9vYmE=", 8, out, sizeof(out)), 5);
	ck_assert_mem_eq(out, "fooba", 5);
	ck_assert_int_eq(scram_base64_decode("Zm9vYg==", 8, out, 4), 4);
	ck_assert_int_eq(scram_base64_decode("Zm9vYg==", 8, out, 3), -1);
	ck_assert_int_eq(scram_base64_decode("Zm9v=mE=", 8, out, sizeof(out)), -1);
	ck_assert_int_eq(scram_base64_decode("Zm9", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(scram_base64_decode("Zm9v!mE=", 8, out, sizeof(out)), -1);
	ck_assert_uint_eq(scram_base64_encode((const unsigned char *)"fooba", 5, text), 8);
	ck_assert_str_eq(text, "Zm9vYmE=");
	ck_assert(scram_equal("abc", "abc", 3));
	ck_assert(!scram_equal("abc", "abd", 3));
}
END_TEST

Suite *sasl_suite(void)
{
	Suite *s = suite_create("sasl");
	TCase *tc = tcase_create("sasl");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rfc5802_scram_sha_1);
	tcase_add_test(tc, test_rfc7677_scram_sha_256);
	tcase_add_test(tc, test_wrong_proof_unknown_user_and_bad_messages);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_handshake_digest);
	tcase_add_test(tc, test_base64);
	suite_add_tcase(s, tc);
	return s;
}
