/* SPDX-License-Identifier: MIT */
/*
 * The certificate library behind rxmpp-certtool and the certificate
 * worker: subjects in the CMS syntax, requests and certificates, reading
 * PEM and DER, chain order, verification and the checks of a node's TLS
 * set.  The fixtures (a root, two intermediates, leaves, an expired leaf,
 * a stranger's CA and a wrong key) are made here at test time.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certtool/cert_chain.h"
#include "certtool/cert_info.h"
#include "certtool/cert_load.h"
#include "certtool/cert_make.h"
#include "certtool/cert_set.h"
#include "unit.h"

#define DAY (24 * 60 * 60)

static struct {
	EVP_PKEY *root_key, *int1_key, *int2_key, *leaf_key, *other_key, *stranger_key;
	X509 *root, *int1, *int2, *leaf, *expired, *stranger;
	time_t now;
} pki;

static X509 *issue(const char *cn, const char *sans, EVP_PKEY *key, X509 *issuer,
		   EVP_PKEY *issuer_key, enum cert_profile profile, time_t from, time_t until)
{
	char cn_arg[256], san_arg[512], why[512];
	snprintf(cn_arg, sizeof(cn_arg), "CN:%s", cn);
	snprintf(san_arg, sizeof(san_arg), "subjectAltName:%s", sans ? sans : "");
	char *argv[] = {cn_arg, san_arg};
	struct cert_spec spec;
	ck_assert_int_eq(cert_spec_parse(sans ? 2 : 1, argv, &spec, why, sizeof(why)), 0);
	X509_REQ *req = cert_make_csr(key, &spec, why, sizeof(why));
	ck_assert_ptr_nonnull(req);
	X509 *cert =
	    cert_make_cert(req, issuer, issuer_key, profile, from, until, why, sizeof(why));
	ck_assert_msg(cert != NULL, "%s", why);
	X509_REQ_free(req);
	cert_spec_free(&spec);
	return cert;
}

static void pki_make(void)
{
	pki.now = time(NULL);
	time_t from = pki.now - DAY, until = pki.now + 30 * DAY;
	pki.root_key = cert_key_generate(CERT_KEY_P256);
	pki.int1_key = cert_key_generate(CERT_KEY_P256);
	pki.int2_key = cert_key_generate(CERT_KEY_P256);
	pki.leaf_key = cert_key_generate(CERT_KEY_P256);
	pki.other_key = cert_key_generate(CERT_KEY_P256);
	pki.stranger_key = cert_key_generate(CERT_KEY_P256);
	pki.root = issue("Test Root", NULL, pki.root_key, NULL, pki.root_key, CERT_PROFILE_CA, from,
			 until + DAY);
	pki.int1 = issue("Int One", NULL, pki.int1_key, pki.root, pki.root_key, CERT_PROFILE_CA,
			 from, until);
	pki.int2 = issue("Int Two", NULL, pki.int2_key, pki.int1, pki.int1_key, CERT_PROFILE_CA,
			 from, until);
	pki.leaf = issue("xmpp.example.com", "xmpp.example.com,node1.example.com,192.0.2.1",
			 pki.leaf_key, pki.int2, pki.int2_key, CERT_PROFILE_SERVER, from, until);
	pki.expired = issue("xmpp.example.com", "xmpp.example.com", pki.leaf_key, pki.int2,
			    pki.int2_key, CERT_PROFILE_SERVER, pki.now - 10 * DAY, pki.now - DAY);
	pki.stranger = issue("Stranger CA", NULL, pki.stranger_key, NULL, pki.stranger_key,
			     CERT_PROFILE_CA, from, until);
}

static void pki_free(void)
{
	EVP_PKEY *keys[] = {pki.root_key, pki.int1_key,	 pki.int2_key,
			    pki.leaf_key, pki.other_key, pki.stranger_key};
	X509 *certs[] = {pki.root, pki.int1, pki.int2, pki.leaf, pki.expired, pki.stranger};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EVP_PKEY_free(keys[i]);
	for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
		X509_free(certs[i]);
	memset(&pki, 0, sizeof(pki));
}

/* A stack of the given certificates (references taken), NULL-terminated. */
static STACK_OF(X509) * stack_of(X509 *first, ...)
{
	STACK_OF(X509) *s = sk_X509_new_null();
	va_list ap;
	va_start(ap, first);
	for (X509 *c = first; c != NULL; c = va_arg(ap, X509 *)) {
		X509_up_ref(c);
		sk_X509_push(s, c);
	}
	va_end(ap);
	return s;
}

