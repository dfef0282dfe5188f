/* SPDX-License-Identifier: MIT */
/* Logging: priority prefixes, the process title, levels, and that bytes a
 * peer controls cannot forge a second log line. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "unit.h"

void unit_capture_stderr(void (*emit)(void), char *out, size_t size)
{
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	int saved = dup(STDERR_FILENO);
	dup2(pipefd[1], STDERR_FILENO);
	close(pipefd[1]);
	emit();
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = read(pipefd[0], out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
}

static void emit_levels(void)
{
	log_init("tester", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_debug("hidden at info");
	log_info("an info line");
	errno = ENOENT;
	log_warn("opening %s", "x");
	log_warnx("peer said \"%s\"", "evil\n<3>forged line");
	log_init("unit", LOG_LEVEL_ERR, LOG_TARGET_STDERR);
}

START_TEST(test_prefixes_levels_and_sanitising)
{
	char out[2048];
	unit_capture_stderr(emit_levels, out, sizeof(out));
	ck_assert_ptr_null(strstr(out, "hidden at info"));
	ck_assert_ptr_nonnull(strstr(out, "<6>tester["));
	ck_assert_ptr_nonnull(strstr(out, "]: an info line\n"));
	ck_assert_ptr_nonnull(strstr(out, "<4>tester["));
	ck_assert_ptr_nonnull(strstr(out, "]: opening x: No such file or directory\n"));
	ck_assert_ptr_nonnull(strstr(out, "peer said \"evil?<3>forged line\"\n"));
	int lines = 0;
	for (const char *p = out; *p != '\0'; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, 3);
}
END_TEST

static void emit_flood(void)
{
	static struct log_limit refusals, other;
	log_init("tester", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	for (int i = 0; i < 3 * LOG_LIMIT_BURST; i++)
		log_warnx_limited(&refusals, "refused %d", i);
	log_info_limited(&other, "another kind");
	log_init("unit", LOG_LEVEL_ERR, LOG_TARGET_STDERR);
}

/* A burst of lines an outsider causes: the first LOG_LIMIT_BURST of the
 * interval are logged, the rest only counted; other kinds are not held. */
START_TEST(test_limited_lines)
{
	char out[4096];
	unit_capture_stderr(emit_flood, out, sizeof(out));
	int lines = 0;
	for (const char *p = out; *p != '\0'; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, LOG_LIMIT_BURST + 1);
	ck_assert_ptr_nonnull(strstr(out, "refused 0\n"));
	ck_assert_ptr_null(strstr(out, "refused 10\n"));
	ck_assert_ptr_nonnull(strstr(out, "<6>tester["));
	ck_assert_ptr_nonnull(strstr(out, "another kind\n"));
}
END_TEST

START_TEST(test_level_names)
{
	enum log_level level;
	ck_assert_int_eq(log_level_parse("warning", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_WARNING);
	ck_assert_int_eq(log_level_parse("debug", &level), 0);
	ck_assert_int_eq(level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_level_parse("loud", &level), -1);
	ck_assert_str_eq(log_level_name(LOG_LEVEL_ERR), "err");
}
END_TEST

/* Every line of `out` matches `pattern` (extended, anchored by the caller). */
static void assert_each_line(const char *out, const char *pattern)
{
	regex_t re;
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", out);
	int lines = 0;
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), lines++)
		ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "line '%s' is not /%s/", line,
			      pattern);
	regfree(&re);
	ck_assert_int_gt(lines, 0);
}

static void emit_two(void)
{
	log_init("tester", LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_info("first");
	log_warnx("second");
	log_init("unit", LOG_LEVEL_ERR, LOG_TARGET_STDERR);
}

/* journald's stream: what JOURNAL_STREAM names is this process's stderr. */
static void emit_two_to_journal(void)
{
	struct stat st;
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	char value[64];
	snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", value, 1);
	emit_two();
	unsetenv("JOURNAL_STREAM");
}

/* A unit whose stderr was sent elsewhere: the variable is inherited but
 * names another stream, so the lines are stamped. */
static void emit_two_journal_elsewhere(void)
{
	setenv("JOURNAL_STREAM", "1:2", 1);
	emit_two();
	unsetenv("JOURNAL_STREAM");
}

static void emit_plain(void)
{
	log_init("tool", LOG_LEVEL_INFO, LOG_TARGET_STDERR_PLAIN);
	log_warnx("to the user");
	log_init("unit", LOG_LEVEL_ERR, LOG_TARGET_STDERR);
}

#define STAMP "[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z "

START_TEST(test_timestamps)
{
	char out[4096];
	unit_capture_stderr(emit_two, out, sizeof(out));
	assert_each_line(out, "^" STAMP "<[46]>tester\\[[0-9]+\\]: (first|second)$");
	unit_capture_stderr(emit_two_journal_elsewhere, out, sizeof(out));
	assert_each_line(out, "^" STAMP "<[46]>tester\\[[0-9]+\\]: (first|second)$");
	unit_capture_stderr(emit_two_to_journal, out, sizeof(out));
	assert_each_line(out, "^<[46]>tester\\[[0-9]+\\]: (first|second)$");
	unit_capture_stderr(emit_plain, out, sizeof(out));
	assert_each_line(out, "^<4>tool\\[[0-9]+\\]: to the user$");
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, test_prefixes_levels_and_sanitising);
	tcase_add_test(tc, test_level_names);
	tcase_add_test(tc, test_limited_lines);
	tcase_add_test(tc, test_timestamps);
	suite_add_tcase(s, tc);
	return s;
}
