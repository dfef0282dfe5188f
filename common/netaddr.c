/* SPDX-License-Identifier: MIT */
#include "netaddr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
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

int netaddr_net_parse(const char *text, struct netaddr_net *net, char *why, size_t why_size)
{
	memset(net, 0, sizeof(*net));
	char address[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t length = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (length == 0 || length >= sizeof(address))
		goto bad;
	memcpy(address, text, length);
	address[length] = '\0';
	if (inet_pton(AF_INET, address, net->bytes) == 1)
		net->family = AF_INET;
	else if (inet_pton(AF_INET6, address, net->bytes) == 1)
		net->family = AF_INET6;
	else
		goto bad;
	uint32_t bits = net->family == AF_INET ? 32 : 128;
	net->prefix = bits;
	if (slash != NULL) {
		const char *digits = slash + 1;
		size_t count = strspn(digits, "0123456789");
		if (count == 0 || count > 3 || digits[count] != '\0' ||
		    (digits[0] == '0' && count > 1))
			goto bad;
		net->prefix = (uint32_t)atoi(digits);
		if (net->prefix > bits)
			goto bad;
	}
	for (uint32_t bit = net->prefix; bit < bits; bit++) {
		if (net->bytes[bit / 8] & (0x80u >> (bit % 8))) {
			char canonical[NETADDR_NET_TEXT_MAX];
			struct netaddr_net fixed = *net;
			for (uint32_t b = net->prefix; b < bits; b++)
				fixed.bytes[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
			netaddr_net_format(&fixed, canonical, sizeof(canonical));
			snprintf(why, why_size,
				 "a network without host bits after the prefix (%s covers %s)",
				 text, canonical);
			return -1;
		}
	}
	return 0;
bad:
	snprintf(why, why_size,
		 "an IPv4 or IPv6 network such as 192.0.2.0/24 or \"2001:db8::/32\", or one "
		 "address");
	return -1;
}

void netaddr_net_format(const struct netaddr_net *net, char *text, size_t text_size)
{
	char address[INET6_ADDRSTRLEN];
	if (inet_ntop((int)net->family, net->bytes, address, sizeof(address)) == NULL)
		snprintf(address, sizeof(address), "?");
	snprintf(text, text_size, "%s/%u", address, net->prefix);
}

bool netaddr_net_contains(const struct netaddr_net *net, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *raw;
	int family = sa->sa_family;
	if (family == AF_INET) {
		raw = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		raw = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		if (net->family == AF_INET && memcmp(raw, mapped, sizeof(mapped)) == 0) {
			raw += sizeof(mapped);
			family = AF_INET;
		}
	} else {
		return false;
	}
	if ((uint32_t)family != net->family)
		return false;
	uint32_t whole = net->prefix / 8, rest = net->prefix % 8;
	if (memcmp(raw, net->bytes, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (raw[whole] & mask) == net->bytes[whole];
}
