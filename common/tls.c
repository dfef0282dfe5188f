/* SPDX-License-Identifier: MIT */
/* TLS over the connection's buffers; see tls.h.  Runs in the listener and the elector. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "tls_ticket.h"

/* The most plain text one TLS record carries. */
#define TLS_RECORD_MAX 16384
/* Below this much room, the plain text buffer is grown to a record's size. */
#define TLS_PLAIN_ROOM_MIN 2048

static BIO_METHOD *buffer_method;

static int buffer_write(BIO *bio, const char *data, int len)
{
	struct tls_conn *t = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	if (buf_append(t->out, data, (size_t)len) == -1)
		return -1;
	return len;
}

static int buffer_read(BIO *bio, char *data, int len)
{
	struct tls_conn *t = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	size_t have = buf_len(t->in);
	if (have == 0) {
		BIO_set_retry_read(bio);
		return -1;
	}
	size_t n = have < (size_t)len ? have : (size_t)len;
	memcpy(data, buf_head(t->in), n);
	buf_consume(t->in, n);
	return (int)n;
}

static long buffer_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	(void)num, (void)ptr;
	struct tls_conn *t = BIO_get_data(bio);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return t != NULL ? (long)buf_len(t->in) : 0;
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int buffer_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static BIO_METHOD *tls_buffer_method(void)
{
	if (buffer_method == NULL) {
		buffer_method =
		    BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rxmpp buffer");
		BIO_meth_set_write(buffer_method, buffer_write);
		BIO_meth_set_read(buffer_method, buffer_read);
		BIO_meth_set_ctrl(buffer_method, buffer_ctrl);
		BIO_meth_set_create(buffer_method, buffer_create);
	}
	return buffer_method;
}

static void tls_error_text(char *why, size_t why_size, const char *what)
{
	unsigned long code = ERR_get_error();
	char detail[256] = "no detail";
	if (code != 0)
		ERR_error_string_n(code, detail, sizeof(detail));
	ERR_clear_error();
	snprintf(why, why_size, "%s: %s", what, detail);
}

#define TLS_SUITES_1_3 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* The settings every context shares: protocol floor, no compression or
 * renegotiation, buffers released when idle, resumption by tickets only,
 * and OpenSSL's copy of each decrypted record wiped once we have read it
 * (our own copy is in a sensitive buffer, see stream.c).  One TLS 1.3
 * ticket per handshake, not OpenSSL's two: a client holds one connection
 * per account and a resumed connection gets a fresh ticket, and each
 * ticket costs a server about 6% of a full handshake's instructions (a
 * crowd re-logging in after a failover pays it thousands of times).
 * TLS 1.3's AES-128-GCM with SHA-256 first (RFC 8446's mandatory suite,
 * first in Mozilla's recommended order), not OpenSSL's AES-256-GCM with
 * SHA-384: the key exchange (X25519) and signatures (P-256) give 128-bit
 * security either way, and on processors with SHA instructions (SHA-256
 * only) a full handshake costs the server about 6-12% less and the client
 * 3-9% (docs/PERFORMANCE.md).  The other two stay for clients that want
 * them. */
static SSL_CTX *tls_context_base(const SSL_METHOD *method, const struct config_tls *cfg, char *why,
				 size_t why_size)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (ctx == NULL) {
		tls_error_text(why, why_size, "SSL_CTX_new");
		return NULL;
	}
	tls_context_update(ctx, cfg);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_ciphersuites(ctx, TLS_SUITES_1_3) != 1) {
		tls_error_text(why, why_size, "SSL_CTX_set_ciphersuites");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* A server-side session cache costs memory per client. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	return ctx;
}

void tls_context_update(SSL_CTX *ctx, const struct config_tls *cfg)
{
	SSL_CTX_set_min_proto_version(ctx, cfg->min_version == CONFIG_TLS_1_3 ? TLS1_3_VERSION
									      : TLS1_2_VERSION);
}

