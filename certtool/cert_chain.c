/* SPDX-License-Identifier: MIT */
/* Chain order and verification; see cert_chain.h. */
#include "cert_chain.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cert_info.h"

void cert_label(STACK_OF(X509) * certs, int index, char *out, size_t size)
{
	char subject[512];
	cert_subject_text(sk_X509_value(certs, index), subject, sizeof(subject));
	snprintf(out, size, "#%d (%s)", index + 1, subject[0] ? subject : "empty subject");
}

static void say(struct cert_chain_report *r, const char *format, ...)
{
	size_t used = strlen(r->text);
	if (used + 1 >= sizeof(r->text))
		return;
	va_list ap;
	va_start(ap, format);
	vsnprintf(r->text + used, sizeof(r->text) - used, format, ap);
	va_end(ap);
	used = strlen(r->text);
	if (used + 1 < sizeof(r->text))
		strcat(r->text, "\n");
}

/* Whether `issuer` issued `subject`: names and key identifiers agree and
 * the signature verifies with the issuer's key. */
static bool issued_by(X509 *subject, X509 *issuer)
{
	bool yes = X509_check_issued(issuer, subject) == X509_V_OK &&
		   X509_verify(subject, X509_get0_pubkey(issuer)) == 1;
	ERR_clear_error();
	return yes;
}

/* The chain that starts at `leaf`, using only certificates not skipped. */
static int build_chain(STACK_OF(X509) * certs, const bool *skip, int leaf, int *order)
{
	int n = sk_X509_num(certs), length = 0;
	bool used[CERT_CHAIN_MAX] = {false};
	order[length++] = leaf;
	used[leaf] = true;
	for (int cur = leaf; length < n && !cert_self_signed(sk_X509_value(certs, cur));) {
		int next = -1;
		for (int i = 0; i < n && next == -1; i++) {
			if (!skip[i] && !used[i] &&
			    issued_by(sk_X509_value(certs, cur), sk_X509_value(certs, i)))
				next = i;
		}
		if (next == -1)
			break;
		order[length++] = next;
		used[next] = true;
		cur = next;
	}
	return length;
}

static bool issuer_trusted(X509_STORE *trust, X509 *cert)
{
	if (trust == NULL)
		return false;
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *issuer = NULL;
	bool found = ctx != NULL && X509_STORE_CTX_init(ctx, trust, cert, NULL) == 1 &&
		     X509_STORE_CTX_get1_issuer(&issuer, ctx, cert) == 1;
	X509_free(issuer);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return found;
}

static void find_duplicates(STACK_OF(X509) * certs, bool *skip, struct cert_chain_report *r)
{
	int n = sk_X509_num(certs);
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < j && !skip[j]; i++) {
			if (!skip[i] &&
			    X509_cmp(sk_X509_value(certs, i), sk_X509_value(certs, j)) == 0) {
				char a[600], b[600];
				cert_label(certs, j, b, sizeof(b));
				cert_label(certs, i, a, sizeof(a));
				say(r, "certificate %s repeats %s", b, a);
				skip[j] = true;
				r->duplicates++;
			}
		}
	}
}

/* The leaf is a certificate that issued none of the others; with several
 * candidates, the one with the longest chain (then the first given). */
static void choose_chain(STACK_OF(X509) * certs, const bool *skip, struct cert_chain_report *r)
{
	int n = sk_X509_num(certs), order[CERT_CHAIN_MAX];
	r->length = 0;
	for (int leaf = 0; leaf < n; leaf++) {
		bool issues_another = false;
		for (int i = 0; i < n && !issues_another; i++)
			issues_another =
			    i != leaf && !skip[i] && !skip[leaf] &&
			    issued_by(sk_X509_value(certs, i), sk_X509_value(certs, leaf));
		if (skip[leaf] || issues_another)
			continue;
		int length = build_chain(certs, skip, leaf, order);
		if (length > r->length) {
			r->length = length;
			memcpy(r->order, order, sizeof(int) * (size_t)length);
		}
	}
	if (r->length == 0) {
		/* Every certificate issued another: a cycle of cross-signed CAs. */
		r->length = build_chain(certs, skip, 0, r->order);
	}
}

static void check_order(STACK_OF(X509) * certs, const bool *skip, struct cert_chain_report *r)
{
	int n = sk_X509_num(certs), position = 0;
	bool in_chain[CERT_CHAIN_MAX] = {false};
	for (int i = 0; i < r->length; i++)
		in_chain[r->order[i]] = true;
	char a[600], b[600], c[600];
	for (int i = 0; i < n; i++) {
		if (skip[i] || in_chain[i])
			continue;
		cert_label(certs, i, a, sizeof(a));
		cert_label(certs, r->order[0], b, sizeof(b));
		say(r, "certificate %s is not part of the chain of %s", a, b);
		r->unrelated++;
	}
	for (int i = 0; i < n && !r->misordered; i++) {
		if (skip[i] || !in_chain[i])
			continue;
		if (i != r->order[position]) {
			r->misordered = true;
			cert_label(certs, i, a, sizeof(a));
			if (position == 0) {
				cert_label(certs, r->order[0], b, sizeof(b));
				say(r,
				    "certificate %s is out of place: the chain starts with the "
				    "server's "
				    "own certificate, %s",
				    a, b);
			} else {
				cert_label(certs, r->order[position - 1], b, sizeof(b));
				cert_label(certs, r->order[position], c, sizeof(c));
				say(r,
				    "certificate %s is out of place: %s is issued by %s, which "
				    "must "
				    "come right after it",
				    a, b, c);
			}
		}
		position++;
	}
	if (r->misordered || r->duplicates > 0 || r->unrelated > 0) {
		char line[1024] = "the right order:";
		for (int i = 0; i < r->length; i++) {
			size_t used = strlen(line);
			snprintf(line + used, sizeof(line) - used, " #%d", r->order[i] + 1);
		}
		say(r, "%s", line);
	}
}

