/* SPDX-License-Identifier: MIT */
/*
 * The listening sockets.  The supervisor opens them (so the listener can run
 * without the right to bind, and a restarted listener finds the same bound
 * sockets with the connections the kernel queued meanwhile) and hands
 * duplicates to each new listener with SCM_RIGHTS.  On a reload or a change
 * of a listened interface's addresses, sockets whose address and port stay
 * are kept as they are: the running listener still holds them, so they
 * could not be bound a second time anyway; the caller hears of each socket
 * opened or closed and tells the process that uses it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "supervisor.h"

#define LISTEN_BACKLOG 1024

static int sockets_bind_one(const char *address, uint16_t port, char *why, size_t why_size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool any = strcmp(address, "any") == 0;
	bool dual_stack = any;

	/* Addresses come from the configuration (checked in config.c) or the
	 * kernel; a link-local one whose interface just left does not parse. */
	if (netaddr_from_text(any ? "::" : address, port, &ss, &len) == -1) {
		snprintf(why, why_size, "cannot listen on %s port %u: its interface is gone",
			 address, port);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && any && errno == EAFNOSUPPORT) {
		/* No IPv6 on this host: "any" is every IPv4 address. */
		netaddr_from_text("0.0.0.0", port, &ss, &len);
		dual_stack = false;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd == -1) {
		snprintf(why, why_size, "socket for %s port %u: %s", address, port,
			 strerror(errno));
		return -1;
	}
	int on = 1, off = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &off : &on, sizeof(int));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		/* The packaged service runs without capabilities (rxmppd(8)). */
		snprintf(why, why_size, "cannot listen on %s port %u: %s%s", address, port,
			 strerror(errno),
			 errno == EACCES && port < 1024
			     ? " (a port below 1024 needs CAP_NET_BIND_SERVICE; see rxmppd(8))"
			     : "");
		close(fd);
		return -1;
	}
	return fd;
}

static struct listen_socket *sockets_find(struct listen_set *set, enum proto_socket_kind kind,
					  const char *address, uint16_t port)
{
	for (size_t i = 0; i < set->count; i++) {
		struct listen_socket *s = &set->sockets[i];
		if (s->fd != -1 && s->kind == kind && s->port == port &&
		    strcmp(s->address, address) == 0)
			return s;
	}
	return NULL;
}

/* One socket the configuration asks for. */
struct wanted {
	enum proto_socket_kind kind;
	uint16_t port;
	const char *address;
	const char *interface; /* NULL: from the configuration, so it must bind */
};

static size_t wanted_list(const struct config *cfg, const struct interface_address *extra,
			  size_t extra_count, struct wanted *out)
{
	struct {
		enum proto_socket_kind kind;
		uint32_t port;
	} ports[] = {
	    {PROTO_SOCKET_CLIENT, cfg->listen.client_port},
	    {PROTO_SOCKET_COMPONENT, cfg->listen.component_port},
	    {PROTO_SOCKET_CLIENT_TLS, cfg->listen.direct_tls_port},
	    {PROTO_SOCKET_CLUSTER, cfg->cluster.enabled ? cfg->cluster.port : CONFIG_NONE},
	    {PROTO_SOCKET_STANZAS, cfg->cluster.enabled ? cfg->cluster.port + 1 : CONFIG_NONE},
	};
	size_t n = 0;
	for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
		if (ports[p].port == CONFIG_NONE)
			continue;
		uint16_t port = (uint16_t)ports[p].port;
		bool cluster =
		    ports[p].kind == PROTO_SOCKET_CLUSTER || ports[p].kind == PROTO_SOCKET_STANZAS;
		size_t configured = 0;
		for (uint32_t a = 0; a < cfg->listen.address_count; a++) {
			if (config_address_is_interface(cfg->listen.addresses[a]))
				continue;
			out[n++] =
			    (struct wanted){ports[p].kind, port, cfg->listen.addresses[a], NULL};
			configured++;
		}
		/* Peer links must not come and go with an interface's addresses (a
		 * leader that lost its socket for a moment would start an election):
		 * with interfaces alone they take every address, guarded by mutual
		 * TLS, and the other nodes dial cluster.address. */
		if (cluster && configured == 0)
			out[n++] = (struct wanted){ports[p].kind, port, "any", NULL};
		if (cluster)
			continue;
		for (size_t e = 0; e < extra_count; e++)
			out[n++] = (struct wanted){ports[p].kind, port, extra[e].address,
						   extra[e].interface};
	}
	return n;
}

