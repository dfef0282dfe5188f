/* SPDX-License-Identifier: MIT */
/*
 * Who is available (im/im_avail.c): initial presence told from an update,
 * each resource's last presence kept, a resource forgotten once and only
 * once, a user with none left gone.
 */
#include <string.h>

#include "im/im_avail.h"
#include "unit.h"

START_TEST(test_avail)
{
	ck_assert_int_eq(im_avail_init(), 0);
	ck_assert_ptr_null(im_avail_of("a@x"));
	ck_assert_int_eq(im_avail_set("a@x", "a@x/1", "<presence/>", 11), 1);
	ck_assert_int_eq(im_avail_set("a@x", "a@x/2", "<presence>2</presence>", 22), 1);
	/* An update is not initial presence; the last one is kept. */
	ck_assert_int_eq(im_avail_set("a@x", "a@x/1", "<presence>1</presence>", 22), 0);
	const struct im_avail_user *u = im_avail_of("a@x");
	ck_assert_ptr_nonnull(u);
	ck_assert_uint_eq(u->count, 2);
	for (size_t i = 0; i < u->count; i++) {
		if (strcmp(u->res[i].full, "a@x/1") == 0)
			ck_assert_int_eq(memcmp(u->res[i].stanza, "<presence>1</presence>", 22), 0);
		else
			ck_assert_str_eq(u->res[i].full, "a@x/2");
	}
	ck_assert_ptr_null(im_avail_of("b@x"));
	ck_assert(!im_avail_remove("b@x", "b@x/1"));
	ck_assert(!im_avail_remove("a@x", "a@x/3"));
	ck_assert(im_avail_remove("a@x", "a@x/1"));
	ck_assert(!im_avail_remove("a@x", "a@x/1"));
	ck_assert_uint_eq(im_avail_of("a@x")->count, 1);
	ck_assert(im_avail_remove("a@x", "a@x/2"));
	ck_assert_ptr_null(im_avail_of("a@x"));
	/* Back again: initial presence once more. */
	ck_assert_int_eq(im_avail_set("a@x", "a@x/2", "<presence/>", 11), 1);
	ck_assert(im_avail_remove("a@x", "a@x/2"));
}
END_TEST

Suite *im_avail_suite(void)
{
	Suite *s = suite_create("im_avail");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_avail);
	suite_add_tcase(s, tc);
	return s;
}
