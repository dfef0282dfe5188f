/* SPDX-License-Identifier: MIT */
/* One TCP byte stream, in clear or under TLS; see stream.h.  Runs in the
 * listener (client connections), the router and the elector (peer links). */
#include "stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STREAM_READ_CHUNK (16u * 1024u)
/* Buffer memory a busy stream keeps once a buffer is empty. */
#define STREAM_BUSY_KEEP (2u * STREAM_READ_CHUNK)
/* Restarts of the input (STARTTLS) handled in one read. */
#define STREAM_INPUT_ROUNDS 8

/* Streams with output waiting for the flush before the loop sleeps, by
 * the phase of the flush (client connections before peer links, ev.h). */
static struct stream *dirty_streams[EV_PHASE_COUNT];

static void stream_io(struct ev_io *io, int fd, uint32_t events, void *arg);
static bool stream_flush_all(struct ev_loop *loop, void *arg);

/* Brings settings.queued_total up to date with this stream's output. */
static void stream_count_queued(struct stream *s)
{
	if (s->settings.queued_total == NULL)
		return;
	size_t now = buf_len(&s->out) + buf_len(&s->pending);
	*s->settings.queued_total += now - s->queued;
	s->queued = now;
}

static void stream_release(struct stream *s)
{
	if (s->settings.queued_total != NULL)
		*s->settings.queued_total -= s->queued;
	stream_stop(s);
	if (s->fd != -1)
		close(s->fd);
	tls_conn_free(&s->tls);
	buf_free(&s->raw);
	buf_free(&s->plain);
	buf_free(&s->out);
	buf_free(&s->pending);
	free(s);
}

void *stream_new(size_t size, struct ev_loop *loop, int fd, const struct stream_events *events,
		 const struct stream_settings *settings)
{
	/* Output is flushed once per turn of the loop, so Nagle would only hold
	 * the next flush for the peer's delayed ACK (40 ms) while this one is
	 * unacknowledged (measured: p99 of cluster-chat, PERFORMANCE.md). */
	int on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	struct stream *s = size >= sizeof(*s) ? calloc(1, size) : NULL;
	if (s == NULL || settings->phase >= EV_PHASE_COUNT ||
	    ev_hook_add(loop, settings->phase, stream_flush_all, &dirty_streams[settings->phase]) ==
		-1) {
		free(s);
		close(fd);
		return NULL;
	}
	s->loop = loop;
	s->fd = fd;
	s->events = events;
	s->settings = *settings;
	buf_init(&s->raw, settings->input_max);
	buf_init(&s->plain, settings->input_max);
	/* TLS adds a little to each record; the bound is on what was written. */
	buf_init(&s->out, settings->output_max + settings->output_max / 64 + 4096);
	buf_init(&s->pending, settings->output_max);
	/* Decrypted input and output about to be encrypted may hold passwords
	 * (SASL PLAIN) and private messages: wiped whenever they are let go. */
	buf_set_sensitive(&s->plain);
	buf_set_sensitive(&s->pending);
	s->io = ev_io_add(loop, fd, EV_READ, stream_io, s);
	if (s->io == NULL) {
		stream_release(s);
		return NULL;
	}
	return s;
}

void stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->depth > 0) {
		stream_stop(s);
		s->free_asked = true;
		return;
	}
	stream_release(s);
}

void stream_enter(struct stream *s)
{
	s->depth++;
}

bool stream_leave(struct stream *s)
{
	if (--s->depth > 0 || !s->free_asked)
		return true;
	stream_release(s);
	return false;
}

/* What an empty buffer keeps of its memory. */
static size_t stream_keep(const struct stream *s)
{
	return s->busy && s->settings.idle_keep < STREAM_BUSY_KEEP ? STREAM_BUSY_KEEP
								   : s->settings.idle_keep;
}

