/* Cluster peer links; see peerlink.h. */
#include "peerlink.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "netaddr.h"
#include "tls.h"

#define PEERLINK_VERSION 1
/* Connect, TLS and hello must be done by then. */
#define PEERLINK_HANDSHAKE_MS 5000
#define PEERLINK_OUTPUT_MAX   (16u * 1024u * 1024u)

struct peerlink {
	struct ev_loop *loop;
	int fd;
	struct ev_io *io;
	struct ev_timer *deadline;
	struct buf raw;
	struct buf plain;
	struct buf out;
	struct tls_conn tls;
	bool connecting; /* TCP connect still under way */
	bool greeted;	 /* the peer's hello arrived */
	bool closed;
	int depth; /* our callbacks on the stack */
	bool free_asked;
	char peer[160];
	struct peerlink_hello local;
	struct peerlink_hello remote;
	const struct peerlink_events *events;
	void *arg;
	/* Frames of this turn of the loop, sealed into TLS records and sent
	 * together before the loop sleeps (seal_all): one record and one
	 * send for a burst of stanzas instead of two records and a send each. */
	struct buf pending;
	struct peerlink *next_dirty;
	bool dirty;
};

static struct peerlink *dirty_links;

static void link_io(struct ev_io *io, int fd, uint32_t events, void *arg);

static void link_release(struct peerlink *l)
{
	for (struct peerlink **p = &dirty_links; l->dirty && *p != NULL; p = &(*p)->next_dirty) {
		if (*p == l) {
			*p = l->next_dirty;
			break;
		}
	}
	buf_free(&l->pending);
	ev_io_del(l->io);
	ev_timer_del(l->deadline);
	if (l->fd != -1)
		close(l->fd);
	tls_conn_free(&l->tls);
	buf_free(&l->raw);
	buf_free(&l->plain);
	buf_free(&l->out);
	free(l);
}

void peerlink_free(struct peerlink *l)
{
	if (l == NULL)
		return;
	if (l->depth > 0) {
		l->free_asked = true;
		return;
	}
	link_release(l);
}

static void link_close(struct peerlink *l, const char *reason)
{
	if (l->closed)
		return;
	l->closed = true;
	ev_io_del(l->io);
	l->io = NULL;
	ev_timer_del(l->deadline);
	l->deadline = NULL;
	l->depth++;
	l->events->closed(l, reason, l->arg);
	l->depth--;
	/* Closed from outside any callback of ours (a failed send): the owner
	 * freed it in its close callback, and nobody else will finish that. */
	if (l->free_asked && l->depth == 0)
		link_release(l);
}

static void link_flush(struct peerlink *l)
{
	while (!l->closed && buf_len(&l->out) > 0) {
		ssize_t n = send(l->fd, buf_head(&l->out), buf_len(&l->out), MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_set_events(l->io, EV_READ | EV_WRITE);
			return;
		}
		if (n <= 0) {
			link_close(l, strerror(errno));
			return;
		}
		buf_consume(&l->out, (size_t)n);
	}
	if (!l->closed)
		ev_io_set_events(l->io, l->connecting ? EV_WRITE : EV_READ);
}

static int link_write_frame(struct peerlink *l, uint16_t type, const void *data, size_t len)
{
	char why[256];
	struct ipc_header hdr = {.type = type, .len = (uint32_t)(sizeof(hdr) + len)};
	if (l->closed || len > PEERLINK_FRAME_MAX - sizeof(hdr) ||
	    buf_len(&l->out) > PEERLINK_OUTPUT_MAX)
		return -1;
	if (tls_conn_write(&l->tls, &hdr, sizeof(hdr), why, sizeof(why)) != TLS_OK ||
	    tls_conn_write(&l->tls, data, len, why, sizeof(why)) != TLS_OK) {
		log_warnx("cluster link %s: %s", l->peer, why);
		return -1;
	}
	link_flush(l);
	return 0;
}

/* Seals what the link gathered this turn; the link may be gone after it. */
static void link_seal(struct peerlink *l)
{
	char why[256];
	if (l->closed || buf_len(&l->pending) == 0)
		return;
	enum tls_status status =
	    tls_conn_write(&l->tls, buf_head(&l->pending), buf_len(&l->pending), why, sizeof(why));
	buf_reset(&l->pending, PEERLINK_FRAME_MAX);
	if (status != TLS_OK) {
		log_warnx("cluster link %s: %s", l->peer, why);
		link_close(l, why);
		return;
	}
	link_flush(l);
}