/* Subjects in the CMS syntax */

START_TEST(test_spec_fields_and_names)
{
	char *argv[] = {"CN:xmpp.example.com", "O:Example", "C:DE",
			"subjectAltName:xmpp.example.com, 192.0.2.7,*.example.com,IP:2001:db8::1"};
	struct cert_spec spec;
	char why[256], text[512];
	ck_assert_int_eq(cert_spec_parse(4, argv, &spec, why, sizeof(why)), 0);
	cert_name_text(spec.name, text, sizeof(text));
	ck_assert_str_eq(text, "CN=xmpp.example.com,O=Example,C=DE");
	ck_assert_str_eq(spec.sans,
			 "DNS:xmpp.example.com,IP:192.0.2.7,DNS:*.example.com,IP:2001:db8::1");
	ck_assert(cert_spec_cn_in_sans(&spec));
	cert_spec_free(&spec);
}
END_TEST

START_TEST(test_spec_refuses_what_it_cannot_take)
{
	static const struct {
		const char *arg;
		const char *why;
	} cases[] = {
	    {"CN", "expected FIELD:value"},
	    {"XX:1", "'XX': unknown field"},
	    {"C:Germany", "C: 'Germany' is not a two-letter country code"},
	    {"subjectAltName:bad_name!", "'bad_name!' is neither a DNS name nor an IP address"},
	    {"subjectAltName:IP:300.1.1.1", "'300.1.1.1' is neither"},
	    {"subjectAltName:,", "subjectAltName: no names given"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {"CN:x.example", (char *)cases[i].arg};
		struct cert_spec spec;
		char why[256] = "";
		ck_assert_int_eq(cert_spec_parse(2, argv, &spec, why, sizeof(why)), -1);
		ck_assert_msg(strstr(why, cases[i].why) != NULL, "%s: %s", cases[i].arg, why);
	}
	char *twice[] = {"CN:a.example", "CN:b.example"}, *none[] = {"subjectAltName:a.example"};
	struct cert_spec spec;
	char why[256];
	ck_assert_int_eq(cert_spec_parse(2, twice, &spec, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "CN given twice");
	ck_assert_int_eq(cert_spec_parse(1, none, &spec, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "no subject: give at least CN:name");
}
END_TEST

START_TEST(test_spec_notices_cn_outside_the_names)
{
	char *argv[] = {"CN:xmpp.example.com", "subjectAltName:node1.example.com"};
	struct cert_spec spec;
	char why[256];
	ck_assert_int_eq(cert_spec_parse(2, argv, &spec, why, sizeof(why)), 0);
	ck_assert(!cert_spec_cn_in_sans(&spec));
	cert_spec_free(&spec);
}
END_TEST

/* Requests and certificates */

START_TEST(test_signed_certificate_has_the_request_names_and_uses)
{
	char names[512], issuer[256];
	cert_cert_sans_text(pki.leaf, names, sizeof(names));
	ck_assert_str_eq(names, "DNS:xmpp.example.com, DNS:node1.example.com, IP:192.0.2.1");
	cert_issuer_text(pki.leaf, issuer, sizeof(issuer));
	ck_assert_str_eq(issuer, "CN=Int Two");
	ck_assert_int_eq(X509_check_purpose(pki.leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
	ck_assert_int_eq(X509_check_purpose(pki.leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
	ck_assert(!cert_is_ca(pki.leaf));
	ck_assert(cert_is_ca(pki.int1));
	ck_assert(cert_self_signed(pki.root));
	ck_assert(!cert_self_signed(pki.int1));
	ck_assert_int_eq(X509_verify(pki.leaf, pki.int2_key), 1);
	ck_assert(cert_key_matches(pki.leaf_key, X509_get0_pubkey(pki.leaf)));
	ck_assert(!cert_key_matches(pki.other_key, X509_get0_pubkey(pki.leaf)));
}
END_TEST

START_TEST(test_signing_with_a_key_that_is_not_the_ca_s_is_refused)
{
	char *argv[] = {"CN:x.example"};
	struct cert_spec spec;
	char why[256];
	ck_assert_int_eq(cert_spec_parse(1, argv, &spec, why, sizeof(why)), 0);
	X509_REQ *req = cert_make_csr(pki.leaf_key, &spec, why, sizeof(why));
	X509 *cert = cert_make_cert(req, pki.int2, pki.other_key, CERT_PROFILE_SERVER, pki.now,
				    pki.now + DAY, why, sizeof(why));
	ck_assert_ptr_null(cert);
	ck_assert_str_eq(why, "the CA key does not belong to the CA certificate");
	X509_REQ_free(req);
	cert_spec_free(&spec);
}
END_TEST

START_TEST(test_key_types_and_descriptions)
{
	static const struct {
		const char *name;
		const char *text;
	} types[] = {{"p256", "EC P-256"}, {"p384", "EC P-384"}, {"rsa2048", "RSA 2048"}};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		enum cert_key_type type;
		char text[64];
		ck_assert_int_eq(cert_key_type_parse(types[i].name, &type), 0);
		EVP_PKEY *key = cert_key_generate(type);
		cert_key_text(key, text, sizeof(text));
		ck_assert_str_eq(text, types[i].text);
		EVP_PKEY_free(key);
	}
	enum cert_key_type type;
	ck_assert_int_eq(cert_key_type_parse("dsa1024", &type), -1);
}
END_TEST

/* Reading files */

START_TEST(test_pem_with_every_kind)
{
	char *key_pem, *certs_pem;
	size_t key_len, certs_len;
	STACK_OF(X509) *two = stack_of(pki.leaf, pki.int2, NULL);
	ck_assert_int_eq(cert_pem_key(pki.leaf_key, &key_pem, &key_len), 0);
	ck_assert_int_eq(cert_pem_certs(two, &certs_pem, &certs_len), 0);
	char *text = malloc(key_len + certs_len + 64);
	snprintf(text, key_len + certs_len + 64, "junk before\n%s%s", certs_pem, key_pem);
	struct cert_file f;
	char why[256];
	ck_assert_int_eq(cert_file_parse("mixed.pem", text, strlen(text), &f, why, sizeof(why)), 0);
	ck_assert_int_eq(sk_X509_num(f.certs), 2);
	ck_assert_int_eq(X509_cmp(sk_X509_value(f.certs, 1), pki.int2), 0);
	ck_assert_ptr_nonnull(f.key);
	ck_assert(cert_key_matches(f.key, X509_get0_pubkey(pki.leaf)));
	ck_assert(!cert_file_empty(&f));
	cert_file_free(&f);
	free(text);
	free(key_pem);
	free(certs_pem);
	sk_X509_pop_free(two, X509_free);
}
END_TEST

START_TEST(test_encrypted_key_is_noted_not_prompted_for)
{
	BIO *bio = BIO_new(BIO_s_mem());
	ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, pki.leaf_key, EVP_aes_256_cbc(),
						  (unsigned char *)"secret", 6, NULL, NULL),
			 1);
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	struct cert_file f;
	char why[256];
	ck_assert_int_eq(cert_file_parse("enc.key", data, (size_t)len, &f, why, sizeof(why)), 0);
	ck_assert(f.key_encrypted);
	ck_assert_ptr_null(f.key);
	ck_assert_uint_eq(f.keys, 1);
	cert_file_free(&f);
	BIO_free(bio);
}
END_TEST

START_TEST(test_damaged_pem_names_the_block)
{
	char *pem;
	size_t len;
	STACK_OF(X509) *two = stack_of(pki.leaf, pki.int2, NULL);
	ck_assert_int_eq(cert_pem_certs(two, &pem, &len), 0);
	/* Damage the base64 of the second block. */
	char *second = strstr(strstr(pem, "-----END") + 8, "-----BEGIN CERTIFICATE-----\n");
	ck_assert_ptr_nonnull(second);
	memcpy(second + 40, "!!!!", 4);
	struct cert_file f;
	char why[256];
	ck_assert_int_eq(cert_file_parse("chain.pem", pem, len, &f, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "chain.pem: block 2") != NULL, "%s", why);
	free(pem);
	sk_X509_pop_free(two, X509_free);
}
END_TEST

START_TEST(test_der_certificate)
{
	unsigned char *der = NULL;
	int len = i2d_X509(pki.root, &der);
	struct cert_file f;
	char why[256];
	ck_assert_int_eq(
	    cert_file_parse("root.der", (char *)der, (size_t)len, &f, why, sizeof(why)), 0);
	ck_assert_int_eq(sk_X509_num(f.certs), 1);
	ck_assert_int_eq(X509_cmp(sk_X509_value(f.certs, 0), pki.root), 0);
	cert_file_free(&f);
	OPENSSL_free(der);
	ck_assert_int_eq(cert_file_parse("notes.txt", "hello\n", 6, &f, why, sizeof(why)), 0);
	ck_assert(cert_file_empty(&f));
	cert_file_free(&f);
}
END_TEST

/* Chain order */

START_TEST(test_chain_in_order)
{
	STACK_OF(X509) *certs = stack_of(pki.leaf, pki.int2, pki.int1, pki.root, NULL);
	struct cert_chain_report r;
	ck_assert_int_eq(cert_chain_analyse(certs, NULL, pki.now, &r), 0);
	ck_assert_msg(!cert_chain_has_problems(&r), "%s", r.text);
	ck_assert_int_eq(r.length, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(r.order[i], i);
	sk_X509_pop_free(certs, X509_free);
}
END_TEST

START_TEST(test_chain_out_of_order_names_the_certificate)
{
	STACK_OF(X509) *certs = stack_of(pki.leaf, pki.int1, pki.int2, pki.root, NULL);
	struct cert_chain_report r;
	ck_assert_int_eq(cert_chain_analyse(certs, NULL, pki.now, &r), 0);
	ck_assert(r.misordered);
	ck_assert_msg(strstr(r.text, "certificate #2 (CN=Int One) is out of place: #1 "
				     "(CN=xmpp.example.com) is issued by #3 (CN=Int Two), "
				     "which must come right after it") != NULL,
		      "%s", r.text);
	ck_assert_msg(strstr(r.text, "the right order: #1 #3 #2 #4") != NULL, "%s", r.text);
	int expected[] = {0, 2, 1, 3};
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(r.order[i], expected[i]);
	sk_X509_pop_free(certs, X509_free);
}
END_TEST

START_TEST(test_chain_root_first_is_out_of_place)
{
	STACK_OF(X509) *certs = stack_of(pki.root, pki.leaf, pki.int2, pki.int1, NULL);
	struct cert_chain_report r;
	ck_assert_int_eq(cert_chain_analyse(certs, NULL, pki.now, &r), 0);
	ck_assert(r.misordered);
	ck_assert_msg(strstr(r.text, "certificate #1 (CN=Test Root) is out of place: the chain "
				     "starts with the server's own certificate, #2") != NULL,
		      "%s", r.text);
	sk_X509_pop_free(certs, X509_free);
}
END_TEST

START_TEST(test_chain_duplicates_strangers_and_missing_issuer)
{
	STACK_OF(X509) *certs = stack_of(pki.leaf, pki.int2, pki.int2, pki.stranger, NULL);
	struct cert_chain_report r;
	ck_assert_int_eq(cert_chain_analyse(certs, NULL, pki.now, &r), 0);
	ck_assert_uint_eq(r.duplicates, 1);
	ck_assert_uint_eq(r.unrelated, 1);
	ck_assert(r.issuer_missing);
	ck_assert_msg(strstr(r.text, "certificate #3 (CN=Int Two) repeats #2 (CN=Int Two)"), "%s",
		      r.text);
	ck_assert_msg(strstr(r.text, "certificate #4 (CN=Stranger CA) is not part of the chain"),
		      "%s", r.text);
	ck_assert_msg(strstr(r.text, "missing issuer: #2 (CN=Int Two) is issued by 'CN=Int One'"),
		      "%s", r.text);
	sk_X509_pop_free(certs, X509_free);
}
END_TEST

START_TEST(test_chain_ending_at_a_trusted_issuer_is_complete)
{
	STACK_OF(X509) *certs = stack_of(pki.leaf, pki.int2, pki.int1, NULL);
	X509_STORE *trust = X509_STORE_new();
	X509_STORE_add_cert(trust, pki.root);
	struct cert_chain_report r;
	ck_assert_int_eq(cert_chain_analyse(certs, trust, pki.now, &r), 0);
	ck_assert_msg(!cert_chain_has_problems(&r), "%s", r.text);
	ck_assert(r.ends_trusted);
	X509_STORE_free(trust);
	sk_X509_pop_free(certs, X509_free);
}
END_TEST

START_TEST(test_chain_expired_member)
{
	STACK_OF(X509) *certs = stack_of(pki.expired, pki.int2, pki.int1, pki.root, NULL);
	struct cert_chain_report r;
	ck_assert_int_eq(cert_chain_analyse(certs, NULL, pki.now, &r), 0);
	ck_assert_uint_eq(r.expired, 1);
	ck_assert_msg(strstr(r.text, "certificate #1 (CN=xmpp.example.com) expired on "), "%s",
		      r.text);
	/* Five days ago the leaf was valid and nothing else was yet. */
	ck_assert_int_eq(cert_chain_analyse(certs, NULL, pki.now - 5 * DAY, &r), 0);
	ck_assert_uint_eq(r.expired, 0);
	ck_assert_uint_eq(r.not_yet_valid, 3);
	sk_X509_pop_free(certs, X509_free);
}
END_TEST

/* Verification */

static int verify(X509 *leaf, STACK_OF(X509) * untrusted, int purpose, const char *name, char *why,
		  size_t why_size)
{
	X509_STORE *trust = X509_STORE_new();
	X509_STORE_add_cert(trust, pki.root);
	int rc = cert_verify(leaf, untrusted, trust, purpose, name, pki.now, NULL, why, why_size);
	X509_STORE_free(trust);
	return rc;
}

START_TEST(test_verify_reasons)
{
	STACK_OF(X509) *ints = stack_of(pki.int2, pki.int1, NULL), *one = stack_of(pki.int1, NULL);
	char why[1024];
	ck_assert_int_eq(
	    verify(pki.leaf, ints, X509_PURPOSE_SSL_SERVER, "node1.example.com", why, sizeof(why)),
	    0);
	ck_assert_int_eq(
	    verify(pki.leaf, ints, X509_PURPOSE_SSL_SERVER, "192.0.2.1", why, sizeof(why)), 0);
	ck_assert_int_eq(
	    verify(pki.leaf, ints, X509_PURPOSE_SSL_SERVER, "other.example.com", why, sizeof(why)),
	    -1);
	ck_assert_msg(
	    strstr(why, "other.example.com is not among its names (DNS:xmpp.example.com,"), "%s",
	    why);
	ck_assert_int_eq(verify(pki.expired, ints, X509_PURPOSE_SSL_SERVER, NULL, why, sizeof(why)),
			 -1);
	ck_assert_msg(strstr(why, "depth 0 (CN=xmpp.example.com): certificate has expired (not "
				  "after "),
		      "%s", why);
	ck_assert_int_eq(verify(pki.leaf, one, X509_PURPOSE_SSL_SERVER, NULL, why, sizeof(why)),
			 -1);
	ck_assert_msg(strstr(why, "its issuer 'CN=Int Two' is neither in the bundle nor trusted"),
		      "%s", why);
	/* A certificate authority is no TLS server. */
	ck_assert_int_eq(verify(pki.int2, one, X509_PURPOSE_SSL_SERVER, NULL, why, sizeof(why)),
			 -1);
	ck_assert_msg(strstr(why, "unsuitable certificate purpose"), "%s", why);
	sk_X509_pop_free(ints, X509_free);
	sk_X509_pop_free(one, X509_free);
}
END_TEST

/* A node's TLS set, from files */

static char set_dir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", set_dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void write_certs(const char *name, X509 *first, ...)
{
	STACK_OF(X509) *s = sk_X509_new_null();
	va_list ap;
	va_start(ap, first);
	for (X509 *c = first; c != NULL; c = va_arg(ap, X509 *))
		sk_X509_push(s, c);
	va_end(ap);
	char *pem;
	size_t len;
	ck_assert_int_eq(cert_pem_certs(s, &pem, &len), 0);
	write_file(name, pem);
	free(pem);
	sk_X509_free(s);
}

static void write_key(const char *name, EVP_PKEY *key)
{
	char *pem;
	size_t len;
	ck_assert_int_eq(cert_pem_key(key, &pem, &len), 0);
	write_file(name, pem);
	free(pem);
}

static int load_set(const char *key, const char *cert, const char *bundle, const char *domain,
		    char *why, size_t why_size, char *warnings, size_t warnings_size)
{
	char k[128], c[128], b[128];
	snprintf(k, sizeof(k), "%s/%s", set_dir, key);
	snprintf(c, sizeof(c), "%s/%s", set_dir, cert);
	snprintf(b, sizeof(b), "%s/%s", set_dir, bundle ? bundle : "");
	struct cert_set_files files = {k, c, bundle ? b : NULL};
	struct cert_set set;
	int rc = cert_set_load(&files, domain, true, pki.now, &set, why, why_size, warnings,
			       warnings_size);
	if (rc == 0) {
		ck_assert_int_eq(sk_X509_num(set.chain), bundle ? 3 : 1);
		char *pem;
		size_t len;
		ck_assert_int_eq(cert_set_pem(&set, &pem, &len), 0);
		ck_assert_ptr_nonnull(strstr(pem, "PRIVATE KEY"));
		free(pem);
		cert_set_free(&set);
	}
	return rc;
}

static void set_files_make(void)
{
	snprintf(set_dir, sizeof(set_dir), "/tmp/rxmpp-cert-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(set_dir));
	write_key("node.key", pki.leaf_key);
	write_key("other.key", pki.other_key);
	write_certs("node.crt", pki.leaf, NULL);
	write_certs("expired.crt", pki.expired, NULL);
	write_certs("chain.pem", pki.int2, pki.int1, NULL);
	write_certs("swapped.pem", pki.int1, pki.int2, NULL);
	write_certs("wrongfirst.crt", pki.int2, pki.leaf, NULL);
}

static void set_files_remove(void)
{
	const char *names[] = {"node.key",	 "other.key",	 "node.crt",
			       "expired.crt",	 "chain.pem",	 "swapped.pem",
			       "wrongfirst.crt", "with-key.pem", "nothing.crt"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/%s", set_dir, names[i]);
		unlink(path);
	}
	rmdir(set_dir);
}

START_TEST(test_set_good)
{
	char why[4096] = "", warnings[4096];
	ck_assert_msg(load_set("node.key", "node.crt", "chain.pem", "xmpp.example.com", why,
			       sizeof(why), warnings, sizeof(warnings)) == 0,
		      "%s", why);
	/* The root is neither in the bundle nor in the system's store. */
	ck_assert_msg(strstr(warnings, "missing issuer: #3 (CN=Int One)"), "%s", warnings);
}
END_TEST

START_TEST(test_set_refusals)
{
	static const struct {
		const char *key, *cert, *bundle, *domain, *why;
	} cases[] = {
	    {"other.key", "node.crt", "chain.pem", "xmpp.example.com", "does not belong to"},
	    {"node.key", "node.crt", "swapped.pem", "xmpp.example.com",
	     "certificate #2 (CN=Int One) is out of place"},
	    {"node.key", "wrongfirst.crt", NULL, "xmpp.example.com",
	     "belongs to certificate #2 (CN=xmpp.example.com), not to the first certificate"},
	    {"node.key", "node.crt", "chain.pem", "chat.example.org",
	     "does not cover the domain chat.example.org: its names are DNS:xmpp.example.com"},
	    {"node.key", "expired.crt", "chain.pem", "xmpp.example.com",
	     "certificate #1 (CN=xmpp.example.com) expired on"},
	    {"node.crt", "node.key", NULL, "xmpp.example.com",
	     "holds certificates, not a private key: are the key and the certificate swapped?"},
	    {"node.key", "node.crt", "with-key.pem", "xmpp.example.com",
	     "with-key.pem holds a private key: the bundle must carry certificates only"},
	    {"node.key", "nothing.crt", NULL, "xmpp.example.com", "nothing.crt: no certificate"},
	};
	char key_and_cert[8192];
	char *key_pem, *cert_pem;
	size_t len;
	STACK_OF(X509) *one = stack_of(pki.int2, NULL);
	ck_assert_int_eq(cert_pem_key(pki.other_key, &key_pem, &len), 0);
	ck_assert_int_eq(cert_pem_certs(one, &cert_pem, &len), 0);
	snprintf(key_and_cert, sizeof(key_and_cert), "%s%s", cert_pem, key_pem);
	write_file("with-key.pem", key_and_cert);
	write_file("nothing.crt", "not a certificate\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char why[4096] = "", warnings[4096];
		ck_assert_int_eq(load_set(cases[i].key, cases[i].cert, cases[i].bundle,
					  cases[i].domain, why, sizeof(why), warnings,
					  sizeof(warnings)),
				 -1);
		ck_assert_msg(strstr(why, cases[i].why) != NULL, "case %zu: %s", i, why);
		ck_assert_msg(strstr(why, "BEGIN") == NULL, "case %zu prints PEM: %s", i, why);
	}
	free(key_pem);
	free(cert_pem);
	sk_X509_pop_free(one, X509_free);
}
END_TEST

Suite *cert_suite(void)
{
	Suite *s = suite_create("cert");
	TCase *tc = tcase_create("make, read, chain, verify");
	tcase_add_unchecked_fixture(tc, pki_make, pki_free);
	tcase_add_test(tc, test_spec_fields_and_names);
	tcase_add_test(tc, test_spec_refuses_what_it_cannot_take);
	tcase_add_test(tc, test_spec_notices_cn_outside_the_names);
	tcase_add_test(tc, test_signed_certificate_has_the_request_names_and_uses);
	tcase_add_test(tc, test_signing_with_a_key_that_is_not_the_ca_s_is_refused);
	tcase_add_test(tc, test_key_types_and_descriptions);
	tcase_add_test(tc, test_pem_with_every_kind);
	tcase_add_test(tc, test_encrypted_key_is_noted_not_prompted_for);
	tcase_add_test(tc, test_damaged_pem_names_the_block);
	tcase_add_test(tc, test_der_certificate);
	tcase_add_test(tc, test_chain_in_order);
	tcase_add_test(tc, test_chain_out_of_order_names_the_certificate);
	tcase_add_test(tc, test_chain_root_first_is_out_of_place);
	tcase_add_test(tc, test_chain_duplicates_strangers_and_missing_issuer);
	tcase_add_test(tc, test_chain_ending_at_a_trusted_issuer_is_complete);
	tcase_add_test(tc, test_chain_expired_member);
	tcase_add_test(tc, test_verify_reasons);
	suite_add_tcase(s, tc);
	TCase *files = tcase_create("a node's set");
	tcase_add_unchecked_fixture(files, pki_make, pki_free);
	tcase_add_unchecked_fixture(files, set_files_make, set_files_remove);
	tcase_add_test(files, test_set_good);
	tcase_add_test(files, test_set_refusals);
	suite_add_tcase(s, files);
	return s;
}
