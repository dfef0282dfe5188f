/* SPDX-License-Identifier: MIT */
/*
 * The interfaces named in listen.addresses, followed through rtnetlink.
 *
 * Runs in the supervisor.  supervisor_interfaces_watch reads every address of the
 * named interfaces with an RTM_GETADDR dump (a blocking socket of its own,
 * answered at once by the kernel) and keeps a second socket subscribed to
 * the link and address groups.  When an address of a listened interface
 * appears, goes, or becomes usable (IPv6 duplicate address detection
 * done), the `changed` callback runs, and the caller opens or closes that
 * address's listening sockets.  Messages are built and read by
 * common/rtnl.c.
 *
 * Failures: netlink that cannot be opened is an error for the caller (the
 * configuration is refused); a malformed message is skipped with a
 * warning; a lost event (ENOBUFS, the socket's queue overran) makes it
 * read every address again; an interface that vanishes is a warning.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/rtnl.h"
#include "supervisor.h"

/* Enough for a burst of changes on a busy host between two reads. */
#define EVENT_SOCKET_BUFFER (1024 * 1024)
/* A dump is a few messages per address; bounded in case the kernel misbehaves. */
#define DUMP_READS_MAX 1024
#define DUMP_TIMEOUT_S 2
/* Larger than any one datagram the kernel sends (it packs at most a page
 * or 8 KiB of messages into one). */
#define NETLINK_READ_SIZE 32768
/* Events read in one go before the loop serves the other descriptors. */
#define EVENT_READS_MAX 64

struct watched {
	char name[IF_NAMESIZE];
	uint32_t ifindex; /* 0 while the interface is not there */
};

static struct {
	struct mnl_socket *events;
	struct ev_io *io;
	struct watched watched[CONFIG_LISTEN_MAX];
	size_t watched_count;
	bool link_local;
	struct interface_address addresses[INTERFACE_ADDRESSES_MAX];
	size_t address_count;
	void (*changed)(void);
} watch;

static struct watched *watched_by_index(uint32_t ifindex)
{
	for (size_t i = 0; i < watch.watched_count; i++) {
		if (ifindex != 0 && watch.watched[i].ifindex == ifindex)
			return &watch.watched[i];
	}
	return NULL;
}

static struct watched *watched_by_name(const char *name)
{
	for (size_t i = 0; i < watch.watched_count; i++) {
		if (strcmp(watch.watched[i].name, name) == 0)
			return &watch.watched[i];
	}
	return NULL;
}

static bool address_forget(uint32_t ifindex, const char *address)
{
	bool gone = false;
	for (size_t i = 0; i < watch.address_count;) {
		struct interface_address *a = &watch.addresses[i];
		if (a->ifindex == ifindex && (address == NULL || strcmp(a->plain, address) == 0)) {
			log_info("%s: address %s is no longer listened on", a->interface, a->plain);
			*a = watch.addresses[--watch.address_count];
			gone = true;
		} else {
			i++;
		}
	}
	return gone;
}

static bool address_learn(const struct watched *w, const struct rtnl_event *e)
{
	for (size_t i = 0; i < watch.address_count; i++) {
		struct interface_address *known = &watch.addresses[i];
		if (known->ifindex == e->ifindex && strcmp(known->plain, e->address) == 0) {
			known->stale = false;
			return false;
		}
	}
	if (watch.address_count == INTERFACE_ADDRESSES_MAX) {
		log_warnx(
		    "%s: more than %d addresses on the listened interfaces; %s is not listened on",
		    w->name, INTERFACE_ADDRESSES_MAX, e->address);
		return false;
	}
	struct interface_address *a = &watch.addresses[watch.address_count++];
	memset(a, 0, sizeof(*a));
	memcpy(a->interface, w->name, sizeof(a->interface));
	a->ifindex = e->ifindex;
	snprintf(a->plain, sizeof(a->plain), "%s", e->address);
	/* A link-local address is only unique on its link: bind it there. */
	bool scoped = e->family == AF_INET6 && e->scope == RT_SCOPE_LINK;
	snprintf(a->address, sizeof(a->address), "%s%s%s", e->address, scoped ? "%" : "",
		 scoped ? a->interface : "");
	log_info("%s: address %s appeared", w->name, a->address);
	return true;
}

