/* The accounts file: salted SCRAM keys, never passwords. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/accounts.h"
#include "unit.h"

START_TEST(test_accounts_round_trip)
{
	char dir[] = "/tmp/rxmpp-accounts-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256], why[256];
	snprintf(path, sizeof(path), "%s/accounts", dir);
	struct accounts a;
	ck_assert_int_eq(accounts_load(path, &a, why, sizeof(why)), 0); /* missing: empty */
	ck_assert_uint_eq(a.count, 0);
	ck_assert_int_eq(accounts_set_password(&a, "zoe", "pw1", 3, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_set_password(&a, "adam", "pw2", 3, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_save(path, &a, why, sizeof(why)), 0);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	struct accounts b;
	ck_assert_int_eq(accounts_load(path, &b, why, sizeof(why)), 0);
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
	ck_assert_int_eq(accounts_load(path, &b, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "accounts:2: not a valid account line"));
	ck_assert_uint_eq(b.count, 0);
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
	suite_add_tcase(s, tc);
	return s;
}
