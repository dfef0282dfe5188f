/* SPDX-License-Identifier: MIT */
/* Who may hold a stanza link (router/router_members.c). */
#include <string.h>

#include "router/router_members.h"
#include "unit.h"

static struct proto_members two_members(void)
{
	struct proto_members m;
	memset(&m, 0, sizeof(m));
	m.count = 2;
	m.members[0].id = 0x11;
	memset(m.members[0].fingerprint, 0xaa, sizeof(m.members[0].fingerprint));
	m.members[1].id = 0x22;
	memset(m.members[1].fingerprint, 0xbb, sizeof(m.members[1].fingerprint));
	return m;
}

START_TEST(test_member_with_its_certificate)
{
	struct proto_members m = two_members();
	const char *why = NULL;
	ck_assert_int_eq(router_members_admit(&m, 0x11, m.members[0].fingerprint, &why), 0);
	ck_assert_int_eq(router_members_admit(&m, 0x22, m.members[1].fingerprint, &why), 0);
	ck_assert_ptr_null(why);
}
END_TEST

START_TEST(test_member_with_another_certificate)
{
	struct proto_members m = two_members();
	const char *why = NULL;
	/* Another member's certificate does not speak for this one, nor does
	 * one that is nobody's. */
	ck_assert_int_eq(router_members_admit(&m, 0x11, m.members[1].fingerprint, &why), -1);
	ck_assert_str_eq(why, "its certificate is not the one that member is bound to");
	uint8_t stranger[32];
	memset(stranger, 0xcc, sizeof(stranger));
	ck_assert_int_eq(router_members_admit(&m, 0x22, stranger, &why), -1);
	ck_assert_str_eq(why, "its certificate is not the one that member is bound to");
}
END_TEST

START_TEST(test_not_a_member)
{
	struct proto_members m = two_members();
	const char *why = NULL;
	/* A member's certificate under an id that is not a member's. */
	ck_assert_int_eq(router_members_admit(&m, 0x33, m.members[0].fingerprint, &why), -1);
	ck_assert_str_eq(why, "that node is not a member of the cluster");
	/* Before the elector spoke, nobody is. */
	struct proto_members none;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(router_members_admit(&none, 0x11, m.members[0].fingerprint, &why), -1);
	/* A member beyond `count` is not one. */
	m.count = 1;
	ck_assert_int_eq(router_members_admit(&m, 0x22, m.members[1].fingerprint, &why), -1);
	ck_assert_str_eq(why, "that node is not a member of the cluster");
}
END_TEST

START_TEST(test_unbound_member)
{
	struct proto_members m = two_members();
	memset(m.members[1].fingerprint, 0, sizeof(m.members[1].fingerprint));
	const char *why = NULL;
	/* Not even a certificate of zeros speaks for it. */
	uint8_t zeros[32] = {0};
	ck_assert_int_eq(router_members_admit(&m, 0x22, zeros, &why), -1);
	ck_assert_str_eq(why, "that member is not yet bound to a certificate");
	ck_assert_int_eq(router_members_admit(&m, 0x22, m.members[0].fingerprint, &why), -1);
}
END_TEST

START_TEST(test_valid)
{
	struct proto_members m = two_members();
	ck_assert_int_eq(router_members_valid(&m), 0);
	m.count = 0;
	ck_assert_int_eq(router_members_valid(&m), 0);
	m = two_members();
	m.count = PROTO_MEMBERS_MAX + 1;
	ck_assert_int_eq(router_members_valid(&m), -1);
	m = two_members();
	m.members[1].id = 0x11;
	ck_assert_int_eq(router_members_valid(&m), -1);
	m = two_members();
	m.members[0].id = 0;
	ck_assert_int_eq(router_members_valid(&m), -1);
}
END_TEST

Suite *router_members_suite(void)
{
	Suite *s = suite_create("router_members");
	TCase *tc = tcase_create("router_members");
	tcase_add_test(tc, test_member_with_its_certificate);
	tcase_add_test(tc, test_member_with_another_certificate);
	tcase_add_test(tc, test_not_a_member);
	tcase_add_test(tc, test_unbound_member);
	tcase_add_test(tc, test_valid);
	suite_add_tcase(s, tc);
	return s;
}
