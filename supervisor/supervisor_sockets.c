/*
 * The listening sockets.  The supervisor opens them (so the listener can run
 * without the right to bind, and a restarted listener finds the same bound
 * sockets with the connections the kernel queued meanwhile) and hands
 * duplicates to each new listener with SCM_RIGHTS.  On a reload, sockets
 * whose address and port stay are kept as they are: the running listener
 * still holds them, so they could not be bound a second time anyway.
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

	/* The configuration allows only IP addresses and "any" (config.c). */
	netaddr_from_text(any ? "::" : address, port, &ss, &len);
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

int sockets_update(const struct config *cfg, struct listen_set *set, char *why, size_t why_size)
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
	size_t max = cfg->listen.address_count * (sizeof(ports) / sizeof(ports[0]));
	struct listen_set next = {.sockets = calloc(max, sizeof(struct listen_socket))};
	bool *fresh = calloc(max, sizeof(bool));

	if (next.sockets == NULL || fresh == NULL) {
		snprintf(why, why_size, "out of memory");
		free(next.sockets);
		free(fresh);
		return -1;
	}
	for (size_t p = 0; p < sizeof(ports) / sizeof(ports[0]); p++) {
		if (ports[p].port == CONFIG_NONE)
			continue;
		for (uint32_t a = 0; a < cfg->listen.address_count; a++) {
			const char *address = cfg->listen.addresses[a];
			uint16_t port = (uint16_t)ports[p].port;
			struct listen_socket *s = &next.sockets[next.count];
			struct listen_socket *kept =
			    sockets_find(set, ports[p].kind, address, port);
			if (kept != NULL) {
				*s = *kept;
				kept->fd = -1;
			} else {
				s->fd = sockets_bind_one(address, port, why, why_size);
				if (s->fd == -1)
					goto fail;
				fresh[next.count] = true;
				s->kind = ports[p].kind;
				s->port = port;
				snprintf(s->address, sizeof(s->address), "%s", address);
			}
			next.count++;
		}
	}
	/* What the old set still holds is no longer wanted. */
	sockets_close(set);
	*set = next;
	free(fresh);
	return 0;
fail:
	/* Give the kept sockets back and close only what this call opened. */
	for (size_t i = 0; i < next.count; i++) {
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
	free(next.sockets);
	free(fresh);
	return -1;
}

void sockets_close(struct listen_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		if (set->sockets[i].fd != -1)
			close(set->sockets[i].fd);
	}
	free(set->sockets);
	set->sockets = NULL;
	set->count = 0;
}
