/* SPDX-License-Identifier: MIT */
/* The cluster's replicated state machine (elector/elector_machine.h):
 * answers, determinism, all-or-nothing merges, snapshots that refuse
 * damage, and the files it materialises. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/callbridge.h"
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

static struct elector_machine_result run(struct elector_machine *m, struct buf *cmd)
{
	struct elector_machine_result r;
	ck_assert_int_eq(elector_machine_apply(m, buf_head(cmd), buf_len(cmd), &r), 0);
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
		ck_assert_int_eq(elector_machine_apply(a, buf_head(&cmd), cut, &r), 0);
		ck_assert_uint_eq(r.status, ELECTOR_MACHINE_REFUSED);
		ck_assert_ptr_nonnull(strstr(r.text, "malformed"));
	}
	/* One byte more is malformed too. */
	char longer[ELECTOR_MACHINE_COMMAND_MAX];
	memcpy(longer, buf_head(&cmd), buf_len(&cmd));
	longer[buf_len(&cmd)] = 0;
	struct elector_machine_result r;
	ck_assert_int_eq(elector_machine_apply(a, longer, buf_len(&cmd) + 1, &r), 0);
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
	tcase_add_test(tc, test_machine_materialise_first_time);
	tcase_add_test(tc, test_machine_settings);
	tcase_add_test(tc, test_machine_settings_bounded);
	suite_add_tcase(s, tc);
	return s;
}
