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

#endif
