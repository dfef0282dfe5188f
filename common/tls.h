/* SPDX-License-Identifier: MIT */
/*
 * TLS with no socket, for the listener's connections and the cluster's
 * peer links: OpenSSL reads ciphertext from, and writes it to, the
 * connection's own buffers through a small BIO, so the connection decides
 * when to touch the network and can give the buffers back when idle (with
 * SSL_MODE_RELEASE_BUFFERS, OpenSSL gives its record buffers back too).
 */
#ifndef RXMPP_TLS_H
#define RXMPP_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/config.h"

/* The server context from a checked set: the private key, the
 * certificate chain and perhaps the cluster's TLS ticket key
 * (tls_ticket.h), as PEM (what the certificate worker hands over). */
SSL_CTX *tls_context_from_pem(const struct config_tls *cfg, const char *pem, size_t len, char *why,
			      size_t why_size);
/* Applies settings that may change on reload (the protocol floor) to a
 * context in use; new connections get them. */
void tls_context_update(SSL_CTX *ctx, const struct config_tls *cfg);
/* The context of cluster peer links: this node's key and certificate, and
 * only peers whose certificate is in `trust_bundle` (mutual TLS, both
 * directions; a certificate in the bundle is trusted as it is). */
SSL_CTX *tls_peer_context_new(const struct config_tls *cfg, const char *trust_bundle, char *why,
			      size_t why_size);

struct tls_conn {
	SSL *ssl;
	struct buf *in;	 /* ciphertext received, consumed by OpenSSL */
	struct buf *out; /* ciphertext to send, produced by OpenSSL */
	bool handshake_done;
};

int tls_conn_init(struct tls_conn *t, SSL_CTX *ctx, struct buf *in, struct buf *out);
/* The same for the side that connects. */
int tls_conn_init_client(struct tls_conn *t, SSL_CTX *ctx, struct buf *in, struct buf *out);
void tls_conn_free(struct tls_conn *t);
/* Keeps OpenSSL's two record buffers (about 34 KiB) between reads and
 * writes, or gives them back now and after each use from here on (the
 * default).  Giving them back costs, per record read, the wiping of the
 * whole 16 KiB read buffer (SSL_OP_CLEANSE_PLAINTEXT); a busy session
 * keeps them, and what it read is still wiped as it is read. */
void tls_conn_keep_buffers(struct tls_conn *t, bool keep);

enum tls_status {
	TLS_OK,	    /* progress made or nothing to do */
	TLS_CLOSED, /* the peer sent close_notify */
	TLS_ERROR,  /* fatal; see tls_last_error */
};

/* Runs the handshake and decrypts what has arrived into `plain`. */
enum tls_status tls_conn_read(struct tls_conn *t, struct buf *plain, char *why, size_t why_size);
/* Encrypts `len` bytes into the output buffer. */
enum tls_status tls_conn_write(struct tls_conn *t, const void *data, size_t len, char *why,
			       size_t why_size);
void tls_conn_shutdown(struct tls_conn *t);

#endif
