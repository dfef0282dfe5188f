/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-certtool list, inspect and match: what is in a folder or a file,
 * and which key belongs to which certificate.  Keys are described by type,
 * size and the fingerprint of their public half only.
 */
#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cert_chain.h"
#include "cert_info.h"
#include "cert_load.h"
#include "certtool.h"

#define DAY_SECONDS (24 * 60 * 60)
#define LIST_MAX    512

/* "expires 2027-11-23 12:00:00 UTC (in 365 days)" or "EXPIRED on ...". */
static void expiry_text(const X509 *cert, time_t now, char *out, size_t size)
{
	char when[64];
	time_t end = cert_not_after(cert), start = cert_not_before(cert);
	if (end < now) {
		cert_time_text(end, when, sizeof(when));
		snprintf(out, size, "EXPIRED on %s", when);
	} else if (start > now) {
		cert_time_text(start, when, sizeof(when));
		snprintf(out, size, "NOT YET VALID (from %s)", when);
	} else {
		cert_time_text(end, when, sizeof(when));
		snprintf(out, size, "expires %s (in %lld days)", when,
			 (long long)((end - now) / DAY_SECONDS));
	}
}

static void usage_text(X509 *cert, char *out, size_t size)
{
	uint32_t xku = X509_get_extended_key_usage(cert);
	snprintf(out, size, "%s%s%s", cert_is_ca(cert) ? "certificate authority" : "end entity",
		 xku & XKU_SSL_SERVER ? ", serverAuth" : "",
		 xku & XKU_SSL_CLIENT ? ", clientAuth" : "");
}

/* list */

struct listed {
	char name[256];
	struct cert_file f;
};

static const EVP_PKEY *public_key(const struct cert_file *f)
{
	if (sk_X509_num(f->certs) > 0)
		return X509_get0_pubkey(sk_X509_value(f->certs, 0));
	return f->csr != NULL ? X509_REQ_get0_pubkey(f->csr) : NULL;
}

/* The other files of the folder whose key pairs with this one's. */
static void partners(const struct listed *all, int n, int self, char *out, size_t size)
{
	out[0] = '\0';
	const struct cert_file *me = &all[self].f;
	for (int i = 0; i < n; i++) {
		const struct cert_file *other = &all[i].f;
		if (i == self)
			continue;
		bool pair = me->key != NULL ? cert_key_matches(me->key, public_key(other))
					    : cert_key_matches(other->key, public_key(me));
		if (!pair)
			continue;
		size_t used = strlen(out), len = strlen(all[i].name);
		if (used + len + 3 > size)
			break;
		if (used > 0) {
			memcpy(out + used, ", ", 2);
			used += 2;
		}
		memcpy(out + used, all[i].name, len + 1);
	}
}

static const char *kind_of(const struct cert_file *f)
{
	int certs = sk_X509_num(f->certs);
	if (f->keys > 0 && certs > 0)
		return "key+certs";
	if (f->keys > 0)
		return "key";
	if (certs > 1)
		return "bundle";
	if (certs == 1)
		return "certificate";
	return "request";
}

/* Key type, or the first certificate's (or request's) subject. */
static void describe(const struct cert_file *f, char *out, size_t size)
{
	int certs = sk_X509_num(f->certs);
	out[0] = '\0';
	if (f->key != NULL)
		cert_key_text(f->key, out, size);
	else if (f->keys > 0)
		snprintf(out, size, "encrypted private key");
	size_t used = strlen(out);
	if (certs > 0) {
		snprintf(out + used, size - used, "%s", used ? ", " : "");
		used = strlen(out);
		cert_subject_text(sk_X509_value(f->certs, 0), out + used, size - used);
		if (certs > 1) {
			used = strlen(out);
			snprintf(out + used, size - used, " and %d more", certs - 1);
		}
	} else if (f->csr != NULL && f->keys == 0) {
		cert_name_text(X509_REQ_get_subject_name(f->csr), out, size);
	}
}

static void list_one(const struct listed *all, int n, int i, time_t now, bool json)
{
	const struct cert_file *f = &all[i].f;
	char what[700], expiry[128] = "", pair[1024];
	X509 *leaf = sk_X509_value(f->certs, 0);
	describe(f, what, sizeof(what));
	partners(all, n, i, pair, sizeof(pair));
	if (leaf != NULL)
		expiry_text(leaf, now, expiry, sizeof(expiry));
	if (json) {
		printf("%s\n  {\"file\": ", i ? "," : "");
		certtool_json_string(stdout, all[i].name);
		printf(", \"kind\": \"%s\", \"description\": ", kind_of(f));
		certtool_json_string(stdout, what);
		if (leaf != NULL)
			printf(", \"not_after\": %lld, \"expired\": %s",
			       (long long)cert_not_after(leaf),
			       cert_not_after(leaf) < now ? "true" : "false");
		printf(", \"pairs_with\": ");
		certtool_json_string(stdout, pair);
		printf("}");
		return;
	}
	const char *label = f->key != NULL || f->keys > 0 ? "belongs to" : "key";
	printf("%-12s %-24s %s%s%s; %s%s%s\n", kind_of(f), all[i].name, what, expiry[0] ? "; " : "",
	       expiry, pair[0] ? label : "no partner here", pair[0] ? ": " : "", pair);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->name, ((const struct listed *)b)->name);
}

