/* JIDs (RFC 7622) and the accounts file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/accounts.h"
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

Suite *jid_suite(void)
{
	Suite *s = suite_create("jid");
	TCase *tc = tcase_create("jid");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_valid_jids);
	tcase_add_test(tc, test_invalid_jids);
	tcase_add_test(tc, test_accounts_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
