/* SPDX-License-Identifier: MIT */
/* rtnetlink messages: the dump request, and address and link messages
 * built here the way the kernel sends them. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "common/rtnl.h"
#include "unit.h"

static char buf[512];

static struct nlmsghdr *address_message(uint16_t type, int family, uint32_t ifindex, uint8_t flags,
					uint8_t scope)
{
	memset(buf, 0, sizeof(buf));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = family == AF_INET ? 24 : 64;
	ifa->ifa_flags = flags;
	ifa->ifa_scope = scope;
	ifa->ifa_index = ifindex;
	return nlh;
}

static void put_address(struct nlmsghdr *nlh, uint16_t attr, int family, const char *text)
{
	unsigned char raw[16];
	ck_assert_int_eq(inet_pton(family, text, raw), 1);
	mnl_attr_put(nlh, attr, family == AF_INET ? 4 : 16, raw);
}

static struct nlmsghdr *link_message(uint16_t type, int ifindex, const char *name)
{
	memset(buf, 0, sizeof(buf));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_index = ifindex;
	if (name != NULL)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nlh;
}

START_TEST(test_dump_request_asks_for_every_address)
{
	char request[RTNL_REQUEST_SIZE];
	struct nlmsghdr *nlh = rtnl_address_dump_request(request, 42);
	ck_assert_ptr_eq(nlh, (void *)request);
	ck_assert_uint_eq(nlh->nlmsg_type, RTM_GETADDR);
	ck_assert_uint_eq(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
	ck_assert_uint_eq(nlh->nlmsg_seq, 42);
	ck_assert_uint_eq(nlh->nlmsg_len, NLMSG_LENGTH(sizeof(struct ifaddrmsg)));
	ck_assert_uint_le(nlh->nlmsg_len, RTNL_REQUEST_SIZE);
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	ck_assert_uint_eq(ifa->ifa_family, AF_UNSPEC);
	ck_assert_uint_eq(ifa->ifa_index, 0);
}
END_TEST

START_TEST(test_ipv4_address_appears)
{
	struct nlmsghdr *nlh = address_message(RTM_NEWADDR, AF_INET, 7, IFA_F_PERMANENT, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET, "192.0.2.10");
	put_address(nlh, IFA_LOCAL, AF_INET, "192.0.2.10");
	mnl_attr_put_strz(nlh, IFA_LABEL, "veth0");
	struct rtnl_event e;
	ck_assert_int_eq(rtnl_parse(nlh, &e), 0);
	ck_assert_int_eq(e.what, RTNL_ADDRESS_NEW);
	ck_assert_uint_eq(e.ifindex, 7);
	ck_assert_int_eq(e.family, AF_INET);
	ck_assert_uint_eq(e.prefix_length, 24);
	ck_assert_str_eq(e.address, "192.0.2.10");
	ck_assert_uint_eq(e.flags, IFA_F_PERMANENT);
	ck_assert(rtnl_address_usable(&e, false));
}
END_TEST

START_TEST(test_point_to_point_takes_the_local_end)
{
	struct nlmsghdr *nlh = address_message(RTM_NEWADDR, AF_INET, 3, 0, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET, "10.9.0.2");
	put_address(nlh, IFA_LOCAL, AF_INET, "10.9.0.1");
	struct rtnl_event e;
	ck_assert_int_eq(rtnl_parse(nlh, &e), 0);
	ck_assert_str_eq(e.address, "10.9.0.1");
}
END_TEST

START_TEST(test_ipv6_address_goes)
{
	struct nlmsghdr *nlh = address_message(RTM_DELADDR, AF_INET6, 4, 0, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET6, "2001:db8::5");
	struct rtnl_event e;
	ck_assert_int_eq(rtnl_parse(nlh, &e), 0);
	ck_assert_int_eq(e.what, RTNL_ADDRESS_DEL);
	ck_assert_int_eq(e.family, AF_INET6);
	ck_assert_uint_eq(e.ifindex, 4);
	ck_assert_str_eq(e.address, "2001:db8::5");
}
END_TEST

START_TEST(test_flags_attribute_wins_and_tentative_waits)
{
	/* The kernel sends the full flags in IFA_FLAGS; the 8-bit field may
	 * say less. */
	struct nlmsghdr *nlh = address_message(RTM_NEWADDR, AF_INET6, 4, 0, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET6, "2001:db8::6");
	mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_TENTATIVE | IFA_F_NOPREFIXROUTE);
	struct rtnl_event e;
	ck_assert_int_eq(rtnl_parse(nlh, &e), 0);
	ck_assert_uint_eq(e.flags, IFA_F_TENTATIVE | IFA_F_NOPREFIXROUTE);
	ck_assert(!rtnl_address_usable(&e, false));
	ck_assert(!rtnl_address_usable(&e, true));

	nlh = address_message(RTM_NEWADDR, AF_INET6, 4, 0, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET6, "2001:db8::6");
	mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_DADFAILED);
	ck_assert_int_eq(rtnl_parse(nlh, &e), 0);
	ck_assert(!rtnl_address_usable(&e, false));

	nlh = address_message(RTM_NEWADDR, AF_INET6, 4, IFA_F_TENTATIVE, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET6, "2001:db8::6");
	mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NOPREFIXROUTE);
	ck_assert_int_eq(rtnl_parse(nlh, &e), 0);
	ck_assert(rtnl_address_usable(&e, false));
}
END_TEST

