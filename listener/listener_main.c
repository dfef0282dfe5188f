/*
 * rxmpp-listener: the process that holds client and call-bridge connections.
 *
 * Runs under rxmppd (common/child.c does the handshake).  Receives the
 * listening sockets from the supervisor as LISTEN_SOCKET messages and
 * accepts on them; the XMPP streams themselves (TLS, SASL, XEP-0114) are
 * not served yet, so each accepted connection is closed at once.  If this
 * process dies, rxmppd restarts it with the same bound sockets, and the
 * connections the kernel queued meanwhile are accepted by the new one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/child.h"
#include "common/log.h"

#define LISTENER_SOCKETS_MAX 64
/* Out of descriptors or memory: the queue keeps the connections meanwhile. */
#define LISTENER_ACCEPT_PAUSE_MS 100

struct listener_socket {
	int fd;
	struct ev_io *io;
	struct ev_timer *resume;
	struct proto_listen_socket info;
};

static struct listener_socket sockets[LISTENER_SOCKETS_MAX];
static size_t socket_count;

static void listener_format_peer(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(out, size, "[%s]:%u", host, port);
}

static int64_t listener_resume(struct ev_timer *timer, void *arg)
{
	struct listener_socket *s = arg;
	(void)timer;
	s->resume = NULL;
	ev_io_set_events(s->io, EV_READ);
	return EV_TIMER_DONE;
}

static void listener_accept(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	struct listener_socket *s = arg;
	(void)events;
	/* Bounded so that one busy port cannot starve the others. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn =
		    accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (conn == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Level-triggered readiness would report the same
				 * connection again at once: pause instead of spinning. */
				log_warn("accept on %s port %u; pausing %d ms", s->info.address,
					 s->info.port, LISTENER_ACCEPT_PAUSE_MS);
				ev_io_set_events(io, 0);
				s->resume = ev_timer_add(child_loop(), LISTENER_ACCEPT_PAUSE_MS,
							 listener_resume, s);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				log_warn("accept on %s port %u", s->info.address, s->info.port);
			}
			return;
		}
		char name[INET6_ADDRSTRLEN + 16];
		listener_format_peer(&peer, name, sizeof(name));
		log_debug("connection from %s on port %u closed: XMPP streams are not served yet",
			  name, s->info.port);
		close(conn);
	}
}

static void listener_listen_socket(int fd, const struct proto_listen_socket *info)
{
	if (socket_count == LISTENER_SOCKETS_MAX) {
		log_warnx("more than %d listening sockets; ignoring %s port %u",
			  LISTENER_SOCKETS_MAX, info->address, info->port);
		close(fd);
		return;
	}
	struct listener_socket *s = &sockets[socket_count];
	s->fd = fd;
	s->resume = NULL;
	s->info = *info;
	s->io = ev_io_add(child_loop(), fd, EV_READ, listener_accept, s);
	if (s->io == NULL) {
		log_warn("cannot watch %s port %u", info->address, info->port);
		close(fd);
		return;
	}
	socket_count++;
	log_info("accepting on %s port %u", info->address, info->port);
}

static int listener_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	(void)cfg;
	(void)first;
	(void)why;
	(void)why_size;
	return 0;
}

static void listener_stop(void)
{
	for (size_t i = 0; i < socket_count; i++) {
		ev_timer_del(sockets[i].resume);
		ev_io_del(sockets[i].io);
		close(sockets[i].fd);
	}
	socket_count = 0;
}

static const struct child_ops listener_ops = {
    .role = PROC_LISTENER,
    .configure = listener_configure,
    .listen_socket = listener_listen_socket,
    .stop = listener_stop,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &listener_ops);
}