/* One message from the kernel; true when the addresses to listen on changed. */
static bool apply(const struct nlmsghdr *nlh)
{
	struct rtnl_event e;
	int rc = rtnl_parse(nlh, &e);
	if (rc == -1) {
		log_warnx("a malformed rtnetlink message (type %u, %u bytes); skipped",
			  nlh->nlmsg_type, nlh->nlmsg_len);
		return false;
	}
	if (rc == 1)
		return false;
	struct watched *w = watched_by_index(e.ifindex);
	switch (e.what) {
	case RTNL_ADDRESS_NEW:
		if (w == NULL)
			return false;
		/* The same address announced again with new flags: tentative
		 * becomes usable, or duplicate address detection failed. */
		return rtnl_address_usable(&e, watch.link_local)
			   ? address_learn(w, &e)
			   : address_forget(e.ifindex, e.address);
	case RTNL_ADDRESS_DEL:
		return w != NULL && address_forget(e.ifindex, e.address);
	case RTNL_LINK_NEW:
		if (w != NULL && strcmp(w->name, e.ifname) != 0) {
			log_warnx("interface %s was renamed %s; its addresses are no longer "
				  "listened on",
				  w->name, e.ifname);
			w->ifindex = 0;
			return address_forget(e.ifindex, NULL);
		}
		w = watched_by_name(e.ifname);
		if (w != NULL && w->ifindex != e.ifindex) {
			log_info("interface %s is there (index %u); listening on its addresses",
				 w->name, e.ifindex);
			w->ifindex = e.ifindex;
		}
		return false;
	case RTNL_LINK_DEL:
		if (w == NULL)
			return false;
		log_warnx("interface %s vanished; listening on its addresses again when it "
			  "comes back",
			  w->name);
		w->ifindex = 0;
		return address_forget(e.ifindex, NULL);
	}
	return false;
}

static int apply_cb(const struct nlmsghdr *nlh, void *arg)
{
	bool *changed = arg;
	*changed |= apply(nlh);
	return MNL_CB_OK;
}

/* Reads every address the kernel has now and keeps those of the watched
 * interfaces.  Returns -1 with the reason when netlink does not answer. */
static int dump_addresses(char *why, size_t why_size)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		snprintf(why, why_size,
			 "cannot open rtnetlink to read the interfaces' addresses: %s",
			 strerror(errno));
		if (nl != NULL)
			mnl_socket_close(nl);
		return -1;
	}
	struct timeval timeout = {.tv_sec = DUMP_TIMEOUT_S};
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	char request[RTNL_REQUEST_SIZE];
	uint32_t seq = (uint32_t)time(NULL);
	struct nlmsghdr *nlh = rtnl_address_dump_request(request, seq);
	int rc = -1;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(why, why_size, "cannot ask rtnetlink for the addresses: %s",
			 strerror(errno));
		goto out;
	}
	/* What the dump does not name again is gone (swept below). */
	for (size_t i = 0; i < watch.address_count; i++)
		watch.addresses[i].stale = true;
	static char buf[NETLINK_READ_SIZE];
	bool changed = false;
	for (int reads = 0; reads < DUMP_READS_MAX; reads++) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n <= 0) {
			snprintf(why, why_size, "reading the addresses from rtnetlink: %s",
				 n == 0 ? "no answer" : strerror(errno));
			goto out;
		}
		int cb =
		    mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), apply_cb, &changed);
		if (cb == MNL_CB_STOP) {
			rc = 0;
			goto sweep;
		}
		if (cb == MNL_CB_ERROR) {
			snprintf(why, why_size, "rtnetlink refused the address dump: %s",
				 strerror(errno));
			goto out;
		}
	}
	snprintf(why, why_size, "the address dump did not end after %d reads", DUMP_READS_MAX);
	goto out;
