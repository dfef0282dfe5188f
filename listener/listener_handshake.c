/* SPDX-License-Identifier: MIT */
/* The XEP-0114 handshake digest; see listener_handshake.h.  Runs in the listener. */
#include "listener_handshake.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

void listener_handshake_digest(const char *stream_id, const char *secret, char out[41])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	memset(out, 0, 41);
	if (md == NULL)
		return;
	if (EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(md, stream_id, strlen(stream_id)) == 1 &&
	    EVP_DigestUpdate(md, secret, strlen(secret)) == 1 &&
	    EVP_DigestFinal_ex(md, digest, &len) == 1) {
		for (unsigned i = 0; i < len && i < 20; i++)
			snprintf(out + 2 * i, 3, "%02x", digest[i]);
	}
	EVP_MD_CTX_free(md);
}
