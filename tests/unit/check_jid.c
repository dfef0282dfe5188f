/* SPDX-License-Identifier: MIT */
/* JID syntax (RFC 7622): splitting prepared JIDs and their bare form. */
#include <string.h>

#include "common/jid.h"
#include "unit.h"

static int split(const char *in, struct jid_parts *parts)
{
	return jid_split(in, strlen(in), parts);
}

START_TEST(test_split)
{
	struct jid_parts p;
	ck_assert_int_eq(split("alice@example.com/laptop", &p), 0);
	ck_assert_uint_eq(p.local_len, 5);
	ck_assert_uint_eq(p.domain_len, 11);
	ck_assert_uint_eq(p.resource_len, 6);
	/* The first / starts the resource; an @ after it belongs to it. */
	ck_assert_int_eq(split("a@b/c/d@e", &p), 0);
	ck_assert_uint_eq(p.resource_len, 5);
	ck_assert_int_eq(split("example.com", &p), 0);
	ck_assert_uint_eq(p.local_len, 0);
	ck_assert_int_eq(split("a@[::1]", &p), 0);
	ck_assert_int_eq(split("\xc3\xa5sa@example.com", &p), 0);
	const char *bad[] = {"",
			     "@example.com",
			     "alice@",
			     "alice@example.com/",
			     "a b@example.com",
			     "example..com",
			     "example.com.",
			     "a@b@example.com"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(split(bad[i], &p) == -1, "accepted '%s'", bad[i]);
	char bare[JID_MAX];
	jid_bare("alice@example.com/laptop", bare, sizeof(bare));
	ck_assert_str_eq(bare, "alice@example.com");
}
END_TEST

Suite *jid_suite(void)
{
	Suite *s = suite_create("jid");
	TCase *tc = tcase_create("jid");
	tcase_add_test(tc, test_split);
	suite_add_tcase(s, tc);
	return s;
}
