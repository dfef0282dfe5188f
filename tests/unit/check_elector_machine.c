/* SPDX-License-Identifier: MIT */
/* The cluster's replicated state machine (elector/elector_machine.h):
 * answers, determinism, all-or-nothing merges, snapshots that refuse
 * damage, and the files it materialises; and the leader's comparisons of
 * a joining node with it (its settings among the members', its accounts
 * and bridges as digests, elector/elector_digests.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/accounts_journal.h"
#include "common/callbridge.h"
#include "elector/elector_digests.h"
#include "elector/elector_machine.h"
#include "unit.h"

/* Keys that look like SCRAM keys: fast to make, distinct per `seed`. */
static void fake_keys(struct scram_keys keys[SCRAM_HASH_COUNT], unsigned seed)
{
	memset(keys, 0, sizeof(struct scram_keys) * SCRAM_HASH_COUNT);
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		keys[h].iterations = 4096;
		keys[h].salt_len = SCRAM_SALT_LEN;
		memset(keys[h].salt, (int)(seed * 7 + (unsigned)h), SCRAM_SALT_LEN);
		memset(keys[h].stored_key, (int)(seed * 11 + 1), scram_key_len((enum scram_hash)h));
		memset(keys[h].server_key, (int)(seed * 13 + 2), scram_key_len((enum scram_hash)h));
	}
}

/* The log index of the next entry applied: every command its own. */
static uint64_t run_index;

static struct elector_machine_result run(struct elector_machine *m, struct buf *cmd)
{
	struct elector_machine_result r;
	ck_assert_int_eq(elector_machine_apply(m, ++run_index, buf_head(cmd), buf_len(cmd), &r), 0);
	buf_free(cmd);
	return r;
}

static struct elector_machine_result user(struct elector_machine *m, enum elector_machine_op op,
					  const char *name, unsigned seed)
{
	struct scram_keys keys[SCRAM_HASH_COUNT];
	struct buf cmd;
	fake_keys(keys, seed);
	ck_assert_int_eq(elector_machine_encode_user(&cmd, op, name, keys), 0);
	return run(m, &cmd);
}

static struct proto_callbridge bridge_of(const char *name, const char *secret)
{
	struct proto_callbridge b;
	memset(&b, 0, sizeof(b));
	snprintf(b.name, sizeof(b.name), "%s", name);
	snprintf(b.address, sizeof(b.address), "%s.example.com", name);
	snprintf(b.secret, sizeof(b.secret), "%s", secret);
	return b;
}

static struct elector_machine_result bridge(struct elector_machine *m, enum elector_machine_op op,
					    const char *name, const char *secret)
{
	struct proto_callbridge b = bridge_of(name, secret);
	struct buf cmd;
	ck_assert_int_eq(elector_machine_encode_bridge(&cmd, op, &b), 0);
	return run(m, &cmd);
}

static void snapshot(const struct elector_machine *m, struct buf *out)
{
	buf_init(out, ELECTOR_MACHINE_SNAPSHOT_MAX);
	buf_set_sensitive(out);
	ck_assert_int_eq(elector_machine_snapshot_encode(m, out), 0);
}

static bool same_state(const struct elector_machine *a, const struct elector_machine *b)
{
	struct buf x, y;
	snapshot(a, &x);
	snapshot(b, &y);
	bool same =
	    buf_len(&x) == buf_len(&y) && memcmp(buf_head(&x), buf_head(&y), buf_len(&x)) == 0;
	buf_free(&x);
	buf_free(&y);
	return same;
}

START_TEST(test_machine_users)
{
	struct elector_machine *m = elector_machine_new();
	struct elector_machine_result r = user(m, ELECTOR_MACHINE_USER_ADD, "alice", 1);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_str_eq(r.text, "user alice added");
	r = user(m, ELECTOR_MACHINE_USER_ADD, "alice", 2);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_str_eq(r.text, "user alice exists; use 'user passwd'");
	/* The refused add kept the first keys. */
	struct scram_keys keys[SCRAM_HASH_COUNT];
	fake_keys(keys, 1);
	const struct account *a = accounts_find(elector_machine_accounts(m), "alice");
	ck_assert_ptr_nonnull(a);
	ck_assert_mem_eq(a->keys, keys, sizeof(keys));
	r = user(m, ELECTOR_MACHINE_USER_PASSWD, "alice", 3);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	fake_keys(keys, 3);
	ck_assert_mem_eq(accounts_find(elector_machine_accounts(m), "alice")->keys, keys,
			 sizeof(keys));
	r = user(m, ELECTOR_MACHINE_USER_PASSWD, "bob", 3);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_str_eq(r.text, "no user bob");
	r = user(m, ELECTOR_MACHINE_USER_DEL, "alice", 0);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(elector_machine_accounts(m)->count, 0);
	r = user(m, ELECTOR_MACHINE_USER_DEL, "alice", 0);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	/* A name that is not in its nodeprep form is not a command. */
	struct buf cmd;
	fake_keys(keys, 1);
	ck_assert_int_eq(elector_machine_encode_user(&cmd, ELECTOR_MACHINE_USER_ADD, "Alice", keys),
			 0);
	r = run(m, &cmd);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_ptr_nonnull(strstr(r.text, "malformed"));
	ck_assert_uint_eq(elector_machine_accounts(m)->count, 0);
	elector_machine_free(m);
}
END_TEST

