/* SPDX-License-Identifier: MIT */
/* The users' data of a node in no cluster (elector/elector_local.h): writes
 * and their versions (the local log's indexes, on across reopenings and
 * snapshots), a turn's writes flushed together, what is not written,
 * accounts following the accounts file, and damaged files refused with the
 * file, the offset and the advice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/accounts.h"
#include "elector/elector_local.h"
#include "elector/elector_log_store.h"
#include "unit.h"

struct local_dir {
	char dir[64];
	char accounts[128];
	char log[128];
	char snapshot[128];
};

static void local_dir_make(struct local_dir *d)
{
	snprintf(d->dir, sizeof(d->dir), "/tmp/rxmpp-local-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	snprintf(d->accounts, sizeof(d->accounts), "%s/%s", d->dir, ACCOUNTS_FILE_NAME);
	snprintf(d->log, sizeof(d->log), "%s/%s/%s", d->dir, ELECTOR_LOCAL_DIR, ELECTOR_LOG_FILE);
	snprintf(d->snapshot, sizeof(d->snapshot), "%s/%s/%s", d->dir, ELECTOR_LOCAL_DIR,
		 ELECTOR_SNAPSHOT_FILE);
}

static void local_dir_remove(struct local_dir *d)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The accounts file with exactly these names. */
static void accounts_write(const struct local_dir *d, const char *const *names, size_t count)
{
	struct accounts a = {0};
	char why[512];
	for (size_t i = 0; i < count; i++)
		ck_assert_int_eq(accounts_set_password(&a, names[i], "pw", 2, why, sizeof(why)), 0);
	ck_assert_msg(accounts_save(d->accounts, &a, why, sizeof(why)) == 0, "%s", why);
	accounts_free(&a);
}

static struct elector_local *local_open(const struct local_dir *d, uint32_t every)
{
	char why[2048];
	struct elector_local *l = elector_local_open(d->dir, d->accounts, every, why, sizeof(why));
	ck_assert_msg(l != NULL, "%s", why);
	return l;
}

/* One write: the machine's status, and the index in *index. */
static uint32_t write_ud(struct elector_local *l, enum elector_machine_op op, const char *user,
			 uint32_t coll, const char *key, const char *value, uint64_t *index)
{
	struct buf cmd;
	struct elector_userdata_limit limit = elector_userdata_default_limit(coll ? coll : 1);
	ck_assert_int_eq(elector_machine_encode_userdata(&cmd, op, user, coll, &limit, key,
							 key ? strlen(key) : 0, value,
							 value ? strlen(value) : 0),
			 0);
	ck_assert(elector_local_takes(buf_head(&cmd), buf_len(&cmd)));
	struct elector_machine_result r;
	char why[512];
	ck_assert_msg(elector_local_propose(l, buf_head(&cmd), buf_len(&cmd), &r, index, why,
					    sizeof(why)) == 0,
		      "%s", why);
	buf_free(&cmd);
	return r.status;
}

static struct elector_userdata_view local_view(struct elector_local *l, const char *user,
					       uint32_t coll)
{
	return elector_userdata_view(
	    elector_userdata_find(elector_machine_userdata(elector_local_machine(l)), user, coll));
}

static size_t local_users(struct elector_local *l)
{
	const char **names;
	size_t count;
	ck_assert_int_eq(elector_userdata_users(elector_machine_userdata(elector_local_machine(l)),
						&names, &count),
			 0);
	free(names);
	return count;
}

START_TEST(test_local_versions_are_the_local_indexes)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *names[] = {"lee"};
	accounts_write(&d, names, 1);
	struct elector_local *l = local_open(&d, 1000);
	uint64_t at;
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_ROSTER,
				   "kim@x", "item", &at),
			  ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(at, 1);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_ROSTER).version, 1);
	/* Changing nothing, or refused: not written. */
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_ROSTER,
				   "kim@x", "item", &at),
			  ELECTOR_MACHINE_IDENTICAL);
	ck_assert_uint_eq(at, 0);
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "nobody",
				   ELECTOR_USERDATA_ROSTER, "kim@x", "item", &at),
			  ELECTOR_MACHINE_REFUSED);
	ck_assert_uint_eq(at, 0);
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_APPEND, "lee",
				   ELECTOR_USERDATA_OFFLINE, NULL, "<message/>", &at),
			  ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(at, 2);
	ck_assert_uint_eq(local_users(l), 1);
	elector_local_free(l);

	/* Read again from the log; the next write goes on after it. */
	l = local_open(&d, 1000);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_ROSTER).version, 1);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_OFFLINE).count, 1);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_OFFLINE).version, 2);
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_DEL, "lee", ELECTOR_USERDATA_ROSTER,
				   "kim@x", NULL, &at),
			  ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(at, 3);
	elector_local_free(l);
	local_dir_remove(&d);
}
END_TEST