int certtool_list(int argc, char **argv, const struct ct_options *o)
{
	if (argc > 1) {
		certtool_usage(stderr, "list");
		return CT_USAGE;
	}
	const char *dir = argc == 1 ? argv[0] : ".";
	DIR *d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "rxmpp-certtool: %s: %m\n", dir);
		return CT_FAILED;
	}
	static struct listed all[LIST_MAX];
	int n = 0, rc = CT_OK;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < LIST_MAX) {
		char path[4096], why[512];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
		    st.st_size > CERT_FILE_MAX)
			continue;
		if (cert_file_load(path, &all[n].f, why, sizeof(why)) == -1) {
			/* A damaged certificate file is worth saying; other files are not ours. */
			if (strstr(why, "block") != NULL) {
				fprintf(stderr, "rxmpp-certtool: %s\n", why);
				rc = CT_FAILED;
			}
			continue;
		}
		if (cert_file_empty(&all[n].f)) {
			cert_file_free(&all[n].f);
			continue;
		}
		snprintf(all[n].name, sizeof(all[n].name), "%s", e->d_name);
		n++;
	}
	closedir(d);
	qsort(all, (size_t)n, sizeof(all[0]), by_name);
	time_t now = time(NULL);
	if (o->json)
		printf("[");
	for (int i = 0; i < n; i++)
		list_one(all, n, i, now, o->json);
	if (o->json)
		printf("%s]\n", n ? "\n" : "");
	else if (n == 0)
		printf("no keys, certificates or requests in %s\n", dir);
	for (int i = 0; i < n; i++)
		cert_file_free(&all[i].f);
	return rc;
}

/* inspect */

static void inspect_cert(STACK_OF(X509) * certs, int i, time_t now, bool json)
{
	X509 *cert = sk_X509_value(certs, i);
	char subject[512], issuer[512], names[2048], from[64], until[64], validity[128], key[64],
	    fingerprint[128], usage[128], serial[128] = "";
	cert_subject_text(cert, subject, sizeof(subject));
	cert_issuer_text(cert, issuer, sizeof(issuer));
	cert_cert_sans_text(cert, names, sizeof(names));
	cert_time_text(cert_not_before(cert), from, sizeof(from));
	cert_time_text(cert_not_after(cert), until, sizeof(until));
	expiry_text(cert, now, validity, sizeof(validity));
	cert_key_text(X509_get0_pubkey(cert), key, sizeof(key));
	cert_fingerprint(cert, fingerprint, sizeof(fingerprint));
	usage_text(cert, usage, sizeof(usage));
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	/* BN_bn2hex pads to whole bytes; the serial reads as one number. */
	const char *digits = hex ? hex : "?";
	while (digits[0] == '0' && digits[1] != '\0')
		digits++;
	snprintf(serial, sizeof(serial), "%s", digits);
	OPENSSL_free(hex);
	BN_free(bn);
	if (json) {
		printf("%s\n    {\"position\": %d, \"subject\": ", i ? "," : "", i + 1);
		certtool_json_string(stdout, subject);
		printf(", \"issuer\": ");
		certtool_json_string(stdout, issuer);
		printf(", \"names\": ");
		certtool_json_string(stdout, names);
		printf(", \"not_before\": %lld, \"not_after\": %lld, \"key\": \"%s\", "
		       "\"sha256\": \"%s\", \"serial\": \"%s\", \"usage\": \"%s\", "
		       "\"self_signed\": %s}",
		       (long long)cert_not_before(cert), (long long)cert_not_after(cert), key,
		       fingerprint, serial, usage, cert_self_signed(cert) ? "true" : "false");
		return;
	}
	printf("certificate #%d\n", i + 1);
	printf("  subject:  %s\n", subject);
	printf("  issuer:   %s%s\n", issuer, cert_self_signed(cert) ? " (self-signed)" : "");
	printf("  names:    %s\n", names[0] ? names : "none (no subjectAltName)");
	printf("  valid:    %s to %s: %s\n", from, until, validity);
	printf("  key:      %s\n", key);
	printf("  use:      %s\n", usage);
	printf("  serial:   %s\n", serial);
	printf("  SHA-256:  %s\n", fingerprint);
}

