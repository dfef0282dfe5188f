/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink address and link messages, built and read in memory with libmnl
 * (no socket here, so the unit tests drive it byte by byte).  The
 * supervisor's interface watch (supervisor/supervisor_interfaces.c) sends
 * what rtnl_dump_request builds and feeds every message it receives to
 * rtnl_parse.
 */
#ifndef RXMPP_RTNL_H
#define RXMPP_RTNL_H

#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for one request, and for a batch of what the kernel sends. */
#define RTNL_REQUEST_SIZE 64

enum rtnl_what {
	RTNL_ADDRESS_NEW, /* RTM_NEWADDR: an address appeared or changed flags */
	RTNL_ADDRESS_DEL, /* RTM_DELADDR */
	RTNL_LINK_NEW,	  /* RTM_NEWLINK: an interface appeared or changed */
	RTNL_LINK_DEL,	  /* RTM_DELLINK: an interface is gone */
};

struct rtnl_event {
	enum rtnl_what what;
	uint32_t ifindex;
	/* Links: the interface's name.  Addresses: "". */
	char ifname[IF_NAMESIZE];
	/* Addresses only. */
	int family; /* AF_INET or AF_INET6 */
	uint8_t prefix_length;
	uint8_t scope;	       /* RT_SCOPE_* */
	uint32_t flags;	       /* IFA_F_*, from IFA_FLAGS when the kernel sends it */
	unsigned char raw[16]; /* the address in network order */
	char address[INET6_ADDRSTRLEN];
};

/* Writes an RTM_GETADDR dump request for every address of every family
 * into `buf` (RTNL_REQUEST_SIZE bytes) with sequence number `seq`. */
struct nlmsghdr *rtnl_address_dump_request(void *buf, uint32_t seq);

/* Reads one message.  0: `out` holds an address or link event; 1: a
 * message of another kind (NLMSG_DONE, an error, a route) to pass over;
 * -1: an address or link message that is cut short or malformed. */
int rtnl_parse(const struct nlmsghdr *nlh, struct rtnl_event *out);

/* An address a socket can be bound to and that the configuration wants:
 * not tentative (IPv6 duplicate address detection still running) nor
 * failed, and link-local (fe80::/10, 169.254.0.0/16) only when asked. */
bool rtnl_address_usable(const struct rtnl_event *address, bool link_local);

#endif
