/* SPDX-License-Identifier: MIT */
/* Keys, requests and certificates; see cert_make.h. */
#include "cert_make.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cert_info.h"

int cert_key_type_parse(const char *text, enum cert_key_type *out)
{
	static const struct {
		const char *name;
		enum cert_key_type type;
	} types[] = {
	    {"rsa2048", CERT_KEY_RSA2048}, {"rsa3072", CERT_KEY_RSA3072},
	    {"rsa4096", CERT_KEY_RSA4096}, {"p256", CERT_KEY_P256},
	    {"p384", CERT_KEY_P384},
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(text, types[i].name) == 0) {
			*out = types[i].type;
			return 0;
		}
	}
	return -1;
}

EVP_PKEY *cert_key_generate(enum cert_key_type type)
{
	switch (type) {
	case CERT_KEY_RSA2048:
		return EVP_RSA_gen(2048);
	case CERT_KEY_RSA3072:
		return EVP_RSA_gen(3072);
	case CERT_KEY_RSA4096:
		return EVP_RSA_gen(4096);
	case CERT_KEY_P256:
		return EVP_EC_gen("P-256");
	case CERT_KEY_P384:
		return EVP_EC_gen("P-384");
	}
	return NULL;
}

/* Subject fields in the order a distinguished name is written down. */
static const struct {
	const char *key;
	int nid;
} name_fields[] = {
    {"C", NID_countryName},	 {"ST", NID_stateOrProvinceName},    {"L", NID_localityName},
    {"O", NID_organizationName}, {"OU", NID_organizationalUnitName}, {"CN", NID_commonName},
};
#define NAME_FIELDS (sizeof(name_fields) / sizeof(name_fields[0]))
#define FIELD_C	    0
#define FIELD_CN    (NAME_FIELDS - 1)

static bool dns_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (const char *p = name; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || (*p == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && name[strlen(name) - 1] != '-';
}

static int add_san(struct cert_spec *spec, const char *item, char *why, size_t why_size)
{
	unsigned char ip[16];
	const char *kind = "DNS";
	if (strncasecmp(item, "DNS:", 4) == 0) {
		item += 4;
	} else if (strncasecmp(item, "IP:", 3) == 0) {
		item += 3;
		kind = "IP";
	} else if (inet_pton(AF_INET, item, ip) == 1 || inet_pton(AF_INET6, item, ip) == 1) {
		kind = "IP";
	}
	bool ok = kind[0] == 'I'
		      ? inet_pton(AF_INET, item, ip) == 1 || inet_pton(AF_INET6, item, ip) == 1
		      : dns_name_valid(item);
	if (!ok) {
		snprintf(why, why_size,
			 "subjectAltName: '%s' is neither a DNS name nor an IP address", item);
		return -1;
	}
	size_t used = strlen(spec->sans);
	int n = snprintf(spec->sans + used, sizeof(spec->sans) - used, "%s%s:%s", used ? "," : "",
			 kind, item);
	if (n < 0 || (size_t)n >= sizeof(spec->sans) - used) {
		snprintf(why, why_size, "subjectAltName: too many names");
		return -1;
	}
	return 0;
}

static int parse_sans(struct cert_spec *spec, const char *list, char *why, size_t why_size)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", list);
	char *save = NULL;
	int count = 0;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		char *end = item + strlen(item);
		while (end > item && end[-1] == ' ')
			*--end = '\0';
		if (*item == '\0')
			continue;
		if (add_san(spec, item, why, why_size) == -1)
			return -1;
		count++;
	}
	if (count == 0) {
		snprintf(why, why_size, "subjectAltName: no names given");
		return -1;
	}
	return 0;
}

