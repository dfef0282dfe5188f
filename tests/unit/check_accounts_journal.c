/* SPDX-License-Identifier: MIT */
/* The accounts journal (common/accounts_journal.h): changes appended
 * beside the accounts file, read back on top of it, followed from where
 * a reader stopped; a torn tail left out, damage refused with the file
 * and byte, a stale journal never applied to a later file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/accounts.h"
#include "common/accounts_journal.h"
#include "unit.h"

#define JOURNAL_HEAD 80 /* magic, version, checksum, seal */

static void fake_keys(struct scram_keys keys[SCRAM_HASH_COUNT], unsigned seed)
{
	memset(keys, 0, sizeof(struct scram_keys) * SCRAM_HASH_COUNT);
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		keys[h].iterations = 4096 + seed;
		keys[h].salt_len = SCRAM_SALT_LEN;
		memset(keys[h].salt, (int)(seed * 7 + (unsigned)h), SCRAM_SALT_LEN);
		memset(keys[h].stored_key, (int)(seed * 11 + 1), scram_key_len((enum scram_hash)h));
		memset(keys[h].server_key, (int)(seed * 13 + 2), scram_key_len((enum scram_hash)h));
	}
}

struct fixture {
	char dir[64], path[128], journal[160];
	char seal[ACCOUNTS_SEAL_LEN + 1];
	size_t journal_size;
};

/* A file with "adam" (keys 1) and "zoe" (keys 2), no journal yet. */
static void fixture_make(struct fixture *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/rxmpp-journal-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/accounts", f->dir);
	snprintf(f->journal, sizeof(f->journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, f->path);
	struct accounts a = {0};
	struct scram_keys keys[SCRAM_HASH_COUNT];
	fake_keys(keys, 1);
	ck_assert_int_eq(accounts_set_keys(&a, "adam", keys), 0);
	fake_keys(keys, 2);
	ck_assert_int_eq(accounts_set_keys(&a, "zoe", keys), 0);
	char why[512];
	ck_assert_int_eq(accounts_save_sealed(f->path, &a, f->seal, why, sizeof(why)), 0);
	ck_assert_uint_eq(strlen(f->seal), ACCOUNTS_SEAL_LEN);
	accounts_free(&a);
	f->journal_size = 0;
}

static void fixture_free(struct fixture *f)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void append_keys(struct fixture *f, const char *name, unsigned seed)
{
	struct scram_keys keys[SCRAM_HASH_COUNT];
	fake_keys(keys, seed);
	struct accounts_journal_change c = {.name = name, .keys = keys};
	char why[512];
	ck_assert_int_eq(
	    accounts_journal_append(f->path, f->seal, &c, 1, &f->journal_size, why, sizeof(why)),
	    0);
}

static void append_deleted(struct fixture *f, const char *name)
{
	struct accounts_journal_change c = {.name = name, .keys = NULL};
	char why[512];
	ck_assert_int_eq(
	    accounts_journal_append(f->path, f->seal, &c, 1, &f->journal_size, why, sizeof(why)),
	    0);
}

static size_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static void flip_byte(const char *path, size_t at)
{
	FILE *f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, (long)at, SEEK_SET), 0);
	int c = fgetc(f);
	ck_assert_int_eq(fseek(f, (long)at, SEEK_SET), 0);
	fputc(c ^ 0x10, f);
	fclose(f);
}

