/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-listener: the process that holds client and call-bridge
 * connections of a node.
 *
 * Runs under rxmppd (common/child.c does the handshake).  Receives the
 * listening sockets (LISTEN_SOCKET, at its start and whenever an address
 * comes; LISTEN_CLOSE when one goes) and the call bridges (CALLBRIDGE) from
 * the supervisor and its TLS set from the certificate worker
 * (listener_tls.c), accepts connections once it has both a configuration
 * and a TLS set, runs their streams (listener_conn.c and the files it
 * names), and talks to the router (listener_route.c).
 *
 * If this process dies, rxmppd restarts it with the same bound sockets; the
 * router forgets its sessions, and clients log in again.
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/child.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "listener.h"

/* Three ports on each configured address and interface address. */
#define LISTENER_SOCKETS_MAX 256
/* Out of descriptors or memory: the queue keeps the connections meanwhile. */
#define LISTENER_ACCEPT_PAUSE_MS 100
/* How often memory freed by idle sessions is handed back to the kernel. */
#define LISTENER_TRIM_MS 10000

struct listener listener_state;

struct listener_socket {
	int fd;
	struct ev_io *io;
	struct ev_timer *resume;
	struct proto_listen_socket info;
};

/* A slot whose fd is -1 is free: the event loop holds pointers to the
 * others, so they never move. */
static struct listener_socket sockets[LISTENER_SOCKETS_MAX];
static size_t socket_slots; /* slots used so far, free ones among them */

/* Configured, enabled (rxmppctl disable closes the door) and holding a TLS set. */
static bool listener_open(void)
{
	return listener_state.configured && listener_state.cfg.enabled &&
	       listener_state.tls != NULL;
}

static int64_t listener_resume(struct ev_timer *timer, void *arg)
{
	struct listener_socket *s = arg;
	(void)timer;
	s->resume = NULL;
	ev_io_set_events(s->io, listener_open() ? EV_READ : 0);
	return EV_TIMER_DONE;
}

/* limits.trusted_networks: exempt from the per-address limits. */
static bool listener_trusted(const struct sockaddr *sa, const struct config_limits *limits)
{
	for (uint32_t i = 0; i < limits->trusted_networks.count; i++) {
		if (netaddr_net_contains(&limits->trusted_networks.nets[i], sa))
			return true;
	}
	return false;
}

static void listener_accept_batch(struct ev_io *io, int fd, struct listener_socket *s)
{
	/* Bounded so that one busy port cannot starve the others. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int conn = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
		char peer[NETADDR_PEER_TEXT_MAX], address[NETADDR_TEXT_MAX];
		netaddr_peer_text((struct sockaddr *)&ss, peer, sizeof(peer));
		netaddr_to_text((struct sockaddr *)&ss, address, sizeof(address), NULL);
		const struct config_limits *limits = &listener_state.cfg.limits;
		enum listener_admit_verdict verdict = listener_admit_open(
		    &listener_state.admit, limits, address,
		    listener_trusted((struct sockaddr *)&ss, limits), ev_now(child_loop()));
		if (verdict != LISTENER_ADMIT_OK) {
			static const int limit_of[] = {
			    [LISTENER_ADMIT_RATE] = METRICS_LIMIT_CONNECTION_RATE,
			    [LISTENER_ADMIT_UNAUTHENTICATED] = METRICS_LIMIT_UNAUTHENTICATED,
			    [LISTENER_ADMIT_CONNECTIONS] = METRICS_LIMIT_CONNECTIONS,
			    [LISTENER_ADMIT_NO_MEMORY] = -1,
			};
			if ((size_t)verdict < sizeof(limit_of) / sizeof(limit_of[0]) &&
			    limit_of[verdict] >= 0)
				listener_state.counters.limit_refusals[limit_of[verdict]]++;
			unsigned unauthenticated,
			    count = listener_admit_count(&listener_state.admit, address,
							 &unauthenticated);
			static struct log_limit refused;
			log_warnx_limited(&refused,
					  "%s: refused: %s (%u connections from %s, %u of them "
					  "unauthenticated)",
					  peer, listener_admit_reason(verdict), count, address,
					  unauthenticated);
			close(conn);
			continue;
		}
		log_debug("connection from %s on port %u", peer, s->info.port);
		listener_conn_new(conn, (enum proto_socket_kind)s->info.kind, peer, address);
	}
}

static void listener_accept(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	(void)events;
	/* Accepting is not held back by the log-in budget (listener_pace.c): a
	 * crowd left in the kernel's queue overflows it, and a client whose SYN
	 * is dropped tries again only after 1 s, then 3 s.  It is bounded per
	 * turn all the same, and its time counts against the budget, so the
	 * handshakes of the connections it brings wait their turn. */
	listener_pace_measure();
	listener_accept_batch(io, fd, arg);
	listener_pace_end();
}

