/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl cluster initialize | join | merge: this node's own users' data (its
 * store while it was in no cluster, state_directory/local:
 * elector/elector_local.h) carried into the cluster's state, after its
 * accounts (a user's data needs the account there).  The running elector
 * no longer uses that store once the node is a member, so it is read and
 * written here.
 *
 * Item by item, never user by user: the cluster may hold some of a user's
 * data already (a write from the user's client in the window since the
 * node became a member, or an earlier run cut short), and that must not
 * keep the rest of the user's data out.
 * - A keyed item (roster, vCard, block list, meta) is put when the
 *   cluster's state has no item of its key.  When it has one, that one
 *   stays: it was written after this node's copy.  Put-if-absent is a read
 *   of this node's replica, then a PUT, not a machine op (none would be
 *   known to an older member): a client's write of the very same key that
 *   lands between the two is overwritten by this node's older value.  The
 *   window is one round trip per item; the item then holds what this node
 *   had, not nothing.
 * - Offline messages are appended in queue order (their keys become the
 *   cluster's indexes, so later messages queue behind them; a message
 *   stored in the cluster in the window comes before them).
 * Each item is taken out of the local store once the cluster's commit is
 * confirmed (or once the cluster is seen to hold its key), so a run that
 * is cut short and run again carries exactly the rest.  A commit whose
 * answer is lost leaves the item here: its rerun puts a keyed item only
 * if absent (no harm), but appends an offline message again -- a
 * duplicate, which beats losing it.
 *
 * Puts are under the machine's hard limits (the writer's quotas admitted
 * the data already).  Versions become the cluster's indexes: an XEP-0237
 * client gets a full roster once.
 *
 * When the store holds no item any more the folder is renamed
 * local.merged-SECONDS (kept, never deleted: the administrator decides; a
 * folder that holds no item to begin with stays as it is,
 * unmentioned).  After a failure it stays, holding what is not carried
 * yet, and `rxmppctl cluster merge` carries that.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/proto.h"
#include "elector/elector_local.h"
#include "elector/elector_machine.h"
#include "rxmppctl.h"

/* The replica may not have applied the accounts merge committed just
 * before: an unknown user is asked about again, for this long. */
#define MERGE_READ_TRIES    100
#define MERGE_READ_PAUSE_US 100000

struct merge_count {
	size_t users, carried, kept;
};

/* Whether the cluster's state holds this item of the user. */
static int merge_held(const char *name, uint32_t coll, const uint8_t *key, size_t key_len,
		      const char *socket_path, bool *held)
{
	uint32_t status = PROTO_USERDATA_NO_STATE;
	for (int i = 0; i < MERGE_READ_TRIES; i++) {
		if (i > 0)
			usleep(MERGE_READ_PAUSE_US);
		int rc = rxmppctl_user_data_item(name, coll, key, key_len, socket_path, &status);
		if (rc != CTL_OK)
			return rc;
		if (status == PROTO_USERDATA_OK || status == PROTO_USERDATA_NO_ITEM) {
			*held = status == PROTO_USERDATA_OK;
			return CTL_OK;
		}
	}
	fprintf(stderr, "rxmppctl: user %s: %s\n", name,
		status == PROTO_USERDATA_NO_USER
		    ? "this node's copy of the cluster's state has no account of that name"
		    : "this node holds no cluster state yet");
	return CTL_FAILED;
}

/* Takes a carried item out of the local store: a DEL of its key, or for
 * an offline message a TAKE up to it (the queue's first). */
static int merge_forget(struct elector_local *local, const char *name, uint32_t coll,
			const uint8_t *key, size_t key_len)
{
	struct buf command;
	struct elector_machine_result result;
	uint64_t index;
	char why[1024];
	enum elector_machine_op op = coll == ELECTOR_USERDATA_OFFLINE
					 ? ELECTOR_MACHINE_USERDATA_TAKE
					 : ELECTOR_MACHINE_USERDATA_DEL;
	if (elector_machine_encode_userdata(&command, op, name, coll, NULL, key, key_len, NULL,
					    0) == -1) {
		fprintf(stderr, "rxmppctl: out of memory\n");
		return CTL_FAILED;
	}
	int rc = elector_local_propose(local, buf_head(&command), buf_len(&command), &result,
				       &index, why, sizeof(why));
	buf_free(&command);
	if (rc == -1 || result.status != ELECTOR_MACHINE_OK) {
		fprintf(stderr,
			"rxmppctl: user %s: a %s item is in the cluster's state but could not be "
			"taken out of this node's store (%s): a rerun %s\n",
			name, elector_userdata_collection_name(coll), rc == -1 ? why : result.text,
			coll == ELECTOR_USERDATA_OFFLINE ? "stores that message twice"
							 : "leaves the cluster's as it is");
		return CTL_FAILED;
	}
	return CTL_OK;
}

/* Carries one item (see the top), or leaves the cluster's. */
static int merge_item(struct elector_local *local, const char *name, uint32_t coll,
		      const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
		      const char *socket_path, struct merge_count *count)
{
	const struct elector_userdata_limit max = {ELECTOR_USERDATA_COUNT_MAX,
						   ELECTOR_USERDATA_BYTES_MAX};
	bool queue = coll == ELECTOR_USERDATA_OFFLINE, held = false;
	int rc = queue ? CTL_OK : merge_held(name, coll, key, key_len, socket_path, &held);
	if (rc != CTL_OK)
		return rc;
	if (held) {
		count->kept++;
		return merge_forget(local, name, coll, key, key_len);
	}
	struct buf command;
	if (elector_machine_encode_userdata(
		&command, queue ? ELECTOR_MACHINE_USERDATA_APPEND : ELECTOR_MACHINE_USERDATA_PUT,
		name, coll, &max, key, queue ? 0 : key_len, value, value_len) == -1) {
		fprintf(stderr, "rxmppctl: user %s: a %s item cannot be encoded\n", name,
			elector_userdata_collection_name(coll));
		return CTL_FAILED;
	}
	rc = rxmppctl_state_propose_silent(socket_path, &command);
	buf_free(&command);
	if (rc != CTL_OK)
		return rc;
	count->carried++;
	return merge_forget(local, name, coll, key, key_len);
}