START_TEST(test_journal_round_trip_and_follow)
{
	struct fixture f;
	fixture_make(&f);
	append_keys(&f, "bob", 3);
	append_deleted(&f, "adam");
	ck_assert_uint_eq(file_size(f.journal), f.journal_size);
	struct stat st;
	ck_assert_int_eq(stat(f.journal, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	struct accounts a;
	char why[512], seal[ACCOUNTS_SEAL_LEN + 1];
	struct accounts_journal_pos pos;
	ck_assert_int_eq(accounts_load_following(f.path, &a, NULL, seal, &pos, why, sizeof(why)),
			 0);
	ck_assert_str_eq(seal, f.seal);
	ck_assert(pos.present);
	ck_assert_uint_eq(pos.offset, f.journal_size);
	ck_assert_uint_eq(pos.torn, 0);
	ck_assert_uint_eq(a.count, 2);
	ck_assert_ptr_null(accounts_find(&a, "adam"));
	struct scram_keys keys[SCRAM_HASH_COUNT];
	fake_keys(keys, 3);
	ck_assert_mem_eq(accounts_find(&a, "bob")->keys, keys, sizeof(keys));

	/* A reader that follows reads only what was appended since. */
	append_keys(&f, "bob", 4);
	append_keys(&f, "carol", 5);
	size_t before = pos.offset;
	ck_assert_int_eq(accounts_journal_apply(f.path, seal, &a, &pos, why, sizeof(why)), 0);
	ck_assert_uint_gt(pos.offset, before);
	ck_assert_uint_eq(pos.offset, f.journal_size);
	ck_assert_uint_eq(a.count, 3);
	fake_keys(keys, 4);
	ck_assert_mem_eq(accounts_find(&a, "bob")->keys, keys, sizeof(keys));
	/* Nothing new: nothing applied twice, nothing lost. */
	ck_assert_int_eq(accounts_journal_apply(f.path, seal, &a, &pos, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 3);

	/* A whole load agrees with the follower. */
	struct accounts b;
	ck_assert_int_eq(accounts_load(f.path, &b, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(b.count, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(a.items[i].name, b.items[i].name);
		ck_assert_mem_eq(a.items[i].keys, b.items[i].keys, sizeof(keys));
	}
	accounts_free(&a);
	accounts_free(&b);
	fixture_free(&f);
}
END_TEST

/* A crash can cut the last append short: left out, the rest read. */
START_TEST(test_journal_torn_tail_is_left_out)
{
	struct fixture f;
	fixture_make(&f);
	append_keys(&f, "bob", 3);
	size_t whole = f.journal_size;
	append_keys(&f, "carol", 4);
	char why[512];
	struct accounts a;
	struct accounts_journal_pos pos;
	size_t cuts[] = {f.journal_size - 1, whole + 12, whole + 5}; /* each shorter */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		ck_assert_int_eq(truncate(f.journal, (off_t)cuts[i]), 0);
		ck_assert_int_eq(
		    accounts_load_following(f.path, &a, NULL, NULL, &pos, why, sizeof(why)), 0);
		ck_assert_uint_eq(a.count, 3);
		ck_assert_ptr_nonnull(accounts_find(&a, "bob"));
		ck_assert_ptr_null(accounts_find(&a, "carol"));
		ck_assert_uint_eq(pos.offset, whole);
		ck_assert_uint_eq(pos.torn, cuts[i] - whole);
		accounts_free(&a);
	}
	/* The size reached the disk, the bytes did not: zeros. */
	ck_assert_int_eq(truncate(f.journal, (off_t)whole), 0);
	ck_assert_int_eq(truncate(f.journal, (off_t)(whole + 300)), 0);
	ck_assert_int_eq(accounts_load_following(f.path, &a, NULL, NULL, &pos, why, sizeof(why)),
			 0);
	ck_assert_uint_eq(pos.torn, 300);
	ck_assert_ptr_null(accounts_find(&a, "carol"));
	accounts_free(&a);
	fixture_free(&f);
}
END_TEST

/* The last record whole in length but not in its bytes is a torn append;
 * the same in a record with another after it is damage. */
START_TEST(test_journal_flipped_byte_is_refused)
{
	struct fixture f;
	fixture_make(&f);
	append_keys(&f, "bob", 3);
	size_t first_end = f.journal_size;
	append_keys(&f, "carol", 4);
	char why[512], expect[256];
	struct accounts a;
	struct accounts_journal_pos pos;

	flip_byte(f.journal, f.journal_size - 3);
	ck_assert_int_eq(accounts_load_following(f.path, &a, NULL, NULL, &pos, why, sizeof(why)),
			 0);
	ck_assert_ptr_null(accounts_find(&a, "carol"));
	ck_assert_uint_eq(pos.torn, f.journal_size - first_end);
	accounts_free(&a);
	flip_byte(f.journal, f.journal_size - 3);

	/* In the first record's bytes: refused, naming the file and byte. */
	flip_byte(f.journal, JOURNAL_HEAD + 20);
	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), -1);
	snprintf(expect, sizeof(expect), "%s, byte %d: the checksum of a record's bytes", f.journal,
		 JOURNAL_HEAD);
	ck_assert_msg(strstr(why, expect) != NULL, "%s", why);
	ck_assert_uint_eq(a.count, 0);
	flip_byte(f.journal, JOURNAL_HEAD + 20);

	/* In a record's head (its length). */
	flip_byte(f.journal, JOURNAL_HEAD + 9);
	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), -1);
	snprintf(expect, sizeof(expect), "%s, byte %d: the checksum of a record's head", f.journal,
		 JOURNAL_HEAD);
	ck_assert_msg(strstr(why, expect) != NULL, "%s", why);
	flip_byte(f.journal, JOURNAL_HEAD + 9);

	/* In the seal it follows: damage, not a stale journal to skip. */
	flip_byte(f.journal, 30);
	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), -1);
	snprintf(expect, sizeof(expect), "%s, byte 12: the checksum of the head", f.journal);
	ck_assert_msg(strstr(why, expect) != NULL, "%s", why);
	flip_byte(f.journal, 30);

	/* Not a journal at all. */
	flip_byte(f.journal, 0);
	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "byte 0: not an accounts journal"));
	flip_byte(f.journal, 0);

	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 4);
	accounts_free(&a);
	fixture_free(&f);
}
END_TEST