static int tls_check_key(SSL_CTX *ctx, const char *what, char *why, size_t why_size)
{
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(why, why_size, "%s: the key does not belong to the certificate", what);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Keys here are never encrypted; OpenSSL must not prompt for a passphrase. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf, (void)size, (void)rwflag, (void)arg;
	return -1;
}

/* What follows the key and the node's certificate in a TLS set: the rest
 * of the chain, then perhaps the cluster's ticket key (tls_ticket.h). */
static int tls_read_rest(SSL_CTX *ctx, BIO *bio, char *why, size_t why_size)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	bool ticket_key = false;
	int rc = 0;
	while (rc == 0 && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		const unsigned char *p = data;
		if (strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0) {
			X509 *member = d2i_X509(NULL, &p, len);
			if (member == NULL || SSL_CTX_add0_chain_cert(ctx, member) != 1) {
				X509_free(member);
				tls_error_text(why, why_size, "the TLS chain");
				rc = -1;
			}
		} else if (strcmp(name, TLS_TICKET_PEM_NAME) == 0 && !ticket_key &&
			   len == TLS_TICKET_KEY_LEN) {
			ticket_key = true;
			rc = tls_ticket_use(ctx, data, why, why_size);
		} else {
			snprintf(why, why_size, "the TLS set: an unexpected %s block", name);
			rc = -1;
		}
		OPENSSL_cleanse(data, (size_t)len);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
	}
	ERR_clear_error(); /* the end of the input reads as an error */
	return rc;
}

SSL_CTX *tls_context_from_pem(const struct config_tls *cfg, const char *pem, size_t len, char *why,
			      size_t why_size)
{
	SSL_CTX *ctx = tls_context_base(TLS_server_method(), cfg, why, why_size);
	BIO *bio = ctx != NULL ? BIO_new_mem_buf(pem, (int)len) : NULL;
	EVP_PKEY *key =
	    bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL) : NULL;
	X509 *leaf = key != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (leaf == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1) {
		tls_error_text(why, why_size, "the TLS set");
		goto fail;
	}
	if (tls_read_rest(ctx, bio, why, why_size) == -1)
		goto fail;
	if (tls_check_key(ctx, "the TLS set", why, why_size) == -1)
		goto fail;
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(bio);
	return ctx;
fail:
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

static int tls_add_chain_file(SSL_CTX *ctx, const char *path, char *why, size_t why_size)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(why, why_size, "%s: cannot open", path);
		return -1;
	}
	X509 *cert;
	while ((cert = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, cert) != 1) {
			X509_free(cert);
			fclose(f);
			tls_error_text(why, why_size, path);
			return -1;
		}
	}
	fclose(f);
	ERR_clear_error(); /* the end of the file reads as an error */
	return 0;
}

