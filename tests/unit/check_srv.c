/* SPDX-License-Identifier: MIT */
/* SRV ordering as a client uses it (RFC 2782). */
#include <string.h>

#include "common/srv.h"
#include "unit.h"

/* Draws from a fixed list, recording each bound it was asked for. */
struct draws {
	const uint32_t *values;
	size_t next;
	uint32_t bounds[8];
};

static uint32_t fixed_draw(uint32_t bound, void *arg)
{
	struct draws *d = arg;
	d->bounds[d->next] = bound;
	uint32_t value = d->values[d->next++];
	ck_assert_uint_le(value, bound);
	return value;
}

/* A small linear congruential generator: the same sequence every run. */
static uint32_t lcg_draw(uint32_t bound, void *arg)
{
	uint64_t *state = arg;
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)((*state >> 33) % ((uint64_t)bound + 1));
}

static struct srv_record rec(uint16_t priority, uint16_t weight, const char *target)
{
	struct srv_record r = {.priority = priority, .weight = weight, .port = 5222};
	strcpy(r.target, target);
	return r;
}

START_TEST(test_lower_priority_always_first)
{
	struct srv_record r[] = {rec(20, 100, "c"), rec(10, 0, "a"), rec(30, 5, "d"),
				 rec(10, 0, "b")};
	uint64_t state = 1;
	srv_order(r, 4, lcg_draw, &state);
	ck_assert_uint_eq(r[0].priority, 10);
	ck_assert_uint_eq(r[1].priority, 10);
	ck_assert_str_eq(r[2].target, "c");
	ck_assert_str_eq(r[3].target, "d");
}
END_TEST

START_TEST(test_weighted_pick_uses_the_running_sum)
{
	/* Weights 60 and 40: a draw of 0..60 picks the first, 61..100 the
	 * second; the last one left needs no draw. */
	struct srv_record r[] = {rec(10, 60, "big"), rec(10, 40, "small")};
	uint32_t values[] = {61};
	struct draws d = {.values = values};
	srv_order(r, 2, fixed_draw, &d);
	ck_assert_uint_eq(d.next, 1);
	ck_assert_uint_eq(d.bounds[0], 100);
	ck_assert_str_eq(r[0].target, "small");
	ck_assert_str_eq(r[1].target, "big");

	struct srv_record s[] = {rec(10, 60, "big"), rec(10, 40, "small")};
	values[0] = 60;
	d = (struct draws){.values = values};
	srv_order(s, 2, fixed_draw, &d);
	ck_assert_str_eq(s[0].target, "big");
}
END_TEST

START_TEST(test_zero_weight_only_on_a_zero_draw)
{
	struct srv_record r[] = {rec(10, 10, "weighted"), rec(10, 0, "zero")};
	uint32_t values[] = {0};
	struct draws d = {.values = values};
	srv_order(r, 2, fixed_draw, &d);
	ck_assert_str_eq(r[0].target, "zero");

	struct srv_record s[] = {rec(10, 10, "weighted"), rec(10, 0, "zero")};
	values[0] = 1;
	d = (struct draws){.values = values};
	srv_order(s, 2, fixed_draw, &d);
	ck_assert_str_eq(s[0].target, "weighted");
	ck_assert_str_eq(s[1].target, "zero");
}
END_TEST

START_TEST(test_first_pick_follows_the_weights)
{
	uint64_t state = 42;
	unsigned first[3] = {0};
	for (int run = 0; run < 10000; run++) {
		struct srv_record r[] = {rec(5, 70, "a"), rec(5, 20, "b"), rec(5, 10, "c")};
		srv_order(r, 3, lcg_draw, &state);
		first[r[0].target[0] - 'a']++;
	}
	/* 7000, 2000, 1000 expected; 5 standard deviations either way. */
	ck_assert_uint_ge(first[0], 6770);
	ck_assert_uint_le(first[0], 7230);
	ck_assert_uint_ge(first[1], 1800);
	ck_assert_uint_le(first[1], 2200);
	ck_assert_uint_ge(first[2], 850);
	ck_assert_uint_le(first[2], 1150);
}
END_TEST

START_TEST(test_first_share)
{
	struct srv_record r[] = {rec(10, 60, "a"), rec(10, 40, "b"), rec(20, 0, "c"),
				 rec(20, 0, "d")};
	ck_assert_uint_eq(srv_first_share(r, 4, 0), 600);
	ck_assert_uint_eq(srv_first_share(r, 4, 1), 400);
	ck_assert_uint_eq(srv_first_share(r, 4, 2), 500);
	ck_assert_uint_eq(srv_first_share(r, 4, 3), 500);
}
END_TEST

Suite *srv_suite(void)
{
	Suite *s = suite_create("srv");
	TCase *tc = tcase_create("order");
	tcase_add_test(tc, test_lower_priority_always_first);
	tcase_add_test(tc, test_weighted_pick_uses_the_running_sum);
	tcase_add_test(tc, test_zero_weight_only_on_a_zero_draw);
	tcase_add_test(tc, test_first_pick_follows_the_weights);
	tcase_add_test(tc, test_first_share);
	suite_add_tcase(s, tc);
	return s;
}
