/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-certtool csr, selfsigned, ca make and ca sign: new keys (mode
 * 0600, never over an existing one without --force), requests and
 * certificates, each file written atomically.
 */
#include <errno.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert_info.h"
#include "cert_load.h"
#include "cert_make.h"
#include "certtool.h"
#include "common/fileio.h"

#define DAY_SECONDS	  (24 * 60 * 60)
#define DEFAULT_CERT_DAYS 365
#define DEFAULT_CA_DAYS	  3650

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 || errno != ENOENT;
}

static int write_pem(const char *path, char *pem, size_t len, mode_t mode, bool secret)
{
	char why[512];
	int rc = fileio_write_atomic(path, pem, len, mode, why, sizeof(why));
	if (rc == -1)
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
	if (secret)
		OPENSSL_cleanse(pem, len);
	free(pem);
	return rc;
}

static int write_key(const char *path, EVP_PKEY *key)
{
	char *pem;
	size_t len;
	if (cert_pem_key(key, &pem, &len) == -1) {
		fprintf(stderr, "rxmpp-certtool: cannot encode the key\n");
		return -1;
	}
	return write_pem(path, pem, len, 0600, true);
}

static int write_cert(const char *path, X509 *cert)
{
	STACK_OF(X509) *one = sk_X509_new_null();
	char *pem = NULL;
	size_t len;
	int rc = -1;
	if (one != NULL && sk_X509_push(one, cert) != 0 && cert_pem_certs(one, &pem, &len) == 0)
		rc = write_pem(path, pem, len, 0644, false);
	else
		fprintf(stderr, "rxmpp-certtool: cannot encode the certificate\n");
	sk_X509_free(one);
	return rc;
}

/* The key for BASENAME.key, unless one is there and --force is not given. */
static EVP_PKEY *new_key(const char *key_path, const struct ct_options *o)
{
	enum cert_key_type type;
	if (cert_key_type_parse(o->key_type, &type) == -1) {
		fprintf(stderr,
			"rxmpp-certtool: --key-type '%s': expected rsa2048, rsa3072, rsa4096, "
			"p256 or p384\n",
			o->key_type);
		return NULL;
	}
	if (exists(key_path) && !o->force) {
		fprintf(stderr,
			"rxmpp-certtool: %s exists; choose another BASENAME, or --force to "
			"replace the key\n",
			key_path);
		return NULL;
	}
	EVP_PKEY *key = cert_key_generate(type);
	if (key == NULL)
		fprintf(stderr, "rxmpp-certtool: cannot generate a %s key\n", o->key_type);
	return key;
}

static void warn_about_names(const struct cert_spec *spec)
{
	if (spec->sans[0] == '\0')
		fprintf(stderr, "rxmpp-certtool: warning: no subjectAltName: put the XMPP domain "
				"and the node's own name there (RFC 6120 section 13.7)\n");
	else if (!cert_spec_cn_in_sans(spec))
		fprintf(stderr,
			"rxmpp-certtool: warning: CN '%s' is not among the subjectAltName names; "
			"clients look at those only (RFC 6125)\n",
			spec->common_name);
}

static void print_made(const char *path, X509 *cert)
{
	char subject[512], issuer[512], until[64], names[1024];
	cert_subject_text(cert, subject, sizeof(subject));
	cert_issuer_text(cert, issuer, sizeof(issuer));
	cert_time_text(cert_not_after(cert), until, sizeof(until));
	cert_cert_sans_text(cert, names, sizeof(names));
	printf("wrote %s: %s, issued by %s, valid until %s\n", path, subject, issuer, until);
	if (names[0] != '\0')
		printf("  subjectAltName: %s\n", names);
}

