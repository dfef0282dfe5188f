/* SPDX-License-Identifier: MIT */
/* Loading and checking the key, certificate and bundle a node serves; see cert_set.h. */
#include "cert_set.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert_chain.h"
#include "cert_info.h"
#include "cert_load.h"
#include "cert_make.h"

static void warn(char *warnings, size_t size, const char *format, ...)
{
	size_t used = strlen(warnings);
	if (used + 2 >= size)
		return;
	va_list ap;
	va_start(ap, format);
	vsnprintf(warnings + used, size - used - 1, format, ap);
	va_end(ap);
	strcat(warnings, "\n");
}

static int load_key(const char *path, EVP_PKEY **key, char *why, size_t why_size)
{
	struct cert_file f;
	if (cert_file_load(path, &f, why, why_size) == -1)
		return -1;
	if (f.key == NULL) {
		if (f.key_encrypted)
			snprintf(why, why_size,
				 "%s: the private key is encrypted; rxmppd needs it without a "
				 "passphrase (openssl pkey -in %s -out NEWFILE)",
				 path, path);
		else if (sk_X509_num(f.certs) > 0)
			snprintf(why, why_size,
				 "%s holds certificates, not a private key: are the key and the "
				 "certificate swapped?",
				 path);
		else
			snprintf(why, why_size, "%s: no private key in it", path);
		cert_file_free(&f);
		return -1;
	}
	*key = f.key;
	f.key = NULL;
	cert_file_free(&f);
	return 0;
}

/* Appends the certificates of `path` to `chain`; `what` names the file's role. */
static int load_certs(const char *path, const char *what, STACK_OF(X509) * chain, char *why,
		      size_t why_size)
{
	struct cert_file f;
	if (cert_file_load(path, &f, why, why_size) == -1)
		return -1;
	int rc = 0;
	if (f.keys > 0) {
		snprintf(why, why_size,
			 "%s holds a private key: the %s must carry certificates only (keep the "
			 "key in its own file, mode 0600)",
			 path, what);
		rc = -1;
	} else if (sk_X509_num(f.certs) == 0) {
		snprintf(why, why_size, "%s: no certificate in it", path);
		rc = -1;
	}
	while (rc == 0 && sk_X509_num(f.certs) > 0) {
		X509 *cert = sk_X509_shift(f.certs);
		if (sk_X509_push(chain, cert) == 0) {
			X509_free(cert);
			snprintf(why, why_size, "out of memory");
			rc = -1;
		}
	}
	cert_file_free(&f);
	return rc;
}

static int check_key(const struct cert_set_files *files, const struct cert_set *set, char *why,
		     size_t why_size)
{
	X509 *leaf = sk_X509_value(set->chain, 0);
	if (cert_key_matches(set->key, X509_get0_pubkey(leaf)))
		return 0;
	for (int i = 1; i < sk_X509_num(set->chain); i++) {
		if (cert_key_matches(set->key, X509_get0_pubkey(sk_X509_value(set->chain, i)))) {
			char label[600];
			cert_label(set->chain, i, label, sizeof(label));
			snprintf(
			    why, why_size,
			    "%s belongs to certificate %s, not to the first certificate of %s: "
			    "the node's own certificate must come first",
			    files->key, label, files->certificate);
			return -1;
		}
	}
	char key_text[64], leaf_key_text[64], key_fp[100], cert_fp[100];
	cert_key_text(set->key, key_text, sizeof(key_text));
	cert_key_text(X509_get0_pubkey(leaf), leaf_key_text, sizeof(leaf_key_text));
	cert_key_fingerprint(set->key, key_fp, sizeof(key_fp));
	cert_key_fingerprint(X509_get0_pubkey(leaf), cert_fp, sizeof(cert_fp));
	snprintf(why, why_size,
		 "%s does not belong to %s (%s): the key is %s with public key SHA-256 %s, the "
		 "certificate's is %s with %s",
		 files->key, files->certificate, set->subject, key_text, key_fp, leaf_key_text,
		 cert_fp);
	return -1;
}

