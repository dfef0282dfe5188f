/* SPDX-License-Identifier: MIT */
/*
 * IPC framing over nonblocking Unix stream sockets; see ipc.h.
 *
 * Descriptors: the sender attaches a frame's descriptor to the sendmsg that
 * carries the frame's first byte, and never to an earlier frame's bytes.
 * Linux delivers it with those bytes and ends the read there, so the
 * receiver sees every descriptor no later than the header of its frame and
 * can keep them in arrival order and hand each to the next frame flagged
 * IPC_FLAG_FD.
 *
 * Frames carry call-bridge secrets and decrypted stanzas, so both ends wipe
 * them once done (a sensitive input buffer, OPENSSL_cleanse on output).
 */
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define IPC_READ_CHUNK	     (64u * 1024u)
#define IPC_READS_PER_WAKEUP 16
#define IPC_FDS_QUEUED_MAX   16
#define IPC_IOV_MAX	     64

struct ipc_out {
	struct ipc_out *next;
	size_t len;
	size_t sent;
	int fd;
	char data[];
};

struct ipc_channel {
	struct ev_loop *loop;
	int fd;
	struct ev_io *io;
	char name[48];
	uint32_t max_frame;
	struct buf in;
	int in_fds[IPC_FDS_QUEUED_MAX];
	size_t in_fd_count;
	struct ipc_out *out_head;
	struct ipc_out **out_tail;
	size_t out_bytes;
	ipc_msg_cb *on_msg;
	ipc_close_cb *on_close;
	void *arg;
	ipc_pressure_cb *on_pressure;
	int depth;	   /* nesting of our callbacks on the stack */
	bool closed;	   /* peer gone or cut off; on_close called */
	bool free_asked;   /* ipc_channel_free called while callbacks ran */
	bool congested;	   /* above IPC_OUTPUT_HIGH, not yet below IPC_OUTPUT_LOW */
	bool input_paused; /* the owner stopped reading (backpressure) */
	/* Channels with queued output, flushed by the before-sleep hook. */
	struct ipc_channel *dirty_next;
	struct ipc_channel **dirty_prev;
};

static struct ipc_channel *ipc_dirty_head;

static void ipc_readable(struct ev_io *io, int fd, uint32_t events, void *arg);

static void ipc_dirty_remove(struct ipc_channel *ch)
{
	if (ch->dirty_prev == NULL)
		return;
	*ch->dirty_prev = ch->dirty_next;
	if (ch->dirty_next != NULL)
		ch->dirty_next->dirty_prev = ch->dirty_prev;
	ch->dirty_next = NULL;
	ch->dirty_prev = NULL;
}

static void ipc_dirty_add(struct ipc_channel *ch)
{
	if (ch->dirty_prev != NULL)
		return;
	ch->dirty_next = ipc_dirty_head;
	if (ipc_dirty_head != NULL)
		ipc_dirty_head->dirty_prev = &ch->dirty_next;
	ipc_dirty_head = ch;
	ch->dirty_prev = &ipc_dirty_head;
}

static bool ipc_flush_dirty(struct ev_loop *loop, void *arg)
{
	(void)arg;
	bool flushed = false;
	/* Close callbacks may free other channels, so restart from the head
	 * each time; every flush takes its channel off the list. */
	for (;;) {
		struct ipc_channel *ch = ipc_dirty_head;
		while (ch != NULL && ch->loop != loop)
			ch = ch->dirty_next;
		if (ch == NULL)
			return flushed;
		ipc_dirty_remove(ch);
		ipc_flush(ch);
		flushed = true;
	}
}

