/*
 * IP addresses as text (the form configurations, membership and DNS answers
 * carry) turned into socket addresses.
 */
#ifndef RXMPP_NETADDR_H
#define RXMPP_NETADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Fills `ss` and `len` for `address` (IPv4 or IPv6, no brackets, an IPv6
 * address may end in %interface) and `port`; -1 when the text is neither,
 * or names an interface that is not there. */
int netaddr_from_text(const char *address, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len);

/* fe80::/10 or 169.254.0.0/16: `raw` is the address of `family` in network
 * order (struct in_addr or in6_addr bytes). */
bool netaddr_is_link_local(int family, const void *raw);

#endif
