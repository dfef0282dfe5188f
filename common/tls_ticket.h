/* SPDX-License-Identifier: MIT */
/*
 * TLS session tickets under a key the nodes of a cluster share
 * (`tls.ticket_key`), so that the clients of a node that dies resume their
 * TLS session on a survivor (an abbreviated handshake: no certificate sent,
 * decoded or verified, no signature) instead of a full one each.
 *
 * The file holds a 32-byte master key as 64 hex digits, the same on every
 * node, readable by its owner only.  The key that seals a ticket is not the
 * master but one derived from it for the hour (HKDF-SHA256): tickets are
 * sealed under the current hour's key and opened under any of the last
 * TLS_TICKET_HOURS hours' (and the next hour's, for clocks a little
 * ahead), so the keys rotate by themselves with nothing exchanged between
 * the nodes, and a ticket lives at most TLS_TICKET_HOURS hours.  A ticket
 * that no key opens means a full handshake, never a failure.
 *
 * TLS 1.3 tickets only.  A TLS 1.2 ticket holds the session's master
 * secret and its resumption adds no fresh key exchange, so under a key that
 * lives in a file, whoever obtained the file could decrypt recorded TLS 1.2
 * sessions; TLS 1.3 resumes with a fresh (EC)DHE exchange (psk_dhe_ke, all
 * OpenSSL accepts).  TLS 1.2 tickets stay under a random key of the
 * context's own, as without the file.
 *
 * The certificate worker reads the file (tls_ticket_key_read) and hands the
 * key to the listener inside the sealed TLS set, as a PEM block named
 * TLS_TICKET_PEM_NAME after the chain; tls_context_from_pem puts it to use
 * (tls_ticket_use).  Without the file each listener seals tickets under
 * OpenSSL's own random key, as before: only that process opens them.
 */
#ifndef RXMPP_TLS_TICKET_H
#define RXMPP_TLS_TICKET_H

#include <openssl/ssl.h>
#include <stddef.h>

#define TLS_TICKET_KEY_LEN  32
#define TLS_TICKET_PEM_NAME "RXMPP TLS TICKET KEY"
/* How long a ticket may be used, in hours (the TLS 1.3 lifetime sent with
 * it, and how many past hours' keys still open one). */
#define TLS_TICKET_HOURS 24

/* Reads the master key from `path`: a regular file, no access for group
 * or others, 64 hex digits and an optional newline.  -1 with the reason
 * (never the key). */
int tls_ticket_key_read(const char *path, unsigned char key[TLS_TICKET_KEY_LEN], char *why,
			size_t why_size);
/* A name for the key that says nothing of it (HMAC-SHA256 of a fixed
 * label under the key, 8 bytes in hex), so that an administrator can see
 * in the logs that every node has the same key. */
#define TLS_TICKET_ID_LEN 17
int tls_ticket_key_id(const unsigned char key[TLS_TICKET_KEY_LEN], char id[TLS_TICKET_ID_LEN]);
/* Seals and opens `ctx`'s tickets under hourly keys derived from `key`
 * (copied; wiped when the context is freed).  -1 with the reason. */
int tls_ticket_use(SSL_CTX *ctx, const unsigned char key[TLS_TICKET_KEY_LEN], char *why,
		   size_t why_size);

#endif
