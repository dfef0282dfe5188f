/* SPDX-License-Identifier: MIT */
/*
 * The elector's health log lines (elector/elector_health.c): one warning
 * when a member or the quorum is lost, one info line when it is back,
 * nothing while nothing changes, and a member seen the first time logged
 * only when it is unreachable.
 */
#include <string.h>

#include "common/log.h"
#include "elector/elector_health.h"
#include "unit.h"

static struct elector_health watched;
static struct elector_health_member seen[3];
static uint32_t seen_count, seen_reachable;

static void emit_watch(void)
{
	log_init("elector", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	elector_health_watch(&watched, seen, seen_count, seen_reachable, 2);
	log_init("unit", LOG_LEVEL_ERR, LOG_TARGET_STDERR);
}

/* One evaluation: members 1..count, `up` a bit per member. */
static void watch(uint32_t count, unsigned up, char *out, size_t size)
{
	static const char *const addresses[] = {"n1:5224", "n2:5224", "n3:5224"};
	seen_count = count;
	seen_reachable = 0;
	for (uint32_t i = 0; i < count; i++) {
		bool reachable = (up >> i) & 1;
		seen[i] = (struct elector_health_member){
		    .id = i + 1, .address = addresses[i], .reachable = reachable, .why = "silent"};
		seen_reachable += reachable;
	}
	unit_capture_stderr(emit_watch, out, size);
}

/* The syslog priority of the line that holds `text`, or -1 if none does. */
static int level_of(const char *out, const char *text)
{
	const char *at = strstr(out, text);
	if (at == NULL)
		return -1;
	while (at > out && at[-1] != '\n')
		at--;
	const char *open = strchr(at, '<');
	return open != NULL && open[1] >= '0' && open[1] <= '7' && open[2] == '>' ? open[1] - '0'
										  : -1;
}

static int lines(const char *text)
{
	int n = 0;
	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

START_TEST(test_health_lines_are_edge_triggered)
{
	char out[4096];
	memset(&watched, 0, sizeof(watched));
	watch(3, 0x7, out, sizeof(out));
	ck_assert_str_eq(out, ""); /* all well from the start: nothing */
	watch(3, 0x5, out, sizeof(out));
	ck_assert_int_eq(lines(out), 1);
	ck_assert_int_eq(
	    level_of(out, "cluster member 0000000000000002 at n2:5224 is unreachable: silent\n"),
	    LOG_LEVEL_WARNING);
	watch(3, 0x5, out, sizeof(out));
	ck_assert_str_eq(out, ""); /* still so: said once */
	watch(3, 0x1, out, sizeof(out));
	ck_assert_int_eq(lines(out), 2);
	ck_assert_int_eq(level_of(out, "member 0000000000000003 at n3:5224 is unreachable"),
			 LOG_LEVEL_WARNING);
	ck_assert_int_eq(level_of(out, "cluster quorum lost: 1 of 3 members reachable, 2 needed\n"),
			 LOG_LEVEL_WARNING);
	watch(3, 0x1, out, sizeof(out));
	ck_assert_str_eq(out, "");
	watch(3, 0x7, out, sizeof(out));
	ck_assert_int_eq(lines(out), 3);
	ck_assert_int_eq(level_of(out, "member 0000000000000002 at n2:5224 is reachable again\n"),
			 LOG_LEVEL_INFO);
	ck_assert_int_eq(level_of(out, "member 0000000000000003 at n3:5224 is reachable again\n"),
			 LOG_LEVEL_INFO);
	ck_assert_int_eq(
	    level_of(out, "cluster quorum regained: 3 of 3 members reachable, 2 needed\n"),
	    LOG_LEVEL_INFO);
	/* A member gone from the membership is forgotten quietly. */
	watch(2, 0x3, out, sizeof(out));
	ck_assert_str_eq(out, "");
	/* One seen the first time: logged only when unreachable. */
	watch(3, 0x3, out, sizeof(out));
	ck_assert_int_eq(lines(out), 1);
	ck_assert_ptr_nonnull(strstr(out, "member 0000000000000003 at n3:5224 is unreachable"));
}
END_TEST

START_TEST(test_quorum_lost_from_the_start_is_said)
{
	char out[4096];
	memset(&watched, 0, sizeof(watched));
	watch(3, 0x1, out, sizeof(out));
	ck_assert_int_eq(level_of(out, "cluster quorum lost: 1 of 3 members reachable, 2 needed\n"),
			 LOG_LEVEL_WARNING);
	ck_assert_int_eq(lines(out), 3);
}
END_TEST

Suite *elector_health_suite(void)
{
	Suite *s = suite_create("elector_health");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_health_lines_are_edge_triggered);
	tcase_add_test(tc, test_quorum_lost_from_the_start_is_said);
	suite_add_tcase(s, tc);
	return s;
}