int cert_spec_parse(int argc, char **argv, struct cert_spec *spec, char *why, size_t why_size)
{
	const char *values[NAME_FIELDS] = {NULL};
	bool have_sans = false;
	memset(spec, 0, sizeof(*spec));
	for (int i = 0; i < argc; i++) {
		const char *colon = strchr(argv[i], ':');
		if (colon == NULL || colon == argv[i] || colon[1] == '\0') {
			snprintf(why, why_size,
				 "'%s': expected FIELD:value (CN, OU, O, L, ST, C or "
				 "subjectAltName)",
				 argv[i]);
			return -1;
		}
		size_t key_len = (size_t)(colon - argv[i]);
		if (key_len == strlen("subjectAltName") &&
		    strncasecmp(argv[i], "subjectAltName", key_len) == 0) {
			if (have_sans) {
				snprintf(why, why_size, "subjectAltName given twice");
				return -1;
			}
			if (parse_sans(spec, colon + 1, why, why_size) == -1)
				return -1;
			have_sans = true;
			continue;
		}
		size_t f = 0;
		while (f < NAME_FIELDS && !(strlen(name_fields[f].key) == key_len &&
					    strncasecmp(argv[i], name_fields[f].key, key_len) == 0))
			f++;
		if (f == NAME_FIELDS) {
			snprintf(why, why_size,
				 "'%.*s': unknown field (CN, OU, O, L, ST, C or "
				 "subjectAltName)",
				 (int)key_len, argv[i]);
			return -1;
		}
		if (values[f] != NULL) {
			snprintf(why, why_size, "%s given twice", name_fields[f].key);
			return -1;
		}
		values[f] = colon + 1;
	}
	const char *country = values[FIELD_C];
	if (country != NULL && (strlen(country) != 2 || !isalpha((unsigned char)country[0]) ||
				!isalpha((unsigned char)country[1]))) {
		snprintf(why, why_size, "C: '%s' is not a two-letter country code", country);
		return -1;
	}
	spec->name = X509_NAME_new();
	for (size_t f = 0; spec->name != NULL && f < NAME_FIELDS; f++) {
		if (values[f] == NULL)
			continue;
		if (X509_NAME_add_entry_by_NID(spec->name, name_fields[f].nid, MBSTRING_UTF8,
					       (const unsigned char *)values[f], -1, -1, 0) != 1) {
			snprintf(why, why_size, "%s: '%s' is too long or not allowed there",
				 name_fields[f].key, values[f]);
			ERR_clear_error();
			cert_spec_free(spec);
			return -1;
		}
	}
	if (spec->name == NULL || X509_NAME_entry_count(spec->name) == 0) {
		snprintf(why, why_size, "no subject: give at least CN:name");
		cert_spec_free(spec);
		return -1;
	}
	if (values[FIELD_CN] != NULL)
		snprintf(spec->common_name, sizeof(spec->common_name), "%s", values[FIELD_CN]);
	return 0;
}

void cert_spec_free(struct cert_spec *spec)
{
	X509_NAME_free(spec->name);
	spec->name = NULL;
}

bool cert_spec_cn_in_sans(const struct cert_spec *spec)
{
	if (spec->common_name[0] == '\0')
		return true;
	char copy[sizeof(spec->sans)];
	snprintf(copy, sizeof(copy), "%s", spec->sans);
	char *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		const char *value = strchr(item, ':') + 1;
		if (strcasecmp(value, spec->common_name) == 0)
			return true;
	}
	return false;
}

static const EVP_MD *digest_for(const EVP_PKEY *key)
{
	/* A P-384 key is paired with SHA-384 (same strength); otherwise SHA-256. */
	return EVP_PKEY_get_bits(key) == 384 && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC
		   ? EVP_sha384()
		   : EVP_sha256();
}

static void openssl_reason(char *why, size_t why_size, const char *what)
{
	unsigned long err = ERR_get_error();
	snprintf(why, why_size, "%s: %s", what,
		 err ? ERR_reason_error_string(err) : "unknown OpenSSL error");
	ERR_clear_error();
}