struct ipc_channel *ipc_channel_new(struct ev_loop *loop, int fd, const char *name,
				    ipc_msg_cb *on_msg, ipc_close_cb *on_close, void *arg)
{
	struct ipc_channel *ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		goto fail;
	int flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		goto fail;
	if (ev_hook_add(loop, EV_PHASE_IPC, ipc_flush_dirty, NULL) == -1)
		goto fail;
	ch->loop = loop;
	ch->fd = fd;
	ch->max_frame = IPC_FRAME_MAX;
	ch->on_msg = on_msg;
	ch->on_close = on_close;
	ch->arg = arg;
	ch->out_tail = &ch->out_head;
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	buf_init(&ch->in, IPC_FRAME_MAX + IPC_READ_CHUNK);
	buf_set_sensitive(&ch->in);
	ch->io = ev_io_add(loop, fd, EV_READ, ipc_readable, ch);
	if (ch->io == NULL)
		goto fail;
	return ch;
fail:
	free(ch);
	close(fd);
	return NULL;
}

void ipc_channel_set_max_frame(struct ipc_channel *ch, uint32_t max)
{
	if (max < ch->max_frame)
		ch->max_frame = max;
}

size_t ipc_pending_output(const struct ipc_channel *ch)
{
	return ch->out_bytes;
}

void ipc_channel_set_pressure(struct ipc_channel *ch, ipc_pressure_cb *on_pressure)
{
	ch->on_pressure = on_pressure;
}

bool ipc_channel_congested(const struct ipc_channel *ch)
{
	return ch->congested;
}

/* The events to watch: input unless paused, output while some waits. */
static void ipc_watch(struct ipc_channel *ch, bool want_write)
{
	if (ch->io == NULL)
		return;
	ev_io_set_events(ch->io, (ch->input_paused ? 0 : EV_READ) | (want_write ? EV_WRITE : 0));
}

void ipc_channel_pause_input(struct ipc_channel *ch, bool paused)
{
	if (ch->input_paused == paused || ch->closed)
		return;
	ch->input_paused = paused;
	/* Output still waiting for room is being watched already; keep it so. */
	ipc_watch(ch, ch->out_head != NULL && ch->dirty_prev == NULL);
}

static void ipc_pressure(struct ipc_channel *ch, bool congested)
{
	ch->congested = congested;
	if (ch->on_pressure != NULL)
		ch->on_pressure(ch, congested, ch->arg);
}

static void ipc_release(struct ipc_channel *ch)
{
	ipc_dirty_remove(ch);
	ev_io_del(ch->io);
	close(ch->fd);
	while (ch->out_head != NULL) {
		struct ipc_out *out = ch->out_head;
		ch->out_head = out->next;
		if (out->fd != -1)
			close(out->fd);
		buf_wipe_free(out, sizeof(*out) + out->len);
	}
	for (size_t i = 0; i < ch->in_fd_count; i++)
		close(ch->in_fds[i]);
	buf_free(&ch->in);
	free(ch);
}

void ipc_channel_free(struct ipc_channel *ch)
{
	if (ch == NULL)
		return;
	if (ch->depth > 0) {
		ch->free_asked = true;
		return;
	}
	ipc_release(ch);
}

/* Stops all traffic and tells the owner, once. */
static void ipc_close(struct ipc_channel *ch, const char *reason)
{
	if (ch->closed)
		return;
	ch->closed = true;
	ev_io_del(ch->io);
	ch->io = NULL;
	ipc_dirty_remove(ch);
	ch->depth++;
	ch->on_close(ch, reason, ch->arg);
	ch->depth--;
	if (ch->free_asked && ch->depth == 0)
		ipc_release(ch);
}

int ipc_get_data(const struct ipc_msg *msg, void *out, size_t size)
{
	if (msg->len != size) {
		errno = EBADMSG;
		return -1;
	}
	if (size > 0)
		memcpy(out, msg->data, size);
	return 0;
}

void ipc_channel_fail(struct ipc_channel *ch, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s; closing the channel", ch->name, reason);
	ipc_close(ch, reason);
}

/* Output */