START_TEST(test_local_snapshot_compacts_and_versions_go_on)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *names[] = {"lee"};
	accounts_write(&d, names, 1);
	struct elector_local *l = local_open(&d, 5);
	uint64_t at = 0;
	char value[16];
	for (int i = 0; i < 12; i++) {
		snprintf(value, sizeof(value), "v%d", i);
		ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee",
					   ELECTOR_USERDATA_META, "k", value, &at),
				  ELECTOR_MACHINE_OK);
	}
	ck_assert_uint_eq(at, 12);
	struct stat st;
	ck_assert_int_eq(stat(d.snapshot, &st), 0);
	elector_local_free(l);

	l = local_open(&d, 5);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_META).version, 12);
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_ROSTER,
				   "kim@x", "item", &at),
			  ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(at, 13);
	elector_local_free(l);
	local_dir_remove(&d);
}
END_TEST

/* Accounts are the file's: an account gone takes its data with it,
 * through the log, so that an account made again later finds none. */
START_TEST(test_local_accounts_follow_the_file)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *both[] = {"kim", "lee"}, *kim[] = {"kim"};
	accounts_write(&d, kim, 1);
	struct elector_local *l = local_open(&d, 1000);
	uint64_t at;
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_VCARD,
				   "v", "card", &at),
			  ELECTOR_MACHINE_REFUSED);
	accounts_write(&d, both, 2);
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_VCARD,
				   "v", "card", &at),
			  ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_VCARD).count, 1);
	accounts_write(&d, kim, 1);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_VCARD).count, 0);
	/* The clear was written: the next write comes after it. */
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "kim", ELECTOR_USERDATA_VCARD,
				   "v", "card", &at),
			  ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(at, 3);
	elector_local_free(l);

	accounts_write(&d, both, 2);
	l = local_open(&d, 1000);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_VCARD).count, 0);
	ck_assert_uint_eq(local_users(l), 1) /* kim */;
	elector_local_free(l);
	local_dir_remove(&d);
}
END_TEST

/* A turn's writes: applied at consecutive indexes at once, on disk only
 * with the one flush that precedes their answers. */
START_TEST(test_local_staged_writes_flush_together)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *names[] = {"lee"};
	accounts_write(&d, names, 1);
	struct elector_local *l = local_open(&d, 1000);
	char why[512], key[8];
	for (int i = 0; i < 3; i++) {
		struct buf cmd;
		struct elector_userdata_limit limit =
		    elector_userdata_default_limit(ELECTOR_USERDATA_ROSTER);
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(elector_machine_encode_userdata(&cmd, ELECTOR_MACHINE_USERDATA_PUT,
								 "lee", ELECTOR_USERDATA_ROSTER,
								 &limit, key, 2, "v", 1),
				 0);
		struct elector_machine_result r;
		uint64_t at;
		ck_assert_int_eq(elector_local_stage(l, buf_head(&cmd), buf_len(&cmd), &r, &at, why,
						     sizeof(why)),
				 0);
		ck_assert_uint_eq(at, (uint64_t)i + 1);
		buf_free(&cmd);
	}
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_ROSTER).count, 3);
	/* A reader of the folder sees none of it yet, and a second store
	 * cannot be opened on it meanwhile (its writes would overlap). */
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/%s", d.dir, ELECTOR_LOCAL_DIR);
	struct elector_log_loaded loaded;
	struct elector_log_store *other = elector_log_store_read(dir, &loaded, why, sizeof(why));
	ck_assert_msg(other != NULL, "%s", why);
	ck_assert_uint_eq(loaded.count, 0);
	elector_log_store_free(other);
	char busy[1024];
	ck_assert_ptr_null(elector_local_open(d.dir, d.accounts, 1000, busy, sizeof(busy)));
	ck_assert_msg(strstr(busy, "in use by another process") != NULL, "%s", busy);
	ck_assert_msg(elector_local_flush(l, why, sizeof(why)) == 0, "%s", why);
	elector_local_free(l);
	l = local_open(&d, 1000);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_ROSTER).count, 3);
	ck_assert_uint_eq(local_view(l, "lee", ELECTOR_USERDATA_ROSTER).version, 3);
	elector_local_free(l);
	local_dir_remove(&d);
}
END_TEST

