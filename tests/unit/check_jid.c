/* SPDX-License-Identifier: MIT */
/* JIDs (RFC 7622). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jid.h"
#include "unit.h"

static const char *normal(const char *in)
{
	static char out[JID_MAX];
	return jid_normalize(in, strlen(in), out, sizeof(out)) == -1 ? NULL : out;
}

START_TEST(test_valid_jids)
{
	ck_assert_str_eq(normal("Alice@Example.COM/Laptop"), "alice@example.com/Laptop");
	ck_assert_str_eq(normal("example.com"), "example.com");
	ck_assert_str_eq(normal("cb1.example.com"), "cb1.example.com");
	ck_assert_str_eq(normal("a@b/c/d@e"), "a@b/c/d@e"); /* the first / starts the resource */
	ck_assert_str_eq(normal("juliet@example.com/ foo"), "juliet@example.com/ foo");
	ck_assert_str_eq(normal("\xc3\xa9l\xc3\xa8ve@example.com"),
			 "\xc3\xa9l\xc3\xa8ve@example.com");
	ck_assert_str_eq(normal("a@[::1]"), "a@[::1]");
	char bare[JID_MAX];
	jid_bare("alice@example.com/laptop", bare, sizeof(bare));
	ck_assert_str_eq(bare, "alice@example.com");
}
END_TEST

START_TEST(test_invalid_jids)
{
	const char *bad[] = {
	    "",
	    "@example.com",
	    "alice@",
	    "alice@example.com/",
	    "ali ce@example.com",
	    "a\"b@example.com",
	    "a&b@example.com",
	    "a'b@example.com",
	    "a:b@example.com",
	    "a<b@example.com",
	    "a>b@example.com",
	    "a@b@example.com",
	    "example..com",
	    "example.com.",
	    "exa mple.com",
	    "alice@example.com/\x01",
	    "a@exa_mple!.com",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(normal(bad[i]) == NULL, "accepted '%s'", bad[i]);
	/* Each part is limited to 1023 bytes. */
	char *big = malloc(2100);
	memset(big, 'a', 1024);
	strcpy(big + 1024, "@example.com");
	ck_assert_ptr_null(normal(big));
	memset(big, 'a', 1023);
	strcpy(big + 1023, "@example.com");
	ck_assert_ptr_nonnull(normal(big));
	char with_nul[] = "alice@example.com";
	with_nul[3] = '\0';
	char out[64];
	ck_assert_int_eq(jid_normalize(with_nul, sizeof(with_nul) - 1, out, sizeof(out)), -1);
	free(big);
}
END_TEST

Suite *jid_suite(void)
{
	Suite *s = suite_create("jid");
	TCase *tc = tcase_create("jid");
	tcase_add_test(tc, test_valid_jids);
	tcase_add_test(tc, test_invalid_jids);
	suite_add_tcase(s, tc);
	return s;
}
