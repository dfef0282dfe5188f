/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink messages in memory: the dump request the supervisor sends and
 * the address and link messages it reads back (see rtnl.h).
 */
#include "rtnl.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"

struct nlmsghdr *rtnl_address_dump_request(void *buf, uint32_t seq)
{
	memset(buf, 0, RTNL_REQUEST_SIZE);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	return nlh;
}

struct attributes {
	const struct nlattr *table[IFA_MAX > IFLA_MAX ? IFA_MAX + 1 : IFLA_MAX + 1];
	int max;
};

static int keep_attribute(const struct nlattr *attr, void *arg)
{
	struct attributes *a = arg;
	int type = mnl_attr_get_type(attr);
	/* Types this kernel knows and we do not are passed over. */
	if (type <= a->max)
		a->table[type] = attr;
	return MNL_CB_OK;
}

static int parse_address(const struct nlmsghdr *nlh, struct rtnl_event *out)
{
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
		return -1;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct attributes a = {.max = IFA_MAX};
	if (mnl_attr_parse(nlh, sizeof(*ifa), keep_attribute, &a) != MNL_CB_OK)
		return -1;
	size_t size = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
	if (size == 0)
		return 1;
	/* On a point-to-point link IFA_ADDRESS is the far end and IFA_LOCAL
	 * ours; elsewhere the kernel sends IFA_ADDRESS alone or both equal. */
	const struct nlattr *address =
	    a.table[IFA_LOCAL] ? a.table[IFA_LOCAL] : a.table[IFA_ADDRESS];
	if (address == NULL || mnl_attr_get_payload_len(address) != size)
		return -1;
	out->what = nlh->nlmsg_type == RTM_NEWADDR ? RTNL_ADDRESS_NEW : RTNL_ADDRESS_DEL;
	out->ifindex = ifa->ifa_index;
	out->family = ifa->ifa_family;
	out->prefix_length = ifa->ifa_prefixlen;
	out->scope = ifa->ifa_scope;
	out->flags = ifa->ifa_flags;
	/* ifa_flags has room for the first eight flags only. */
	if (a.table[IFA_FLAGS] != NULL) {
		if (mnl_attr_validate(a.table[IFA_FLAGS], MNL_TYPE_U32) < 0)
			return -1;
		out->flags = mnl_attr_get_u32(a.table[IFA_FLAGS]);
	}
	memcpy(out->raw, mnl_attr_get_payload(address), size);
	inet_ntop(out->family, out->raw, out->address, sizeof(out->address));
	return 0;
}

static int parse_link(const struct nlmsghdr *nlh, struct rtnl_event *out)
{
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return -1;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct attributes a = {.max = IFLA_MAX};
	if (mnl_attr_parse(nlh, sizeof(*ifi), keep_attribute, &a) != MNL_CB_OK)
		return -1;
	const struct nlattr *name = a.table[IFLA_IFNAME];
	if (name == NULL || mnl_attr_validate(name, MNL_TYPE_NUL_STRING) < 0 ||
	    mnl_attr_get_payload_len(name) > IF_NAMESIZE)
		return -1;
	out->what = nlh->nlmsg_type == RTM_NEWLINK ? RTNL_LINK_NEW : RTNL_LINK_DEL;
	out->ifindex = (uint32_t)ifi->ifi_index;
	memcpy(out->ifname, mnl_attr_get_str(name), mnl_attr_get_payload_len(name));
	return 0;
}

int rtnl_parse(const struct nlmsghdr *nlh, struct rtnl_event *out)
{
	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_len < sizeof(*nlh))
		return -1;
	switch (nlh->nlmsg_type) {
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return parse_address(nlh, out);
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return parse_link(nlh, out);
	default:
		return 1;
	}
}

bool rtnl_address_usable(const struct rtnl_event *address, bool link_local)
{
	/* A tentative IPv6 address cannot be bound yet; the kernel announces
	 * it again once duplicate address detection has passed. */
	if (address->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))
		return false;
	return link_local || !netaddr_is_link_local(address->family, address->raw);
}