START_TEST(test_local_takes_user_data_only)
{
	struct buf cmd;
	struct scram_keys keys[SCRAM_HASH_COUNT];
	memset(keys, 0, sizeof(keys));
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		keys[h].iterations = 4096;
		keys[h].salt_len = SCRAM_SALT_LEN;
	}
	ck_assert_int_eq(elector_machine_encode_user(&cmd, ELECTOR_MACHINE_USER_ADD, "lee", keys),
			 0);
	ck_assert(!elector_local_takes(buf_head(&cmd), buf_len(&cmd)));
	buf_free(&cmd);
	ck_assert_int_eq(elector_machine_encode_userdata(&cmd, ELECTOR_MACHINE_USERDATA_CLEAR,
							 "lee", 0, NULL, NULL, 0, NULL, 0),
			 0);
	ck_assert(elector_local_takes(buf_head(&cmd), buf_len(&cmd)));
	ck_assert(!elector_local_takes(buf_head(&cmd), 1));
	buf_free(&cmd);
}
END_TEST

static void damage(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	static char content[1 << 16];
	size_t n = fread(content, 1, sizeof(content), f);
	const char *at = memmem(content, n, needle, strlen(needle));
	ck_assert_ptr_nonnull(at);
	ck_assert_int_eq(fseek(f, at - content, SEEK_SET), 0);
	ck_assert_int_eq(fputc('X', f), 'X');
	fclose(f);
}

/* A damaged file is refused, naming it, where and what, with advice for
 * this store (not a cluster's "join again"). */
START_TEST(test_local_damage_refused)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *names[] = {"lee"};
	accounts_write(&d, names, 1);
	struct elector_local *l = local_open(&d, 1000);
	uint64_t at;
	write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_ROSTER, "kim@x", "one",
		 &at);
	write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_ROSTER, "pat@x", "two",
		 &at);
	elector_local_free(l);
	char why[2048], expect[256];
	ck_assert_int_eq(elector_local_check(d.dir, why, sizeof(why)), 0);
	damage(d.log, "kim@x");
	ck_assert_ptr_null(elector_local_open(d.dir, d.accounts, 1000, why, sizeof(why)));
	snprintf(expect, sizeof(expect), "%s, byte ", d.log);
	ck_assert_msg(strstr(why, expect) == why, "%s", why);
	char checked[2048];
	ck_assert_int_eq(elector_local_check(d.dir, checked, sizeof(checked)), -1);
	ck_assert_str_eq(checked, why);
	ck_assert_msg(strstr(why, "checksum") != NULL, "%s", why);
	ck_assert_msg(strstr(why, ELECTOR_LOCAL_ADVICE) != NULL, "%s", why);
	ck_assert_msg(strstr(why, "join the cluster again") == NULL, "%s", why);
	local_dir_remove(&d);

	/* A damaged snapshot. */
	local_dir_make(&d);
	accounts_write(&d, names, 1);
	l = local_open(&d, 1);
	write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_ROSTER, "kim@x", "one",
		 &at);
	write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "lee", ELECTOR_USERDATA_ROSTER, "pat@x", "two",
		 &at);
	elector_local_free(l);
	damage(d.snapshot, "pat@x");
	ck_assert_ptr_null(elector_local_open(d.dir, d.accounts, 1000, why, sizeof(why)));
	snprintf(expect, sizeof(expect), "%s, byte ", d.snapshot);
	ck_assert_msg(strstr(why, expect) == why, "%s", why);
	ck_assert_msg(strstr(why, ELECTOR_LOCAL_ADVICE) != NULL, "%s", why);
	local_dir_remove(&d);
}
END_TEST

/* review18l F6: `rxmppctl status` / `config check` of a stopped node
 * refuse what the elector's open refuses beyond the files' structure:
 * here a log entry that is no user-data command (written with the log
 * store itself), which only open saw. */
START_TEST(test_local_check_refuses_what_open_refuses)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *names[] = {"lee"};
	accounts_write(&d, names, 1);
	char why[2048], checked[2048], note[256], dir[128];
	ck_assert_int_eq(elector_local_check(d.dir, why, sizeof(why)), 0); /* no folder */
	elector_local_free(local_open(&d, 1000));
	snprintf(dir, sizeof(dir), "%s/%s", d.dir, ELECTOR_LOCAL_DIR);
	struct elector_log_loaded loaded;
	struct elector_log_store *s =
	    elector_log_store_open(dir, &loaded, note, sizeof(note), why, sizeof(why));
	ck_assert_msg(s != NULL, "%s", why);
	const uint8_t settings[] = {1, ELECTOR_MACHINE_SETTINGS};
	struct elector_log_entry x = {
	    .index = 1, .term = 1, .type = ELECTOR_ENTRY_DATA, .len = 2, .data = settings};
	struct elector_hard_state hard = {.term = 1, .commit = 1};
	ck_assert_int_eq(elector_log_store_append(s, &hard, &x, 1, why, sizeof(why)), 0);
	elector_log_store_free(s);
	ck_assert_ptr_null(elector_local_open(d.dir, d.accounts, 1000, why, sizeof(why)));
	ck_assert_msg(strstr(why, "entry 1 is not a user-data command") != NULL, "%s", why);
	ck_assert_int_eq(elector_local_check(d.dir, checked, sizeof(checked)), -1);
	ck_assert_str_eq(checked, why);
	local_dir_remove(&d);
}
END_TEST