X509_REQ *cert_make_csr(EVP_PKEY *key, const struct cert_spec *spec, char *why, size_t why_size)
{
	X509_REQ *req = X509_REQ_new();
	if (req == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, spec->name) != 1 || X509_REQ_set_pubkey(req, key) != 1)
		goto fail;
	if (spec->sans[0] != '\0') {
		X509V3_CTX ctx;
		X509V3_set_ctx_nodb(&ctx);
		X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
		X509_EXTENSION *ext =
		    X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, spec->sans);
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		bool added = ext != NULL && exts != NULL && sk_X509_EXTENSION_push(exts, ext) != 0;
		if (added)
			added = X509_REQ_add_extensions(req, exts) == 1;
		else
			X509_EXTENSION_free(ext);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		if (!added)
			goto fail;
	}
	if (X509_REQ_sign(req, key, digest_for(key)) <= 0)
		goto fail;
	return req;
fail:
	openssl_reason(why, why_size, "cannot make the certificate request");
	X509_REQ_free(req);
	return NULL;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int random_serial(X509 *cert)
{
	/* 127 random bits: unique in practice and positive as DER wants. */
	BIGNUM *bn = BN_new();
	int ok = bn != NULL && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

X509 *cert_make_cert(X509_REQ *req, X509 *issuer, EVP_PKEY *issuer_key, enum cert_profile profile,
		     time_t not_before, time_t not_after, char *why, size_t why_size)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
		ERR_clear_error();
		snprintf(why, why_size, "the request's signature does not verify");
		return NULL;
	}
	const EVP_PKEY *expected = issuer ? X509_get0_pubkey(issuer) : pub;
	if (!cert_key_matches(issuer_key, expected)) {
		snprintf(why, why_size,
			 issuer ? "the CA key does not belong to the CA certificate"
				: "the key does not belong to the request");
		return NULL;
	}
	X509 *cert = X509_new();
	if (cert == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
	    random_serial(cert) == -1 ||
	    X509_set_subject_name(cert, X509_REQ_get_subject_name(req)) != 1 ||
	    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer)
					      : X509_REQ_get_subject_name(req)) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(cert), not_after) == NULL ||
	    X509_set_pubkey(cert, pub) != 1)
		goto fail;
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, req, NULL, 0);
	bool rsa = EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA;
	int rc = 0;
	if (profile == CERT_PROFILE_CA) {
		rc |= add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		rc |= add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		rc |= add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
		rc |= add_ext(cert, &ctx, NID_key_usage,
			      rsa ? "critical,digitalSignature,keyEncipherment"
				  : "critical,digitalSignature");
		rc |= add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	rc |= add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
	rc |= add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
	GENERAL_NAMES *names = cert_req_sans(req);
	if (names != NULL &&
	    X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1)
		rc = -1;
	GENERAL_NAMES_free(names);
	if (rc != 0 || X509_sign(cert, issuer_key, digest_for(issuer_key)) <= 0)
		goto fail;
	return cert;
fail:
	openssl_reason(why, why_size, "cannot make the certificate");
	X509_free(cert);
	return NULL;
}

/* Copies what a memory BIO holds; a secure-memory BIO is cleared on free. */
static int bio_take(BIO *bio, char **out, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	*out = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (*out == NULL) {
		BIO_free(bio);
		return -1;
	}
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*len = (size_t)n;
	BIO_free(bio);
	return 0;
}

int cert_pem_key(EVP_PKEY *key, char **out, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		return -1;
	}
	return bio_take(bio, out, len);
}

int cert_pem_csr(X509_REQ *req, char **out, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_X509_REQ(bio, req) != 1) {
		BIO_free(bio);
		return -1;
	}
	return bio_take(bio, out, len);
}

int cert_pem_certs(STACK_OF(X509) * certs, char **out, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	for (int i = 0; bio != NULL && i < sk_X509_num(certs); i++) {
		if (PEM_write_bio_X509(bio, sk_X509_value(certs, i)) != 1) {
			BIO_free(bio);
			return -1;
		}
	}
	if (bio == NULL)
		return -1;
	return bio_take(bio, out, len);
}