/* CMS's scenario 2: add-secret of the same secret on another node is
 * "already known, identical"; a different one is refused, naming the
 * bridge and printing neither secret. */
START_TEST(test_machine_bridge_secrets)
{
	struct elector_machine *m = elector_machine_new();
	struct elector_machine_result r =
	    bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb1", "first-secret-123");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_str_eq(r.text, "call bridge cb1 added");
	r = bridge(m, ELECTOR_MACHINE_BRIDGE_ADD_SECRET, "cb1", "first-secret-123");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_IDENTICAL);
	ck_assert_str_eq(r.text, "call bridge cb1: secret already known, identical");
	r = bridge(m, ELECTOR_MACHINE_BRIDGE_ADD_SECRET, "cb1", "mistyped-secret-9");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_ptr_nonnull(strstr(r.text, "cb1"));
	ck_assert_ptr_nonnull(strstr(r.text, "the cluster holds a different secret"));
	ck_assert_ptr_null(strstr(r.text, "first-secret"));
	ck_assert_ptr_null(strstr(r.text, "mistyped"));
	size_t count;
	const struct proto_callbridge *b = elector_machine_bridges(m, &count);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(b[0].secret, "first-secret-123");
	r = bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb1", "another-secret-1");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_str_eq(r.text, "call bridge cb1 exists; use callbridge add-secret");
	/* add-secret of a bridge the cluster does not hold adds it. */
	r = bridge(m, ELECTOR_MACHINE_BRIDGE_ADD_SECRET, "cb0", "zeroth-secret-1");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	b = elector_machine_bridges(m, &count);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(b[0].name, "cb0");
	r = bridge(m, ELECTOR_MACHINE_BRIDGE_DEL, "cb1", "");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	r = bridge(m, ELECTOR_MACHINE_BRIDGE_DEL, "cb1", "");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_str_eq(r.text, "no call bridge cb1");
	/* A secret the call-bridges file would refuse is not encoded. */
	struct proto_callbridge bad = bridge_of("cb2", "short");
	struct buf cmd;
	ck_assert_int_eq(elector_machine_encode_bridge(&cmd, ELECTOR_MACHINE_BRIDGE_ADD, &bad), -1);
	elector_machine_free(m);
}
END_TEST

static void merge_of(struct buf *cmd, enum elector_machine_op op, const struct account *accounts,
		     size_t na, const struct proto_callbridge *bridges, size_t nb)
{
	size_t ta, tb;
	ck_assert_int_eq(elector_machine_encode_merge(cmd, op, accounts, na, bridges, nb, &ta, &tb),
			 0);
	ck_assert_uint_eq(ta, na);
	ck_assert_uint_eq(tb, nb);
}

START_TEST(test_machine_merge)
{
	struct elector_machine *m = elector_machine_new();
	user(m, ELECTOR_MACHINE_USER_ADD, "alice", 1);
	user(m, ELECTOR_MACHINE_USER_ADD, "carol", 5);
	bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb1", "first-secret-123");
	struct account accounts[3] = {{.name = "alice"}, {.name = "bob"}, {.name = "carol"}};
	fake_keys(accounts[0].keys, 1); /* identical */
	fake_keys(accounts[1].keys, 2); /* new */
	fake_keys(accounts[2].keys, 6); /* conflicting */
	struct proto_callbridge bridges[2] = {bridge_of("cb1", "other-secret-12"),
					      bridge_of("cb2", "second-secret-1")};
	struct buf before, cmd;
	snapshot(m, &before);

	merge_of(&cmd, ELECTOR_MACHINE_MERGE, accounts, 3, bridges, 2);
	struct elector_machine_result r = run(m, &cmd);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_str_eq(r.text, "the cluster holds different keys or secrets for 2 names; "
				 "nothing merged: user carol, call bridge cb1");
	struct buf after;
	snapshot(m, &after);
	ck_assert_uint_eq(buf_len(&before), buf_len(&after));
	ck_assert_mem_eq(buf_head(&before), buf_head(&after), buf_len(&after)); /* unchanged */
	buf_free(&after);

	/* Without the conflicts: the identical entries stay, the new come in;
	 * a check first says so and changes nothing. */
	fake_keys(accounts[2].keys, 5);
	bridges[0] = bridge_of("cb1", "first-secret-123");
	merge_of(&cmd, ELECTOR_MACHINE_MERGE_CHECK, accounts, 3, bridges, 2);
	r = run(m, &cmd);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_str_eq(r.text, "would merge 1 new user and 1 new call bridge; 2 users and 1 "
				 "call bridge already known, identical");
	snapshot(m, &after);
	ck_assert_mem_eq(buf_head(&before), buf_head(&after), buf_len(&after));
	buf_free(&after);
	merge_of(&cmd, ELECTOR_MACHINE_MERGE, accounts, 3, bridges, 2);
	r = run(m, &cmd);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_uint_eq(elector_machine_accounts(m)->count, 3);
	size_t count;
	elector_machine_bridges(m, &count);
	ck_assert_uint_eq(count, 2);
	merge_of(&cmd, ELECTOR_MACHINE_MERGE, accounts, 3, bridges, 2);
	r = run(m, &cmd);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_IDENTICAL);
	buf_free(&before);
	elector_machine_free(m);
}
END_TEST

