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

Suite *netaddr_suite(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("netaddr");
	tcase_add_test(tc, test_text_round_trip);
	tcase_add_test(tc, test_peer_text);
	suite_add_tcase(s, tc);
	return s;
}
