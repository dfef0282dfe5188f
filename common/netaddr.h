/* SPDX-License-Identifier: MIT */
/*
 * IP addresses as text (the form configurations, membership and DNS answers
 * carry) turned into socket addresses, and back (the form logs and limits
 * name a peer by).
 */
#ifndef RXMPP_NETADDR_H
#define RXMPP_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Fills `ss` and `len` for `address` (IPv4 or IPv6, no brackets, an IPv6
 * address may end in %interface) and `port`; -1 when the text is neither,
 * or names an interface that is not there. */
int netaddr_from_text(const char *address, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len);

/* Room for any text netaddr_to_text and netaddr_peer_text write. */
#define NETADDR_TEXT_MAX      46 /* INET6_ADDRSTRLEN */
#define NETADDR_PEER_TEXT_MAX 56 /* "[", the address, "]:", a port */

/* The address of `sa` as text (no brackets, no zone) into `host` of at least
 * NETADDR_TEXT_MAX bytes, and its port unless `port` is NULL; -1 (and "?",
 * port 0) when `sa` is neither IPv4 nor IPv6. */
int netaddr_to_text(const struct sockaddr *sa, char *host, size_t host_size, uint16_t *port);
/* "[address]:port", how logs name a peer; "[?]:0" for another family. */
void netaddr_peer_text(const struct sockaddr *sa, char *text, size_t text_size);

/* fe80::/10 or 169.254.0.0/16: `raw` is the address of `family` in network
 * order (struct in_addr or in6_addr bytes). */
bool netaddr_is_link_local(int family, const void *raw);

/* An IPv4 or IPv6 network (limits.trusted_networks): `bytes` holds the
 * address in network order (4 or 16 bytes used), host bits zero.  A fixed
 * struct without pointers, so that it travels inside struct config. */
struct netaddr_net {
	uint32_t family; /* AF_INET or AF_INET6 */
	uint32_t prefix; /* 0..32 or 0..128 */
	uint8_t bytes[16];
};

/* Room for any text netaddr_net_format writes ("address/prefix"). */
#define NETADDR_NET_TEXT_MAX (NETADDR_TEXT_MAX + 4)

/* Parses "address/prefix" or a lone address (the network of that one
 * host).  Strict: the address as inet_pton takes it, the prefix in decimal
 * without sign, leading zero or trailing text, at most 32 or 128, and no
 * bits set after the prefix (192.0.2.1/24 is refused: written so, it
 * often means a different network than the one it covers).  -1 with the
 * reason in `why` on error. */
int netaddr_net_parse(const char *text, struct netaddr_net *net, char *why, size_t why_size);
/* The canonical text: "address/prefix". */
void netaddr_net_format(const struct netaddr_net *net, char *text, size_t text_size);
/* Whether `sa` lies in `net`; an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * how a dual-stack socket shows an IPv4 peer) is taken as the IPv4 one. */
bool netaddr_net_contains(const struct netaddr_net *net, const struct sockaddr *sa);

#endif