static bool seal_all(struct ev_loop *loop, void *arg)
{
	(void)loop, (void)arg;
	bool sealed = dirty_links != NULL;
	while (dirty_links != NULL) {
		struct peerlink *l = dirty_links;
		dirty_links = l->next_dirty;
		l->dirty = false;
		link_seal(l);
	}
	return sealed;
}

int peerlink_sendv(struct peerlink *l, uint16_t type, const struct iovec *iov, size_t count)
{
	if (!l->greeted || !l->tls.handshake_done || l->closed)
		return -1;
	size_t len = 0;
	for (size_t i = 0; i < count; i++)
		len += iov[i].iov_len;
	struct ipc_header hdr = {.type = type, .len = (uint32_t)(sizeof(hdr) + len)};
	if (len > PEERLINK_FRAME_MAX - sizeof(hdr) ||
	    buf_len(&l->out) + buf_len(&l->pending) > PEERLINK_OUTPUT_MAX ||
	    buf_reserve(&l->pending, sizeof(hdr) + len) == -1)
		return -1;
	/* Room is reserved for the whole frame, so no piece can fail half-way. */
	buf_append(&l->pending, &hdr, sizeof(hdr));
	for (size_t i = 0; i < count; i++)
		buf_append(&l->pending, iov[i].iov_base, iov[i].iov_len);
	if (!l->dirty) {
		if (ev_hook_add(l->loop, EV_PHASE_PEERLINKS, seal_all, NULL) == -1) {
			link_seal(l);
			return 0;
		}
		l->dirty = true;
		l->next_dirty = dirty_links;
		dirty_links = l;
	}
	return 0;
}

int peerlink_send(struct peerlink *l, uint16_t type, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	return peerlink_sendv(l, type, &iov, 1);
}

static void link_fail(struct peerlink *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void link_fail(struct peerlink *l, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warnx("cluster link %s: %s; closing it", l->peer, reason);
	link_close(l, reason);
}

static void link_frames(struct peerlink *l)
{
	while (!l->closed && !l->free_asked && buf_len(&l->plain) >= sizeof(struct ipc_header)) {
		struct ipc_header hdr;
		memcpy(&hdr, buf_head(&l->plain), sizeof(hdr));
		if (hdr.len < sizeof(hdr) || hdr.len > PEERLINK_FRAME_MAX || hdr.flags != 0) {
			link_fail(l, "bad frame (type %u, length %u)", hdr.type, hdr.len);
			return;
		}
		if (buf_len(&l->plain) < hdr.len)
			return;
		struct ipc_msg msg = {
		    .type = hdr.type,
		    .peer = hdr.peer,
		    .data = buf_head(&l->plain) + sizeof(hdr),
		    .len = hdr.len - sizeof(hdr),
		    .fd = -1,
		};
		if (!l->greeted) {
			if (msg.type != PEERLINK_HELLO || msg.len != sizeof(l->remote)) {
				link_fail(l, "no hello");
				return;
			}
			memcpy(&l->remote, msg.data, sizeof(l->remote));
			l->remote.address[sizeof(l->remote.address) - 1] = '\0';
			if (l->remote.version != PEERLINK_VERSION ||
			    l->remote.kind != l->local.kind || l->remote.node_id == 0) {
				link_fail(l, "hello of version %u, kind %u; expected %d, %u",
					  l->remote.version, l->remote.kind, PEERLINK_VERSION,
					  l->local.kind);
				return;
			}
			l->greeted = true;
			ev_timer_del(l->deadline);
			l->deadline = NULL;
			buf_consume(&l->plain, hdr.len);
			l->events->up(l, l->arg);
			continue;
		}
		l->events->message(l, &msg, l->arg);
		buf_consume(&l->plain, hdr.len);
	}
}

static void link_read(struct peerlink *l)
{
	char why[256];
	if (buf_reserve(&l->raw, 16384) == -1) {
		link_fail(l, "input buffer full");
		return;
	}
	ssize_t n = recv(l->fd, buf_tail(&l->raw), buf_room(&l->raw), 0);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			link_close(l, strerror(errno));
		return;
	}
	if (n == 0) {
		link_close(l, NULL);
		return;
	}
	buf_commit(&l->raw, (size_t)n);
	bool was_done = l->tls.handshake_done;
	enum tls_status status = tls_conn_read(&l->tls, &l->plain, why, sizeof(why));
	if (status == TLS_ERROR) {
		link_flush(l); /* the alert, if any */
		link_fail(l, "TLS: %s", why);
		return;
	}
	if (!was_done && l->tls.handshake_done)
		link_write_frame(l, PEERLINK_HELLO, &l->local, sizeof(l->local));
	link_flush(l);
	if (status == TLS_CLOSED) {
		link_close(l, NULL);
		return;
	}
	link_frames(l);
}

