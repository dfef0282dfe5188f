/* SPDX-License-Identifier: MIT */
/*
 * The load generator's loop: one epoll set, nonblocking connections, TLS
 * with OpenSSL directly on the socket, output buffered per session and
 * flushed when the socket takes it, input handed to load_xmpp.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "load.h"

static int epoll_fd = -1;
static SSL_CTX *tls;
static const struct load_options *opts;
/* The session load_close ended last: a caller that was reading it stops. */
static struct session *just_closed;
/* The session whose event is being served: its output is flushed when the
 * event is done, so what it sends meanwhile needs no EPOLLOUT. */
static struct session *serving;

unsigned load_resumed;

/* --resume: a client keeps the session its connection was given (a TLS
 * 1.3 ticket arrives after the handshake, a resumed one brings a fresh
 * one) and offers it on its next connection, as clients that cache TLS
 * sessions do.  A copy: OpenSSL marks the connection's own session
 * unusable when the connection ends without close_notify, as it does
 * when a node dies, though the ticket in it is as good as before. */
static int keep_session(SSL *ssl, SSL_SESSION *session)
{
	struct session *s = SSL_get_app_data(ssl);
	SSL_SESSION *copy = SSL_SESSION_dup(session);
	if (copy == NULL)
		return 0;
	SSL_SESSION_free(s->resume);
	s->resume = copy;
	return 0; /* OpenSSL keeps its own */
}

int64_t load_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int load_loop_init(const struct load_options *options)
{
	opts = options;
	/* Again in a forked process: an epoll set is shared across fork, so
	 * the child needs its own (and gives up its copy of the parent's). */
	if (epoll_fd != -1)
		close(epoll_fd);
	SSL_CTX_free(tls);
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	tls = SSL_CTX_new(TLS_client_method());
	if (epoll_fd == -1 || tls == NULL)
		return -1;
	SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
	/* A write retried after WANT_WRITE may come from a grown buffer. */
	SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
	/* One read() takes what the server sent (a whole flight of records)
	 * instead of two per record, header then body: readable() serves what
	 * OpenSSL holds before it goes back to epoll, which cannot see it. */
	SSL_CTX_set_read_ahead(tls, 1);
	if (options->resume) {
		SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_CLIENT |
							SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(tls, keep_session);
	}
	if (SSL_CTX_load_verify_locations(tls, options->ca, NULL) != 1) {
		fprintf(stderr, "rxmpp-load: cannot read the CA file %s\n", options->ca);
		return -1;
	}
	return 0;
}

static void watch(struct session *s, bool want_write)
{
	struct epoll_event e = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0), .data.ptr = s};
	if (e.events == s->watched)
		return;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, s->fd, &e) == 0)
		s->watched = e.events;
}

int load_connect(struct session *s, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (netaddr_from_text(opts->host, port, &ss, &len) == -1)
		return -1;
	s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1)
		return -1;
	int on = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	s->port = port;
	s->state = SESSION_CONNECTING;
	if (connect(s->fd, (struct sockaddr *)&ss, len) == -1 && errno != EINPROGRESS) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.ptr = s};
	epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s->fd, &e);
	s->watched = e.events;
	return 0;
}

void load_send(struct session *s, const char *data, size_t len)
{
	if (s->state == SESSION_CLOSED)
		return;
	if (s->out_len + len > s->out_cap) {
		size_t cap = s->out_cap ? s->out_cap : 4096;
		while (cap < s->out_len + len)
			cap *= 2;
		char *grown = realloc(s->out, cap);
		if (grown == NULL) {
			load_close(s, "out of memory");
			return;
		}
		s->out = grown;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
	if (s->out_len == len && s != serving && s->state != SESSION_CONNECTING &&
	    s->state != SESSION_HANDSHAKE)
		watch(s, true);
}

void load_sendf(struct session *s, const char *format, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(buf, sizeof(buf), format, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(buf))
		load_send(s, buf, (size_t)n);
}

int load_start_tls(struct session *s)
{
	s->ssl = SSL_new(tls);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
		return -1;
	SSL_set_tlsext_host_name(s->ssl, opts->domain);
	SSL_set1_host(s->ssl, opts->domain);
	SSL_set_app_data(s->ssl, s);
	if (s->resume != NULL && SSL_set_session(s->ssl, s->resume) != 1)
		return -1;
	SSL_set_connect_state(s->ssl);
	s->state = SESSION_HANDSHAKE;
	watch(s, true);
	return 0;
}

void load_close(struct session *s, const char *why)
{
	if (s->state == SESSION_CLOSED)
		return;
	just_closed = s;
	s->state = SESSION_CLOSED;
	if (s->fd != -1) {
		epoll_ctl(epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		s->fd = -1;
	}
	SSL_free(s->ssl);
	s->ssl = NULL;
	free(s->out);
	s->out = NULL;
	s->out_len = s->out_cap = 0;
	xmpp_free(s);
	if (s->events->closed != NULL)
		s->events->closed(s, why);
}

static bool flush(struct session *s)
{
	while (s->out_len > 0) {
		ssize_t n;
		if (s->ssl != NULL) {
			/* OpenSSL's error queue is one per thread: what another
			 * connection left in it (one cut when its node died) would
			 * make SSL_get_error call this one failed too. */
			ERR_clear_error();
			int w = SSL_write(s->ssl, s->out, (int)s->out_len);
			if (w <= 0) {
				int e = SSL_get_error(s->ssl, w);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					watch(s, true);
					return true;
				}
				load_close(s, "TLS write failed");
				return false;
			}
			n = w;
		} else {
			n = write(s->fd, s->out, s->out_len);
			if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
				watch(s, true);
				return true;
			}
			if (n <= 0) {
				load_close(s, strerror(errno));
				return false;
			}
		}
		memmove(s->out, s->out + n, s->out_len - (size_t)n);
		s->out_len -= (size_t)n;
	}
	watch(s, false);
	return true;
}

