/* SPDX-License-Identifier: MIT */
/* Admission by peer address (listener/listener_admit.c): the token bucket
 * of new connections, the caps on unauthenticated and on all connections,
 * trusted peers, and the sweep that must not hand out a fresh burst. */
#include <string.h>

#include "listener/listener_admit.h"
#include "unit.h"

static struct config_limits limits_of(uint32_t rate, uint32_t burst, uint32_t unauthenticated,
				      uint32_t connections)
{
	struct config_limits limits;
	memset(&limits, 0, sizeof(limits));
	limits.connection_rate_per_address = rate;
	limits.connection_burst_per_address = burst;
	limits.max_unauthenticated_per_address = unauthenticated;
	limits.max_connections_per_address = connections;
	return limits;
}

START_TEST(test_token_bucket)
{
	struct listener_admit x;
	ck_assert_int_eq(listener_admit_init(&x), 0);
	struct config_limits limits = limits_of(2, 5, CONFIG_NONE, CONFIG_NONE);
	const char *a = "192.0.2.1";
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 1000),
				 LISTENER_ADMIT_OK);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 1000), LISTENER_ADMIT_RATE);
	/* Another address has a bucket of its own. */
	ck_assert_int_eq(listener_admit_open(&x, &limits, "2001:db8::1", false, 1000),
			 LISTENER_ADMIT_OK);
	/* Two a second: one token after 500 ms, not before. */
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 1499), LISTENER_ADMIT_RATE);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 1500), LISTENER_ADMIT_OK);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 1500), LISTENER_ADMIT_RATE);
	/* A clock that goes back refills nothing. */
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0), LISTENER_ADMIT_RATE);
	/* A long quiet spell refills up to the burst, no more. */
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, INT64_C(1) << 50),
				 LISTENER_ADMIT_OK);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, INT64_C(1) << 50),
			 LISTENER_ADMIT_RATE);
	/* Refused connections were not counted. */
	ck_assert_uint_eq(listener_admit_count(&x, a, NULL), 11);
	/* No rate: no bucket. */
	limits.connection_rate_per_address = CONFIG_NONE;
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, INT64_C(1) << 50),
				 LISTENER_ADMIT_OK);
	listener_admit_free(&x);
}
END_TEST

START_TEST(test_unauthenticated_and_connection_caps)
{
	struct listener_admit x;
	ck_assert_int_eq(listener_admit_init(&x), 0);
	struct config_limits limits = limits_of(CONFIG_NONE, 1, 3, CONFIG_NONE);
	const char *a = "192.0.2.1";
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0), LISTENER_ADMIT_OK);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0),
			 LISTENER_ADMIT_UNAUTHENTICATED);
	/* An authenticated connection makes room for another; established
	 * sessions are not capped. */
	for (int i = 0; i < 50; i++) {
		listener_admit_authenticated(&x, a);
		ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0), LISTENER_ADMIT_OK);
		ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0),
				 LISTENER_ADMIT_UNAUTHENTICATED);
	}
	unsigned unauthenticated;
	ck_assert_uint_eq(listener_admit_count(&x, a, &unauthenticated), 53);
	ck_assert_uint_eq(unauthenticated, 3);
	/* An unauthenticated one that closes makes room too; an authenticated
	 * one that closes does not. */
	listener_admit_close(&x, a, true);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0),
			 LISTENER_ADMIT_UNAUTHENTICATED);
	listener_admit_close(&x, a, false);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0), LISTENER_ADMIT_OK);

	/* max_connections_per_address counts every connection. */
	limits.max_connections_per_address = 52;
	ck_assert_uint_eq(listener_admit_count(&x, a, NULL), 52);
	listener_admit_authenticated(&x, a);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0), LISTENER_ADMIT_CONNECTIONS);
	/* A trusted peer passes every limit, and is counted. */
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, true, 0), LISTENER_ADMIT_OK);
	ck_assert_uint_eq(listener_admit_count(&x, a, &unauthenticated), 53);
	ck_assert_uint_eq(unauthenticated, 3);
	ck_assert_uint_eq(listener_admit_count(&x, "192.0.2.2", &unauthenticated), 0);
	ck_assert_uint_eq(unauthenticated, 0);
	listener_admit_free(&x);
}
END_TEST

START_TEST(test_trusted_is_not_rate_limited)
{
	struct listener_admit x;
	ck_assert_int_eq(listener_admit_init(&x), 0);
	struct config_limits limits = limits_of(1, 1, 1, 1);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(listener_admit_open(&x, &limits, "127.0.0.1", true, 0),
				 LISTENER_ADMIT_OK);
	/* Trusted connections took no token: the address's first untrusted
	 * one still finds its burst, but not past the caps. */
	ck_assert_int_eq(listener_admit_open(&x, &limits, "127.0.0.1", false, 0),
			 LISTENER_ADMIT_CONNECTIONS);
	listener_admit_free(&x);
}
END_TEST

START_TEST(test_sweep_keeps_a_drained_bucket)
{
	struct listener_admit x;
	ck_assert_int_eq(listener_admit_init(&x), 0);
	struct config_limits limits = limits_of(10, 20, CONFIG_NONE, CONFIG_NONE);
	const char *a = "198.51.100.4";
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 0), LISTENER_ADMIT_OK);
	for (int i = 0; i < 20; i++)
		listener_admit_close(&x, a, false);
	/* Closing every connection does not give the address a new burst. */
	listener_admit_sweep(&x, &limits, 100);
	ck_assert_uint_eq(listener_admit_addresses(&x), 1);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 100), LISTENER_ADMIT_OK);
	ck_assert_int_eq(listener_admit_open(&x, &limits, a, false, 100), LISTENER_ADMIT_RATE);
	/* With a connection the entry stays whatever its bucket. */
	listener_admit_sweep(&x, &limits, 1000000);
	ck_assert_uint_eq(listener_admit_addresses(&x), 1);
	listener_admit_close(&x, a, false);
	/* Idle and full again (20 tokens at 10 a second: 2 s): forgotten. */
	listener_admit_sweep(&x, &limits, 1000000);
	ck_assert_uint_eq(listener_admit_addresses(&x), 0);
	ck_assert_uint_eq(listener_admit_count(&x, a, NULL), 0);
	/* Closing what is not counted changes nothing. */
	listener_admit_close(&x, a, false);
	listener_admit_authenticated(&x, a);
	ck_assert_uint_eq(listener_admit_addresses(&x), 0);
	listener_admit_free(&x);
}
END_TEST

Suite *listener_admit_suite(void)
{
	Suite *s = suite_create("listener_admit");
	TCase *tc = tcase_create("listener_admit");
	tcase_add_test(tc, test_token_bucket);
	tcase_add_test(tc, test_unauthenticated_and_connection_caps);
	tcase_add_test(tc, test_trusted_is_not_rate_limited);
	tcase_add_test(tc, test_sweep_keeps_a_drained_bucket);
	suite_add_tcase(s, tc);
	return s;
}
