/* SPDX-License-Identifier: MIT */
/* The accounts file: salted SCRAM keys, never passwords. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/accounts.h"
#include "common/fileio.h"
#include "unit.h"

START_TEST(test_accounts_round_trip)
{
	char dir[] = "/tmp/rxmpp-accounts-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256], why[256];
	snprintf(path, sizeof(path), "%s/accounts", dir);
	struct accounts a;
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), 0); /* missing: empty */
	ck_assert_uint_eq(a.count, 0);
	ck_assert_int_eq(accounts_set_password(&a, "zoe", "pw1", 3, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_set_password(&a, "adam", "pw2", 3, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_save(path, &a, why, sizeof(why)), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	struct accounts b;
	ck_assert_int_eq(accounts_load(path, &b, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(b.count, 2);
	ck_assert_str_eq(b.items[0].name, "adam");
	const struct account *zoe = accounts_find(&b, "zoe");
	ck_assert_ptr_nonnull(zoe);
	ck_assert_mem_eq(zoe->keys[SCRAM_SHA_256].stored_key,
			 accounts_find(&a, "zoe")->keys[SCRAM_SHA_256].stored_key, 32);
	ck_assert_uint_ge(zoe->keys[SCRAM_SHA_1].iterations, 4096);
	/* The password itself is not in the file. */
	FILE *f = fopen(path, "r");
	char text[4096];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_ptr_null(strstr(text, "pw1"));
	ck_assert_int_eq(accounts_remove(&b, "zoe"), 0);
	ck_assert_int_eq(accounts_remove(&b, "zoe"), -1);
	accounts_free(&a);
	accounts_free(&b);

	/* A damaged line names itself and loads nothing. */
	f = fopen(path, "w");
	fputs("# header\nadam SCRAM-SHA-1=4096,AAAA,BBBB\n", f);
	fclose(f);
	ck_assert_int_eq(accounts_load(path, &b, NULL, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "accounts:2: not a valid account line"));
	ck_assert_uint_eq(b.count, 0);
	unlink(path);
	rmdir(dir);
}
END_TEST

static void accounts_write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Replaces the first `from` in `text` by `to`, into `out`. */
static void accounts_edit(const char *text, const char *from, const char *to, char *out,
			  size_t size)
{
	const char *at = strstr(text, from);
	ck_assert_msg(at != NULL, "no \"%s\" in the file", from);
	snprintf(out, size, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

/* The file proves itself: each way of damaging it is refused with the
 * file and line, and a file of the previous format is read (unsealed). */
START_TEST(test_accounts_damage_is_refused)
{
	char dir[] = "/tmp/rxmpp-accounts-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256], why[1024];
	snprintf(path, sizeof(path), "%s/accounts", dir);
	struct accounts a;
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_set_password(&a, "adam", "pw1", 3, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_set_password(&a, "zoe", "pw2", 3, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_save(path, &a, why, sizeof(why)), 0);
	accounts_free(&a);
	FILE *f = fopen(path, "r");
	static char good[8192], bad[16384];
	size_t n = fread(good, 1, sizeof(good) - 1, f);
	good[n] = '\0';
	fclose(f);
	ck_assert_msg(strncmp(good, "rxmpp-accounts 1\n", 17) == 0, "%s", good);
	char *zoe_line = strstr(good, "\nzoe ") + 1;
	char *sum_line = strstr(good, "\nsha256 ") + 1;

	/* Damage the checksum catches. */
	static const struct {
		const char *from, *to, *what;
	} edits[] = {
	    {"=4096,", "=4097,", "a changed digit"},
	    {"\nzoe ", "\nzoa ", "a changed name"},
	    {"sha256 ", "sha256 0", "a wrong checksum"},
	    {"rxmpp-accounts 1\n", "", "no header"},
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		accounts_edit(good, edits[i].from, edits[i].to, bad, sizeof(bad));
		accounts_write_text(path, bad);
		ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);
		ck_assert_msg(strstr(why, path) != NULL && strstr(why, "rxmppctl user add") != NULL,
			      "%s: %s", edits[i].what, why);
		ck_assert_uint_eq(a.count, 0);
	}
	/* A user's line cut off (at a line boundary), a duplicate line,
	 * trailing junk, a file cut in its checksum. */
	snprintf(bad, sizeof(bad), "%.*s%s", (int)(zoe_line - good), good, sum_line);
	accounts_write_text(path, bad);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);
	snprintf(bad, sizeof(bad), "%.*s%.*s%s", (int)(sum_line - good), good,
		 (int)(sum_line - zoe_line), zoe_line, sum_line);
	accounts_write_text(path, bad);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);
	snprintf(bad, sizeof(bad), "%sjunk\n", good);
	accounts_write_text(path, bad);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);
	snprintf(bad, sizeof(bad), "%.*s", (int)strlen(good) - 5, good);
	accounts_write_text(path, bad);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);

	/* A newer release's format, sealed: refused with both versions, never
	 * read as this one's. */
	ck_assert_int_eq(fileio_write_sealed(path, "accounts", 2, zoe_line,
					     (size_t)(sum_line - zoe_line), 0600, why, sizeof(why)),
			 0);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "format version 2: a newer rxmpp wrote it") != NULL &&
			  strstr(why, "reads 1)") != NULL &&
			  strstr(why, "run that release") != NULL,
		      "%s", why);
	ck_assert_uint_eq(a.count, 0);

	/* The previous format (no header, no checksum) is read strictly. */
	snprintf(bad, sizeof(bad), "# rxmpp accounts, format 1\n%.*s", (int)(sum_line - zoe_line),
		 zoe_line);
	accounts_write_text(path, bad);
	bool unsealed = false;
	ck_assert_int_eq(accounts_load(path, &a, &unsealed, why, sizeof(why)), 0);
	ck_assert(unsealed);
	ck_assert_uint_eq(a.count, 1);
	accounts_free(&a);
	static const struct {
		const char *from, *to, *what;
	} strict[] = {
	    {"=4096,", "=-4096,", "negative iterations"},
	    {"=4096,", "=+4096,", "a signed number"},
	    {"=4096,", "=04096,", "a leading zero"},
	    {"\n", "\n\n", "an empty line"},
	    {" SCRAM-SHA-256=", "  SCRAM-SHA-256=", "two spaces"},
	    {" SCRAM-SHA-256=", " SCRAM-SHA-1=", "one mechanism twice"},
	};
	char legacy[16384];
	snprintf(legacy, sizeof(legacy), "%s", bad);
	for (size_t i = 0; i < sizeof(strict) / sizeof(strict[0]); i++) {
		accounts_edit(legacy, strict[i].from, strict[i].to, bad, sizeof(bad));
		accounts_write_text(path, bad);
		ck_assert_msg(accounts_load(path, &a, NULL, why, sizeof(why)) == -1, "%s accepted",
			      strict[i].what);
		ck_assert_msg(strstr(why, "accounts:2: not a valid account line") != NULL, "%s: %s",
			      strict[i].what, why);
	}
	/* A name that is not prepared: refused with the line and the reason,
	 * as no client could log in as it. */
	static const struct {
		const char *to, *reason;
	} names[] = {
	    {"Zoe ", "accounts:2: user name not in its prepared form (nodeprep makes it 'zoe')"},
	    {"\xc3\x85sa ",
	     "accounts:2: user name not in its prepared form (nodeprep makes it '\xc3\xa5sa')"},
	    {"z\xff"
	     "e ",
	     "accounts:2: user name: invalid UTF-8 at byte 2"},
	    {"z\xe2\x80\xa8"
	     "e ",
	     "accounts:2: user name: prohibited character U+2028"},
	    {"z\xc8\xa1"
	     "e ",
	     "accounts:2: user name: unassigned code point U+0221"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		accounts_edit(legacy, "zoe ", names[i].to, bad, sizeof(bad));
		accounts_write_text(path, bad);
		ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);
		ck_assert_msg(strstr(why, names[i].reason) != NULL, "%s", why);
	}
	snprintf(bad, sizeof(bad), "%s%s", legacy, zoe_line);
	bad[strlen(bad) - 1] = '\0'; /* a repeated line, cut short */
	accounts_write_text(path, bad);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), -1);
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *accounts_suite(void)
{
	Suite *s = suite_create("accounts");
	TCase *tc = tcase_create("accounts");
	/* Key derivation runs thousands of PBKDF2 rounds per password. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_accounts_round_trip);
	tcase_add_test(tc, test_accounts_damage_is_refused);
	suite_add_tcase(s, tc);
	return s;
}