int certtool_inspect(int argc, char **argv, const struct ct_options *o)
{
	if (argc != 1) {
		certtool_usage(stderr, "inspect");
		return CT_USAGE;
	}
	struct cert_file f;
	char why[1024];
	if (cert_file_load(argv[0], &f, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
		return CT_FAILED;
	}
	if (cert_file_empty(&f)) {
		fprintf(stderr, "rxmpp-certtool: %s: no certificate, key or request in it\n",
			argv[0]);
		cert_file_free(&f);
		return CT_FAILED;
	}
	time_t now = time(NULL);
	char key[64] = "", key_fp[128] = "";
	if (f.key != NULL) {
		cert_key_text(f.key, key, sizeof(key));
		cert_key_fingerprint(f.key, key_fp, sizeof(key_fp));
	}
	if (o->json) {
		printf("{\"file\": ");
		certtool_json_string(stdout, argv[0]);
		printf(", \"certificates\": [");
		for (int i = 0; i < sk_X509_num(f.certs); i++)
			inspect_cert(f.certs, i, now, true);
		printf("%s]", sk_X509_num(f.certs) ? "\n  " : "");
		if (f.keys > 0)
			printf(", \"private_key\": {\"type\": \"%s\", \"encrypted\": %s, "
			       "\"public_sha256\": \"%s\"}",
			       f.key ? key : "", f.key_encrypted && !f.key ? "true" : "false",
			       key_fp);
		if (f.csr != NULL) {
			char subject[512], names[2048];
			cert_name_text(X509_REQ_get_subject_name(f.csr), subject, sizeof(subject));
			GENERAL_NAMES *sans = cert_req_sans(f.csr);
			cert_sans_text(sans, names, sizeof(names));
			GENERAL_NAMES_free(sans);
			printf(", \"request\": {\"subject\": ");
			certtool_json_string(stdout, subject);
			printf(", \"names\": ");
			certtool_json_string(stdout, names);
			printf("}");
		}
		printf("}\n");
		cert_file_free(&f);
		return CT_OK;
	}
	printf("%s: %d certificate%s%s%s\n", argv[0], sk_X509_num(f.certs),
	       sk_X509_num(f.certs) == 1 ? "" : "s", f.keys ? ", a private key" : "",
	       f.csr ? ", a certificate request" : "");
	for (int i = 0; i < sk_X509_num(f.certs); i++)
		inspect_cert(f.certs, i, now, false);
	if (f.key != NULL)
		printf("private key\n  type:     %s\n  public key SHA-256: %s\n", key, key_fp);
	else if (f.keys > 0)
		printf("private key\n  encrypted (rxmppd needs it without a passphrase)\n");
	if (f.csr != NULL) {
		char subject[512], names[2048], req_key[64] = "?";
		cert_name_text(X509_REQ_get_subject_name(f.csr), subject, sizeof(subject));
		GENERAL_NAMES *sans = cert_req_sans(f.csr);
		cert_sans_text(sans, names, sizeof(names));
		GENERAL_NAMES_free(sans);
		if (X509_REQ_get0_pubkey(f.csr) != NULL)
			cert_key_text(X509_REQ_get0_pubkey(f.csr), req_key, sizeof(req_key));
		printf("certificate request\n  subject:  %s\n  names:    %s\n  key:      %s\n",
		       subject, names[0] ? names : "none (no subjectAltName)", req_key);
	}
	cert_file_free(&f);
	return CT_OK;
}

/* match */

int certtool_match(int argc, char **argv, const struct ct_options *o)
{
	(void)o;
	if (argc != 2) {
		certtool_usage(stderr, "match");
		return CT_USAGE;
	}
	struct cert_file key = {0}, cert = {0};
	char why[1024];
	int rc = CT_FAILED;
	if (cert_file_load(argv[0], &key, why, sizeof(why)) == -1 ||
	    cert_file_load(argv[1], &cert, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
		goto done;
	}
	if (key.key == NULL) {
		fprintf(stderr, "rxmpp-certtool: %s: %s\n", argv[0],
			key.key_encrypted ? "the private key is encrypted"
					  : "no private key in it");
		goto done;
	}
	const EVP_PKEY *pub = public_key(&cert);
	if (pub == NULL) {
		fprintf(stderr, "rxmpp-certtool: %s: no certificate or request in it\n", argv[1]);
		goto done;
	}
	char subject[512] = "";
	if (sk_X509_num(cert.certs) > 0)
		cert_subject_text(sk_X509_value(cert.certs, 0), subject, sizeof(subject));
	else
		cert_name_text(X509_REQ_get_subject_name(cert.csr), subject, sizeof(subject));
	if (cert_key_matches(key.key, pub)) {
		printf("%s belongs to %s (%s)\n", argv[0], argv[1], subject);
		rc = CT_OK;
		goto done;
	}
	char key_text[64], pub_text[64], key_fp[128], pub_fp[128];
	cert_key_text(key.key, key_text, sizeof(key_text));
	cert_key_text(pub, pub_text, sizeof(pub_text));
	cert_key_fingerprint(key.key, key_fp, sizeof(key_fp));
	cert_key_fingerprint(pub, pub_fp, sizeof(pub_fp));
	printf("%s does not belong to %s (%s): the key is %s with public key SHA-256 %s; the "
	       "certificate's is %s with %s\n",
	       argv[0], argv[1], subject, key_text, key_fp, pub_text, pub_fp);
	for (int i = 1; i < sk_X509_num(cert.certs); i++) {
		if (cert_key_matches(key.key, X509_get0_pubkey(sk_X509_value(cert.certs, i)))) {
			char label[600];
			cert_label(cert.certs, i, label, sizeof(label));
			printf("it is the key of certificate %s in %s\n", label, argv[1]);
		}
	}
done:
	cert_file_free(&key);
	cert_file_free(&cert);
	return rc;
}