/* Read-ahead leaves records in OpenSSL that epoll does not report: the
 * sessions that still hold some when readable() stops are served again
 * after this turn's events. */
static struct session **again;
static size_t again_len, again_cap;

static void serve_later(struct session *s)
{
	if (again_len == again_cap) {
		size_t cap = again_cap ? 2 * again_cap : 64;
		struct session **grown = realloc(again, cap * sizeof(*again));
		if (grown == NULL) {
			load_close(s, "out of memory");
			return;
		}
		again = grown;
		again_cap = cap;
	}
	again[again_len++] = s;
}

static void handshake(struct session *s)
{
	ERR_clear_error(); /* another connection's errors are not this one's */
	int rc = SSL_do_handshake(s->ssl);
	if (rc == 1) {
		load_resumed += SSL_session_reused(s->ssl) == 1;
		xmpp_tls_ready(s);
		if (s->state == SESSION_CLOSED)
			return;
		watch(s, s->out_len > 0);
		/* What came with the server's last flight (read ahead). */
		if (SSL_has_pending(s->ssl))
			serve_later(s);
		return;
	}
	int e = SSL_get_error(s->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		watch(s, e == SSL_ERROR_WANT_WRITE);
		return;
	}
	char why[256];
	snprintf(why, sizeof(why), "TLS handshake: %s",
		 ERR_reason_error_string(ERR_peek_last_error()) ?: "failed");
	ERR_clear_error();
	load_close(s, why);
}

static void readable(struct session *s)
{
	char buf[16384];
	/* Bounded: one busy session must not starve the others. */
	for (int i = 0; s->state != SESSION_CLOSED; i++) {
		if (i == 16) {
			if (s->ssl != NULL && SSL_has_pending(s->ssl))
				serve_later(s);
			return;
		}
		ssize_t n;
		if (s->ssl != NULL) {
			ERR_clear_error(); /* as in flush */
			int r = SSL_read(s->ssl, buf, sizeof(buf));
			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return;
				load_close(s, e == SSL_ERROR_ZERO_RETURN ? "closed"
									 : "TLS read failed");
				return;
			}
			n = r;
		} else {
			n = read(s->fd, buf, sizeof(buf));
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0) {
				load_close(s, n == 0 ? "closed by the server" : strerror(errno));
				return;
			}
		}
		just_closed = NULL;
		xmpp_received(s, buf, (size_t)n);
		/* Closed meanwhile, and perhaps already connecting again. */
		if (just_closed == s)
			return;
		/* Nothing held in OpenSSL, or a short read: the socket is empty
		 * as far as is known, and epoll (level-triggered) reports what
		 * comes next; a read only to hear EAGAIN would be one more
		 * system call per message. */
		if (s->ssl != NULL ? !SSL_has_pending(s->ssl) : (size_t)n < sizeof(buf))
			return;
	}
}

static void serve(struct session *s, uint32_t events)
{
	if (s->state == SESSION_CONNECTING) {
		int error = 0;
		socklen_t len = sizeof(error);
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &error, &len);
		if (error != 0) {
			load_close(s, strerror(error));
			return;
		}
		xmpp_connected(s);
		if (s->state == SESSION_CLOSED)
			return;
		if (s->state != SESSION_HANDSHAKE)
			watch(s, s->out_len > 0);
	}
	if (s->state == SESSION_HANDSHAKE) {
		handshake(s);
		return;
	}
	just_closed = NULL;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0)
		readable(s);
	if (just_closed != s && s->state != SESSION_HANDSHAKE && s->out_len > 0)
		flush(s);
}

static void on_event(struct session *s, uint32_t events)
{
	serving = s;
	serve(s, events);
	serving = NULL;
}

static void run_once(int timeout_ms)
{
	struct epoll_event events[256];
	int n = epoll_wait(epoll_fd, events, 256, again_len > 0 ? 0 : timeout_ms);
	for (int i = 0; i < n; i++)
		on_event(events[i].data.ptr, events[i].events);
	/* Those asked for before this turn; one served may ask again. */
	size_t count = again_len;
	for (size_t i = 0; i < count; i++) {
		struct session *s = again[i];
		if (s->ssl != NULL && s->state != SESSION_HANDSHAKE && SSL_has_pending(s->ssl))
			on_event(s, EPOLLIN);
	}
	again_len -= count;
	/* Nothing left (the array may never have been allocated): memmove's
	 * arguments must not be NULL even for no bytes (UBSan says so). */
	if (again_len > 0)
		memmove(again, again + count, again_len * sizeof(*again));
}

bool load_run_until(bool (*done)(void *arg), void *arg, int64_t deadline_ns)
{
	while (!done(arg)) {
		int64_t left = deadline_ns - load_now_ns();
		if (left <= 0)
			return false;
		run_once(left > 100000000 ? 100 : (int)(left / 1000000) + 1);
	}
	return true;
}

void load_run_for(unsigned ms)
{
	int64_t end = load_now_ns() + (int64_t)ms * 1000000;
	for (int64_t now = load_now_ns(); now < end; now = load_now_ns())
		run_once((int)((end - now) / 1000000) + 1);
}