/* BASENAME FIELD... into a key and a request (and optionally a certificate). */
static int make(int argc, char **argv, const struct ct_options *o, const char *verb, bool csr,
		enum cert_profile profile, int default_days)
{
	if (argc < 2) {
		certtool_usage(stderr, verb);
		return CT_USAGE;
	}
	char why[512], key_path[4096], out_path[4096];
	struct cert_spec spec;
	if (cert_spec_parse(argc - 1, argv + 1, &spec, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
		return CT_USAGE;
	}
	snprintf(key_path, sizeof(key_path), "%s.key", argv[0]);
	snprintf(out_path, sizeof(out_path), "%s.%s", argv[0], csr ? "csr" : "crt");
	int rc = CT_FAILED;
	X509_REQ *req = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = new_key(key_path, o);
	if (key == NULL)
		goto done;
	req = cert_make_csr(key, &spec, why, sizeof(why));
	if (req == NULL) {
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
		goto done;
	}
	if (!csr) {
		time_t now = time(NULL);
		int days = o->days ? o->days : default_days;
		cert = cert_make_cert(req, NULL, key, profile, now,
				      now + (time_t)days * DAY_SECONDS, why, sizeof(why));
		if (cert == NULL) {
			fprintf(stderr, "rxmpp-certtool: %s\n", why);
			goto done;
		}
	}
	if (write_key(key_path, key) == -1)
		goto done;
	char key_text[64];
	cert_key_text(key, key_text, sizeof(key_text));
	printf("wrote %s (%s, mode 0600)\n", key_path, key_text);
	if (csr) {
		char *pem;
		size_t len;
		if (cert_pem_csr(req, &pem, &len) == -1 ||
		    write_pem(out_path, pem, len, 0644, false) == -1)
			goto done;
		char subject[512];
		cert_name_text(spec.name, subject, sizeof(subject));
		printf("wrote %s: %s\n", out_path, subject);
		if (spec.sans[0] != '\0')
			printf("  subjectAltName: %s\n", spec.sans);
	} else {
		if (write_cert(out_path, cert) == -1)
			goto done;
		print_made(out_path, cert);
	}
	if (profile == CERT_PROFILE_SERVER)
		warn_about_names(&spec);
	rc = CT_OK;
done:
	X509_free(cert);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	cert_spec_free(&spec);
	return rc;
}

int certtool_csr(int argc, char **argv, const struct ct_options *o)
{
	return make(argc, argv, o, "csr", true, CERT_PROFILE_SERVER, 0);
}

int certtool_selfsigned(int argc, char **argv, const struct ct_options *o)
{
	return make(argc, argv, o, "selfsigned", false, CERT_PROFILE_SERVER, DEFAULT_CERT_DAYS);
}

/* CA as a base name, or the name of its .crt or .key file. */
static void ca_paths(const char *ca, char *key, char *cert, size_t size)
{
	size_t len = strlen(ca);
	if (len > 4 && (strcmp(ca + len - 4, ".crt") == 0 || strcmp(ca + len - 4, ".key") == 0))
		len -= 4;
	snprintf(key, size, "%.*s.key", (int)len, ca);
	snprintf(cert, size, "%.*s.crt", (int)len, ca);
}

static int ca_sign(int argc, char **argv, const struct ct_options *o)
{
	if (argc != 2) {
		certtool_usage(stderr, "ca");
		return CT_USAGE;
	}
	char why[1024], key_path[4096], cert_path[4096], out_path[4096];
	ca_paths(argv[0], key_path, cert_path, sizeof(key_path));
	size_t len = strlen(argv[1]);
	if (o->out != NULL)
		snprintf(out_path, sizeof(out_path), "%s", o->out);
	else if (len > 4 && strcmp(argv[1] + len - 4, ".csr") == 0)
		snprintf(out_path, sizeof(out_path), "%.*s.crt", (int)len - 4, argv[1]);
	else
		snprintf(out_path, sizeof(out_path), "%s.crt", argv[1]);
	struct cert_file ca_key = {0}, ca_cert = {0}, req = {0};
	X509 *cert = NULL;
	int rc = CT_FAILED;
	if (cert_file_load(key_path, &ca_key, why, sizeof(why)) == -1 ||
	    cert_file_load(cert_path, &ca_cert, why, sizeof(why)) == -1 ||
	    cert_file_load(argv[1], &req, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
		goto done;
	}
	X509 *issuer = sk_X509_value(ca_cert.certs, 0);
	if (ca_key.key == NULL || issuer == NULL || req.csr == NULL) {
		fprintf(stderr, "rxmpp-certtool: %s\n",
			ca_key.key == NULL ? "the CA key file holds no (unencrypted) private key"
			: issuer == NULL   ? "the CA certificate file holds no certificate"
					   : "the request file holds no certificate request");
		goto done;
	}
	if (!cert_is_ca(issuer)) {
		fprintf(stderr, "rxmpp-certtool: %s is not a certificate authority\n", cert_path);
		goto done;
	}
	if (exists(out_path) && !o->force) {
		fprintf(stderr, "rxmpp-certtool: %s exists; --out another file, or --force\n",
			out_path);
		goto done;
	}
	time_t now = time(NULL);
	time_t until = now + (time_t)(o->days ? o->days : DEFAULT_CERT_DAYS) * DAY_SECONDS;
	if (until > cert_not_after(issuer)) {
		/* A certificate cannot be valid longer than its issuer. */
		until = cert_not_after(issuer);
		fprintf(stderr, "rxmpp-certtool: warning: the CA expires first; the certificate "
				"ends with it\n");
	}
	cert = cert_make_cert(req.csr, issuer, ca_key.key,
			      o->intermediate ? CERT_PROFILE_CA : CERT_PROFILE_SERVER, now, until,
			      why, sizeof(why));
	if (cert == NULL) {
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
		goto done;
	}
	if (write_cert(out_path, cert) == -1)
		goto done;
	print_made(out_path, cert);
	rc = CT_OK;
done:
	X509_free(cert);
	cert_file_free(&ca_key);
	cert_file_free(&ca_cert);
	cert_file_free(&req);
	return rc;
}

int certtool_ca(int argc, char **argv, const struct ct_options *o)
{
	if (argc >= 1 && strcmp(argv[0], "make") == 0)
		return make(argc - 1, argv + 1, o, "ca", false, CERT_PROFILE_CA, DEFAULT_CA_DAYS);
	if (argc >= 1 && strcmp(argv[0], "sign") == 0)
		return ca_sign(argc - 1, argv + 1, o);
	certtool_usage(stderr, "ca");
	return CT_USAGE;
}