int ipc_sendv(struct ipc_channel *ch, uint16_t type, uint64_t peer, const struct iovec *iov,
	      int iovcnt, int fd)
{
	size_t len = sizeof(struct ipc_header);
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;

	int refusal = 0;
	if (ch->closed)
		refusal = EPIPE;
	else if (len > IPC_FRAME_MAX)
		refusal = EMSGSIZE;
	else if (ch->out_bytes + len > IPC_OUTPUT_MAX)
		refusal = ENOBUFS; /* over budget: refused, the channel stays */
	if (refusal != 0) {
		if (fd != -1)
			close(fd);
		errno = refusal;
		return -1;
	}
	struct ipc_out *out = malloc(sizeof(*out) + len);
	if (out == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	struct ipc_header hdr = {
	    .type = type,
	    .flags = fd != -1 ? IPC_FLAG_FD : 0,
	    .len = (uint32_t)len,
	    .peer = peer,
	};
	memcpy(out->data, &hdr, sizeof(hdr));
	size_t off = sizeof(hdr);
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0)
			memcpy(out->data + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	out->next = NULL;
	out->len = len;
	out->sent = 0;
	out->fd = fd;
	*ch->out_tail = out;
	ch->out_tail = &out->next;
	ch->out_bytes += len;
	ipc_dirty_add(ch);
	if (!ch->congested && ch->out_bytes > IPC_OUTPUT_HIGH)
		ipc_pressure(ch, true);
	return 0;
}

int ipc_send(struct ipc_channel *ch, uint16_t type, uint64_t peer, const void *data, size_t len,
	     int fd)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	return ipc_sendv(ch, type, peer, &iov, len > 0 ? 1 : 0, fd);
}

/* Sends one batch: frames from the head, up to (not including) the next
 * frame that carries a descriptor, so each descriptor rides with its own
 * frame's first byte. */
static ssize_t ipc_send_batch(struct ipc_channel *ch)
{
	struct iovec iov[IPC_IOV_MAX];
	int iovcnt = 0;
	int fd = -1;

	for (struct ipc_out *out = ch->out_head; out != NULL && iovcnt < IPC_IOV_MAX;
	     out = out->next) {
		if (out->fd != -1) {
			if (iovcnt > 0)
				break;
			fd = out->fd;
		}
		iov[iovcnt].iov_base = out->data + out->sent;
		iov[iovcnt].iov_len = out->len - out->sent;
		iovcnt++;
	}

	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
	if (fd != -1) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof(control.space);
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(ch->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n > 0 && fd != -1) {
		/* The descriptor left with the first byte; never send it twice. */
		close(ch->out_head->fd);
		ch->out_head->fd = -1;
	}
	return n;
}

/* Below the low-water mark again: the owner may read its input again. */
static void ipc_flush_relieved(struct ipc_channel *ch)
{
	if (ch->congested && ch->out_bytes < IPC_OUTPUT_LOW)
		ipc_pressure(ch, false);
}

void ipc_flush(struct ipc_channel *ch)
{
	if (ch->closed)
		return;
	while (ch->out_head != NULL) {
		ssize_t n = ipc_send_batch(ch);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ipc_dirty_remove(ch);
				ipc_watch(ch, true);
				ipc_flush_relieved(ch);
				return;
			}
			log_warn("%s: write", ch->name);
			ipc_close(ch, strerror(errno));
			return;
		}
		size_t left = (size_t)n;
		while (left > 0) {
			struct ipc_out *out = ch->out_head;
			size_t rest = out->len - out->sent;
			if (left < rest) {
				out->sent += left;
				break;
			}
			left -= rest;
			ch->out_bytes -= out->len;
			ch->out_head = out->next;
			if (ch->out_head == NULL)
				ch->out_tail = &ch->out_head;
			buf_wipe_free(out, sizeof(*out) + out->len);
		}
	}
	ipc_dirty_remove(ch);
	ipc_watch(ch, false);
	ipc_flush_relieved(ch);
}

/* Input */

static int ipc_take_fds(struct ipc_channel *ch, struct msghdr *msg)
{
	int rc = 0;
	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	     cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (ch->in_fd_count == IPC_FDS_QUEUED_MAX) {
				close(fd);
				rc = -1;
				continue;
			}
			ch->in_fds[ch->in_fd_count++] = fd;
		}
	}
	return rc;
}

