/* SPDX-License-Identifier: MIT */
/* The users' data of a node in no cluster; see elector_local.h.  Runs in
 * the elector, and in rxmppctl while rxmppd does not hold the store. */
#include "elector_local.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/accounts.h"
#include "common/buf.h"
#include "common/log.h"
#include "elector_log_store.h"
#include "elector_replica.h"

/* Every local entry's term: there is no election here, and the store
 * wants terms that never go back. */
#define LOCAL_TERM 1
/* How long an open waits for another holder of the folder (an rxmppctl
 * clearing one user's data holds it for milliseconds). */
#define LOCAL_LOCK_TRIES    40
#define LOCAL_LOCK_PAUSE_NS 50000000L

struct elector_local {
	char dir[4096];
	int lock; /* the folder, flock'd: one writer (elector or rxmppctl) */
	char accounts_path[4096];
	struct elector_log_store *store;
	struct elector_machine *machine;
	uint32_t snapshot_every;
	/* Applied in memory, not yet in the log (local_stage). */
	struct elector_log_entry *staged;
	size_t staged_count, staged_cap;
	uint64_t snapshot_index;
	size_t snapshot_len;
	/* The accounts file as last read: reread when any of these changed. */
	bool accounts_known;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* The store wants a membership in a snapshot; this one names no node
 * (nothing ever reads it back but the store's own checks). */
static struct elector_config local_config(void)
{
	struct elector_config c = {.count = 1};
	c.members[0].id = 1;
	snprintf(c.members[0].address, sizeof(c.members[0].address), "local:1");
	return c;
}

/* The log store's refusals advise what suits a cluster's store. */
static void local_advice(char *why, size_t why_size)
{
	size_t len = strlen(why), advice = strlen(ELECTOR_LOG_STORE_ADVICE);
	if (len >= advice && strcmp(why + len - advice, ELECTOR_LOG_STORE_ADVICE) == 0)
		why[len - advice] = '\0';
	len = strlen(why);
	snprintf(why + len, why_size - len, "%s", ELECTOR_LOCAL_ADVICE);
}

bool elector_local_takes(const void *command, size_t len)
{
	const uint8_t *c = command;
	return len >= 2 && c[0] == 1 && c[1] >= ELECTOR_MACHINE_USERDATA_PUT &&
	       c[1] <= ELECTOR_MACHINE_USERDATA_CLEAR;
}

/* Applies a command in memory at the next index and keeps it for the
 * next local_flush; nothing that depends on it may leave before that. */
static int local_stage(struct elector_local *l, const void *command, size_t len,
		       struct elector_machine_result *result, uint64_t *index, char *why,
		       size_t why_size)
{
	if (l->staged_count == l->staged_cap) {
		size_t cap = l->staged_cap ? 2 * l->staged_cap : 16;
		struct elector_log_entry *grown = realloc(l->staged, cap * sizeof(*grown));
		if (grown == NULL) {
			snprintf(why, why_size, "out of memory");
			return -1;
		}
		l->staged = grown;
		l->staged_cap = cap;
	}
	uint8_t *copy = malloc(len);
	uint64_t at = elector_log_store_last_index(l->store) + l->staged_count + 1;
	/* Out of memory leaves the machine as it was: nothing to undo. */
	if (copy == NULL || elector_machine_apply(l->machine, at, command, len, result) == -1) {
		free(copy);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	memcpy(copy, command, len);
	l->staged[l->staged_count++] = (struct elector_log_entry){.index = at,
								  .term = LOCAL_TERM,
								  .type = ELECTOR_ENTRY_DATA,
								  .len = (uint32_t)len,
								  .data = copy};
	*index = at;
	return 0;
}

static void local_staged_free(struct elector_local *l)
{
	for (size_t i = 0; i < l->staged_count; i++)
		free((void *)l->staged[i].data);
	l->staged_count = 0;
}

/* A user who lost an account loses the data too, through the log. */
static int local_clear_orphans(struct elector_local *l, char *why, size_t why_size)
{
	const char **names;
	size_t count;
	if (elector_userdata_users(elector_machine_userdata(l->machine), &names, &count) == -1) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	const struct accounts *accounts = elector_machine_accounts(l->machine);
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (accounts_find(accounts, names[i]) != NULL)
			continue;
		struct buf command;
		struct elector_machine_result result;
		uint64_t index;
		/* The name belongs to the store, which the clear frees. */
		char user[JID_PART_MAX + 1];
		snprintf(user, sizeof(user), "%s", names[i]);
		if (elector_machine_encode_userdata(&command, ELECTOR_MACHINE_USERDATA_CLEAR, user,
						    0, NULL, NULL, 0, NULL, 0) == -1) {
			snprintf(why, why_size, "out of memory");
			rc = -1;
			break;
		}
		rc = local_stage(l, buf_head(&command), buf_len(&command), &result, &index, why,
				 why_size);
		buf_free(&command);
		if (rc == 0)
			log_info("%s, entry %" PRIu64 ": user %s has no account any more: %s",
				 l->dir, index, user, result.text);
		/* The names after it still stand: a clear frees its own only. */
	}
	free(names);
	return rc;
}

/* Rereads the accounts file when it changed; `clear`: and clears the data
 * of users it no longer lists. */
static int local_accounts(struct elector_local *l, bool clear, char *why, size_t why_size)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	if (stat(l->accounts_path, &st) == -1 && errno != ENOENT) {
		snprintf(why, why_size, "%s: %s", l->accounts_path, strerror(errno));
		return -1;
	}
	if (l->accounts_known && st.st_dev == l->dev && st.st_ino == l->ino &&
	    st.st_size == l->size && st.st_mtim.tv_sec == l->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == l->mtime.tv_nsec)
		return 0;
	struct accounts accounts;
	if (accounts_load(l->accounts_path, &accounts, NULL, why, why_size) == -1)
		return -1;
	int rc = elector_machine_set_accounts(l->machine, &accounts);
	accounts_free(&accounts);
	if (rc == -1) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	l->accounts_known = true;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->size = st.st_size;
	l->mtime = st.st_mtim;
	return clear ? local_clear_orphans(l, why, why_size) : 0;
}

/* The user a USERDATA_* command names (str16 after its two bytes), into
 * `user`; false when it names none that fits. */
static bool local_command_user(const struct elector_log_entry *x, char user[JID_PART_MAX + 1])
{
	const uint8_t *c = x->data;
	if (x->len < 4)
		return false;
	size_t len = (size_t)c[2] << 8 | c[3];
	if (len == 0 || len > JID_PART_MAX || 4 + len > x->len || memchr(c + 4, '\0', len) != NULL)
		return false;
	memcpy(user, c + 4, len);
	user[len] = '\0';
	return true;
}

/* The log is replayed against the accounts file plus every user its
 * entries name: an account deleted while no elector ran (rxmppctl writes
 * the file first) still gets its data applied, and so cleared through the
 * log once the file is read; replayed against the file alone, its
 * entries would be refused now and applied again at a later start should
 * the account be made again, handing the new account the old data. */
static int local_replay_accounts(struct elector_local *l, const struct elector_log_loaded *loaded,
				 char *why, size_t why_size)
{
	struct accounts accounts;
	if (accounts_load(l->accounts_path, &accounts, NULL, why, why_size) == -1)
		return -1;
	const struct scram_keys none[SCRAM_HASH_COUNT] = {0};
	int rc = 0;
	for (size_t i = 0; i < loaded->count && rc == 0; i++) {
		char user[JID_PART_MAX + 1];
		if (loaded->entries[i].type == ELECTOR_ENTRY_DATA &&
		    elector_local_takes(loaded->entries[i].data, loaded->entries[i].len) &&
		    local_command_user(&loaded->entries[i], user) &&
		    accounts_find(&accounts, user) == NULL)
			rc = accounts_set_keys(&accounts, user, none);
	}
	if (rc == 0)
		rc = elector_machine_set_accounts(l->machine, &accounts);
	accounts_free(&accounts);
	if (rc == -1)
		snprintf(why, why_size, "out of memory");
	return rc;
}

/* After a write: a snapshot when one is due (the rule of
 * elector_replica.h, for the same reasons). */
static void local_compact(struct elector_local *l)
{
	uint64_t last = elector_log_store_last_index(l->store);
	uint64_t log = elector_log_store_log_bytes(l->store);
	bool due = last - l->snapshot_index >= l->snapshot_every && log >= l->snapshot_len / 4;
	if (last <= l->snapshot_index || (!due && log < ELECTOR_REPLICA_LOG_BYTES))
		return;
	struct elector_snapshot_meta meta = {
	    .index = last, .term = LOCAL_TERM, .config = local_config()};
	struct buf out;
	buf_init(&out, ELECTOR_MACHINE_SNAPSHOT_MAX);
	buf_set_sensitive(&out);
	char why[1024];
	if (elector_machine_snapshot_encode(l->machine, &out) == -1)
		snprintf(why, sizeof(why), "the user data does not fit a snapshot");
	else if (elector_log_store_snapshot(l->store, &meta, (const uint8_t *)buf_head(&out),
					    buf_len(&out), why, sizeof(why)) == 0) {
		l->snapshot_index = last;
		l->snapshot_len = buf_len(&out);
		log_info("%s: snapshot at entry %" PRIu64 " (%zu bytes); the log behind it dropped",
			 l->dir, last, buf_len(&out));
		why[0] = '\0';
	}
	/* The write is done and flushed: a snapshot that failed is tried
	 * again after the next one. */
	if (why[0] != '\0')
		log_warnx("%s: no snapshot at entry %" PRIu64 ": %s", l->dir, last, why);
	buf_free(&out);
}

/* What open refuses beyond the files' structure: a snapshot that does not
 * decode (into `m`), an entry that is no user-data command. */
static int local_verify(const char *dir, const struct elector_log_loaded *loaded,
			struct elector_machine *m, char *why, size_t why_size)
{
	char reason[512];
	if (loaded->snapshot_len > 0 &&
	    elector_machine_snapshot_decode(m, loaded->snapshot, loaded->snapshot_len, reason,
					    sizeof(reason)) == -1) {
		snprintf(why, why_size, "%s/%s: the user data in it: %s; %s", dir,
			 ELECTOR_SNAPSHOT_FILE, reason, ELECTOR_LOCAL_ADVICE);
		return -1;
	}
	for (size_t i = 0; i < loaded->count; i++) {
		const struct elector_log_entry *x = &loaded->entries[i];
		if (x->type != ELECTOR_ENTRY_DATA || !elector_local_takes(x->data, x->len)) {
			snprintf(why, why_size,
				 "%s/%s: entry %" PRIu64 " is not a user-data command; %s", dir,
				 ELECTOR_LOG_FILE, x->index, ELECTOR_LOCAL_ADVICE);
			return -1;
		}
	}
	return 0;
}

struct elector_local *elector_local_open(const char *state_dir, const char *accounts_path,
					 uint32_t snapshot_every, char *why, size_t why_size)
{
	struct elector_local *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	l->lock = -1;
	snprintf(l->dir, sizeof(l->dir), "%s/%s", state_dir, ELECTOR_LOCAL_DIR);
	snprintf(l->accounts_path, sizeof(l->accounts_path), "%s", accounts_path);
	l->snapshot_every = snapshot_every;
	if (mkdir(l->dir, 0700) == -1 && errno != EEXIST) {
		snprintf(why, why_size, "%s: %s", l->dir, strerror(errno));
		goto fail;
	}
	/* Two writers would append at the same offsets, one over the
	 * other's entries (rxmppctl's clear of a deleted user while rxmppd
	 * starts, say). */
	l->lock = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int locked = l->lock == -1 ? -1 : flock(l->lock, LOCK_EX | LOCK_NB);
	for (int i = 1; locked == -1 && errno == EWOULDBLOCK && i < LOCAL_LOCK_TRIES; i++) {
		nanosleep(&(struct timespec){.tv_nsec = LOCAL_LOCK_PAUSE_NS}, NULL);
		locked = flock(l->lock, LOCK_EX | LOCK_NB);
	}
	if (locked == -1) {
		snprintf(why, why_size, "%s: %s", l->dir,
			 errno == EWOULDBLOCK ? "in use by another process (rxmppd's elector, or "
						"an rxmppctl command): try again once it is done"
					      : strerror(errno));
		goto fail;
	}
	struct elector_log_loaded loaded;
	char note[512];
	l->store = elector_log_store_open(l->dir, &loaded, note, sizeof(note), why, why_size);
	if (l->store == NULL) {
		local_advice(why, why_size);
		goto fail;
	}
	if (note[0] != '\0')
		log_warnx("%s", note);
	l->machine = elector_machine_new();
	if (l->machine == NULL) {
		snprintf(why, why_size, "out of memory");
		goto fail;
	}
	if (local_verify(l->dir, &loaded, l->machine, why, why_size) == -1)
		goto fail;
	l->snapshot_index = loaded.meta.index;
	l->snapshot_len = loaded.snapshot_len;
	/* The entries were written against the accounts of their time: the
	 * file's now (an account made after the snapshot included) and those
	 * deleted since, whose data is cleared once they are applied. */
	if (local_replay_accounts(l, &loaded, why, why_size) == -1)
		goto fail;
	for (size_t i = 0; i < loaded.count; i++) {
		const struct elector_log_entry *x = &loaded.entries[i];
		struct elector_machine_result result;
		if (elector_machine_apply(l->machine, x->index, x->data, x->len, &result) == -1) {
			snprintf(why, why_size, "out of memory");
			goto fail;
		}
	}
	if (local_accounts(l, true, why, why_size) == -1 ||
	    elector_local_flush(l, why, why_size) == -1)
		goto fail;
	return l;
fail:
	elector_local_free(l);
	return NULL;
}

void elector_local_free(struct elector_local *l)
{
	if (l == NULL)
		return;
	elector_log_store_free(l->store);
	elector_machine_free(l->machine);
	local_staged_free(l);
	free(l->staged);
	if (l->lock != -1)
		close(l->lock);
	free(l);
}

int elector_local_stage(struct elector_local *l, const void *command, size_t len,
			struct elector_machine_result *result, uint64_t *index, char *why,
			size_t why_size)
{
	*index = 0;
	if (local_accounts(l, true, why, why_size) == -1)
		return -1;
	elector_machine_check(l->machine, command, len, result);
	if (result->status != ELECTOR_MACHINE_OK)
		return 0;
	return local_stage(l, command, len, result, index, why, why_size);
}

int elector_local_flush(struct elector_local *l, char *why, size_t why_size)
{
	if (l->staged_count == 0)
		return 0;
	struct elector_hard_state hard = {.term = LOCAL_TERM,
					  .commit = l->staged[l->staged_count - 1].index};
	if (elector_log_store_append(l->store, &hard, l->staged, l->staged_count, why, why_size) ==
	    -1)
		return -1;
	local_staged_free(l);
	local_compact(l);
	return 0;
}

int elector_local_propose(struct elector_local *l, const void *command, size_t len,
			  struct elector_machine_result *result, uint64_t *index, char *why,
			  size_t why_size)
{
	if (elector_local_stage(l, command, len, result, index, why, why_size) == -1)
		return -1;
	return elector_local_flush(l, why, why_size);
}

const struct elector_machine *elector_local_machine(struct elector_local *l)
{
	char why[1024];
	if (local_accounts(l, true, why, sizeof(why)) == -1)
		log_warnx("%s: the accounts as last read stay in force: %s", l->dir, why);
	return l->machine;
}

int elector_local_check(const char *state_dir, char *why, size_t why_size)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s", state_dir, ELECTOR_LOCAL_DIR);
	struct elector_log_loaded loaded;
	struct elector_log_store *s = elector_log_store_read(dir, &loaded, why, why_size);
	if (s == NULL) {
		local_advice(why, why_size);
		return -1;
	}
	struct elector_machine *m = elector_machine_new();
	int rc = m == NULL ? -1 : local_verify(dir, &loaded, m, why, why_size);
	if (m == NULL)
		snprintf(why, why_size, "out of memory");
	elector_machine_free(m);
	elector_log_store_free(s);
	return rc;
}

