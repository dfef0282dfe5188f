/* SPDX-License-Identifier: MIT */
/* Cluster peer links; see peerlink.h. */
#include "peerlink.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "stream.h"

/* Connect, TLS and hello must be done by then. */
#define PEERLINK_HANDSHAKE_MS 5000
#define PEERLINK_OUTPUT_MAX   (16u * 1024u * 1024u)
/* Pieces of one frame in peerlink_sendv. */
#define PEERLINK_IOV_MAX 8

struct peerlink {
	struct stream stream; /* first: see stream.h */
	struct ev_timer *deadline;
	bool greeted;	  /* the peer's hello arrived */
	unsigned version; /* agreed in the hellos */
	bool closed;
	/* A frame could not be queued: every later one is refused, so that
	 * none overtakes it, and the link closes on the next turn (closing it
	 * inside the owner's send would free it under the owner's feet); the
	 * owner's recovery, on the next link, sends again what was lost. */
	bool broken;
	/* Accepted and not yet greeted: the listener owns it (see below). */
	struct peerlink_listener *pending_in;
	char source[NETADDR_TEXT_MAX];			/* the peer's address, without the port */
	uint8_t fingerprint[PEERLINK_FINGERPRINT_SIZE]; /* of the peer's certificate */
	char peer[160];
	struct peerlink_hello local;
	struct peerlink_hello remote;
	const struct peerlink_events *events;
	void *arg;
};
_Static_assert(offsetof(struct peerlink, stream) == 0, "a link begins with its stream");

void peerlink_pause_input(struct peerlink *l, bool paused)
{
	stream_pause_input(&l->stream, paused);
}

void peerlink_free(struct peerlink *l)
{
	if (l == NULL)
		return;
	ev_timer_del(l->deadline);
	l->deadline = NULL;
	stream_free(&l->stream);
}

static void pending_forget(struct peerlink *l);

static void link_close(struct peerlink *l, const char *reason)
{
	if (l->closed)
		return;
	l->closed = true;
	stream_stop(&l->stream);
	ev_timer_del(l->deadline);
	l->deadline = NULL;
	if (l->pending_in != NULL) {
		/* Its owner never heard of it. */
		pending_forget(l);
		peerlink_free(l);
		return;
	}
	/* The owner frees the link in its callback; held until it returns. */
	stream_enter(&l->stream);
	l->events->closed(l, reason, l->arg);
	stream_leave(&l->stream);
}

