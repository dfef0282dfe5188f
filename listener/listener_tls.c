/* SPDX-License-Identifier: MIT */
/*
 * The listener's TLS set.  It comes from the certificate worker only
 * (TLS_SET: struct proto_tls_set and a sealed memfd with the checked key
 * and chain as PEM), so the listener never reads key files and uses
 * exactly what was checked.  A new set replaces the context for new
 * connections; connections already open hold a reference to the old one
 * and go on with it.  A set that does not build (it did in the worker, so
 * this is not expected) is logged and the one in use stays.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "listener.h"

/* Far above a key and a long chain; a memfd beyond it is not a TLS set. */
#define TLS_SET_MAX (1024 * 1024)

static char *read_memfd(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) == -1 || st.st_size <= 0 || st.st_size > TLS_SET_MAX)
		return NULL;
	char *data = malloc((size_t)st.st_size);
	size_t done = 0;
	while (data != NULL && done < (size_t)st.st_size) {
		/* pread: the worker's copy of the descriptor shares the offset. */
		ssize_t n = pread(fd, data + done, (size_t)st.st_size - done, (off_t)done);
		if (n <= 0) {
			OPENSSL_cleanse(data, done);
			free(data);
			return NULL;
		}
		done += (size_t)n;
	}
	*len = done;
	return data;
}

bool listener_tls_message(const struct ipc_msg *msg)
{
	struct proto_tls_set set;
	if (msg->type != PROTO_TLS_SET || msg->fd == -1 ||
	    ipc_get_data(msg, &set, sizeof(set)) == -1)
		return false;
	set.subject[sizeof(set.subject) - 1] = '\0';
	set.certificate[sizeof(set.certificate) - 1] = '\0';
	size_t len = 0;
	char *pem = read_memfd(msg->fd, &len);
	close(msg->fd);
	if (pem == NULL) {
		log_warnx("the TLS set from the certificate worker cannot be read; keeping the "
			  "one in use");
		return true;
	}
	char why[512];
	SSL_CTX *ctx = tls_context_from_pem(&listener_state.cfg.tls, pem, len, why, sizeof(why));
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (ctx == NULL) {
		log_warnx("the TLS set for %s does not load (%s); keeping the one in use",
			  set.subject, why);
		return true;
	}
	bool first = listener_state.tls == NULL;
	SSL_CTX_free(listener_state.tls); /* open connections keep their own reference */
	listener_state.tls = ctx;
	struct tm tm;
	time_t until = (time_t)set.not_after;
	char when[32] = "?";
	if (gmtime_r(&until, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	log_info("TLS certificate %s: %s from %s, until %s", first ? "in use" : "replaced",
		 set.subject, set.certificate, when);
	listener_sockets_update();
	return true;
}
