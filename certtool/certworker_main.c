/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-certworker: the certificate worker of a node.
 *
 * Runs under rxmppd (common/child.c does the handshake).  At start, on
 * every reload and when the files change (certworker_watch.c), it loads
 * the configured key, certificate and bundle and checks them
 * (certtool/cert_set.c), builds the TLS context the listener will build,
 * and only then hands the set to the listener: TLS_SET with a sealed
 * memfd holding the key and chain as PEM, so the listener uses exactly
 * what was checked and never reads key files itself.  Existing sessions
 * keep their TLS state; new ones get the new set.  The supervisor hears
 * CERT_STATE (subject, expiry, refusal) for rxmppctl status.
 *
 * A set that fails the check is refused with the reason and the one in use
 * stays.  On a reload the worker still takes the new configuration's file
 * names and domain (they are what it watches and checks from then on) and
 * answers READY with the refusal, which rxmppctl shows; at the node's
 * first start there is no set to keep, so it exits with PROC_EXIT_CONFIG
 * and rxmppd refuses to start; a worker restarted after a crash that finds
 * bad files leaves the listener its set and reports the refusal.  From
 * `tls.expiry_warning` before the first member of the chain expires it
 * warns at start and once a day.  It never logs
 * key material.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cert_info.h"
#include "cert_set.h"
#include "certworker_watch.h"
#include "common/buf.h"
#include "common/child.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/tls.h"
#include "common/tls_ticket.h"

#define EXPIRY_CHECK_MS (24 * 60 * 60 * 1000)

static struct {
	/* The latest configuration, even one whose files were refused: the
	 * files it names are the ones watched and checked from then on. */
	struct config cfg;
	int memfd;		       /* the set in use, sealed; -1 before the first */
	unsigned char digest[32];      /* SHA-256 of its PEM, to skip resending the same */
	struct proto_tls_set announce; /* what the listener is told with it */
	struct proto_cert_state state; /* what the supervisor is told */
	struct ev_timer *expiry_timer;
} worker = {.memfd = -1};

static void send_state(void)
{
	struct iovec iov = {.iov_base = &worker.state, .iov_len = sizeof(worker.state)};
	child_send_supervisor_v(PROTO_CERT_STATE, 0, &iov, 1);
}

static void send_set_to_listener(void)
{
	if (worker.memfd == -1 || !child_peer_connected(PROC_LISTENER))
		return;
	int fd = fcntl(worker.memfd, F_DUPFD_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("dup of the TLS set");
		return;
	}
	child_send(PROC_LISTENER, PROTO_TLS_SET, 0, &worker.announce, sizeof(worker.announce), fd);
}

static void warn_if_expiring(void)
{
	const struct config *cfg = &worker.cfg;
	if (worker.state.not_after == 0)
		return;
	time_t now = time(NULL);
	int64_t left = (int64_t)worker.state.not_after - now;
	char when[64];
	cert_time_text((time_t)worker.state.not_after, when, sizeof(when));
	if (left < 0)
		log_warnx("the TLS certificate %s EXPIRED on %s; clients refuse it: renew it",
			  worker.state.expiring, when);
	else if (left * 1000 < (int64_t)cfg->tls.expiry_warning_ms)
		log_warnx("the TLS certificate %s expires in %lld days (%s): renew it",
			  worker.state.expiring, (long long)(left / 86400), when);
}

static int64_t expiry_tick(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	warn_if_expiring();
	return EXPIRY_CHECK_MS;
}