/* Hundreds of accounts go in batches that each fit a log entry. */
START_TEST(test_machine_merge_batches)
{
	enum { N = 300 };
	struct account *accounts = calloc(N, sizeof(*accounts));
	char(*names)[16] = calloc(N, 16);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], 16, "user%03zu", i);
		accounts[i].name = names[i];
		fake_keys(accounts[i].keys, (unsigned)i);
	}
	struct elector_machine *m = elector_machine_new();
	size_t done = 0, batches = 0;
	while (done < N) {
		struct buf cmd;
		size_t ta, tb;
		ck_assert_int_eq(elector_machine_encode_merge(&cmd, ELECTOR_MACHINE_MERGE,
							      accounts + done, N - done, NULL, 0,
							      &ta, &tb),
				 0);
		ck_assert_uint_le(buf_len(&cmd), ELECTOR_MACHINE_COMMAND_MAX);
		ck_assert_uint_gt(ta, 0);
		done += ta;
		batches++;
		ck_assert_uint_eq(run(m, &cmd).status, ELECTOR_MACHINE_OK);
	}
	ck_assert_uint_gt(batches, 1);
	ck_assert_uint_eq(elector_machine_accounts(m)->count, N);
	elector_machine_free(m);
	free(names);
	free(accounts);
}
END_TEST

/* Two nodes applying the same entries hold the same bytes; every cut of a
 * command is refused as malformed and changes nothing. */
START_TEST(test_machine_deterministic_and_strict)
{
	struct elector_machine *a = elector_machine_new(), *b = elector_machine_new();
	const char *names[] = {"dave", "bob", "erin", "bob", "alice"};
	for (unsigned i = 0; i < 5; i++) {
		struct elector_machine_result ra = user(a, ELECTOR_MACHINE_USER_ADD, names[i], i);
		struct elector_machine_result rb = user(b, ELECTOR_MACHINE_USER_ADD, names[i], i);
		ck_assert_uint_eq(ra.status, rb.status);
		ck_assert_str_eq(ra.text, rb.text);
	}
	bridge(a, ELECTOR_MACHINE_BRIDGE_ADD, "cb9", "ninth-secret-99");
	bridge(b, ELECTOR_MACHINE_BRIDGE_ADD, "cb9", "ninth-secret-99");
	ck_assert(same_state(a, b));

	struct scram_keys keys[SCRAM_HASH_COUNT];
	fake_keys(keys, 42);
	struct buf cmd;
	ck_assert_int_eq(elector_machine_encode_user(&cmd, ELECTOR_MACHINE_USER_ADD, "zed", keys),
			 0);
	for (size_t cut = 0; cut < buf_len(&cmd); cut++) {
		struct elector_machine_result r;
		ck_assert_int_eq(elector_machine_apply(a, 1, buf_head(&cmd), cut, &r), 0);
		ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
		ck_assert_ptr_nonnull(strstr(r.text, "malformed"));
	}
	/* One byte more is malformed too. */
	char longer[ELECTOR_MACHINE_COMMAND_MAX];
	memcpy(longer, buf_head(&cmd), buf_len(&cmd));
	longer[buf_len(&cmd)] = 0;
	struct elector_machine_result r;
	ck_assert_int_eq(elector_machine_apply(a, 1, longer, buf_len(&cmd) + 1, &r), 0);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	buf_free(&cmd);
	ck_assert(same_state(a, b));
	elector_machine_free(a);
	elector_machine_free(b);
}
END_TEST

