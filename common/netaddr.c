/* SPDX-License-Identifier: MIT */
#include "netaddr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int netaddr_from_text(const char *address, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	/* A link-local IPv6 address names its interface after '%' (RFC 4007). */
	char plain[INET6_ADDRSTRLEN];
	const char *zone = strchr(address, '%');
	if (zone != NULL) {
		size_t length = (size_t)(zone - address);
		if (length >= sizeof(plain))
			return -1;
		memcpy(plain, address, length);
		plain[length] = '\0';
		sin6->sin6_scope_id = if_nametoindex(zone + 1);
		if (sin6->sin6_scope_id == 0)
			return -1;
		address = plain;
	}
	if (inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

_Static_assert(NETADDR_TEXT_MAX >= INET6_ADDRSTRLEN, "room for any IPv6 address");
_Static_assert(NETADDR_PEER_TEXT_MAX >= NETADDR_TEXT_MAX + sizeof("[]:65535") - 1,
	       "room for brackets and a port");

int netaddr_to_text(const struct sockaddr *sa, char *host, size_t host_size, uint16_t *port)
{
	const void *raw = NULL;
	uint16_t net_port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		raw = &sin->sin_addr;
		net_port = sin->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		raw = &sin6->sin6_addr;
		net_port = sin6->sin6_port;
	}
	if (port != NULL)
		*port = ntohs(net_port);
	if (raw == NULL || inet_ntop(sa->sa_family, raw, host, (socklen_t)host_size) == NULL) {
		snprintf(host, host_size, "?");
		return -1;
	}
	return 0;
}

void netaddr_peer_text(const struct sockaddr *sa, char *text, size_t text_size)
{
	char host[NETADDR_TEXT_MAX];
	uint16_t port;
	netaddr_to_text(sa, host, sizeof(host), &port);
	snprintf(text, text_size, "[%s]:%u", host, port);
}

bool netaddr_is_link_local(int family, const void *raw)
{
	if (family == AF_INET6) {
		struct in6_addr a6;
		memcpy(&a6, raw, sizeof(a6));
		return IN6_IS_ADDR_LINKLOCAL(&a6);
	}
	const unsigned char *a4 = raw;
	return family == AF_INET && a4[0] == 169 && a4[1] == 254;
}