/* A sealed memfd with `pem`: the listener can read it, nobody can change it. */
static int seal(const char *pem, size_t len)
{
	int fd = memfd_create("rxmpp-tls-set", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -1;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, pem + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) ==
	    -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Appends the cluster's TLS ticket key (tls_ticket.h) to the set's PEM as
 * one more block; the old copy of the PEM is wiped. */
static int add_ticket_key(const char *path, char **pem, size_t *len, char id[TLS_TICKET_ID_LEN],
			  char *why, size_t why_size)
{
	unsigned char key[TLS_TICKET_KEY_LEN];
	if (tls_ticket_key_read(path, key, why, why_size) == -1)
		return -1;
	if (tls_ticket_key_id(key, id) == -1) {
		OPENSSL_cleanse(key, sizeof(key));
		snprintf(why, why_size, "%s: cannot name the TLS ticket key", path);
		return -1;
	}
	char block[160];
	unsigned char encoded[4 * ((TLS_TICKET_KEY_LEN + 2) / 3) + 1];
	EVP_EncodeBlock(encoded, key, TLS_TICKET_KEY_LEN);
	int n = snprintf(block, sizeof(block), "-----BEGIN %s-----\n%s\n-----END %s-----\n",
			 TLS_TICKET_PEM_NAME, (const char *)encoded, TLS_TICKET_PEM_NAME);
	char *grown = buf_wipe_realloc(*pem, *len, *len + (size_t)n);
	if (grown != NULL) {
		memcpy(grown + *len, block, (size_t)n);
		*pem = grown;
		*len += (size_t)n;
	} else {
		snprintf(why, why_size, "no memory for the TLS ticket key");
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(encoded, sizeof(encoded));
	OPENSSL_cleanse(block, sizeof(block));
	return grown != NULL ? 0 : -1;
}

/*
 * Loads and checks the files `cfg` names; on success the set becomes the
 * one in use (sent to the listener if it differs).  Returns 0, or -1 with
 * the reason; `changed` says whether a new set was taken.
 */
static int take_files(const struct config *cfg, bool *changed, char *why, size_t why_size)
{
	struct cert_set_files files = {cfg->tls.key, cfg->tls.certificate, cfg->tls.bundle};
	struct cert_set set;
	char warnings[4096];
	*changed = false;
	if (cert_set_load(&files, cfg->domain, cfg->cluster.enabled, time(NULL), &set, why,
			  why_size, warnings, sizeof(warnings)) == -1)
		return -1;
	char *pem = NULL, ticket_id[TLS_TICKET_ID_LEN] = "";
	size_t len = 0;
	int rc = -1;
	SSL_CTX *ctx = NULL;
	if (cert_set_pem(&set, &pem, &len) == -1) {
		snprintf(why, why_size, "cannot encode the TLS set");
		goto done;
	}
	if (cfg->tls.ticket_key[0] != '\0' &&
	    add_ticket_key(cfg->tls.ticket_key, &pem, &len, ticket_id, why, why_size) == -1)
		goto done;
	/* What the listener will build must build here first (OpenSSL refuses
	 * keys too small or digests too weak for its security level). */
	ctx = tls_context_from_pem(&cfg->tls, pem, len, why, why_size);
	if (ctx == NULL)
		goto done;
	unsigned char digest[32];
	unsigned digest_len = 0;
	EVP_Digest(pem, len, digest, &digest_len, EVP_sha256(), NULL);
	for (char *line = strtok(warnings, "\n"); line != NULL; line = strtok(NULL, "\n"))
		log_warnx("%s", line);
	rc = 0;
	if (worker.memfd != -1 && memcmp(digest, worker.digest, sizeof(worker.digest)) == 0)
		goto done;
	int fd = seal(pem, len);
	if (fd == -1) {
		snprintf(why, why_size, "cannot hold the TLS set in memory: %s", strerror(errno));
		rc = -1;
		goto done;
	}
	if (worker.memfd != -1)
		close(worker.memfd);
	worker.memfd = fd;
	memcpy(worker.digest, digest, sizeof(worker.digest));
	worker.announce.not_after = (int64_t)cert_not_after(sk_X509_value(set.chain, 0));
	snprintf(worker.announce.subject, sizeof(worker.announce.subject), "%s", set.subject);
	snprintf(worker.announce.certificate, sizeof(worker.announce.certificate), "%s",
		 cfg->tls.certificate);
	worker.state.not_after = (int64_t)set.not_after;
	snprintf(worker.state.subject, sizeof(worker.state.subject), "%s", set.subject);
	snprintf(worker.state.expiring, sizeof(worker.state.expiring), "%.*s",
		 (int)sizeof(worker.state.expiring) - 1, set.expiring);
	*changed = true;
	char until[64];
	cert_time_text(set.not_after, until, sizeof(until));
	log_info("TLS set checked: %s from %s, %d certificates, valid until %s", set.subject,
		 cfg->tls.certificate, sk_X509_num(set.chain), until);
	if (ticket_id[0] != '\0')
		log_info("TLS session tickets under the cluster's key from %s, key id %s (the "
			 "same id on every node: the same key)",
			 cfg->tls.ticket_key, ticket_id);
	send_set_to_listener();
done:
	SSL_CTX_free(ctx);
	if (pem != NULL)
		OPENSSL_cleanse(pem, len);
	free(pem);
	cert_set_free(&set);
	return rc;
}

static void refused(const char *why)
{
	worker.state.refused = 1;
	snprintf(worker.state.problem, sizeof(worker.state.problem), "%.*s",
		 (int)sizeof(worker.state.problem) - 1, why);
	send_state();
}

static void accepted(void)
{
	worker.state.refused = 0;
	worker.state.problem[0] = '\0';
	send_state();
	warn_if_expiring();
}

static void watch(const struct config *cfg)
{
	const char *paths[CERTWATCH_FILES_MAX] = {cfg->tls.key, cfg->tls.certificate,
						  cfg->tls.bundle, cfg->tls.ticket_key};
	certworker_watch_set(paths, CERTWATCH_FILES_MAX);
}

static void files_changed(void)
{
	const struct config *cfg = &worker.cfg;
	char why[4096];
	bool changed;
	if (take_files(cfg, &changed, why, sizeof(why)) == -1) {
		/* Each new refusal once, not at every event of the same files. */
		if (strncmp(why, worker.state.problem, sizeof(worker.state.problem) - 1) != 0)
			log_warnx("the changed TLS files are refused; the set in use stays: %s",
				  why);
		refused(why);
	} else {
		if (changed)
			log_info("the TLS files changed: new connections use the new set");
		accepted();
	}
	/* A file replaced by a link (or the reverse) moves what to watch. */
	watch(cfg);
}

static int certworker_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	bool changed;
	if (first) {
		certworker_watch_init(child_loop(), files_changed);
		worker.expiry_timer =
		    ev_timer_add(child_loop(), EXPIRY_CHECK_MS, expiry_tick, NULL);
	}
	worker.cfg = *cfg;
	watch(cfg);
	if (take_files(cfg, &changed, why, why_size) == 0) {
		accepted();
		return 0;
	}
	refused(why);
	if (first && child_generation() > 1) {
		/* Restarted with bad files on disk: the listener keeps the set it
		 * has, and the refusal is reported instead. */
		log_warnx("the TLS files are refused; the listener keeps its set: %s", why);
		return 0;
	}
	if (!first)
		log_warnx("the TLS files are refused; the set in use stays: %s", why);
	/* At the node's first start there is no set to keep: rxmppd stops. */
	return -1;
}

static void certworker_peer_up(enum proc_role peer)
{
	/* A restarted listener has no TLS set until it gets this one. */
	if (peer == PROC_LISTENER)
		send_set_to_listener();
}

static void certworker_stop(void)
{
	certworker_watch_stop();
	ev_timer_del(worker.expiry_timer);
	worker.expiry_timer = NULL;
	if (worker.memfd != -1)
		close(worker.memfd);
	worker.memfd = -1;
}

static const struct child_ops certworker_ops = {
    .role = PROC_CERTWORKER,
    .configure = certworker_configure,
    .peer_up = certworker_peer_up,
    .stop = certworker_stop,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &certworker_ops);
}