/* review18l F3: `rxmppctl user del` on a running lone node saves the
 * accounts file without the user first, then clears: a write for the
 * still logged-in user in between is refused, the clear changes nothing
 * (the elector's look cleared the data already), and an account
 * made again at once starts empty.  (The old order, clear then file, let
 * that write survive into the new account.) */
START_TEST(test_local_deleted_account_made_again_inherits_nothing)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *both[] = {"kim", "lee"}, *lee[] = {"lee"};
	accounts_write(&d, both, 2);
	struct elector_local *l = local_open(&d, 1000);
	uint64_t at;
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "kim", ELECTOR_USERDATA_ROSTER,
				   "a@x", "old", &at),
			  ELECTOR_MACHINE_OK);
	/* user del kim: 1. the file without kim */
	accounts_write(&d, lee, 1);
	/* (the still logged-in kim's client adds a contact) */
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "kim", ELECTOR_USERDATA_ROSTER,
				   "b@x", "old", &at),
			  ELECTOR_MACHINE_REFUSED);
	/* 2. the clear: nothing left to clear (the elector's look did it) */
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_CLEAR, "kim", 0, NULL, NULL, &at),
			  ELECTOR_MACHINE_IDENTICAL);
	/* then `user add kim` at once */
	accounts_write(&d, both, 2);
	ck_assert_uint_eq(local_view(l, "kim", ELECTOR_USERDATA_ROSTER).count, 0);
	elector_local_free(l);
	local_dir_remove(&d);
}
END_TEST

/* An account deleted while no elector ran (`user del` with rxmppd
 * stopped writes the file first; or the elector died before it looked):
 * the next open replays the user's entries and clears them through the
 * log, so an account made again later does not get them back at the
 * open after that.  Replayed against the file alone they were refused,
 * left in the log, and applied again once the account was back. */
START_TEST(test_local_account_deleted_while_closed_is_cleared_for_good)
{
	struct local_dir d;
	local_dir_make(&d);
	const char *both[] = {"kim", "lee"}, *lee[] = {"lee"};
	accounts_write(&d, both, 2);
	struct elector_local *l = local_open(&d, 1000);
	uint64_t at;
	ck_assert_uint_eq(write_ud(l, ELECTOR_MACHINE_USERDATA_PUT, "kim", ELECTOR_USERDATA_ROSTER,
				   "a@x", "old", &at),
			  ELECTOR_MACHINE_OK);
	elector_local_free(l);
	accounts_write(&d, lee, 1);
	l = local_open(&d, 1000);
	ck_assert_uint_eq(local_view(l, "kim", ELECTOR_USERDATA_ROSTER).count, 0);
	elector_local_free(l);
	accounts_write(&d, both, 2);
	l = local_open(&d, 1000);
	ck_assert_uint_eq(local_view(l, "kim", ELECTOR_USERDATA_ROSTER).count, 0);
	elector_local_free(l);
	local_dir_remove(&d);
}
END_TEST

Suite *elector_local_suite(void)
{
	Suite *s = suite_create("elector_local");
	TCase *tc = tcase_create("local");
	tcase_add_test(tc, test_local_versions_are_the_local_indexes);
	tcase_add_test(tc, test_local_snapshot_compacts_and_versions_go_on);
	tcase_add_test(tc, test_local_accounts_follow_the_file);
	tcase_add_test(tc, test_local_staged_writes_flush_together);
	tcase_add_test(tc, test_local_takes_user_data_only);
	tcase_add_test(tc, test_local_damage_refused);
	tcase_add_test(tc, test_local_check_refuses_what_open_refuses);
	tcase_add_test(tc, test_local_deleted_account_made_again_inherits_nothing);
	tcase_add_test(tc, test_local_account_deleted_while_closed_is_cleared_for_good);
	suite_add_tcase(s, tc);
	return s;
}
