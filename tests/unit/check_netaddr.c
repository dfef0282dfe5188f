/* SPDX-License-Identifier: MIT */
/* IP addresses as text and back (common/netaddr.c). */
#include <netinet/in.h>
#include <string.h>

#include "common/netaddr.h"
#include "unit.h"

START_TEST(test_text_round_trip)
{
	const char *texts[] = {"127.0.0.1", "::1", "2001:db8::5", "10.1.2.3"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		ck_assert_int_eq(netaddr_from_text(texts[i], 5222, &ss, &len), 0);
		char host[NETADDR_TEXT_MAX];
		uint16_t port = 0;
		ck_assert_int_eq(netaddr_to_text((struct sockaddr *)&ss, host, sizeof(host), &port),
				 0);
		ck_assert_str_eq(host, texts[i]);
		ck_assert_uint_eq(port, 5222);
	}
}
END_TEST

START_TEST(test_peer_text)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char peer[NETADDR_PEER_TEXT_MAX];
	ck_assert_int_eq(netaddr_from_text("192.0.2.7", 4999, &ss, &len), 0);
	netaddr_peer_text((struct sockaddr *)&ss, peer, sizeof(peer));
	ck_assert_str_eq(peer, "[192.0.2.7]:4999");
	/* A long IPv6 text and the longest port fit. */
	ck_assert_int_eq(
	    netaddr_from_text("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, &ss, &len), 0);
	netaddr_peer_text((struct sockaddr *)&ss, peer, sizeof(peer));
	ck_assert_str_eq(peer, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	/* Another family is named, not guessed. */
	struct sockaddr_storage unix_ss = {.ss_family = AF_UNIX};
	char host[NETADDR_TEXT_MAX];
	ck_assert_int_eq(netaddr_to_text((struct sockaddr *)&unix_ss, host, sizeof(host), NULL),
			 -1);
	netaddr_peer_text((struct sockaddr *)&unix_ss, peer, sizeof(peer));
	ck_assert_str_eq(peer, "[?]:0");
}
END_TEST

static bool in(const char *network, const char *address)
{
	struct netaddr_net net;
	char why[160];
	ck_assert_msg(netaddr_net_parse(network, &net, why, sizeof(why)) == 0, "%s: %s", network,
		      why);
	struct sockaddr_storage ss;
	socklen_t len;
	ck_assert_int_eq(netaddr_from_text(address, 1, &ss, &len), 0);
	return netaddr_net_contains(&net, (struct sockaddr *)&ss);
}

START_TEST(test_network_contains)
{
	ck_assert(in("10.0.0.0/8", "10.255.1.2"));
	ck_assert(!in("10.0.0.0/8", "11.0.0.0"));
	ck_assert(in("192.0.2.128/25", "192.0.2.200"));
	ck_assert(!in("192.0.2.128/25", "192.0.2.127"));
	ck_assert(in("192.0.2.7", "192.0.2.7")); /* one address */
	ck_assert(!in("192.0.2.7", "192.0.2.6"));
	ck_assert(in("0.0.0.0/0", "203.0.113.9"));
	ck_assert(!in("0.0.0.0/0", "::1")); /* families do not mix */
	ck_assert(in("2001:db8::/32", "2001:db8:ffff::1"));
	ck_assert(!in("2001:db8::/32", "2001:db9::1"));
	ck_assert(in("2001:db8:0:80::/57", "2001:db8:0:ff::1"));
	ck_assert(!in("2001:db8:0:80::/57", "2001:db8:0:7f::1"));
	ck_assert(in("::/0", "::1"));
	ck_assert(!in("::/0", "127.0.0.1"));
	/* A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d. */
	ck_assert(in("127.0.0.0/8", "::ffff:127.0.0.1"));
	ck_assert(!in("10.0.0.0/8", "::ffff:127.0.0.1"));
	ck_assert(in("::ffff:0:0/96", "::ffff:127.0.0.1"));
}
END_TEST

START_TEST(test_network_parse_is_strict)
{
	static const char *const bad[] = {
	    "",
	    "/8",
	    "10.0.0.0/",
	    "10.0.0.0/33",
	    "10.0.0.0/08",
	    "10.0.0.0/+8",
	    "10.0.0.0/8 ",
	    " 10.0.0.0/8",
	    "10.0.0/8",
	    "10.0.0.0/8/8",
	    "::/129",
	    "::/-1",
	    "example.com",
	    "fe80::1%lo/64",
	    "10.0.0.0/1000",
	};
	struct netaddr_net net;
	char why[160];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(netaddr_net_parse(bad[i], &net, why, sizeof(why)) == -1,
			      "'%s' accepted", bad[i]);
	ck_assert_int_eq(netaddr_net_parse("2001:db8::1/32", &net, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "a network without host bits after the prefix (2001:db8::1/32 covers "
			      "2001:db8::/32)");
	/* The canonical text parses back to the same network. */
	static const char *const good[] = {"10.0.0.0/8",    "0.0.0.0/0",    "::/0",
					   "2001:db8::/32", "192.0.2.1/32", "fe80::/10"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(netaddr_net_parse(good[i], &net, why, sizeof(why)), 0);
		char text[NETADDR_NET_TEXT_MAX];
		netaddr_net_format(&net, text, sizeof(text));
		ck_assert_str_eq(text, good[i]);
	}
}
END_TEST

Suite *netaddr_suite(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("netaddr");
	tcase_add_test(tc, test_text_round_trip);
	tcase_add_test(tc, test_peer_text);
	tcase_add_test(tc, test_network_contains);
	tcase_add_test(tc, test_network_parse_is_strict);
	suite_add_tcase(s, tc);
	return s;
}