static int check_chain(const struct cert_set_files *files, struct cert_set *set, time_t now,
		       char *why, size_t why_size, char *warnings, size_t warnings_size)
{
	X509_STORE *system = X509_STORE_new();
	if (system != NULL)
		X509_STORE_set_default_paths(system);
	ERR_clear_error();
	static struct cert_chain_report r;
	int rc = cert_chain_analyse(set->chain, system, now, &r);
	X509_STORE_free(system);
	char files_text[1200];
	if (files->bundle != NULL && files->bundle[0] != '\0')
		snprintf(files_text, sizeof(files_text),
			 "the certificates of %s and then %s, numbered from #1", files->certificate,
			 files->bundle);
	else
		snprintf(files_text, sizeof(files_text), "the certificates of %s, numbered from #1",
			 files->certificate);
	if (rc == -1 || r.misordered || r.unrelated || r.expired || r.not_yet_valid ||
	    r.order[0] != 0) {
		snprintf(why, why_size, "%s:\n%s", files_text, r.text);
		size_t len = strlen(why);
		if (len > 0 && why[len - 1] == '\n')
			why[len - 1] = '\0';
		return -1;
	}
	if (r.duplicates || r.issuer_missing)
		warn(warnings, warnings_size, "%s:\n%.*s", files_text, (int)strlen(r.text) - 1,
		     r.text);
	set->not_after = 0;
	for (int i = 0; i < sk_X509_num(set->chain); i++) {
		time_t end = cert_not_after(sk_X509_value(set->chain, i));
		if (set->not_after == 0 || end < set->not_after) {
			set->not_after = end;
			cert_label(set->chain, i, set->expiring, sizeof(set->expiring));
		}
	}
	return 0;
}

static int check_use(const struct cert_set_files *files, const struct cert_set *set,
		     const char *domain, bool cluster, char *why, size_t why_size, char *warnings,
		     size_t warnings_size)
{
	X509 *leaf = sk_X509_value(set->chain, 0);
	/* No domain yet (a node being set up): rxmppd checks again once it has one. */
	if (domain[0] != '\0' && X509_check_host(leaf, domain, 0, 0, NULL) != 1) {
		char names[1024];
		cert_cert_sans_text(leaf, names, sizeof(names));
		snprintf(why, why_size,
			 "%s (%s) does not cover the domain %s: its names are %s (clients check "
			 "the subjectAltName, RFC 6120 section 13.7.1.2)",
			 files->certificate, set->subject, domain,
			 names[0] ? names : "none (no subjectAltName)");
		ERR_clear_error();
		return -1;
	}
	if (X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0) != 1) {
		snprintf(why, why_size,
			 "%s (%s) is not meant for TLS servers: its keyUsage or extendedKeyUsage "
			 "leaves out serverAuth",
			 files->certificate, set->subject);
		ERR_clear_error();
		return -1;
	}
	if (cluster && X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) != 1)
		warn(warnings, warnings_size,
		     "%s (%s) leaves out clientAuth: cluster peer links present it as a client and "
		     "other nodes will refuse it",
		     files->certificate, set->subject);
	ERR_clear_error();
	return 0;
}

int cert_set_load(const struct cert_set_files *files, const char *domain, bool cluster, time_t now,
		  struct cert_set *out, char *why, size_t why_size, char *warnings,
		  size_t warnings_size)
{
	memset(out, 0, sizeof(*out));
	warnings[0] = '\0';
	out->chain = sk_X509_new_null();
	if (out->chain == NULL) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	bool have_bundle = files->bundle != NULL && files->bundle[0] != '\0';
	if (load_key(files->key, &out->key, why, why_size) == -1 ||
	    load_certs(files->certificate, "certificate file", out->chain, why, why_size) == -1 ||
	    (have_bundle && load_certs(files->bundle, "bundle", out->chain, why, why_size) == -1))
		goto fail;
	cert_subject_text(sk_X509_value(out->chain, 0), out->subject, sizeof(out->subject));
	if (check_key(files, out, why, why_size) == -1 ||
	    check_chain(files, out, now, why, why_size, warnings, warnings_size) == -1 ||
	    check_use(files, out, domain, cluster, why, why_size, warnings, warnings_size) == -1)
		goto fail;
	return 0;
fail:
	cert_set_free(out);
	return -1;
}

void cert_set_free(struct cert_set *set)
{
	EVP_PKEY_free(set->key);
	sk_X509_pop_free(set->chain, X509_free);
	memset(set, 0, sizeof(*set));
}

int cert_set_pem(const struct cert_set *set, char **out, size_t *len)
{
	char *key, *certs;
	size_t key_len, certs_len;
	if (cert_pem_key(set->key, &key, &key_len) == -1)
		return -1;
	if (cert_pem_certs(set->chain, &certs, &certs_len) == -1) {
		OPENSSL_cleanse(key, key_len);
		free(key);
		return -1;
	}
	*out = malloc(key_len + certs_len + 1);
	if (*out != NULL) {
		memcpy(*out, key, key_len);
		memcpy(*out + key_len, certs, certs_len + 1);
		*len = key_len + certs_len;
	}
	OPENSSL_cleanse(key, key_len);
	free(key);
	free(certs);
	return *out != NULL ? 0 : -1;
}