void stream_set_busy(struct stream *s, bool busy)
{
	if (s->busy == busy)
		return;
	s->busy = busy;
	if (s->tls_active)
		tls_conn_keep_buffers(&s->tls, busy);
	if (busy)
		return;
	if (buf_len(&s->raw) == 0)
		buf_reset(&s->raw, s->settings.idle_keep);
	if (buf_len(&s->plain) == 0)
		buf_reset(&s->plain, s->settings.idle_keep);
	if (buf_len(&s->pending) == 0)
		buf_reset(&s->pending, s->settings.idle_keep);
	if (buf_len(&s->out) == 0)
		buf_reset(&s->out, s->settings.idle_keep);
}

static void stream_mark_dirty(struct stream *s)
{
	if (s->dirty || s->io == NULL)
		return;
	s->dirty = true;
	s->dirty_next = dirty_streams[s->settings.phase];
	dirty_streams[s->settings.phase] = s;
}

void stream_stop(struct stream *s)
{
	if (s->dirty) {
		for (struct stream **p = &dirty_streams[s->settings.phase]; *p != NULL;
		     p = &(*p)->dirty_next) {
			if (*p == s) {
				*p = s->dirty_next;
				break;
			}
		}
		s->dirty = false;
	}
	ev_io_del(s->io);
	s->io = NULL;
	s->ended = true;
}

/* What to watch: nothing is read once the stream ended (a socket at its
 * end would be readable forever), but what is left may still go out. */
static void stream_watch(struct stream *s)
{
	if (s->io == NULL)
		return;
	uint32_t events = s->ended || s->input_paused ? 0 : EV_READ;
	if (s->connecting || buf_len(&s->out) > 0)
		events |= EV_WRITE;
	ev_io_set_events(s->io, events);
}

static void stream_end(struct stream *s, enum stream_end end, const char *reason)
{
	if (s->ended)
		return;
	s->ended = true;
	stream_watch(s);
	s->events->ended(s, end, reason);
}

void stream_connecting(struct stream *s)
{
	s->connecting = true;
	stream_watch(s);
}

int stream_start_tls(struct stream *s, SSL_CTX *ctx, bool client)
{
	int rc = client ? tls_conn_init_client(&s->tls, ctx, &s->raw, &s->out)
			: tls_conn_init(&s->tls, ctx, &s->raw, &s->out);
	if (rc == -1)
		return -1;
	s->tls_active = true;
	s->tls_preamble = true;
	return 0;
}

int stream_tls_preamble(const char *data, size_t len, size_t *skip)
{
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	*skip = i;
	if (i == len)
		return 0;
	/* A record begins with its content type: change_cipher_spec (20),
	 * alert, handshake, application_data or heartbeat (24). */
	unsigned char type = (unsigned char)data[i];
	return type >= 20 && type <= 24 ? 1 : -1;
}

bool stream_secured(const struct stream *s)
{
	return !s->tls_active || s->tls.handshake_done;
}

struct buf *stream_input(struct stream *s)
{
	return s->tls_active ? &s->plain : &s->raw;
}

void stream_stop_input(struct stream *s)
{
	s->input_stopped = true;
}

void stream_pause_input(struct stream *s, bool paused)
{
	if (s->input_paused == paused)
		return;
	s->input_paused = paused;
	stream_watch(s);
}

/* Output */

int stream_writev(struct stream *s, const struct iovec *iov, size_t count)
{
	size_t len = 0;
	for (size_t i = 0; i < count; i++)
		len += iov[i].iov_len;
	struct buf *to = s->tls_active ? &s->pending : &s->out;
	if (s->io == NULL ||
	    buf_len(&s->out) + buf_len(&s->pending) + len > s->settings.output_max ||
	    buf_reserve(to, len) == -1)
		return -1;
	/* Room is reserved for all of it, so no piece can fail half-way. */
	for (size_t i = 0; i < count; i++)
		buf_append(to, iov[i].iov_base, iov[i].iov_len);
	stream_mark_dirty(s);
	stream_count_queued(s);
	return 0;
}