/* Written whole again (compaction, or rxmppctl outside a cluster): the
 * journal is removed, and one left behind is never applied to the new
 * file, even one holding the very same accounts. */
START_TEST(test_journal_compaction_and_stale_journal)
{
	struct fixture f;
	fixture_make(&f);
	append_deleted(&f, "zoe");
	char why[512], seal[ACCOUNTS_SEAL_LEN + 1], cmd[512];
	struct accounts a;
	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 1);
	snprintf(cmd, sizeof(cmd), "cp %s %s.old", f.journal, f.journal);
	ck_assert_int_eq(system(cmd), 0);

	/* Compaction: the file holds the journal's changes, no journal. */
	ck_assert_int_eq(accounts_save_sealed(f.path, &a, seal, why, sizeof(why)), 0);
	ck_assert_str_ne(seal, f.seal);
	ck_assert_int_eq(access(f.journal, F_OK), -1);
	accounts_free(&a);

	/* zoe added back, and the file written whole again. */
	struct scram_keys keys[SCRAM_HASH_COUNT];
	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), 0);
	fake_keys(keys, 2);
	ck_assert_int_eq(accounts_set_keys(&a, "zoe", keys), 0);
	ck_assert_int_eq(accounts_save_sealed(f.path, &a, seal, why, sizeof(why)), 0);
	/* The same accounts as the first file, yet another writing. */
	ck_assert_str_ne(seal, f.seal);
	accounts_free(&a);

	/* A journal left by a crash before its removal is stale. */
	snprintf(cmd, sizeof(cmd), "mv %s.old %s", f.journal, f.journal);
	ck_assert_int_eq(system(cmd), 0);
	struct accounts_journal_pos pos;
	ck_assert_int_eq(accounts_load_following(f.path, &a, NULL, NULL, &pos, why, sizeof(why)),
			 0);
	ck_assert(!pos.present);
	ck_assert_uint_eq(a.count, 2);
	ck_assert_ptr_nonnull(accounts_find(&a, "zoe"));
	accounts_free(&a);

	/* A new journal replaces the stale one whole. */
	f.journal_size = 0;
	memcpy(f.seal, seal, sizeof(seal));
	append_deleted(&f, "adam");
	ck_assert_int_eq(accounts_load(f.path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 1);
	ck_assert_str_eq(a.items[0].name, "zoe");
	accounts_free(&a);

	/* An append to a journal someone else changed is refused (the
	 * elector then writes the file whole). */
	size_t size = f.journal_size;
	f.journal_size = size + 1;
	struct accounts_journal_change c = {.name = "zoe", .keys = NULL};
	ck_assert_int_eq(
	    accounts_journal_append(f.path, f.seal, &c, 1, &f.journal_size, why, sizeof(why)), -1);
	ck_assert_uint_eq(file_size(f.journal), size);
	fixture_free(&f);
}
END_TEST

Suite *accounts_journal_suite(void)
{
	Suite *s = suite_create("accounts_journal");
	TCase *tc = tcase_create("journal");
	tcase_add_test(tc, test_journal_round_trip_and_follow);
	tcase_add_test(tc, test_journal_torn_tail_is_left_out);
	tcase_add_test(tc, test_journal_flipped_byte_is_refused);
	tcase_add_test(tc, test_journal_compaction_and_stale_journal);
	suite_add_tcase(s, tc);
	return s;
}