static void link_io(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	struct peerlink *l = arg;
	(void)io;
	(void)fd;
	l->depth++;
	if (l->connecting && (events & (EV_WRITE | EV_READ))) {
		int error = 0;
		socklen_t len = sizeof(error);
		getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &error, &len);
		if (error != 0) {
			link_close(l, strerror(error));
			goto done;
		}
		l->connecting = false;
		/* The client speaks first in TLS. */
		char why[256];
		if (tls_conn_read(&l->tls, &l->plain, why, sizeof(why)) == TLS_ERROR) {
			link_fail(l, "TLS: %s", why);
			goto done;
		}
		link_flush(l);
		goto done;
	}
	if (events & EV_WRITE)
		link_flush(l);
	if (!l->closed && (events & EV_READ))
		link_read(l);
done:
	l->depth--;
	if (l->free_asked && l->depth == 0)
		link_release(l);
}

static int64_t link_deadline(struct ev_timer *timer, void *arg)
{
	struct peerlink *l = arg;
	(void)timer;
	l->deadline = NULL;
	l->depth++;
	link_fail(l, "no TLS handshake and hello within %d ms", PEERLINK_HANDSHAKE_MS);
	l->depth--;
	if (l->free_asked && l->depth == 0)
		link_release(l);
	return EV_TIMER_DONE;
}

static struct peerlink *link_new(struct ev_loop *loop, int fd, const char *peer,
				 const struct peerlink_hello *hello,
				 const struct peerlink_events *events, void *arg)
{
	/* Writes are gathered per turn of the loop already; with Nagle the next
	 * batch would wait for the peer's delayed ACK (40 ms) while the one
	 * before is unacknowledged (measured: p99 of cluster-chat, PERFORMANCE.md). */
	int on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	struct peerlink *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		close(fd);
		return NULL;
	}
	l->loop = loop;
	l->fd = fd;
	l->local = *hello;
	l->local.version = PEERLINK_VERSION;
	l->events = events;
	l->arg = arg;
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	buf_init(&l->raw, 2 * PEERLINK_FRAME_MAX);
	buf_init(&l->plain, 2 * PEERLINK_FRAME_MAX);
	buf_init(&l->out, PEERLINK_OUTPUT_MAX + PEERLINK_FRAME_MAX);
	buf_init(&l->pending, PEERLINK_OUTPUT_MAX + PEERLINK_FRAME_MAX);
	l->io = ev_io_add(loop, fd, EV_READ, link_io, l);
	l->deadline = ev_timer_add(loop, PEERLINK_HANDSHAKE_MS, link_deadline, l);
	if (l->io == NULL || l->deadline == NULL) {
		link_release(l);
		return NULL;
	}
	return l;
}

/* Serves an accepted connection; takes `fd`. */
static struct peerlink *link_accept(struct ev_loop *loop, SSL_CTX *ctx, int fd, const char *peer,
				    const struct peerlink_hello *hello,
				    const struct peerlink_events *events, void *arg)
{
	struct peerlink *l = link_new(loop, fd, peer, hello, events, arg);
	if (l != NULL && tls_conn_init(&l->tls, ctx, &l->raw, &l->out) == -1) {
		link_release(l);
		return NULL;
	}
	return l;
}

/* "host:port", "[v6]:port" */
static int split_address(const char *address, char *host, size_t host_size, char *port,
			 size_t port_size)
{
	const char *colon = strrchr(address, ':');
	if (colon == NULL || colon[1] == '\0')
		return -1;
	const char *start = address, *end = colon;
	if (address[0] == '[') {
		start = address + 1;
		if (colon[-1] != ']')
			return -1;
		end = colon - 1;
	}
	if ((size_t)(end - start) >= host_size || strlen(colon + 1) >= port_size)
		return -1;
	snprintf(host, host_size, "%.*s", (int)(end - start), start);
	snprintf(port, port_size, "%s", colon + 1);
	return 0;
}