static int ipc_pop_fd(struct ipc_channel *ch)
{
	if (ch->in_fd_count == 0)
		return -1;
	int fd = ch->in_fds[0];
	ch->in_fd_count--;
	memmove(ch->in_fds, ch->in_fds + 1, ch->in_fd_count * sizeof(int));
	return fd;
}

/* Hands every complete frame to the owner; false once the channel closed. */
static bool ipc_dispatch(struct ipc_channel *ch)
{
	while (!ch->closed && !ch->free_asked && buf_len(&ch->in) >= sizeof(struct ipc_header)) {
		struct ipc_header hdr;
		memcpy(&hdr, buf_head(&ch->in), sizeof(hdr));
		if (hdr.len < sizeof(hdr) || hdr.len > ch->max_frame) {
			ipc_channel_fail(ch, "frame of type %u with bad length %u (limit %u)",
					 hdr.type, hdr.len, ch->max_frame);
			return false;
		}
		if ((hdr.flags & ~IPC_FLAG_FD) != 0) {
			ipc_channel_fail(ch, "frame of type %u with unknown flags 0x%x", hdr.type,
					 hdr.flags);
			return false;
		}
		if (buf_len(&ch->in) < hdr.len)
			break;
		struct ipc_msg msg = {
		    .type = hdr.type,
		    .peer = hdr.peer,
		    .data = buf_head(&ch->in) + sizeof(hdr),
		    .len = hdr.len - sizeof(hdr),
		    .fd = -1,
		};
		if (hdr.flags & IPC_FLAG_FD) {
			msg.fd = ipc_pop_fd(ch);
			if (msg.fd == -1) {
				ipc_channel_fail(
				    ch,
				    "frame of type %u announces a descriptor that did not arrive",
				    hdr.type);
				return false;
			}
		}
		ch->on_msg(ch, &msg, ch->arg);
		buf_consume(&ch->in, hdr.len);
	}
	return !ch->closed && !ch->free_asked;
}

static void ipc_read_some(struct ipc_channel *ch)
{
	for (int reads = 0; reads < IPC_READS_PER_WAKEUP; reads++) {
		if (buf_reserve(&ch->in, IPC_READ_CHUNK) == -1) {
			ipc_channel_fail(ch, "input buffer full");
			return;
		}
		union {
			struct cmsghdr hdr;
			char space[CMSG_SPACE(4 * sizeof(int))];
		} control;
		struct iovec iov = {.iov_base = buf_tail(&ch->in), .iov_len = buf_room(&ch->in)};
		struct msghdr msg = {
		    .msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = control.space,
		    .msg_controllen = sizeof(control.space),
		};
		ssize_t n = recvmsg(ch->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_warn("%s: read", ch->name);
			ipc_close(ch, strerror(errno));
			return;
		}
		if (ipc_take_fds(ch, &msg) == -1 || (msg.msg_flags & MSG_CTRUNC)) {
			ipc_channel_fail(ch, "the peer sent more descriptors than frames");
			return;
		}
		if (n == 0) {
			if (buf_len(&ch->in) > 0)
				ipc_channel_fail(ch, "end of file inside a frame (%zu bytes)",
						 buf_len(&ch->in));
			else
				ipc_close(ch, NULL);
			return;
		}
		buf_commit(&ch->in, (size_t)n);
		if (!ipc_dispatch(ch) || ch->input_paused)
			return;
	}
}

static void ipc_readable(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	struct ipc_channel *ch = arg;
	(void)io;
	(void)fd;

	ch->depth++;
	if (events & EV_WRITE)
		ipc_flush(ch);
	if ((events & EV_READ) && !ch->closed && !ch->free_asked)
		ipc_read_some(ch);
	ch->depth--;
	if (ch->free_asked && ch->depth == 0)
		ipc_release(ch);
}
