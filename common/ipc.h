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
 */
#ifndef RXMPP_IPC_H
#define RXMPP_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ev.h"

/* Big enough for the largest stanza the configuration allows plus headers. */
#define IPC_FRAME_MAX (1024u * 1024u + 64u * 1024u)
/* A peer that lets this much pile up unread is considered stuck. */
#define IPC_OUTPUT_MAX (64u * 1024u * 1024u)

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
/* Lowers the largest frame this channel accepts (e.g. for control clients). */
void ipc_channel_set_max_frame(struct ipc_channel *ch, uint32_t max);

/*
 * Queues a frame.  `fd` is -1 or a descriptor whose ownership passes to the
 * channel: it is closed once sent, or when the channel goes away.  Returns -1
 * when the channel is closed or its peer has stopped reading.
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