int elector_local_left(const char *state_dir, size_t *items, char *why, size_t why_size)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s", state_dir, ELECTOR_LOCAL_DIR);
	*items = 0;
	why[0] = '\0';
	if (access(dir, F_OK) == -1)
		return 0;
	struct elector_log_loaded loaded;
	struct elector_log_store *s = elector_log_store_read(dir, &loaded, why, why_size);
	if (s == NULL)
		return -1;
	/* Replayed against the snapshot's accounts and every user the log
	 * names: what an open would hold before it reads an accounts file. */
	struct elector_machine *m = elector_machine_new();
	struct accounts accounts = {0};
	int rc = m == NULL ? -1 : local_verify(dir, &loaded, m, why, why_size);
	const struct accounts *had = rc == 0 ? elector_machine_accounts(m) : NULL;
	const struct scram_keys none[SCRAM_HASH_COUNT] = {0};
	for (size_t i = 0; had != NULL && i < had->count && rc == 0; i++)
		rc = accounts_set_keys(&accounts, had->items[i].name, none);
	for (size_t i = 0; i < loaded.count && rc == 0; i++) {
		char user[JID_PART_MAX + 1];
		if (local_command_user(&loaded.entries[i], user) &&
		    accounts_find(&accounts, user) == NULL)
			rc = accounts_set_keys(&accounts, user, none);
	}
	if (rc == 0)
		rc = elector_machine_set_accounts(m, &accounts);
	for (size_t i = 0; i < loaded.count && rc == 0; i++) {
		struct elector_machine_result result;
		rc = elector_machine_apply(m, loaded.entries[i].index, loaded.entries[i].data,
					   loaded.entries[i].len, &result);
	}
	const struct elector_userdata *u = m != NULL ? elector_machine_userdata(m) : NULL;
	const char **names = NULL;
	size_t count = 0;
	if (rc == 0)
		rc = elector_userdata_users(u, &names, &count);
	for (size_t i = 0; i < count; i++)
		for (uint32_t coll = 1; coll <= ELECTOR_USERDATA_COLLECTIONS; coll++)
			*items +=
			    elector_userdata_view(elector_userdata_find(u, names[i], coll)).count;
	free(names);
	if (rc == -1 && m != NULL && why[0] == '\0')
		snprintf(why, why_size, "out of memory");
	accounts_free(&accounts);
	elector_machine_free(m);
	elector_log_store_free(s);
	return rc;
}