START_TEST(test_machine_snapshot)
{
	struct elector_machine *m = elector_machine_new(), *n = elector_machine_new();
	user(m, ELECTOR_MACHINE_USER_ADD, "alice", 1);
	user(m, ELECTOR_MACHINE_USER_ADD, "bob", 2);
	bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb1", "first-secret-123");
	struct buf snap;
	snapshot(m, &snap);
	char why[256];
	ck_assert_int_eq(
	    elector_machine_snapshot_decode(n, buf_head(&snap), buf_len(&snap), why, sizeof(why)),
	    0);
	ck_assert(same_state(m, n));

	/* Every flipped byte and every cut is refused with an offset, and
	 * the machine keeps what it held. */
	struct elector_machine *empty = elector_machine_new();
	unsigned char *copy = malloc(buf_len(&snap));
	for (size_t i = 0; i < buf_len(&snap); i++) {
		memcpy(copy, buf_head(&snap), buf_len(&snap));
		copy[i] ^= 0x20;
		ck_assert_int_eq(
		    elector_machine_snapshot_decode(n, copy, buf_len(&snap), why, sizeof(why)), -1);
		ck_assert_ptr_nonnull(strstr(why, "offset"));
		ck_assert_int_eq(
		    elector_machine_snapshot_decode(empty, buf_head(&snap), i, why, sizeof(why)),
		    -1);
	}
	ck_assert(same_state(m, n));
	ck_assert_uint_eq(elector_machine_accounts(empty)->count, 0);
	free(copy);
	buf_free(&snap);
	elector_machine_free(empty);
	elector_machine_free(m);
	elector_machine_free(n);
}
END_TEST

START_TEST(test_machine_materialise)
{
	char dir[] = "/tmp/rxmpp-machine-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct elector_machine *m = elector_machine_new();
	user(m, ELECTOR_MACHINE_USER_ADD, "alice", 1);
	bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb1", "a secret with spaces");
	char why[512], path[300];
	bool bridges_changed;
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert(bridges_changed);
	snprintf(path, sizeof(path), "%s/%s", dir, ACCOUNTS_FILE_NAME);
	struct accounts a;
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 1);
	ck_assert_mem_eq(a.items[0].keys, elector_machine_accounts(m)->items[0].keys,
			 sizeof(a.items[0].keys));
	accounts_free(&a);
	snprintf(path, sizeof(path), "%s/%s", dir, CALLBRIDGE_STATE_FILE_NAME);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	struct proto_callbridge *items;
	size_t count;
	ck_assert_int_eq(callbridge_state_load(path, &items, &count, why, sizeof(why)), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_str_eq(items[0].secret, "a secret with spaces");
	ck_assert_str_eq(items[0].address, "cb1.example.com");
	buf_wipe_free(items, CALLBRIDGES_MAX * sizeof(*items));

	/* Unchanged: nothing written, nothing to tell. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert(!bridges_changed);
	ck_assert_int_eq(access(path, F_OK), -1);
	user(m, ELECTOR_MACHINE_USER_DEL, "alice", 0);
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert(!bridges_changed);
	snprintf(path, sizeof(path), "%s/%s", dir, ACCOUNTS_FILE_NAME);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 0);
	accounts_free(&a); /* the journal's delete leaves an allocated, empty table */

	/* A damaged bridges file is refused, with its line. */
	snprintf(path, sizeof(path), "%s/%s", dir, CALLBRIDGE_STATE_FILE_NAME);
	FILE *f = fopen(path, "w");
	fputs("rxmpp-cluster-callbridges 1\ncb1 x\n", f);
	fclose(f);
	ck_assert_int_eq(callbridge_state_load(path, &items, &count, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, path));
	elector_machine_free(m);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* After the first whole write, changes go to the journal beside the
 * accounts file, which is folded into a new file once it grows past a
 * quarter of it; a load of file and journal is the machine's state. */
START_TEST(test_machine_materialise_journal)
{
	char dir[] = "/tmp/rxmpp-machine-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char why[512], path[300], journal[320];
	snprintf(path, sizeof(path), "%s/%s", dir, ACCOUNTS_FILE_NAME);
	snprintf(journal, sizeof(journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, path);
	struct elector_machine *m = elector_machine_new();
	bool bridges_changed;
	user(m, ELECTOR_MACHINE_USER_ADD, "alice", 1);
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert_int_eq(access(journal, F_OK), -1);
	struct stat first, now;
	ck_assert_int_eq(stat(path, &first), 0);

	user(m, ELECTOR_MACHINE_USER_ADD, "bob", 2);
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	user(m, ELECTOR_MACHINE_USER_DEL, "alice", 0);
	user(m, ELECTOR_MACHINE_USER_PASSWD, "bob", 3);
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert_int_eq(stat(path, &now), 0);
	ck_assert_uint_eq(now.st_ino, first.st_ino); /* not written whole again */
	ck_assert_int_eq(access(journal, F_OK), 0);
	struct accounts a;
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 1);
	ck_assert_mem_eq(a.items[0].keys, elector_machine_accounts(m)->items[0].keys,
			 sizeof(a.items[0].keys));
	accounts_free(&a);

	/* Batches of 100 new users: the file is written whole again at
	 * least once, and file plus journal always hold every user. */
	bool compacted = false;
	char name[32];
	for (unsigned batch = 0; batch < 40; batch++) {
		for (unsigned i = 0; i < 100; i++) {
			snprintf(name, sizeof(name), "u%u-%u", batch, i);
			user(m, ELECTOR_MACHINE_USER_ADD, name, batch);
		}
		ck_assert_int_eq(
		    elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)), 0);
		ck_assert_int_eq(stat(path, &now), 0);
		compacted |= now.st_ino != first.st_ino;
	}
	ck_assert(compacted);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 4001);
	const struct accounts *held = elector_machine_accounts(m);
	for (size_t i = 0; i < a.count; i++) {
		ck_assert_str_eq(a.items[i].name, held->items[i].name);
		ck_assert_mem_eq(a.items[i].keys, held->items[i].keys, sizeof(a.items[i].keys));
	}
	accounts_free(&a);
	elector_machine_free(m);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A machine that applied nothing leaves the node's files alone; the first
 * write keeps the node's own accounts aside, once. */