START_TEST(test_link_local_only_when_asked)
{
	struct {
		int family;
		const char *text;
		bool link_local;
	} cases[] = {
	    {AF_INET6, "fe80::1", true},    {AF_INET6, "febf::1", true},
	    {AF_INET6, "fec0::1", false},   {AF_INET6, "2001:db8::1", false},
	    {AF_INET, "169.254.7.1", true}, {AF_INET, "169.253.7.1", false},
	    {AF_INET, "127.0.0.1", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nlmsghdr *nlh = address_message(RTM_NEWADDR, cases[i].family, 2, 0, 0);
		put_address(nlh, IFA_ADDRESS, cases[i].family, cases[i].text);
		struct rtnl_event e;
		ck_assert_int_eq(rtnl_parse(nlh, &e), 0);
		ck_assert_msg(rtnl_address_usable(&e, false) == !cases[i].link_local, "%s",
			      cases[i].text);
		ck_assert_msg(rtnl_address_usable(&e, true), "%s", cases[i].text);
	}
}
END_TEST

START_TEST(test_links_come_and_go_by_name)
{
	struct rtnl_event e;
	ck_assert_int_eq(rtnl_parse(link_message(RTM_NEWLINK, 9, "eth1"), &e), 0);
	ck_assert_int_eq(e.what, RTNL_LINK_NEW);
	ck_assert_uint_eq(e.ifindex, 9);
	ck_assert_str_eq(e.ifname, "eth1");
	ck_assert_int_eq(rtnl_parse(link_message(RTM_DELLINK, 9, "eth1"), &e), 0);
	ck_assert_int_eq(e.what, RTNL_LINK_DEL);
	ck_assert_str_eq(e.address, "");
}
END_TEST

START_TEST(test_malformed_messages_are_refused)
{
	struct rtnl_event e;
	/* No address attribute at all. */
	struct nlmsghdr *nlh = address_message(RTM_NEWADDR, AF_INET, 2, 0, 0);
	ck_assert_int_eq(rtnl_parse(nlh, &e), -1);
	/* An IPv4 message carrying sixteen bytes. */
	nlh = address_message(RTM_NEWADDR, AF_INET, 2, 0, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET6, "2001:db8::1");
	ck_assert_int_eq(rtnl_parse(nlh, &e), -1);
	/* IFA_FLAGS that is not four bytes. */
	nlh = address_message(RTM_NEWADDR, AF_INET, 2, 0, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET, "192.0.2.1");
	mnl_attr_put_u8(nlh, IFA_FLAGS, 1);
	ck_assert_int_eq(rtnl_parse(nlh, &e), -1);
	/* Shorter than its own fixed header. */
	nlh = address_message(RTM_NEWADDR, AF_INET, 2, 0, 0);
	nlh->nlmsg_len = NLMSG_LENGTH(2);
	ck_assert_int_eq(rtnl_parse(nlh, &e), -1);
	/* The address attribute runs past the end of the message. */
	nlh = address_message(RTM_NEWADDR, AF_INET, 2, 0, 0);
	put_address(nlh, IFA_ADDRESS, AF_INET, "192.0.2.1");
	nlh->nlmsg_len -= 4;
	ck_assert_int_eq(rtnl_parse(nlh, &e), -1);
	/* A link without a name, and one whose name is not terminated. */
	ck_assert_int_eq(rtnl_parse(link_message(RTM_NEWLINK, 3, NULL), &e), -1);
	nlh = link_message(RTM_NEWLINK, 3, NULL);
	mnl_attr_put(nlh, IFLA_IFNAME, 4, "eth0");
	ck_assert_int_eq(rtnl_parse(nlh, &e), -1);
}
END_TEST

START_TEST(test_other_messages_are_passed_over)
{
	struct rtnl_event e;
	memset(buf, 0, sizeof(buf));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	ck_assert_int_eq(rtnl_parse(nlh, &e), 1);
	nlh->nlmsg_type = RTM_NEWROUTE;
	ck_assert_int_eq(rtnl_parse(nlh, &e), 1);
	/* An address of a family no socket here listens on. */
	nlh = address_message(RTM_NEWADDR, AF_PACKET, 2, 0, 0);
	mnl_attr_put(nlh, IFA_ADDRESS, 6, "\1\2\3\4\5\6");
	ck_assert_int_eq(rtnl_parse(nlh, &e), 1);
}
END_TEST

Suite *rtnl_suite(void)
{
	Suite *s = suite_create("rtnl");
	TCase *tc = tcase_create("messages");
	tcase_add_test(tc, test_dump_request_asks_for_every_address);
	tcase_add_test(tc, test_ipv4_address_appears);
	tcase_add_test(tc, test_point_to_point_takes_the_local_end);
	tcase_add_test(tc, test_ipv6_address_goes);
	tcase_add_test(tc, test_flags_attribute_wins_and_tentative_waits);
	tcase_add_test(tc, test_link_local_only_when_asked);
	tcase_add_test(tc, test_links_come_and_go_by_name);
	tcase_add_test(tc, test_malformed_messages_are_refused);
	tcase_add_test(tc, test_other_messages_are_passed_over);
	suite_add_tcase(s, tc);
	return s;
}
