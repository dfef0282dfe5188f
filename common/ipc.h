/* SPDX-License-Identifier: MIT */
/*
 * One framing for every channel between rxmpp processes (and rxmppctl):
 * a fixed 16-byte header -- type, flags, total length, peer/session id --
 * then the payload.  A descriptor may ride along with a frame (SCM_RIGHTS).
 *
 * Channels are nonblocking SOCK_STREAM Unix sockets.  Frames queued with
 * ipc_send() during one round of the event loop go out together, with one
 * writev-style sendmsg, just before the loop sleeps.  Reads take as many
 * frames as arrived.  A peer that sends a malformed or oversized frame is
 * cut off: the channel is closed, one warning is logged, and the owner's
 * close callback decides what that means (the supervisor restarts the peer).
 *
 * Backpressure, the one policy for a queue that grows: a channel is never
 * closed because its peer reads slowly.
 *  - When the output queued on a channel rises above IPC_OUTPUT_HIGH, the
 *    channel is congested: the owner's pressure callback hears it and stops
 *    reading the input that feeds the channel, until the queue falls below
 *    IPC_OUTPUT_LOW and the callback hears that too.  The listener stops
 *    reading client sockets while its channel to the router is congested;
 *    the router stops reading the listener's channel while its channel to
 *    the listener is congested.  The listener never stops reading the
 *    router's channel, so the pauses cannot wait on each other in a circle.
 *  - A frame that would take the queue beyond IPC_OUTPUT_MAX (the budget) is
 *    refused: ipc_send fails with ENOBUFS, nothing is queued, the channel
 *    stays open, and the sender answers what it could not pass on (the
 *    stanza's sender gets an error) instead of dropping it silently.
 */
#ifndef RXMPP_IPC_H
#define RXMPP_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ev.h"

/* Big enough for the largest stanza the configuration allows plus headers. */
#define IPC_FRAME_MAX (1024u * 1024u + 64u * 1024u)
/* Backpressure (above): congested above HIGH until below LOW; frames
 * beyond MAX are refused. */
#define IPC_OUTPUT_HIGH (16u * 1024u * 1024u)
#define IPC_OUTPUT_LOW	(4u * 1024u * 1024u)
#define IPC_OUTPUT_MAX	(64u * 1024u * 1024u)

#define IPC_FLAG_FD 0x0001u

struct ipc_header {
	uint16_t type;
	uint16_t flags;
	uint32_t len; /* header included */
	uint64_t peer;
};
_Static_assert(sizeof(struct ipc_header) == 16, "the IPC header is 16 bytes on the wire");

struct ipc_msg {
	uint16_t type;
	uint64_t peer;
	const void *data;
	size_t len;
	int fd; /* -1, or a descriptor the callback now owns */
};

struct ipc_channel;

typedef void ipc_msg_cb(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg);
/* `reason` is NULL for an orderly end of file.  Called once; the owner then
 * frees the channel with ipc_channel_free (it may do so inside this callback). */
typedef void ipc_close_cb(struct ipc_channel *ch, const char *reason, void *arg);

/* Takes ownership of `fd` (made nonblocking here). `name` titles log lines. */
struct ipc_channel *ipc_channel_new(struct ev_loop *loop, int fd, const char *name,
				    ipc_msg_cb *on_msg, ipc_close_cb *on_close, void *arg);
void ipc_channel_free(struct ipc_channel *ch);
/* The channel became congested (true) or drained below the low-water mark
 * (false); see the policy above.  May run inside ipc_send or ipc_flush: it
 * must only pause or resume input, never send on or free the channel. */
typedef void ipc_pressure_cb(struct ipc_channel *ch, bool congested, void *arg);
void ipc_channel_set_pressure(struct ipc_channel *ch, ipc_pressure_cb *on_pressure);
bool ipc_channel_congested(const struct ipc_channel *ch);
/* Stops (or resumes) reading frames from the peer; what was already read is
 * still handed over, and an end of file or error is still noticed. */
void ipc_channel_pause_input(struct ipc_channel *ch, bool paused);
/* Lowers the largest frame this channel accepts (e.g. for control clients). */
void ipc_channel_set_max_frame(struct ipc_channel *ch, uint32_t max);

/*
 * Queues a frame.  `fd` is -1 or a descriptor whose ownership passes to the
 * channel: it is closed once sent, or when the channel goes away.  Returns -1
 * when the channel is closed (EPIPE), the frame is too large (EMSGSIZE) or
 * the queue is beyond its budget (ENOBUFS; the channel stays open).
 */
int ipc_send(struct ipc_channel *ch, uint16_t type, uint64_t peer, const void *data, size_t len,
	     int fd);
int ipc_sendv(struct ipc_channel *ch, uint16_t type, uint64_t peer, const struct iovec *iov,
	      int iovcnt, int fd);
/* Writes what the kernel takes now; the loop does this before each sleep.
 * A write error closes the channel here (the close callback runs). */
void ipc_flush(struct ipc_channel *ch);
size_t ipc_pending_output(const struct ipc_channel *ch);

/*
 * Copies a payload that must be exactly `size` bytes (a fixed struct) into
 * `out`, as OpenBSD's imsg_get_data does; -1 (errno EBADMSG) when its size
 * differs, and `out` is left alone: the caller then refuses the message.
 */
int ipc_get_data(const struct ipc_msg *msg, void *out, size_t size);

/* Logs `fmt` as a protocol violation by the peer and closes the channel. */
void ipc_channel_fail(struct ipc_channel *ch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