START_TEST(test_machine_materialise_first_time)
{
	char dir[] = "/tmp/rxmpp-machine-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char why[512], path[300], before[300];
	snprintf(path, sizeof(path), "%s/%s", dir, ACCOUNTS_FILE_NAME);
	snprintf(before, sizeof(before), "%s/%s", dir, ELECTOR_MACHINE_BEFORE_CLUSTER);
	struct accounts own = {0};
	ck_assert_int_eq(accounts_set_password(&own, "local", "pw", 2, why, sizeof(why)), 0);
	ck_assert_int_eq(accounts_save(path, &own, why, sizeof(why)), 0);
	accounts_free(&own);

	struct elector_machine *m = elector_machine_new();
	bool bridges_changed = true;
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert(!bridges_changed);
	ck_assert(!callbridge_state_in_use(dir, true));
	ck_assert_int_eq(access(before, F_OK), -1);

	user(m, ELECTOR_MACHINE_USER_ADD, "alice", 1);
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert(bridges_changed);
	ck_assert(callbridge_state_in_use(dir, true));
	ck_assert(!callbridge_state_in_use(dir, false));
	struct accounts a;
	ck_assert_int_eq(accounts_load(before, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 1);
	ck_assert_str_eq(a.items[0].name, "local");
	accounts_free(&a);
	ck_assert_int_eq(accounts_load(path, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 1);
	ck_assert_str_eq(a.items[0].name, "alice");
	accounts_free(&a);
	/* Later writes leave the kept file as it is. */
	user(m, ELECTOR_MACHINE_USER_ADD, "bob", 2);
	ck_assert_int_eq(elector_machine_materialise(m, dir, &bridges_changed, why, sizeof(why)),
			 0);
	ck_assert_int_eq(accounts_load(before, &a, NULL, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.count, 1);
	accounts_free(&a);
	elector_machine_free(m);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static struct elector_machine_result settings(struct elector_machine *m, enum elector_machine_op op,
					      uint64_t node, const char *domain)
{
	struct elector_machine_setting items[2];
	memset(items, 0, sizeof(items));
	snprintf(items[0].key, sizeof(items[0].key), "callbridge_conflict");
	snprintf(items[0].value, sizeof(items[0].value), "\"replace\"");
	snprintf(items[1].key, sizeof(items[1].key), "domain");
	snprintf(items[1].value, sizeof(items[1].value), "%s", domain);
	struct buf cmd;
	ck_assert_int_eq(elector_machine_encode_settings(&cmd, op, node, items, 2), 0);
	return run(m, &cmd);
}

/* Settings that must agree: a join is refused with the key and both
 * values; a drift after a reload is recorded and named. */
START_TEST(test_machine_settings)
{
	struct elector_machine *m = elector_machine_new();
	struct elector_machine_result r =
	    settings(m, ELECTOR_MACHINE_SETTINGS, 0x1111, "a.example");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_ptr_nonnull(strstr(r.text, "the same as every other node's"));
	r = settings(m, ELECTOR_MACHINE_SETTINGS_CHECK, 0x2222, "a.example");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	r = settings(m, ELECTOR_MACHINE_SETTINGS_CHECK, 0x2222, "b.example");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_str_eq(r.text, "1 setting that must agree across the cluster differs: domain: "
				 "this node b.example, node 0000000000001111 a.example");
	size_t count;
	elector_machine_settings(m, &count);
	ck_assert_uint_eq(count, 1); /* a check records nothing */
	r = settings(m, ELECTOR_MACHINE_SETTINGS, 0x2222, "b.example");
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_ptr_nonnull(strstr(r.text, "they differ from other nodes': domain"));
	const struct elector_machine_node_settings *n = elector_machine_settings(m, &count);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(n[1].items[1].value, "b.example");

	/* Through a snapshot and the file `cluster status` reads. */
	struct buf snap;
	snapshot(m, &snap);
	struct elector_machine *copy = elector_machine_new();
	char why[512];
	ck_assert_int_eq(elector_machine_snapshot_decode(copy, buf_head(&snap), buf_len(&snap), why,
							 sizeof(why)),
			 0);
	ck_assert(same_state(m, copy));
	buf_free(&snap);
	char dir[] = "/tmp/rxmpp-machine-XXXXXX", path[300];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	bool changed;
	ck_assert_int_eq(elector_machine_materialise(copy, dir, &changed, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, ELECTOR_MACHINE_SETTINGS_FILE);
	struct elector_machine_node_settings *loaded;
	ck_assert_int_eq(elector_machine_settings_load(path, &loaded, &count, why, sizeof(why)), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(loaded[0].node, 0x1111);
	ck_assert_uint_eq(loaded[1].count, 2);
	ck_assert_str_eq(loaded[1].items[1].value, "b.example");
	free(loaded);
	elector_machine_free(copy);
	elector_machine_free(m);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The table of reports is bounded: the one reported longest ago goes. */
START_TEST(test_machine_settings_bounded)
{
	struct elector_machine *m = elector_machine_new();
	for (uint64_t node = 1; node <= ELECTOR_MACHINE_NODES_MAX + 2; node++)
		settings(m, ELECTOR_MACHINE_SETTINGS, node, "a.example");
	size_t count;
	const struct elector_machine_node_settings *n = elector_machine_settings(m, &count);
	ck_assert_uint_eq(count, ELECTOR_MACHINE_NODES_MAX);
	ck_assert_uint_eq(n[0].node, 3);
	elector_machine_free(m);
}
END_TEST

/* A join's settings are compared with the current members' reports only:
 * the report a removed node left behind refuses no one. */
START_TEST(test_machine_settings_among_members)
{
	struct elector_machine *m = elector_machine_new();
	settings(m, ELECTOR_MACHINE_SETTINGS, 0x1111, "a.example");
	settings(m, ELECTOR_MACHINE_SETTINGS, 0x2222, "b.example"); /* removed since */
	struct elector_machine_setting items[2];
	memset(items, 0, sizeof(items));
	snprintf(items[0].key, sizeof(items[0].key), "callbridge_conflict");
	snprintf(items[0].value, sizeof(items[0].value), "\"replace\"");
	snprintf(items[1].key, sizeof(items[1].key), "domain");
	snprintf(items[1].value, sizeof(items[1].value), "a.example");
	struct buf cmd;
	ck_assert_int_eq(
	    elector_machine_encode_settings(&cmd, ELECTOR_MACHINE_SETTINGS_CHECK, 0x3333, items, 2),
	    0);
	struct elector_machine_result r;
	uint64_t members[] = {0x1111, 0x2222};
	elector_machine_check_settings(m, buf_head(&cmd), buf_len(&cmd), members, 1, &r);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	elector_machine_check_settings(m, buf_head(&cmd), buf_len(&cmd), members, 2, &r);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_str_eq(r.text, "1 setting that must agree across the cluster differs: domain: "
				 "this node a.example, node 0000000000002222 b.example");
	buf_free(&cmd);
	/* Only a SETTINGS_CHECK is compared. */
	ck_assert_int_eq(
	    elector_machine_encode_settings(&cmd, ELECTOR_MACHINE_SETTINGS, 0x3333, items, 2), 0);
	elector_machine_check_settings(m, buf_head(&cmd), buf_len(&cmd), members, 1, &r);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_ptr_nonnull(strstr(r.text, "malformed"));
	buf_free(&cmd);
	size_t count;
	elector_machine_settings(m, &count);
	ck_assert_uint_eq(count, 2); /* nothing recorded */
	elector_machine_free(m);
}
END_TEST

static struct account account_of(const char *name, unsigned seed)
{
	struct account a;
	a.name = (char *)name;
	fake_keys(a.keys, seed);
	return a;
}

static struct elector_machine_result compare(const struct elector_machine *m,
					     const struct account *accounts, size_t account_count,
					     const struct proto_callbridge *bridges,
					     size_t bridge_count)
{
	struct buf list;
	struct elector_machine_result r;
	ck_assert_int_eq(
	    elector_digests_encode(&list, accounts, account_count, bridges, bridge_count), 0);
	ck_assert(elector_digests_valid(buf_head(&list), buf_len(&list)));
	elector_digests_compare(m, buf_head(&list), buf_len(&list), &r);
	buf_free(&list);
	return r;
}

/* A joiner's accounts and bridges against the cluster's, as digests: the
 * names held differently are named (and only they), new and identical
 * ones pass, no secret is in the answer, and nothing changes. */
START_TEST(test_digests_name_each_conflict)
{
	struct elector_machine *m = elector_machine_new();
	user(m, ELECTOR_MACHINE_USER_ADD, "alice", 1);
	user(m, ELECTOR_MACHINE_USER_ADD, "carol", 3);
	bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb1", "cb1-cluster-secret");
	bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb2", "cb2-cluster-secret");
	bridge(m, ELECTOR_MACHINE_BRIDGE_ADD, "cb4", "cb4-cluster-secret");
	struct account accounts[] = {account_of("alice", 2), account_of("bob", 5),
				     account_of("carol", 3)};
	/* In no order: the list sorts them. */
	struct proto_callbridge bridges[] = {
	    bridge_of("cb9", "cb9-joiner-secret"), bridge_of("cb2", "cb2-cluster-secret"),
	    bridge_of("cb1", "cb1-joiner-secret"), bridge_of("cb4", "cb4-cluster-secret")};
	snprintf(bridges[3].address, sizeof(bridges[3].address), "elsewhere.example.com");
	struct elector_machine_result r = compare(m, accounts, 3, bridges, 4);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_ptr_nonnull(strstr(r.text, "for 3 names"));
	ck_assert_ptr_nonnull(strstr(r.text, "user alice, call bridge cb1, call bridge cb4;"));
	const char *absent[] = {"bob", "carol", "cb2", "cb9", "-secret", "more"};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		ck_assert_msg(strstr(r.text, absent[i]) == NULL, "%s in %s", absent[i], r.text);
	r = compare(m, accounts + 1, 2, bridges, 2);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_OK);
	ck_assert_str_eq(r.text, "2 new and 2 identical accounts and call bridges");
	/* The cluster's state is as it was. */
	ck_assert_uint_eq(elector_machine_accounts(m)->count, 2);
	ck_assert(accounts_find(elector_machine_accounts(m), "bob") == NULL);
	size_t count;
	elector_machine_bridges(m, &count);
	ck_assert_uint_eq(count, 3);
	elector_machine_free(m);
}
END_TEST

/* Many conflicts: as many names as the answer holds, then "and N more". */
START_TEST(test_digests_answer_is_bounded)
{
	struct elector_machine *m = elector_machine_new();
	enum { N = 200 };
	static char names[N][64];
	static struct account accounts[N];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "a-rather-long-user-name-%03d", i);
		user(m, ELECTOR_MACHINE_USER_ADD, names[i], 1);
		accounts[i] = account_of(names[i], 2);
	}
	struct elector_machine_result r = compare(m, accounts, N, NULL, 0);
	ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
	ck_assert_uint_lt(strlen(r.text), ELECTOR_MACHINE_TEXT_MAX - 1);
	size_t listed = 0;
	for (const char *p = strstr(r.text, "user "); p != NULL; p = strstr(p + 1, "user "))
		listed++;
	char more[64];
	snprintf(more, sizeof(more), " and %zu more;", (size_t)N - listed);
	ck_assert_msg(listed > 10 && strstr(r.text, more) != NULL, "%s", r.text);
	elector_machine_free(m);
}
END_TEST

/* Appends one entry of a list by hand: width-byte length, name, digest. */
static void put_entry(struct buf *b, size_t width, const char *name, size_t len)
{
	unsigned char prefix[2] = {(unsigned char)(len >> 8), (unsigned char)len};
	unsigned char digest[ELECTOR_DIGEST_LEN] = {0};
	buf_append(b, width == 2 ? prefix : prefix + 1, width);
	buf_append(b, name, len);
	buf_append(b, digest, sizeof(digest));
}

static bool list_valid(uint8_t format, uint32_t accounts, uint32_t bridges,
		       const char *const *names, const size_t *lens, size_t count, bool extra)
{
	struct buf b;
	buf_init(&b, ELECTOR_DIGESTS_MAX + 64);
	unsigned char head[9] = {format};
	for (int i = 0; i < 4; i++) {
		head[1 + i] = (unsigned char)(accounts >> (8 * (3 - i)));
		head[5 + i] = (unsigned char)(bridges >> (8 * (3 - i)));
	}
	buf_append(&b, head, sizeof(head));
	for (size_t i = 0; i < count; i++)
		put_entry(&b, i < accounts ? 2 : 1, names[i], lens[i]);
	if (extra)
		buf_append(&b, "x", 1);
	bool valid = elector_digests_valid(buf_head(&b), buf_len(&b));
	/* Every shorter prefix of a valid list is not valid. */
	for (size_t cut = 0; valid && cut < buf_len(&b); cut++)
		ck_assert(!elector_digests_valid(buf_head(&b), cut));
	buf_free(&b);
	return valid;
}

/* The list is decoded strictly: format, counts, lengths, sorted and
 * distinct names, valid bridge names, nothing after the last entry; and
 * the encoder refuses what would not fit or not be valid. */
START_TEST(test_digests_strict)
{
	const char *names[] = {"alice", "bob", "cb1", "cb2"};
	size_t lens[] = {5, 3, 3, 3};
	ck_assert(list_valid(1, 2, 2, names, lens, 4, false));
	ck_assert(list_valid(1, 0, 0, names, lens, 0, false));
	ck_assert(!list_valid(2, 2, 2, names, lens, 4, false)); /* format */
	ck_assert(!list_valid(1, 2, 2, names, lens, 4, true));	/* a byte after */
	ck_assert(!list_valid(1, 2, 3, names, lens, 4, false)); /* one missing */
	const char *unsorted[] = {"bob", "alice"}, *twice[] = {"cb1", "cb1"};
	size_t lens2[] = {3, 5}, lens3[] = {3, 3};
	ck_assert(!list_valid(1, 2, 0, unsorted, lens2, 2, false));
	ck_assert(!list_valid(1, 0, 2, twice, lens3, 2, false));
	/* A user's and a bridge's names are apart: the same name in both is fine. */
	ck_assert(list_valid(1, 1, 1, twice, lens3, 2, false));
	const char *nul[] = {"a\0b"}, *empty[] = {""}, *upper[] = {"CB1"};
	size_t lens4[] = {3}, lens5[] = {0};
	ck_assert(!list_valid(1, 1, 0, nul, lens4, 1, false));
	ck_assert(!list_valid(1, 1, 0, empty, lens5, 1, false));
	ck_assert(!list_valid(1, 0, 1, upper, lens4, 1, false));
	ck_assert(!list_valid(1, ELECTOR_MACHINE_ACCOUNTS_MAX + 1, 0, names, lens, 0, false));

	/* Encoding: unsorted accounts or a bridge twice are refused, and so
	 * is a list above ELECTOR_DIGESTS_MAX (5,000 names of 250 bytes). */
	struct buf out;
	struct account two[] = {account_of("bob", 1), account_of("alice", 1)};
	ck_assert_int_eq(elector_digests_encode(&out, two, 2, NULL, 0), -1);
	struct proto_callbridge same[] = {bridge_of("cb1", "secret-one"),
					  bridge_of("cb1", "secret-two")};
	ck_assert_int_eq(elector_digests_encode(&out, NULL, 0, same, 2), -1);
	enum { MANY = 5000 };
	struct account *many = calloc(MANY, sizeof(*many));
	char *text = calloc(MANY, 256);
	ck_assert(many != NULL && text != NULL);
	for (int i = 0; i < MANY; i++) {
		memset(text + 256 * i, 'u', 250);
		snprintf(text + 256 * i + 245, 11, "%05d", i);
		many[i].name = text + 256 * i;
		fake_keys(many[i].keys, 1);
	}
	ck_assert_int_eq(elector_digests_encode(&out, many, MANY / 10, NULL, 0), 0);
	buf_free(&out);
	ck_assert_int_eq(elector_digests_encode(&out, many, MANY, NULL, 0), -1);
	free(many);
	free(text);
}
END_TEST

Suite *elector_machine_suite(void)
{
	Suite *s = suite_create("elector_machine");
	TCase *tc = tcase_create("machine");
	tcase_add_test(tc, test_machine_users);
	tcase_add_test(tc, test_machine_bridge_secrets);
	tcase_add_test(tc, test_machine_merge);
	tcase_add_test(tc, test_machine_merge_batches);
	tcase_add_test(tc, test_machine_deterministic_and_strict);
	tcase_add_test(tc, test_machine_snapshot);
	tcase_add_test(tc, test_machine_materialise);
	tcase_add_test(tc, test_machine_materialise_journal);
	tcase_add_test(tc, test_machine_materialise_first_time);
	tcase_add_test(tc, test_machine_settings);
	tcase_add_test(tc, test_machine_settings_bounded);
	tcase_add_test(tc, test_machine_settings_among_members);
	tcase_add_test(tc, test_digests_name_each_conflict);
	tcase_add_test(tc, test_digests_answer_is_bounded);
	tcase_add_test(tc, test_digests_strict);
	suite_add_tcase(s, tc);
	return s;
}