SSL_CTX *tls_peer_context_new(const struct config_tls *cfg, const char *trust_bundle, char *why,
			      size_t why_size)
{
	SSL_CTX *ctx = tls_context_base(TLS_method(), cfg, why, why_size);
	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->certificate) != 1) {
		tls_error_text(why, why_size, cfg->certificate);
		goto fail;
	}
	if (cfg->bundle[0] != '\0' && tls_add_chain_file(ctx, cfg->bundle, why, why_size) == -1)
		goto fail;
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
		tls_error_text(why, why_size, cfg->key);
		goto fail;
	}
	if (tls_check_key(ctx, cfg->key, why, why_size) == -1)
		goto fail;
	/* Peers prove themselves with certificates from the trust bundle; one
	 * that is in it is trusted as it is, CA or not. */
	if (SSL_CTX_load_verify_locations(ctx, trust_bundle, NULL) != 1) {
		tls_error_text(why, why_size, trust_bundle);
		goto fail;
	}
	X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_conn_init(struct tls_conn *t, SSL_CTX *ctx, struct buf *in, struct buf *out)
{
	memset(t, 0, sizeof(*t));
	t->in = in;
	t->out = out;
	t->ssl = SSL_new(ctx);
	BIO *bio = t->ssl ? BIO_new(tls_buffer_method()) : NULL;
	if (bio == NULL) {
		SSL_free(t->ssl);
		t->ssl = NULL;
		return -1;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	SSL_set_accept_state(t->ssl);
	return 0;
}

int tls_conn_init_client(struct tls_conn *t, SSL_CTX *ctx, struct buf *in, struct buf *out)
{
	if (tls_conn_init(t, ctx, in, out) == -1)
		return -1;
	SSL_set_connect_state(t->ssl);
	return 0;
}

void tls_conn_free(struct tls_conn *t)
{
	if (t->ssl != NULL)
		SSL_free(t->ssl);
	t->ssl = NULL;
}

void tls_conn_keep_buffers(struct tls_conn *t, bool keep)
{
	if (t->ssl == NULL)
		return;
	if (keep) {
		SSL_clear_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
		return;
	}
	SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	/* Refused while a record is half read or half written; the mode gives
	 * them back after that record. */
	SSL_free_buffers(t->ssl);
}

static enum tls_status tls_status_of(struct tls_conn *t, int rc, char *why, size_t why_size,
				     const char *what)
{
	switch (SSL_get_error(t->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return TLS_OK;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	default: {
		tls_error_text(why, why_size, what);
		/* OpenSSL says only "certificate verify failed"; the check that
		 * failed is what an administrator can act on. */
		long verify = SSL_get_verify_result(t->ssl);
		size_t used = strlen(why);
		if (verify != X509_V_OK && used < why_size)
			snprintf(why + used, why_size - used, " (%s)",
				 X509_verify_cert_error_string(verify));
		return TLS_ERROR;
	}
	}
}

enum tls_status tls_conn_read(struct tls_conn *t, struct buf *plain, char *why, size_t why_size)
{
	if (!t->handshake_done) {
		int rc = SSL_do_handshake(t->ssl);
		if (rc != 1)
			return tls_status_of(t, rc, why, why_size, "TLS handshake");
		t->handshake_done = true;
	}
	for (;;) {
		/* With nothing left to decrypt, SSL_read would only say so, and
		 * on its way allocate, wipe and free its 16 KiB record buffer
		 * (SSL_MODE_RELEASE_BUFFERS with SSL_OP_CLEANSE_PLAINTEXT): about
		 * 10,000 instructions for nothing, once per read event. */
		if (buf_len(t->in) == 0 && !SSL_has_pending(t->ssl))
			return TLS_OK;
		/* Room for a whole record only when little is left: asking for
		 * it every time would grow the buffer (a copy) for each record
		 * after a short one in the same read.  The bound is checked every
		 * time, as buf_reserve would: the capacity may be past it. */
		if (plain->limit < TLS_RECORD_MAX ||
		    buf_len(plain) > plain->limit - TLS_RECORD_MAX ||
		    (buf_room(plain) < TLS_PLAIN_ROOM_MIN &&
		     buf_reserve(plain, TLS_RECORD_MAX) == -1)) {
			snprintf(why, why_size, "input buffer full");
			return TLS_ERROR;
		}
		size_t got = 0;
		int rc = SSL_read_ex(t->ssl, buf_tail(plain), buf_room(plain), &got);
		if (rc != 1)
			return tls_status_of(t, rc, why, why_size, "TLS read");
		buf_commit(plain, got);
	}
}

enum tls_status tls_conn_write(struct tls_conn *t, const void *data, size_t len, char *why,
			       size_t why_size)
{
	size_t written = 0;
	if (len == 0)
		return TLS_OK;
	/* The output BIO never refuses (the buffer has its own bound), so one
	 * call writes everything or fails. */
	if (SSL_write_ex(t->ssl, data, len, &written) != 1 || written != len) {
		tls_error_text(why, why_size, "TLS write");
		return TLS_ERROR;
	}
	return TLS_OK;
}

void tls_conn_shutdown(struct tls_conn *t)
{
	if (t->ssl != NULL && t->handshake_done)
		SSL_shutdown(t->ssl);
}