static void check_end(STACK_OF(X509) * certs, X509_STORE *trust, struct cert_chain_report *r)
{
	X509 *last = sk_X509_value(certs, r->order[r->length - 1]);
	if (cert_self_signed(last)) {
		r->ends_trusted = trust != NULL && issuer_trusted(trust, last);
		return;
	}
	if (issuer_trusted(trust, last)) {
		r->ends_trusted = true;
		return;
	}
	char a[600], issuer[512];
	cert_label(certs, r->order[r->length - 1], a, sizeof(a));
	cert_issuer_text(last, issuer, sizeof(issuer));
	say(r,
	    "missing issuer: %s is issued by '%s', which is neither given nor trusted (an "
	    "intermediate, or the root of a private CA, is missing%s)",
	    a, issuer,
	    r->unrelated ? "; the certificates outside the chain may belong after it" : "");
	r->issuer_missing = true;
}

static void check_dates(STACK_OF(X509) * certs, const bool *skip, time_t now,
			struct cert_chain_report *r)
{
	char a[600], when[64];
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *cert = sk_X509_value(certs, i);
		if (skip[i])
			continue;
		cert_label(certs, i, a, sizeof(a));
		if (cert_not_after(cert) < now) {
			cert_time_text(cert_not_after(cert), when, sizeof(when));
			say(r, "certificate %s expired on %s", a, when);
			r->expired++;
		} else if (cert_not_before(cert) > now) {
			cert_time_text(cert_not_before(cert), when, sizeof(when));
			say(r, "certificate %s is not valid before %s", a, when);
			r->not_yet_valid++;
		}
	}
}

int cert_chain_analyse(STACK_OF(X509) * certs, X509_STORE *trust, time_t now,
		       struct cert_chain_report *r)
{
	memset(r, 0, sizeof(*r));
	int n = sk_X509_num(certs);
	if (n <= 0 || n > CERT_CHAIN_MAX) {
		say(r, n <= 0 ? "no certificates" : "more than %d certificates", CERT_CHAIN_MAX);
		return -1;
	}
	bool skip[CERT_CHAIN_MAX] = {false};
	find_duplicates(certs, skip, r);
	choose_chain(certs, skip, r);
	check_order(certs, skip, r);
	check_end(certs, trust, r);
	check_dates(certs, skip, now, r);
	return 0;
}

bool cert_chain_has_problems(const struct cert_chain_report *r)
{
	return r->duplicates || r->unrelated || r->misordered || r->issuer_missing || r->expired ||
	       r->not_yet_valid;
}

/* What to add to OpenSSL's reason so that the administrator can act. */
static void explain(int err, X509 *cert, const char *name, char *out, size_t size)
{
	char when[64], text[1024];
	out[0] = '\0';
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		cert_time_text(cert_not_after(cert), when, sizeof(when));
		snprintf(out, size, " (not after %s)", when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		cert_time_text(cert_not_before(cert), when, sizeof(when));
		snprintf(out, size, " (not before %s)", when);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		cert_issuer_text(cert, text, sizeof(text));
		snprintf(out, size, ": its issuer '%s' is neither in the bundle nor trusted", text);
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		cert_cert_sans_text(cert, text, sizeof(text));
		snprintf(out, size, ": %s is not among its names (%s)", name,
			 text[0] ? text : "it has no subjectAltName");
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		snprintf(out, size, ": its keyUsage or extendedKeyUsage does not allow this use");
		break;
	default:
		break;
	}
}

int cert_verify(X509 *leaf, STACK_OF(X509) * untrusted, X509_STORE *trust, int purpose,
		const char *name, time_t now, STACK_OF(X509) * *chain, char *why, size_t why_size)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (ctx == NULL || X509_STORE_CTX_init(ctx, trust, leaf, untrusted) != 1) {
		X509_STORE_CTX_free(ctx);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, now);
	if (purpose != 0)
		X509_STORE_CTX_set_purpose(ctx, purpose);
	if (name != NULL) {
		unsigned char ip[16];
		bool is_ip =
		    inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(param, name);
		else
			X509_VERIFY_PARAM_set1_host(param, name, 0);
	}
	int rc = 0;
	if (X509_verify_cert(ctx) == 1) {
		if (chain != NULL)
			*chain = X509_STORE_CTX_get1_chain(ctx);
	} else {
		int err = X509_STORE_CTX_get_error(ctx);
		int depth = X509_STORE_CTX_get_error_depth(ctx);
		X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
		char subject[512] = "?", detail[1200];
		if (cert == NULL)
			cert = leaf;
		cert_subject_text(cert, subject, sizeof(subject));
		explain(err, cert, name, detail, sizeof(detail));
		snprintf(why, why_size, "certificate at depth %d (%s): %s%s", depth, subject,
			 X509_verify_cert_error_string(err), detail);
		rc = -1;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}
