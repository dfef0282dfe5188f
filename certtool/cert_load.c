/* SPDX-License-Identifier: MIT */
/* Reading PEM and DER files of certificates, keys and requests; see cert_load.h. */
#include "cert_load.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"

static bool is_cert_block(const char *name)
{
	return strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0 ||
	       strcmp(name, PEM_STRING_X509_TRUSTED) == 0;
}

static bool is_csr_block(const char *name)
{
	return strcmp(name, PEM_STRING_X509_REQ) == 0 || strcmp(name, PEM_STRING_X509_REQ_OLD) == 0;
}

/* Decodes one private key block; NULL if it does not decode. */
static EVP_PKEY *decode_key(const char *name, const unsigned char *data, long len)
{
	const unsigned char *p = data;
	if (strcmp(name, PEM_STRING_RSA) == 0)
		return d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
	if (strcmp(name, PEM_STRING_ECPRIVATEKEY) == 0)
		return d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, len);
	return d2i_AutoPrivateKey(NULL, &p, len);
}

static bool is_key_block(const char *name)
{
	return strcmp(name, PEM_STRING_PKCS8INF) == 0 || strcmp(name, PEM_STRING_RSA) == 0 ||
	       strcmp(name, PEM_STRING_ECPRIVATEKEY) == 0 || strcmp(name, PEM_STRING_PKCS8) == 0;
}

/* One PEM block: a certificate joins the list, the first key and request
 * are kept, an encrypted key is only noted. */
static int take_block(struct cert_file *out, const char *file, unsigned position, const char *name,
		      const char *header, const unsigned char *data, long len, char *why,
		      size_t why_size)
{
	const unsigned char *p = data;
	if (is_cert_block(name)) {
		X509 *cert = strcmp(name, PEM_STRING_X509_TRUSTED) == 0
				 ? d2i_X509_AUX(NULL, &p, len)
				 : d2i_X509(NULL, &p, len);
		if (cert == NULL || sk_X509_push(out->certs, cert) == 0) {
			X509_free(cert);
			snprintf(why, why_size, "%s: block %u (%s) is not a valid certificate",
				 file, position, name);
			return -1;
		}
		return 0;
	}
	if (is_key_block(name)) {
		out->keys++;
		if (strcmp(name, PEM_STRING_PKCS8) == 0 || strstr(header, "ENCRYPTED") != NULL) {
			out->key_encrypted = true;
			return 0;
		}
		EVP_PKEY *key = decode_key(name, data, len);
		if (key == NULL) {
			snprintf(why, why_size, "%s: block %u (%s) is not a valid private key",
				 file, position, name);
			return -1;
		}
		if (out->key == NULL)
			out->key = key;
		else
			EVP_PKEY_free(key);
		return 0;
	}
	if (is_csr_block(name)) {
		X509_REQ *req = d2i_X509_REQ(NULL, &p, len);
		if (req == NULL) {
			snprintf(why, why_size,
				 "%s: block %u (%s) is not a valid certificate request", file,
				 position, name);
			return -1;
		}
		if (out->csr == NULL)
			out->csr = req;
		else
			X509_REQ_free(req);
		return 0;
	}
	out->unknown++;
	return 0;
}

/* A file without PEM blocks may be one DER object. */
static void parse_der(struct cert_file *out, const unsigned char *data, long len)
{
	const unsigned char *p = data;
	X509 *cert = d2i_X509(NULL, &p, len);
	if (cert != NULL && p == data + len && sk_X509_push(out->certs, cert) != 0)
		return;
	X509_free(cert);
	p = data;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, len);
	if (req != NULL && p == data + len) {
		out->csr = req;
		return;
	}
	X509_REQ_free(req);
	p = data;
	EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, len);
	if (key != NULL && p == data + len) {
		out->key = key;
		out->keys = 1;
		return;
	}
	EVP_PKEY_free(key);
}

int cert_file_parse(const char *file, const char *text, size_t text_len, struct cert_file *out,
		    char *why, size_t why_size)
{
	memset(out, 0, sizeof(*out));
	out->certs = sk_X509_new_null();
	BIO *bio = BIO_new_mem_buf(text, (int)text_len);
	if (out->certs == NULL || bio == NULL) {
		BIO_free(bio);
		snprintf(why, why_size, "%s: out of memory", file);
		cert_file_free(out);
		return -1;
	}
	int rc = 0;
	unsigned blocks = 0;
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		long len = 0;
		ERR_clear_error();
		if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
			unsigned long err = ERR_peek_last_error();
			/* The end of the input reads as "no start line". */
			if (ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
				snprintf(why, why_size, "%s: block %u is damaged PEM (%s)", file,
					 blocks + 1, ERR_reason_error_string(err));
				rc = -1;
			}
			break;
		}
		blocks++;
		rc = take_block(out, file, blocks, name, header, data, len, why, why_size);
		OPENSSL_cleanse(data, (size_t)len);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if (rc == -1)
			break;
	}
	ERR_clear_error();
	BIO_free(bio);
	if (rc == 0 && blocks == 0 && text_len > 0)
		parse_der(out, (const unsigned char *)text, (long)text_len);
	ERR_clear_error();
	if (rc == -1)
		cert_file_free(out);
	return rc;
}

int cert_file_load(const char *path, struct cert_file *out, char *why, size_t why_size)
{
	char *text;
	size_t len;
	memset(out, 0, sizeof(*out));
	if (fileio_read_all(path, CERT_FILE_MAX, &text, &len, why, why_size) == -1)
		return -1;
	int rc = cert_file_parse(path, text, len, out, why, why_size);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

void cert_file_free(struct cert_file *f)
{
	sk_X509_pop_free(f->certs, X509_free);
	EVP_PKEY_free(f->key);
	X509_REQ_free(f->csr);
	memset(f, 0, sizeof(*f));
}

bool cert_file_empty(const struct cert_file *f)
{
	return sk_X509_num(f->certs) == 0 && f->keys == 0 && f->csr == NULL;
}
