/* SPDX-License-Identifier: MIT */
/* Which certificates may be cluster members; see elector_peers.h.  Runs in
 * the elector, on each link that says hello. */
#include "elector_peers.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <strings.h>

static bool carries_name(X509 *cert, const char *name)
{
	if (X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1 ||
	    X509_check_ip_asc(cert, name, 0) == 1)
		return true;
	/* X509_check_host reads the common name only without DNS names. */
	char cn[256];
	int len =
	    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
	return len > 0 && (size_t)len < sizeof(cn) && strcasecmp(cn, name) == 0;
}

bool elector_peers_may_join(SSL_CTX *ctx, const struct config_names *names, X509 *cert,
			    const char **why)
{
	STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	bool has_ca = false, listed = false;
	for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
		if (x == NULL)
			continue;
		has_ca |= X509_check_ca(x) != 0;
		listed |= X509_cmp(x, cert) == 0;
	}
	if (!has_ca) {
		*why = "its certificate is not one of the trust bundle's";
		return listed;
	}
	if (names->count == 0) {
		*why = "the trust bundle holds a CA and cluster.peer_names is empty";
		return false;
	}
	for (uint32_t i = 0; i < names->count; i++) {
		if (carries_name(cert, names->names[i]))
			return true;
	}
	*why = "its certificate carries none of cluster.peer_names";
	return false;
}

int elector_peers_own_fingerprint(SSL_CTX *ctx, uint8_t *fingerprint, size_t size)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	unsigned int len = 0;
	if (cert == NULL || X509_digest(cert, EVP_sha256(), fingerprint, &len) != 1 || len != size)
		return -1;
	return 0;
}
