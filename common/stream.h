/* SPDX-License-Identifier: MIT */
/*
 * One TCP byte stream, in clear or under TLS: what the listener's client
 * connections (listener_conn.c) and the cluster's peer links (peerlink.c)
 * share.  It holds the socket and its watcher; the buffers (raw bytes from
 * the socket, plain text after TLS, bytes for the socket); the TLS object
 * over them (tls.h); the output of one turn of the loop, gathered and sealed
 * into one TLS record and sent before the loop sleeps; and a free that waits
 * until the stream's own callbacks have returned.  What the bytes mean (an
 * XML stream, frames) is the owner's.
 *
 * The owner's object begins with its struct stream (stream_new allocates the
 * whole object, stream_free frees it), so a callback finds its owner by a
 * cast.  The stream logs nothing: it tells the owner why it ended and the
 * owner, who knows the peer's name, decides what to say.
 */
#ifndef RXMPP_STREAM_H
#define RXMPP_STREAM_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "buf.h"
#include "ev.h"
#include "tls.h"

enum stream_end {
	STREAM_END_CLOSED, /* the peer closed the connection or sent close_notify */
	STREAM_END_ERROR,  /* the socket failed, or the connection could not be made */
	STREAM_END_TLS,	   /* TLS failed (the alert, if any, was sent), or plain
			    * text stood where its first record should */
	STREAM_END_FULL,   /* more input than the owner consumed fits in the buffers */
};

struct stream;

struct stream_events {
	/* New input in stream_input(): decrypted under TLS, as received
	 * otherwise.  The owner consumes what it used; it may start TLS here
	 * (STARTTLS), and what follows in the raw bytes is then decrypted. */
	void (*input)(struct stream *s);
	/* The TLS handshake is complete (optional). */
	void (*secured)(struct stream *s);
	/* Everything written has left (optional); called from the flush
	 * before the loop sleeps. */
	void (*drained)(struct stream *s);
	/* Nothing more will be read; `reason` says what failed (NULL for
	 * STREAM_END_CLOSED).  The owner frees the stream, here or later. */
	void (*ended)(struct stream *s, enum stream_end end, const char *reason);
	/* Optional: asked before the socket is read.  False leaves what waits
	 * there for later: the owner pauses the input (stream_pause_input) and
	 * resumes it when it will take the work (the listener paces log-ins
	 * this way, listener_pace.c). */
	bool (*may_read)(struct stream *s);
	/* Optional: the read that may_read allowed is over, whatever it did
	 * (the stream may be closing: only the owner's bookkeeping is safe). */
	void (*read_done)(struct stream *s);
};

struct stream_settings {
	size_t input_max;	  /* unconsumed input held, raw and plain each */
	size_t output_max;	  /* written and not yet sent */
	size_t idle_keep;	  /* buffer memory kept once a buffer is empty */
	enum ev_hook_phase phase; /* when its output is flushed (ev.h) */
	/* Optional: a sum over many streams of their output not yet sent, kept
	 * up to date by each (the listener's cap over all its clients). */
	size_t *queued_total;
};

struct stream {
	struct ev_loop *loop;
	int fd;
	struct ev_io *io;
	const struct stream_events *events;
	struct stream_settings settings;
	struct buf raw;	    /* bytes from the socket (ciphertext under TLS) */
	struct buf plain;   /* decrypted bytes not yet consumed */
	struct buf out;	    /* bytes for the socket */
	struct buf pending; /* plain text of this turn's TLS record */
	struct tls_conn tls;
	bool tls_active;
	bool tls_preamble;  /* TLS is on and its first record has not begun */
	bool connecting;    /* TCP connect still under way */
	bool input_stopped; /* what arrives is read and dropped */
	bool input_paused;  /* nothing is read for now (backpressure) */
	bool ended;	    /* ended() was called, or stream_stop */
	int depth;	    /* our callbacks on the stack */
	bool free_asked;    /* stream_free waits for them to return */
	bool dirty;	    /* output waits for the flush before the loop sleeps */
	bool busy;	    /* buffers kept between reads (stream_set_busy) */
	size_t queued;	    /* out + pending, as counted in settings.queued_total */
	struct stream *dirty_next;
};

/* Allocates an object of `size` bytes (zeroed) that begins with its struct
 * stream, serving `fd` (taken, closed on failure); NULL when out of memory. */
void *stream_new(size_t size, struct ev_loop *loop, int fd, const struct stream_events *events,
		 const struct stream_settings *settings);
/* Frees the stream and the object around it once no callback of the
 * stream's is running; until then nothing more is reported. */
void stream_free(struct stream *s);
/* Brackets an owner's code that runs outside the stream's callbacks (a
 * timer) and may free the stream; false when it was freed meanwhile. */
void stream_enter(struct stream *s);
bool stream_leave(struct stream *s);

/* The socket's connect() is under way: TLS (if started) begins once it is
 * made, and a failure ends the stream with STREAM_END_ERROR. */
void stream_connecting(struct stream *s);
/* Puts TLS over the stream from here on, as the accepting or the
 * connecting side; -1 when OpenSSL cannot set it up.  Whitespace before the
 * peer's first TLS record is skipped (a STARTTLS client may end its
 * <starttls/> with a newline); any other byte that cannot begin a record
 * ends the stream with STREAM_END_TLS, so plain text sent ahead of the
 * handshake never reaches TLS, let alone the owner as if it came under TLS
 * (the STARTTLS command-injection class of bug). */
int stream_start_tls(struct stream *s, SSL_CTX *ctx, bool client);
/* Where the first TLS record begins in `data`: 1 after `*skip` bytes of
 * whitespace; 0 when all `len` bytes are whitespace (`*skip` = len); -1
 * when the byte at `*skip` is neither whitespace nor the first byte of a
 * TLS record. */
int stream_tls_preamble(const char *data, size_t len, size_t *skip);
/* The TLS handshake is complete (true in clear). */
bool stream_secured(const struct stream *s);

/* Input not consumed yet: plain text, or the raw bytes in clear. */
struct buf *stream_input(struct stream *s);
/* What arrives from now on is read and dropped (the owner is closing). */
void stream_stop_input(struct stream *s);
/* Stops reading the socket for now, or reads again (backpressure: where the
 * input goes is congested).  An end of the connection is still noticed. */
void stream_pause_input(struct stream *s, bool paused);
/* A busy stream keeps its buffers and OpenSSL's record buffers between
 * reads and writes, instead of giving them back each time (their memory,
 * about 34 KiB under TLS, against a malloc, a free and the wiping of a
 * 16 KiB buffer per record); a stream that is no longer busy gives them
 * back now.  For a session in use, not for one logging in or idle. */
void stream_set_busy(struct stream *s, bool busy);
/* No more events and no more output: for an owner that is done with the
 * stream but frees it later. */
void stream_stop(struct stream *s);

/* Queues bytes for the peer; under TLS they join this turn's record.  -1
 * when that would hold more than settings.output_max unsent, or after
 * stream_stop.  A stream that ended may still send (a last error). */
int stream_writev(struct stream *s, const struct iovec *iov, size_t count);
int stream_write(struct stream *s, const void *data, size_t len);
/* Seals what was written and adds TLS close_notify (in clear: nothing). */
void stream_shutdown(struct stream *s);
/* Sends what the socket takes now, reporting nothing; -1 when it failed.
 * For a last word before the process exits; otherwise the flush before
 * the loop sleeps does this. */
int stream_flush(struct stream *s);

#endif