int supervisor_sockets_update(const struct config *cfg, struct listen_set *set,
			      sockets_changed_fn *changed, char *why, size_t why_size)
{
	static uint32_t next_id = 1;
	const struct interface_address *extra;
	size_t extra_count = supervisor_interfaces_addresses(&extra);
	size_t max = 5 * ((size_t)cfg->listen.address_count + extra_count + 1);
	struct wanted *wanted = calloc(max, sizeof(*wanted));
	struct listen_set next = {.sockets = calloc(max, sizeof(struct listen_socket))};
	bool *fresh = calloc(max, sizeof(bool));

	if (wanted == NULL || next.sockets == NULL || fresh == NULL) {
		snprintf(why, why_size, "out of memory");
		goto fail;
	}
	size_t count = wanted_list(cfg, extra, extra_count, wanted);
	for (size_t i = 0; i < count; i++) {
		const struct wanted *w = &wanted[i];
		struct listen_socket *s = &next.sockets[next.count];
		struct listen_socket *kept = sockets_find(set, w->kind, w->address, w->port);
		if (kept != NULL) {
			*s = *kept;
			kept->fd = -1;
			next.count++;
			continue;
		}
		char failed[512];
		s->fd = sockets_bind_one(w->address, w->port, failed, sizeof(failed));
		if (s->fd == -1 && w->interface == NULL) {
			snprintf(why, why_size, "%s", failed);
			goto fail;
		}
		if (s->fd == -1) {
			/* Gone again already, or the port is taken: the next change of
			 * the interface tries again. */
			log_warnx("%s (an address of %s)", failed, w->interface);
			continue;
		}
		fresh[next.count] = true;
		s->id = next_id++;
		s->kind = w->kind;
		s->port = w->port;
		snprintf(s->address, sizeof(s->address), "%s", w->address);
		snprintf(s->interface, sizeof(s->interface), "%s",
			 w->interface ? w->interface : "");
		next.count++;
	}
	/* What the old set still holds is no longer wanted. */
	for (size_t i = 0; i < set->count; i++) {
		if (set->sockets[i].fd != -1 && changed != NULL)
			changed(&set->sockets[i], false);
	}
	supervisor_sockets_close(set);
	*set = next;
	for (size_t i = 0; i < next.count; i++) {
		if (fresh[i] && changed != NULL)
			changed(&next.sockets[i], true);
	}
	free(wanted);
	free(fresh);
	return 0;
fail:
	/* Give the kept sockets back and close only what this call opened. */
	for (size_t i = 0; next.sockets != NULL && i < next.count; i++) {
		struct listen_socket *s = &next.sockets[i];
		if (fresh[i]) {
			close(s->fd);
			continue;
		}
		for (size_t j = 0; j < set->count; j++) {
			struct listen_socket *old = &set->sockets[j];
			if (old->fd == -1 && old->kind == s->kind && old->port == s->port &&
			    strcmp(old->address, s->address) == 0) {
				old->fd = s->fd;
				break;
			}
		}
	}
	free(wanted);
	free(next.sockets);
	free(fresh);
	return -1;
}

void supervisor_sockets_describe(const struct listen_socket *s, struct proto_listen_socket *out)
{
	*out = (struct proto_listen_socket){.kind = s->kind, .id = s->id, .port = s->port};
	snprintf(out->address, sizeof(out->address), "%s", s->address);
	snprintf(out->interface, sizeof(out->interface), "%s", s->interface);
}

void supervisor_sockets_close(struct listen_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		if (set->sockets[i].fd != -1)
			close(set->sockets[i].fd);
	}
	free(set->sockets);
	set->sockets = NULL;
	set->count = 0;
}