sweep:
	for (size_t i = 0; i < watch.address_count;) {
		if (watch.addresses[i].stale)
			address_forget(watch.addresses[i].ifindex, watch.addresses[i].plain);
		else
			i++;
	}
out:
	mnl_socket_close(nl);
	return rc;
}

static void on_events(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	(void)io, (void)fd, (void)events, (void)arg;
	static char buf[NETLINK_READ_SIZE];
	bool changed = false;
	for (int reads = 0; reads < EVENT_READS_MAX; reads++) {
		ssize_t n = mnl_socket_recvfrom(watch.events, buf, sizeof(buf));
		if (n == -1 && errno == ENOBUFS) {
			/* The kernel dropped events: what we hold may be stale. */
			char why[256];
			log_warnx("missed interface changes; reading every address again");
			if (dump_addresses(why, sizeof(why)) == -1)
				log_warnx("%s", why);
			changed = true;
			continue;
		}
		if (n <= 0) {
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				log_warn("reading rtnetlink events");
			break;
		}
		/* Events carry sequence number 0 and come from the kernel (port 0). */
		mnl_cb_run(buf, (size_t)n, 0, 0, apply_cb, &changed);
	}
	if (changed && watch.changed != NULL)
		watch.changed();
}

static int events_open(char *why, size_t why_size)
{
	if (watch.events != NULL)
		return 0;
	watch.events = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	unsigned groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
	if (watch.events == NULL ||
	    mnl_socket_bind(watch.events, groups, MNL_SOCKET_AUTOPID) == -1) {
		snprintf(why, why_size, "cannot subscribe to interface changes (rtnetlink): %s",
			 strerror(errno));
		goto fail;
	}
	int size = EVENT_SOCKET_BUFFER;
	setsockopt(mnl_socket_get_fd(watch.events), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	watch.io = ev_io_add(supervisor_state.loop, mnl_socket_get_fd(watch.events), EV_READ,
			     on_events, NULL);
	if (watch.io == NULL) {
		snprintf(why, why_size, "cannot watch the rtnetlink socket: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (watch.events != NULL)
		mnl_socket_close(watch.events);
	watch.events = NULL;
	return -1;
}

void supervisor_interfaces_stop(void)
{
	if (watch.io != NULL)
		ev_io_del(watch.io);
	if (watch.events != NULL)
		mnl_socket_close(watch.events);
	watch.io = NULL;
	watch.events = NULL;
	watch.watched_count = 0;
	watch.address_count = 0;
}

int supervisor_interfaces_watch(const struct config *cfg, void (*changed)(void), char *why,
				size_t why_size)
{
	watch.watched_count = 0;
	watch.link_local = cfg->listen.link_local;
	watch.changed = changed;
	for (uint32_t i = 0; i < cfg->listen.address_count; i++) {
		const char *entry = cfg->listen.addresses[i];
		if (!config_address_is_interface(entry))
			continue;
		struct watched *w = &watch.watched[watch.watched_count++];
		snprintf(w->name, sizeof(w->name), "%s", entry);
		w->ifindex = if_nametoindex(entry);
		if (w->ifindex == 0)
			log_warnx("interface %s is not there; listening on its addresses when it "
				  "comes",
				  entry);
	}
	if (watch.watched_count == 0) {
		supervisor_interfaces_stop();
		return 0;
	}
	/* Subscribe first: a change between the dump and the subscription
	 * would otherwise be missed; one seen twice changes nothing. */
	if (events_open(why, why_size) == -1 || dump_addresses(why, why_size) == -1) {
		supervisor_interfaces_stop();
		return -1;
	}
	return 0;
}

size_t supervisor_interfaces_addresses(const struct interface_address **out)
{
	*out = watch.addresses;
	return watch.address_count;
}