static void listener_listen_socket(int fd, const struct proto_listen_socket *info)
{
	size_t slot = 0;
	while (slot < socket_slots && sockets[slot].fd != -1)
		slot++;
	if (slot == LISTENER_SOCKETS_MAX) {
		log_warnx("more than %d listening sockets; ignoring %s port %u",
			  LISTENER_SOCKETS_MAX, info->address, info->port);
		close(fd);
		return;
	}
	struct listener_socket *s = &sockets[slot];
	s->resume = NULL;
	s->info = *info;
	/* Sockets arrive before the configuration and the TLS set: the kernel
	 * queues connections until listener_sockets_update opens the door. */
	s->io = ev_io_add(child_loop(), fd, listener_open() ? EV_READ : 0, listener_accept, s);
	if (s->io == NULL) {
		log_warn("cannot watch %s port %u", info->address, info->port);
		close(fd);
		return;
	}
	s->fd = fd;
	if (slot == socket_slots)
		socket_slots++;
	log_info("accepting on %s port %u%s%s", info->address, info->port,
		 info->interface[0] ? " of " : "", info->interface);
}

static void listener_socket_free(struct listener_socket *s)
{
	ev_timer_del(s->resume);
	ev_io_del(s->io);
	close(s->fd);
	s->fd = -1;
	s->resume = NULL;
	s->io = NULL;
}

/* Connections already accepted on the socket are sessions of their own and
 * stay; only the door closes (and what waits in its queue is refused). */
static void listener_listen_close(const struct proto_listen_socket *info)
{
	for (size_t i = 0; i < socket_slots; i++) {
		if (sockets[i].fd != -1 && sockets[i].info.id == info->id) {
			log_info("no longer accepting on %s port %u", sockets[i].info.address,
				 sockets[i].info.port);
			listener_socket_free(&sockets[i]);
			return;
		}
	}
	log_debug("LISTEN_CLOSE for socket %u, which this listener does not hold", info->id);
}

void listener_sockets_update(void)
{
	bool open = listener_open();
	for (size_t i = 0; i < socket_slots; i++) {
		if (sockets[i].fd != -1 && sockets[i].resume == NULL)
			ev_io_set_events(sockets[i].io, open ? EV_READ : 0);
	}
}

static bool listener_supervisor_message(const struct ipc_msg *msg)
{
	if (msg->type == PROTO_CTL_SESSIONS || msg->type == PROTO_CTL_KICK)
		return listener_admin_message(msg);
	if (msg->type == PROTO_CTL_DRAIN)
		return listener_drain_message(msg);
	struct proto_callbridge bridge;
	if (msg->type != PROTO_CALLBRIDGE || msg->fd != -1 ||
	    ipc_get_data(msg, &bridge, sizeof(bridge)) == -1)
		return false;
	if (listener_state.next_bridge_count == listener_state.next_bridge_cap) {
		size_t cap =
		    listener_state.next_bridge_cap ? 2 * listener_state.next_bridge_cap : 8;
		struct proto_callbridge *grown = buf_wipe_realloc(
		    listener_state.next_bridges, listener_state.next_bridge_cap * sizeof(*grown),
		    cap * sizeof(*grown));
		if (grown == NULL) {
			OPENSSL_cleanse(&bridge, sizeof(bridge));
			return false;
		}
		listener_state.next_bridges = grown;
		listener_state.next_bridge_cap = cap;
	}
	struct proto_callbridge *b =
	    &listener_state.next_bridges[listener_state.next_bridge_count++];
	*b = bridge;
	OPENSSL_cleanse(&bridge, sizeof(bridge));
	b->name[sizeof(b->name) - 1] = '\0';
	b->address[sizeof(b->address) - 1] = '\0';
	b->secret[sizeof(b->secret) - 1] = '\0';
	return true;
}

static int listener_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	bool was_enabled = first || listener_state.cfg.enabled;
	listener_state.cfg = *cfg;
	listener_state.configured = true;
	if (listener_state.tls != NULL)
		tls_context_update(listener_state.tls, &cfg->tls);
	listener_sockets_update();
	if (was_enabled && !cfg->enabled) {
		log_info("disabled: closing every session and accepting no more");
		listener_conns_close_all("the XMPP service was disabled");
	} else if (!was_enabled && cfg->enabled) {
		log_info("enabled: accepting connections again");
	}
	/* The call bridges that came with this configuration replace the old
	 * (only the first bridge_count entries ever held a secret). */
	buf_wipe_free(listener_state.bridges,
		      listener_state.bridge_count * sizeof(*listener_state.bridges));
	listener_state.bridges = listener_state.next_bridges;
	listener_state.bridge_count = listener_state.next_bridge_count;
	listener_state.next_bridges = NULL;
	listener_state.next_bridge_count = listener_state.next_bridge_cap = 0;
	log_info("%s: %zu call bridges%s", first ? "configured" : "reconfigured",
		 listener_state.bridge_count,
		 listener_state.tls == NULL ? "; waiting for the TLS set" : "");
	return 0;
}

