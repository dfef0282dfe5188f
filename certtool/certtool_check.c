/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-certtool verify, bundle check and bundle make: chains verified as
 * a client would, bundles put in order, trust bundles assembled.  Every
 * finding names the file and the certificate ("#N (subject)", counting
 * from 1 in file order).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cert_chain.h"
#include "cert_info.h"
#include "cert_load.h"
#include "cert_make.h"
#include "certtool.h"
#include "common/fileio.h"

/* Loads a file that must hold certificates and no key. */
static int load_certs(const char *path, struct cert_file *f)
{
	char why[1024];
	if (cert_file_load(path, f, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmpp-certtool: %s\n", why);
		return -1;
	}
	if (f->keys > 0 || sk_X509_num(f->certs) == 0) {
		fprintf(stderr, "rxmpp-certtool: %s: %s\n", path,
			f->keys > 0 ? "holds a private key; certificates and bundles must not"
				    : "no certificate in it");
		cert_file_free(f);
		return -1;
	}
	return 0;
}

/* The trusted certificates: --ca files, or the system's store without. */
static X509_STORE *ct_trust_store(const struct ct_options *o)
{
	X509_STORE *store = X509_STORE_new();
	if (store == NULL)
		return NULL;
	if (o->ca_count == 0) {
		X509_STORE_set_default_paths(store);
		return store;
	}
	for (int i = 0; i < o->ca_count; i++) {
		struct cert_file f;
		if (load_certs(o->ca_files[i], &f) == -1) {
			X509_STORE_free(store);
			return NULL;
		}
		for (int c = 0; c < sk_X509_num(f.certs); c++)
			X509_STORE_add_cert(store, sk_X509_value(f.certs, c));
		cert_file_free(&f);
	}
	return store;
}

static int purpose_of(const char *name)
{
	if (strcmp(name, "server") == 0)
		return X509_PURPOSE_SSL_SERVER;
	if (strcmp(name, "client") == 0)
		return X509_PURPOSE_SSL_CLIENT;
	if (strcmp(name, "any") == 0)
		return 0;
	return -1;
}

int certtool_verify(int argc, char **argv, const struct ct_options *o)
{
	int purpose = purpose_of(o->purpose);
	if (argc < 1 || argc > 2 || purpose == -1) {
		if (purpose == -1)
			fprintf(stderr, "rxmpp-certtool: --purpose takes server, client or any\n");
		certtool_usage(stderr, "verify");
		return CT_USAGE;
	}
	struct cert_file cert = {0}, bundle = {0};
	X509_STORE *trust = NULL;
	STACK_OF(X509) *chain = NULL;
	int rc = CT_FAILED;
	if (load_certs(argv[0], &cert) == -1 || (argc == 2 && load_certs(argv[1], &bundle) == -1))
		goto done;
	trust = ct_trust_store(o);
	if (trust == NULL)
		goto done;
	X509 *leaf = sk_X509_shift(cert.certs);
	STACK_OF(X509) *untrusted = cert.certs;
	for (int i = 0; argc == 2 && i < sk_X509_num(bundle.certs); i++) {
		X509 *member = sk_X509_value(bundle.certs, i);
		if (X509_up_ref(member) == 1 && sk_X509_push(untrusted, member) == 0)
			X509_free(member);
	}
	char why[2048];
	int verified = cert_verify(leaf, untrusted, trust, purpose, o->name, time(NULL), &chain,
				   why, sizeof(why));
	X509_free(leaf);
	if (verified == -1) {
		printf("%s: verification failed: %s\n", argv[0], why);
		goto done;
	}
	printf("%s: verified%s%s%s\n", argv[0], purpose ? " for TLS " : "",
	       purpose ? o->purpose : "", purpose ? " use" : "");
	if (o->name != NULL)
		printf("  it covers the name %s\n", o->name);
	for (int i = 0; i < sk_X509_num(chain); i++) {
		char subject[512], until[64];
		X509 *c = sk_X509_value(chain, i);
		cert_subject_text(c, subject, sizeof(subject));
		cert_time_text(cert_not_after(c), until, sizeof(until));
		printf("  depth %d: %s (until %s)%s\n", i, subject, until,
		       i == sk_X509_num(chain) - 1 ? ", trusted" : "");
	}
	rc = CT_OK;
done:
	sk_X509_pop_free(chain, X509_free);
	X509_STORE_free(trust);
	cert_file_free(&cert);
	cert_file_free(&bundle);
	return rc;
}

static int fix_order(const char *path, STACK_OF(X509) * certs, const struct cert_chain_report *r)
{
	if (r->unrelated > 0) {
		fprintf(stderr,
			"rxmpp-certtool: cannot fix %s: it holds certificates that are not part of "
			"the chain; remove them first\n",
			path);
		return -1;
	}
	STACK_OF(X509) *ordered = sk_X509_new_null();
	for (int i = 0; ordered != NULL && i < r->length; i++)
		sk_X509_push(ordered, sk_X509_value(certs, r->order[i]));
	char *pem = NULL, why[512];
	size_t len;
	struct stat st;
	mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
	int rc = ordered != NULL && cert_pem_certs(ordered, &pem, &len) == 0
		     ? fileio_write_atomic(path, pem, len, mode, why, sizeof(why))
		     : -1;
	if (rc == -1)
		fprintf(stderr, "rxmpp-certtool: cannot rewrite %s: %s\n", path,
			pem ? why : "out of memory");
	else
		printf("rewrote %s in the right order (%d certificates)\n", path, r->length);
	free(pem);
	sk_X509_free(ordered);
	return rc;
}

static int bundle_check(int argc, char **argv, const struct ct_options *o)
{
	if (argc != 1) {
		certtool_usage(stderr, "bundle");
		return CT_USAGE;
	}
	struct cert_file f;
	if (load_certs(argv[0], &f) == -1)
		return CT_FAILED;
	X509_STORE *trust = ct_trust_store(o);
	if (trust == NULL) {
		cert_file_free(&f);
		return CT_FAILED;
	}
	static struct cert_chain_report r;
	int rc = CT_FAILED;
	if (cert_chain_analyse(f.certs, trust, time(NULL), &r) == -1) {
		fprintf(stderr, "rxmpp-certtool: %s: %s", argv[0], r.text);
		goto done;
	}
	printf("%s: %d certificates\n", argv[0], sk_X509_num(f.certs));
	for (int i = 0; i < sk_X509_num(f.certs); i++) {
		char label[600], issuer[512];
		cert_label(f.certs, i, label, sizeof(label));
		cert_issuer_text(sk_X509_value(f.certs, i), issuer, sizeof(issuer));
		printf("  %s, issued by %s\n", label, issuer);
	}
	if (!cert_chain_has_problems(&r)) {
		printf("in order: the server's certificate first, each issued by the next, %s\n",
		       r.ends_trusted ? "ending at a trusted certificate" : "ending at its root");
		rc = CT_OK;
		goto done;
	}
	fputs(r.text, stdout);
	bool reorderable = r.misordered || r.duplicates;
	if (o->fix && reorderable && fix_order(argv[0], f.certs, &r) == 0 && !r.issuer_missing &&
	    !r.expired && !r.not_yet_valid)
		rc = CT_OK;
	else if (!o->fix && reorderable)
		printf("rxmpp-certtool bundle check --fix %s writes it in the right order\n",
		       argv[0]);
done:
	X509_STORE_free(trust);
	cert_file_free(&f);
	return rc;
}

static int bundle_make(int argc, char **argv, const struct ct_options *o)
{
	if (argc < 2) {
		certtool_usage(stderr, "bundle");
		return CT_USAGE;
	}
	struct stat st;
	if ((stat(argv[0], &st) == 0 || errno != ENOENT) && !o->force) {
		fprintf(stderr, "rxmpp-certtool: %s exists; --force replaces it\n", argv[0]);
		return CT_FAILED;
	}
	STACK_OF(X509) *all = sk_X509_new_null();
	time_t now = time(NULL);
	int rc = all != NULL ? CT_OK : CT_FAILED;
	for (int i = 1; rc == CT_OK && i < argc; i++) {
		struct cert_file f;
		if (load_certs(argv[i], &f) == -1) {
			rc = CT_FAILED;
			break;
		}
		while (rc == CT_OK && sk_X509_num(f.certs) > 0) {
			X509 *cert = sk_X509_shift(f.certs);
			char subject[512], when[64];
			cert_subject_text(cert, subject, sizeof(subject));
			bool repeated = false;
			for (int j = 0; j < sk_X509_num(all) && !repeated; j++)
				repeated = X509_cmp(sk_X509_value(all, j), cert) == 0;
			if (cert_not_after(cert) < now) {
				cert_time_text(cert_not_after(cert), when, sizeof(when));
				fprintf(stderr, "rxmpp-certtool: %s: %s expired on %s\n", argv[i],
					subject, when);
				rc = CT_FAILED;
			} else if (repeated) {
				printf("%s: %s is already in, once is enough\n", argv[i], subject);
			} else if (sk_X509_push(all, cert) != 0) {
				printf("%s: %s\n", argv[i], subject);
				continue;
			}
			X509_free(cert);
		}
		cert_file_free(&f);
	}
	char *pem = NULL, why[512];
	size_t len;
	if (rc == CT_OK && (cert_pem_certs(all, &pem, &len) == -1 ||
			    fileio_write_atomic(argv[0], pem, len, 0644, why, sizeof(why)) == -1)) {
		fprintf(stderr, "rxmpp-certtool: %s: %s\n", argv[0], pem ? why : "out of memory");
		rc = CT_FAILED;
	}
	if (rc == CT_OK)
		printf("wrote %s: %d certificates\n", argv[0], sk_X509_num(all));
	free(pem);
	sk_X509_pop_free(all, X509_free);
	return rc;
}

int certtool_bundle(int argc, char **argv, const struct ct_options *o)
{
	if (argc >= 1 && strcmp(argv[0], "check") == 0)
		return bundle_check(argc - 1, argv + 1, o);
	if (argc >= 1 && strcmp(argv[0], "make") == 0)
		return bundle_make(argc - 1, argv + 1, o);
	certtool_usage(stderr, "bundle");
	return CT_USAGE;
}