static void link_fail(struct peerlink *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void link_fail(struct peerlink *l, const char *fmt, ...)
{
	char reason[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* Before the hello anyone who can reach the port can cause this line;
	 * after it, any holder of a trusted certificate. */
	static struct log_limit before_hello, after_hello;
	log_warnx_limited(l->greeted ? &after_hello : &before_hello,
			  "cluster link %s: %s; closing it", l->peer, reason);
	link_close(l, reason);
}

/* One frame: the header, then the pieces, in this turn's TLS record. */
static int link_write_frame(struct peerlink *l, uint16_t type, const struct iovec *iov,
			    size_t count)
{
	struct iovec all[1 + PEERLINK_IOV_MAX];
	size_t len = 0;
	if (count > PEERLINK_IOV_MAX)
		return -1;
	for (size_t i = 0; i < count; i++) {
		all[1 + i] = iov[i];
		len += iov[i].iov_len;
	}
	struct ipc_header hdr = {.type = type, .len = (uint32_t)(sizeof(hdr) + len)};
	if (len > PEERLINK_FRAME_MAX - sizeof(hdr))
		return -1;
	all[0] = (struct iovec){.iov_base = &hdr, .iov_len = sizeof(hdr)};
	return stream_writev(&l->stream, all, 1 + count);
}

static int64_t link_broken(struct ev_timer *timer, void *arg)
{
	struct peerlink *l = arg;
	(void)timer;
	l->deadline = NULL;
	stream_enter(&l->stream);
	link_fail(l, "a frame could not be queued (the peer does not read, or no memory)");
	stream_leave(&l->stream);
	return EV_TIMER_DONE;
}

size_t peerlink_queued(const struct peerlink *l)
{
	return buf_len(&l->stream.out) + buf_len(&l->stream.pending);
}

int peerlink_sendv(struct peerlink *l, uint16_t type, const struct iovec *iov, size_t count)
{
	if (!l->greeted || l->closed || l->broken)
		return -1;
	if (link_write_frame(l, type, iov, count) == 0)
		return 0;
	l->broken = true;
	/* The handshake deadline is gone once greeted: its timer is free. */
	l->deadline = ev_timer_add(l->stream.loop, 0, link_broken, l);
	if (l->deadline == NULL)
		stream_stop(&l->stream); /* no timer: the peer sees the end instead */
	return -1;
}

int peerlink_send(struct peerlink *l, uint16_t type, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	return peerlink_sendv(l, type, &iov, 1);
}

static void link_hello(struct peerlink *l, const struct ipc_msg *msg)
{
	if (msg->type != PEERLINK_HELLO || msg->len != sizeof(l->remote)) {
		link_fail(l, "no hello");
		return;
	}
	memcpy(&l->remote, msg->data, sizeof(l->remote));
	if (memchr(l->remote.address, '\0', sizeof(l->remote.address)) == NULL) {
		link_fail(l, "a hello with an address without its end");
		return;
	}
	for (const char *p = l->remote.address; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f) {
			link_fail(l, "a hello with control characters or spaces in its address");
			return;
		}
	}
	if (l->remote.kind != l->local.kind || l->remote.node_id == 0) {
		link_fail(l, "a hello of kind %u for node %016" PRIx64 "; expected kind %u",
			  l->remote.kind, l->remote.node_id, l->local.kind);
		return;
	}
	char why[300];
	l->version =
	    peerlink_version_agree(PEERLINK_VERSION_MIN, PEERLINK_VERSION, l->remote.version_min,
				   l->remote.version, why, sizeof(why));
	if (l->version == 0) {
		link_fail(l, "%s", why);
		return;
	}
	l->greeted = true;
	ev_timer_del(l->deadline);
	l->deadline = NULL;
	if (l->pending_in != NULL)
		pending_forget(l);
	l->events->up(l, l->arg);
}

static void link_input(struct stream *s)
{
	struct peerlink *l = (struct peerlink *)s;
	struct buf *plain = stream_input(s);
	while (!l->closed && !s->free_asked && buf_len(plain) >= sizeof(struct ipc_header)) {
		struct ipc_header hdr;
		memcpy(&hdr, buf_head(plain), sizeof(hdr));
		if (hdr.len < sizeof(hdr) || hdr.len > PEERLINK_FRAME_MAX || hdr.flags != 0) {
			link_fail(l, "bad frame (type %u, length %u)", hdr.type, hdr.len);
			return;
		}
		if (buf_len(plain) < hdr.len)
			return;
		struct ipc_msg msg = {
		    .type = hdr.type,
		    .peer = hdr.peer,
		    .data = buf_head(plain) + sizeof(hdr),
		    .len = hdr.len - sizeof(hdr),
		    .fd = -1,
		};
		if (!l->greeted)
			link_hello(l, &msg);
		else
			l->events->message(l, &msg, l->arg);
		buf_consume(plain, hdr.len);
	}
}

/* TLS is up: the hello goes first. */
static void link_secured(struct stream *s)
{
	struct peerlink *l = (struct peerlink *)s;
	/* Who the peer is, from here on, is its certificate (the context asks
	 * for one and refuses a handshake without). */
	X509 *cert = SSL_get0_peer_certificate(s->tls.ssl);
	unsigned int len = 0;
	if (cert == NULL || X509_digest(cert, EVP_sha256(), l->fingerprint, &len) != 1 ||
	    len != sizeof(l->fingerprint)) {
		link_fail(l, "no certificate to know the peer by");
		return;
	}
	struct iovec iov = {.iov_base = &l->local, .iov_len = sizeof(l->local)};
	if (link_write_frame(l, PEERLINK_HELLO, &iov, 1) == -1)
		link_fail(l, "cannot send the hello");
}

static void link_ended(struct stream *s, enum stream_end end, const char *reason)
{
	struct peerlink *l = (struct peerlink *)s;
	switch (end) {
	case STREAM_END_TLS:
		link_fail(l, "TLS: %s", reason);
		return;
	case STREAM_END_FULL:
		link_fail(l, "input buffer full");
		return;
	case STREAM_END_ERROR:
	case STREAM_END_CLOSED:
		link_close(l, reason);
		return;
	}
}

static const struct stream_events link_stream_events = {
    .input = link_input,
    .secured = link_secured,
    .ended = link_ended,
};

static int64_t link_deadline(struct ev_timer *timer, void *arg)
{
	struct peerlink *l = arg;
	(void)timer;
	l->deadline = NULL;
	stream_enter(&l->stream);
	link_fail(l, "no TLS handshake and hello within %d ms", PEERLINK_HANDSHAKE_MS);
	stream_leave(&l->stream);
	return EV_TIMER_DONE;
}

/* A link over `fd` (taken) with TLS as the accepting or connecting side. */
static struct peerlink *link_new(struct ev_loop *loop, SSL_CTX *ctx, bool client, int fd,
				 const char *peer, const struct peerlink_hello *hello,
				 const struct peerlink_events *events, void *arg)
{
	static const struct stream_settings settings = {
	    .input_max = 2 * PEERLINK_FRAME_MAX,
	    /* Checked before a frame is added, as the frame may be a large one. */
	    .output_max = PEERLINK_OUTPUT_MAX + PEERLINK_FRAME_MAX,
	    .idle_keep = PEERLINK_FRAME_MAX,
	    .phase = EV_PHASE_PEERLINKS,
	};
	struct peerlink *l = stream_new(sizeof(*l), loop, fd, &link_stream_events, &settings);
	if (l == NULL)
		return NULL;
	l->local = *hello;
	l->local.version = PEERLINK_VERSION;
	l->local.version_min = PEERLINK_VERSION_MIN;
	l->events = events;
	l->arg = arg;
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	l->deadline = ev_timer_add(loop, PEERLINK_HANDSHAKE_MS, link_deadline, l);
	if (l->deadline == NULL || stream_start_tls(&l->stream, ctx, client) == -1) {
		peerlink_free(l);
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
	struct peerlink *l = link_new(loop, ctx, true, fd, address, hello, events, arg);
	if (l == NULL) {
		snprintf(why, why_size, "out of memory or TLS set-up failed");
		return NULL;
	}
	stream_connecting(&l->stream);
	return l;
}

/* Listening
 *
 * A connection that has not yet proved who it is (TLS and hello) is
 * pending: the listener owns it, and its owner hears of it only when it is
 * up.  Pending links are few per source address and few in all, and a new
 * connection is always taken: when its source (or the listener) is at its
 * budget, the oldest pending link of that source (or of all) is closed.
 * Idle connections from anywhere can then never keep a member out: its
 * handshake takes milliseconds, theirs would have to keep arriving faster.
 * Nothing here takes an owner's slot before the peer is authenticated. */

/* Out of descriptors or memory: the kernel keeps the connections queued. */
#define PEERLINK_ACCEPT_PAUSE_MS 100
/* Connections taken per readiness, so one socket cannot starve the loop. */
#define PEERLINK_ACCEPT_BURST	    16
#define PEERLINK_PENDING_PER_SOURCE 4
#define PEERLINK_PENDING_MAX	    32

struct peerlink_listener {
	struct ev_loop *loop;
	int fd;
	struct ev_io *io;
	struct ev_timer *resume;
	char what[32];
	peerlink_admit_cb *admit;
	void *arg;
	struct peerlink *pending[PEERLINK_PENDING_MAX]; /* oldest first */
	size_t pending_count;
};

static void pending_forget(struct peerlink *l)
{
	struct peerlink_listener *pl = l->pending_in;
	l->pending_in = NULL;
	for (size_t i = 0; i < pl->pending_count; i++) {
		if (pl->pending[i] == l) {
			memmove(&pl->pending[i], &pl->pending[i + 1],
				(pl->pending_count - i - 1) * sizeof(pl->pending[0]));
			pl->pending_count--;
			return;
		}
	}
}

/* Room for one more pending link from `source`, made by closing the
 * oldest one of that source, or of all, if need be. */
static void pending_make_room(struct peerlink_listener *pl, const char *source)
{
	static struct log_limit evicted;
	struct peerlink *oldest = NULL;
	unsigned from_source = 0;
	for (size_t i = 0; i < pl->pending_count; i++) {
		if (strcmp(pl->pending[i]->source, source) == 0 && from_source++ == 0)
			oldest = pl->pending[i];
	}
	if (from_source < PEERLINK_PENDING_PER_SOURCE) {
		if (pl->pending_count < PEERLINK_PENDING_MAX)
			return;
		oldest = pl->pending[0];
	}
	log_warnx_limited(&evicted,
			  "%s from %s: closed before its handshake to make room for a newer "
			  "connection (%u pending from there, %zu in all)",
			  pl->what, oldest->peer, from_source, pl->pending_count);
	/* Not inside any callback of its stream: freed at once. */
	link_close(oldest, NULL);
}

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
		char peer[NETADDR_PEER_TEXT_MAX], source[NETADDR_TEXT_MAX];
		netaddr_peer_text((struct sockaddr *)&ss, peer, sizeof(peer));
		netaddr_to_text((struct sockaddr *)&ss, source, sizeof(source), NULL);
		struct peerlink_admission a = {0};
		const char *refusal = "refused";
		static struct log_limit refused;
		if (pl->admit(&a, &refusal, pl->arg) == -1) {
			log_warnx_limited(&refused, "%s from %s refused: %s", pl->what, peer,
					  refusal);
			close(conn);
			continue;
		}
		pending_make_room(pl, source);
		struct peerlink *l =
		    link_new(pl->loop, a.ctx, false, conn, peer, &a.hello, a.events, a.arg);
		if (l == NULL) {
			log_warnx_limited(&refused, "%s from %s refused: out of memory", pl->what,
					  peer);
			continue;
		}
		l->pending_in = pl;
		snprintf(l->source, sizeof(l->source), "%s", source);
		pl->pending[pl->pending_count++] = l;
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
	while (pl->pending_count > 0) {
		struct peerlink *l = pl->pending[0];
		pending_forget(l);
		peerlink_free(l);
	}
	free(pl);
}

bool peerlink_is_up(const struct peerlink *l)
{
	return l->greeted && !l->closed && !l->broken;
}

unsigned peerlink_version_agree(unsigned local_min, unsigned local_max, unsigned remote_min,
				unsigned remote_max, char *why, size_t why_size)
{
	if (remote_min == 0)
		remote_min = remote_max;
	unsigned agreed = remote_max < local_max ? remote_max : local_max;
	if (remote_min <= remote_max && agreed >= local_min && agreed >= remote_min)
		return agreed;
	const char *todo;
	if (remote_min > remote_max)
		todo = "a hello that is not rxmpp's";
	else if (remote_max < local_min)
		todo =
		    "upgrade that node (one release behind: one node at a time; older: stop "
		    "every node, upgrade all, start them; README \"Upgrades and compatibility\")";
	else
		todo = "this node is older than that one: upgrade this node";
	snprintf(why, why_size,
		 "it speaks protocol versions %u to %u, this node (rxmpp %s) %u to %u: %s",
		 remote_min, remote_max, RXMPP_VERSION, local_min, local_max, todo);
	return 0;
}

unsigned peerlink_version(const struct peerlink *l)
{
	return l->version;
}

const struct peerlink_hello *peerlink_remote(const struct peerlink *l)
{
	return &l->remote;
}

const uint8_t *peerlink_fingerprint(const struct peerlink *l)
{
	return l->fingerprint;
}

X509 *peerlink_certificate(const struct peerlink *l)
{
	return SSL_get0_peer_certificate(l->stream.tls.ssl);
}

const char *peerlink_peer(const struct peerlink *l)
{
	return l->peer;
}