struct peerlink *peerlink_connect(struct ev_loop *loop, SSL_CTX *ctx, const char *address,
				  const struct peerlink_hello *hello,
				  const struct peerlink_events *events, void *arg, char *why,
				  size_t why_size)
{
	char host[128], port[16];
	if (split_address(address, host, sizeof(host), port, sizeof(port)) == -1) {
		snprintf(why, why_size, "'%s' is not host:port", address);
		return NULL;
	}
	/* Cluster addresses are IP addresses or names in /etc/hosts in any
	 * sane deployment; a slow resolver would stall this loop briefly. */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(why, why_size, "%s: %s", address, gai_strerror(rc));
		return NULL;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    (connect(fd, res->ai_addr, res->ai_addrlen) == -1 && errno != EINPROGRESS)) {
		snprintf(why, why_size, "%s: %s", address, strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return NULL;
	}
	freeaddrinfo(res);
	struct peerlink *l = link_new(loop, fd, address, hello, events, arg);
	if (l == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	if (tls_conn_init_client(&l->tls, ctx, &l->raw, &l->out) == -1) {
		snprintf(why, why_size, "TLS set-up failed");
		link_release(l);
		return NULL;
	}
	l->connecting = true;
	ev_io_set_events(l->io, EV_WRITE);
	return l;
}

/* Listening */

/* Out of descriptors or memory: the kernel keeps the connections queued. */
#define PEERLINK_ACCEPT_PAUSE_MS 100
/* Connections taken per readiness, so one socket cannot starve the loop. */
#define PEERLINK_ACCEPT_BURST 16

struct peerlink_listener {
	struct ev_loop *loop;
	int fd;
	struct ev_io *io;
	struct ev_timer *resume;
	char what[32];
	peerlink_admit_cb *admit;
	void *arg;
};

static int64_t listener_resume(struct ev_timer *timer, void *arg)
{
	struct peerlink_listener *pl = arg;
	(void)timer;
	pl->resume = NULL;
	ev_io_set_events(pl->io, EV_READ);
	return EV_TIMER_DONE;
}

static void listener_accept(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	struct peerlink_listener *pl = arg;
	(void)io, (void)events;
	for (int i = 0; i < PEERLINK_ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int conn = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (conn == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Readiness would report the same connection at once. */
				log_warn("%s: accept; pausing %d ms", pl->what,
					 PEERLINK_ACCEPT_PAUSE_MS);
				ev_io_set_events(pl->io, 0);
				pl->resume = ev_timer_add(pl->loop, PEERLINK_ACCEPT_PAUSE_MS,
							  listener_resume, pl);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				log_warn("%s: accept", pl->what);
			}
			return;
		}
		char peer[NETADDR_PEER_TEXT_MAX];
		netaddr_peer_text((struct sockaddr *)&ss, peer, sizeof(peer));
		struct peerlink_admission a = {0};
		const char *refusal = "refused";
		if (pl->admit(&a, &refusal, pl->arg) == -1) {
			log_warnx("%s from %s refused: %s", pl->what, peer, refusal);
			close(conn);
			continue;
		}
		*a.slot = link_accept(pl->loop, a.ctx, conn, peer, &a.hello, a.events, a.arg);
		if (*a.slot == NULL)
			log_warnx("%s from %s refused: out of memory", pl->what, peer);
	}
}

struct peerlink_listener *peerlink_listen(struct ev_loop *loop, int fd, const char *what,
					  peerlink_admit_cb *admit, void *arg)
{
	struct peerlink_listener *pl = calloc(1, sizeof(*pl));
	if (pl == NULL) {
		close(fd);
		return NULL;
	}
	*pl = (struct peerlink_listener){.loop = loop, .fd = fd, .admit = admit, .arg = arg};
	snprintf(pl->what, sizeof(pl->what), "%s", what);
	pl->io = ev_io_add(loop, fd, EV_READ, listener_accept, pl);
	if (pl->io == NULL) {
		peerlink_listener_free(pl);
		return NULL;
	}
	return pl;
}

void peerlink_listener_free(struct peerlink_listener *pl)
{
	if (pl == NULL)
		return;
	ev_io_del(pl->io);
	ev_timer_del(pl->resume);
	close(pl->fd);
	free(pl);
}

bool peerlink_is_up(const struct peerlink *l)
{
	return l->greeted && !l->closed;
}

const struct peerlink_hello *peerlink_remote(const struct peerlink *l)
{
	return &l->remote;
}

const char *peerlink_peer(const struct peerlink *l)
{
	return l->peer;
}

void peerlink_set_arg(struct peerlink *l, void *arg)
{
	l->arg = arg;
}
