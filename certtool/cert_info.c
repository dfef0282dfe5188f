/* SPDX-License-Identifier: MIT */
/* Certificates, keys and requests as text; see cert_info.h. */
#include "cert_info.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

/* RFC 6120 §13.7.1.4: id-on-xmppAddr */
#define OID_XMPP_ADDR "1.3.6.1.5.5.7.8.5"

void cert_name_text(const X509_NAME *name, char *out, size_t size)
{
	out[0] = '\0';
	BIO *bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		char *data;
		long len = BIO_get_mem_data(bio, &data);
		snprintf(out, size, "%.*s", (int)len, data);
	}
	BIO_free(bio);
}

void cert_subject_text(const X509 *cert, char *out, size_t size)
{
	cert_name_text(X509_get_subject_name(cert), out, size);
}

void cert_issuer_text(const X509 *cert, char *out, size_t size)
{
	cert_name_text(X509_get_issuer_name(cert), out, size);
}

static void append(char *out, size_t size, const char *kind, const char *value, int value_len)
{
	size_t used = strlen(out);
	if (used < size)
		snprintf(out + used, size - used, "%s%s:%.*s", used ? ", " : "", kind, value_len,
			 value);
}

static void append_other_name(char *out, size_t size, const OTHERNAME *other)
{
	char oid[80];
	OBJ_obj2txt(oid, sizeof(oid), other->type_id, 1);
	if (strcmp(oid, OID_XMPP_ADDR) == 0 && other->value->type == V_ASN1_UTF8STRING) {
		const ASN1_STRING *s = other->value->value.utf8string;
		append(out, size, "xmppAddr", (const char *)ASN1_STRING_get0_data(s),
		       ASN1_STRING_length(s));
	} else {
		append(out, size, "otherName", oid, (int)strlen(oid));
	}
}

void cert_sans_text(const GENERAL_NAMES *names, char *out, size_t size)
{
	out[0] = '\0';
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
		const ASN1_STRING *s;
		switch (name->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			s = name->d.ia5;
			append(out, size,
			       name->type == GEN_DNS	 ? "DNS"
			       : name->type == GEN_EMAIL ? "email"
							 : "URI",
			       (const char *)ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
			break;
		case GEN_IPADD: {
			char text[INET6_ADDRSTRLEN] = "?";
			s = name->d.ip;
			int len = ASN1_STRING_length(s);
			if (len == 4 || len == 16)
				inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s),
					  text, sizeof(text));
			append(out, size, "IP", text, (int)strlen(text));
			break;
		}
		case GEN_OTHERNAME:
			append_other_name(out, size, name->d.otherName);
			break;
		default:
			append(out, size, "other", "", 0);
			break;
		}
	}
}

void cert_cert_sans_text(const X509 *cert, char *out, size_t size)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	cert_sans_text(names, out, size);
	GENERAL_NAMES_free(names);
}

GENERAL_NAMES *cert_req_sans(const X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions((X509_REQ *)req);
	GENERAL_NAMES *names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	return names;
}

static time_t asn1_time_to_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

time_t cert_not_before(const X509 *cert)
{
	return asn1_time_to_time(X509_get0_notBefore(cert));
}

time_t cert_not_after(const X509 *cert)
{
	return asn1_time_to_time(X509_get0_notAfter(cert));
}

void cert_time_text(time_t t, char *out, size_t size)
{
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, size, "?");
}

void cert_key_text(const EVP_PKEY *key, char *out, size_t size)
{
	char group[64] = "";
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		snprintf(out, size, "RSA %d", EVP_PKEY_get_bits(key));
		return;
	case EVP_PKEY_EC: {
		const char *nist = NULL;
		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) == 1)
			nist = EC_curve_nid2nist(OBJ_sn2nid(group));
		snprintf(out, size, "EC %s", nist ? nist : group[0] ? group : "?");
		return;
	}
	default: {
		const char *type = EVP_PKEY_get0_type_name(key);
		snprintf(out, size, "%s %d", type ? type : "unknown", EVP_PKEY_get_bits(key));
		return;
	}
	}
}

static void hex_colons(const unsigned char *md, unsigned len, char *out, size_t size)
{
	out[0] = '\0';
	for (unsigned i = 0; i < len && 3 * i + 3 <= size; i++)
		snprintf(out + 3 * i, size - 3 * i, "%02X%s", md[i], i + 1 < len ? ":" : "");
}

void cert_fingerprint(const X509 *cert, char *out, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (X509_digest(cert, EVP_sha256(), md, &len) != 1)
		len = 0;
	hex_colons(md, len, out, size);
}

void cert_key_fingerprint(const EVP_PKEY *key, char *out, size_t size)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	int der_len = i2d_PUBKEY(key, &der);
	if (der_len <= 0 || EVP_Digest(der, (size_t)der_len, md, &len, EVP_sha256(), NULL) != 1)
		len = 0;
	OPENSSL_free(der);
	hex_colons(md, len, out, size);
}

bool cert_self_signed(const X509 *cert)
{
	bool self = X509_self_signed((X509 *)cert, 1) == 1;
	ERR_clear_error();
	return self;
}

bool cert_is_ca(const X509 *cert)
{
	return X509_check_ca((X509 *)cert) > 0;
}

bool cert_key_matches(const EVP_PKEY *key, const EVP_PKEY *pub)
{
	bool same = key != NULL && pub != NULL && EVP_PKEY_eq(key, pub) == 1;
	ERR_clear_error();
	return same;
}