static void listener_peer_up(enum proc_role peer)
{
	if (peer == PROC_ROUTER) {
		/* A channel that went before it was up left no peer_down. */
		listener_route_router_gone();
		listener_route_announce_all();
	}
}

static void listener_peer_down(enum proc_role peer)
{
	if (peer == PROC_ROUTER)
		listener_route_router_gone();
}

/* Backpressure (common/ipc.h): client input feeds the channel to the
 * router; it waits while that channel drains.  The router's channel itself
 * is always read, so the router's own pause always ends. */
static void listener_peer_pressure(enum proc_role peer, bool congested)
{
	if (peer == PROC_ROUTER)
		listener_conns_pause_input(congested);
}

static bool listener_peer_message(enum proc_role peer, const struct ipc_msg *msg)
{
	if (peer == PROC_CERTWORKER)
		return listener_tls_message(msg);
	return peer == PROC_ROUTER && msg->fd == -1 && listener_route_message(msg);
}

static bool listener_flush(struct ev_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	/* Before the statistics: shedding ends sessions. */
	bool shed = listener_conns_shed();
	/* The supervisor shows these in rxmppctl status. */
	static struct proto_stats told;
	struct proto_stats now = {.clients = listener_state.index.clients,
				  .components = listener_state.index.components};
	if (memcmp(&now, &told, sizeof(now)) != 0) {
		struct iovec iov = {.iov_base = &now, .iov_len = sizeof(now)};
		if (child_send_supervisor_v(PROTO_STATS, 0, &iov, 1) == 0)
			told = now;
	}
	/* Queued for the IPC phase, which comes after; a connection that
	 * closes in the streams' flush makes the loop pass here again. */
	return shed;
}

/* Idle sessions give their parser and buffers back, but glibc keeps freed
 * small blocks inside the heap; trimming returns whole free pages.  The
 * per-address counts of addresses long gone go first. */
static int64_t listener_trim(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	listener_admit_sweep(&listener_state.admit, &listener_state.cfg.limits,
			     ev_now(listener_state.loop));
	malloc_trim(0);
	return LISTENER_TRIM_MS;
}

static void listener_stop(void)
{
	listener_conns_close_all("the node is shutting down");
	listener_index_free(&listener_state.index);
	listener_admit_free(&listener_state.admit);
	for (size_t i = 0; i < socket_slots; i++) {
		if (sockets[i].fd != -1)
			listener_socket_free(&sockets[i]);
	}
	socket_slots = 0;
	buf_wipe_free(listener_state.bridges,
		      listener_state.bridge_count * sizeof(*listener_state.bridges));
	buf_wipe_free(listener_state.next_bridges,
		      listener_state.next_bridge_count * sizeof(*listener_state.next_bridges));
	listener_state.bridges = listener_state.next_bridges = NULL;
	listener_state.bridge_count = listener_state.next_bridge_count =
	    listener_state.next_bridge_cap = 0;
	SSL_CTX_free(listener_state.tls);
	listener_state.tls = NULL;
}

static int listener_start(const struct config *cfg, bool first, char *why, size_t why_size)
{
	if (first) {
		if (listener_index_init(&listener_state.index) == -1 ||
		    listener_admit_init(&listener_state.admit) == -1 ||
		    listener_client_sm_init() == -1) {
			snprintf(why, why_size, "out of memory");
			return -1;
		}
		listener_state.loop = child_loop();
		ev_hook_add(listener_state.loop, EV_PHASE_STREAMS, listener_flush, NULL);
		ev_hook_add(listener_state.loop, EV_PHASE_STREAMS, listener_pace_turn, NULL);
		ev_timer_add(listener_state.loop, LISTENER_TRIM_MS, listener_trim, NULL);
	}
	return listener_configure(cfg, first, why, why_size);
}

static const struct child_ops listener_ops = {
    .role = PROC_LISTENER,
    .configure = listener_start,
    .listen_socket = listener_listen_socket,
    .listen_close = listener_listen_close,
    .peer_up = listener_peer_up,
    .peer_down = listener_peer_down,
    .peer_pressure = listener_peer_pressure,
    .peer_message = listener_peer_message,
    .supervisor_message = listener_supervisor_message,
    .stop = listener_stop,
    .metrics = listener_metrics,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &listener_ops);
}