int stream_write(struct stream *s, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	return stream_writev(s, &iov, 1);
}

/* Turns this turn's plain text into one TLS record; -1 if TLS failed. */
static int stream_seal(struct stream *s, char *why, size_t why_size)
{
	if (!s->tls_active || !s->tls.handshake_done || buf_len(&s->pending) == 0)
		return 0;
	enum tls_status status =
	    tls_conn_write(&s->tls, buf_head(&s->pending), buf_len(&s->pending), why, why_size);
	buf_reset(&s->pending, stream_keep(s));
	return status == TLS_OK ? 0 : -1;
}

void stream_shutdown(struct stream *s)
{
	char why[256];
	if (!s->tls_active || !s->tls.handshake_done)
		return;
	if (stream_seal(s, why, sizeof(why)) == 0)
		tls_conn_shutdown(&s->tls);
	stream_mark_dirty(s);
	stream_count_queued(s);
}

/* Sends what the socket takes: 1 when all left, 0 when the socket is full
 * (and watched for room), -1 (errno) when it failed. */
static int stream_send(struct stream *s)
{
	while (buf_len(&s->out) > 0) {
		ssize_t n = send(s->fd, buf_head(&s->out), buf_len(&s->out), MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			stream_watch(s);
			return 0;
		}
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		buf_consume(&s->out, (size_t)n);
	}
	buf_reset(&s->out, stream_keep(s));
	stream_watch(s);
	return 1;
}

int stream_flush(struct stream *s)
{
	char why[256];
	if (s->fd == -1 || stream_seal(s, why, sizeof(why)) == -1)
		return -1;
	int sent = stream_send(s);
	stream_count_queued(s);
	return sent == -1 ? -1 : 0;
}

/* Seals and sends one stream's output; reports the end or the drain. */
static void stream_flush_one(struct stream *s)
{
	char why[256];
	if (stream_seal(s, why, sizeof(why)) == -1) {
		stream_end(s, STREAM_END_TLS, why);
		return;
	}
	if (s->connecting)
		return; /* sent once the connection is made */
	int sent = stream_send(s);
	stream_count_queued(s);
	if (sent == -1)
		stream_end(s, STREAM_END_ERROR, strerror(errno));
	else if (sent == 1 && s->events->drained != NULL && !s->free_asked)
		s->events->drained(s);
}

static bool stream_flush_all(struct ev_loop *loop, void *arg)
{
	struct stream **dirty = arg;
	(void)loop;
	bool flushed = *dirty != NULL;
	while (*dirty != NULL) {
		struct stream *s = *dirty;
		*dirty = s->dirty_next;
		s->dirty = false;
		stream_enter(s);
		stream_flush_one(s);
		stream_leave(s);
	}
	return flushed;
}

/* Input */

/* Drops the whitespace before the peer's first TLS record; false (the
 * stream ended) when something else stands there: plain text is never
 * given to TLS, whose session it would otherwise seem to belong to. */
static bool stream_skip_preamble(struct stream *s)
{
	size_t skip;
	int found = stream_tls_preamble(buf_head(&s->raw), buf_len(&s->raw), &skip);
	buf_consume(&s->raw, skip);
	if (found == 0)
		return true;
	if (found == 1) {
		s->tls_preamble = false;
		return true;
	}
	char why[128];
	unsigned char first = (unsigned char)*buf_head(&s->raw);
	snprintf(why, sizeof(why),
		 "%zu bytes of plain text where the TLS handshake should begin (the first: "
		 "0x%02x); refused, not read",
		 buf_len(&s->raw), first);
	stream_send(s); /* what was written in clear before TLS (<proceed/>) */
	stream_end(s, STREAM_END_TLS, why);
	return false;
}

/* Runs TLS over the raw bytes and hands the plain text over; false when
 * the stream ended or is being freed. */