/* One user's items, collection by collection; each carried item leaves
 * the store, so the first one left is the next to carry. */
static int merge_user(struct elector_local *local, const char *name, const char *socket_path,
		      struct merge_count *count)
{
	for (uint32_t coll = 1; coll <= ELECTOR_USERDATA_COLLECTIONS; coll++) {
		for (;;) {
			const struct elector_userdata *u =
			    elector_machine_userdata(elector_local_machine(local));
			const struct elector_userdata_collection *c =
			    elector_userdata_find(u, name, coll);
			const uint8_t *key, *value;
			size_t key_len, value_len;
			if (c == NULL ||
			    !elector_userdata_item(c, 0, &key, &key_len, &value, &value_len))
				break;
			/* The item is freed when it is taken out of the store. */
			uint8_t copy[PROTO_USERDATA_KEY_MAX];
			if (key_len > sizeof(copy))
				return CTL_FAILED;
			memcpy(copy, key, key_len);
			int rc = merge_item(local, name, coll, copy, key_len, value, value_len,
					    socket_path, count);
			if (rc != CTL_OK)
				return rc;
		}
	}
	return CTL_OK;
}

/* How many items the store still holds (a user whose items are all
 * carried keeps the collections' versions there, and no item). */
static int merge_left(struct elector_local *local, size_t *left)
{
	const struct elector_userdata *u = elector_machine_userdata(elector_local_machine(local));
	const char **names;
	size_t count;
	*left = 0;
	if (elector_userdata_users(u, &names, &count) == -1)
		return -1;
	for (size_t i = 0; i < count; i++)
		for (uint32_t coll = 1; coll <= ELECTOR_USERDATA_COLLECTIONS; coll++)
			*left +=
			    elector_userdata_view(elector_userdata_find(u, names[i], coll)).count;
	free(names);
	return 0;
}

int rxmppctl_userdata_merge(const struct config *cfg, const char *socket_path,
			    const char *accounts_path)
{
	char dir[PATH_MAX], why[PATH_MAX + 512];
	snprintf(dir, sizeof(dir), "%s/%s", cfg->state_directory, ELECTOR_LOCAL_DIR);
	if (access(dir, F_OK) == -1)
		return CTL_OK;
	struct elector_local *local = elector_local_open(
	    cfg->state_directory, accounts_path, cfg->cluster.snapshot_entries, why, sizeof(why));
	if (local == NULL) {
		fprintf(stderr, "rxmppctl: this node's own user data cannot be read: %s\n", why);
		return CTL_FAILED;
	}
	const char **names;
	size_t count, before;
	if (merge_left(local, &before) == -1 ||
	    elector_userdata_users(elector_machine_userdata(elector_local_machine(local)), &names,
				   &count) == -1) {
		fprintf(stderr, "rxmppctl: out of memory\n");
		elector_local_free(local);
		return CTL_FAILED;
	}
	if (before == 0) {
		/* Nothing to carry, nothing to say: the folder stays as it is. */
		free(names);
		elector_local_free(local);
		return CTL_OK;
	}
	/* The names belong to the store: a user's last item taken out of it
	 * frees that user's (only). */
	struct merge_count n = {0};
	int rc = CTL_OK;
	for (size_t i = 0; i < count && rc == CTL_OK; i++) {
		char name[JID_PART_MAX + 1];
		snprintf(name, sizeof(name), "%s", names[i]);
		rc = merge_user(local, name, socket_path, &n);
		if (rc == CTL_OK)
			n.users++;
	}
	free(names);
	size_t left = 0;
	if (rc == CTL_OK && merge_left(local, &left) == -1) {
		fprintf(stderr, "rxmppctl: out of memory\n");
		rc = CTL_FAILED;
	}
	elector_local_free(local);
	if (rc != CTL_OK || left > 0) {
		fprintf(stderr,
			"rxmppctl: this node's own user data is not all in the cluster's state "
			"(%zu items carried before the failure); what is not stays in %s: put "
			"right what is named above and run `rxmppctl cluster merge`, which "
			"carries the rest\n",
			n.carried, dir);
		return CTL_FAILED;
	}
	char merged[PATH_MAX + 32];
	snprintf(merged, sizeof(merged), "%s.merged-%lld", dir, (long long)time(NULL));
	printf("merged this node's own user data into the cluster's state: %zu user%s, %zu "
	       "item%s carried (versions are the cluster's from now on: clients fetch whole "
	       "rosters once)",
	       n.users, n.users == 1 ? "" : "s", n.carried, n.carried == 1 ? "" : "s");
	if (n.kept > 0)
		printf("; %zu item%s the cluster's state held already under the same key (written "
		       "there since) kept the cluster's",
		       n.kept, n.kept == 1 ? "" : "s");
	printf("\n");
	if (rename(dir, merged) == -1) {
		fprintf(stderr,
			"rxmppctl: warning: %s could not be renamed %s (%m); it holds no user data "
			"any more\n",
			dir, merged);
		return CTL_OK;
	}
	printf("%s is kept as %s\n", dir, merged);
	return CTL_OK;
}