static bool stream_decrypt(struct stream *s)
{
	char why[256];
	if (s->tls_preamble && !stream_skip_preamble(s))
		return false;
	bool was_done = s->tls.handshake_done;
	enum tls_status status = tls_conn_read(&s->tls, &s->plain, why, sizeof(why));
	if (buf_len(&s->out) > 0)
		stream_mark_dirty(s); /* a handshake flight or an alert */
	if (status == TLS_ERROR) {
		stream_send(s); /* the alert, before the owner closes */
		stream_end(s, STREAM_END_TLS, why);
		return false;
	}
	if (!was_done && s->tls.handshake_done && s->events->secured != NULL) {
		s->events->secured(s);
		if (s->ended || s->free_asked)
			return false;
	}
	if (buf_len(&s->plain) > 0 && !s->input_stopped) {
		s->events->input(s);
		if (s->ended || s->free_asked)
			return false;
	}
	if (status == TLS_CLOSED) {
		stream_end(s, STREAM_END_CLOSED, NULL);
		return false;
	}
	return true;
}

/* Hands over what arrived, again after the owner started TLS on it. */
static void stream_process(struct stream *s)
{
	for (int round = 0; round < STREAM_INPUT_ROUNDS && !s->input_stopped; round++) {
		bool was_tls = s->tls_active;
		if (was_tls) {
			if (!stream_decrypt(s))
				return;
		} else if (buf_len(&s->raw) > 0) {
			s->events->input(s);
			if (s->ended || s->free_asked)
				return;
		}
		if (was_tls || !s->tls_active || buf_len(&s->raw) == 0)
			break;
	}
	if (buf_len(&s->raw) == 0)
		buf_reset(&s->raw, stream_keep(s));
	if (buf_len(&s->plain) == 0)
		buf_reset(&s->plain, stream_keep(s));
}

static void stream_read(struct stream *s)
{
	if (s->input_stopped) {
		char sink[4096];
		ssize_t n = read(s->fd, sink, sizeof(sink));
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			stream_end(s, STREAM_END_CLOSED, NULL);
		return;
	}
	if (buf_reserve(&s->raw, STREAM_READ_CHUNK) == -1) {
		stream_end(s, STREAM_END_FULL, "too much unconsumed input");
		return;
	}
	ssize_t n = recv(s->fd, buf_tail(&s->raw), STREAM_READ_CHUNK, 0);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			stream_end(s, STREAM_END_ERROR, strerror(errno));
		return;
	}
	if (n == 0) {
		stream_end(s, STREAM_END_CLOSED, NULL);
		return;
	}
	buf_commit(&s->raw, (size_t)n);
	stream_process(s);
}

/* The connection is made (or failed); the side that connects speaks first
 * in TLS. */
static void stream_connected(struct stream *s)
{
	int error = 0;
	socklen_t len = sizeof(error);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		error = errno;
	if (error != 0) {
		stream_end(s, STREAM_END_ERROR, strerror(error));
		return;
	}
	s->connecting = false;
	stream_watch(s);
	if (s->tls_active)
		stream_decrypt(s);
	stream_mark_dirty(s);
}

static void stream_io(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	struct stream *s = arg;
	(void)io, (void)fd;
	stream_enter(s);
	if (s->connecting) {
		stream_connected(s);
	} else {
		if (events & EV_WRITE) {
			if (stream_send(s) == -1)
				stream_end(s, STREAM_END_ERROR, strerror(errno));
			else if (buf_len(&s->out) == 0)
				stream_mark_dirty(s); /* the owner hears of the drain */
		}
		if (!s->ended && !s->free_asked && (events & EV_READ) &&
		    (s->events->may_read == NULL || s->events->may_read(s))) {
			stream_read(s);
			if (s->events->read_done != NULL)
				s->events->read_done(s);
		}
	}
	stream_count_queued(s);
	stream_leave(s);
}
