/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl cluster initialize | join | merge: this node's own users' data (its
 * store while it was in no cluster, state_directory/local:
 * elector/elector_local.h) carried into the cluster's state, after its
 * accounts (a user's data needs the account there).  The running elector
 * no longer uses that store once the node is a member, so it is read here.
 *
 * Each item is one write through the cluster's log (PROTO_PROPOSE): a PUT
 * with its key (roster, vCard, block list, meta), an APPEND in queue order
 * (offline messages, whose keys were the local log's indexes and become
 * the cluster's, so that later messages still queue behind them), under
 * the machine's hard limits (the writer's quotas admitted them already).
 * Versions become the cluster's indexes: an XEP-0237 client gets a full
 * roster once.  A user of whom the cluster already holds data keeps the
 * cluster's, and is named.
 *
 * When every user is done the folder is renamed local.merged-SECONDS
 * (kept, never deleted: the administrator decides; a folder that holds
 * no user's data stays as it is, unmentioned).  After a failure it
 * stays, and `rxmppctl cluster merge` carries it again: users merged
 * before are then named as held by the cluster already, and a user whose
 * merge was cut short keeps what got in (named too).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "elector/elector_local.h"
#include "elector/elector_machine.h"
#include "rxmppctl.h"

/* One user's items, collection by collection. */
static int merge_user(const struct elector_userdata *u, const char *name, const char *socket_path,
		      size_t *items)
{
	const struct elector_userdata_limit max = {ELECTOR_USERDATA_COUNT_MAX,
						   ELECTOR_USERDATA_BYTES_MAX};
	for (uint32_t coll = 1; coll <= ELECTOR_USERDATA_COLLECTIONS; coll++) {
		const struct elector_userdata_collection *c = elector_userdata_find(u, name, coll);
		const uint8_t *key, *value;
		size_t key_len, value_len;
		bool queue = coll == ELECTOR_USERDATA_OFFLINE;
		for (size_t i = 0;
		     c != NULL && elector_userdata_item(c, i, &key, &key_len, &value, &value_len);
		     i++) {
			struct buf command;
			if (elector_machine_encode_userdata(&command,
							    queue ? ELECTOR_MACHINE_USERDATA_APPEND
								  : ELECTOR_MACHINE_USERDATA_PUT,
							    name, coll, &max, key,
							    queue ? 0 : key_len, value,
							    value_len) == -1) {
				fprintf(stderr, "rxmppctl: user %s: a %s item cannot be encoded\n",
					name, elector_userdata_collection_name(coll));
				return CTL_FAILED;
			}
			int rc = rxmppctl_state_propose_silent(socket_path, &command);
			buf_free(&command);
			if (rc != CTL_OK)
				return rc;
			(*items)++;
		}
	}
	return CTL_OK;
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
	const struct elector_userdata *u = elector_machine_userdata(elector_local_machine(local));
	const char **names;
	size_t count, users = 0, items = 0, kept = 0;
	if (elector_userdata_users(u, &names, &count) == -1) {
		fprintf(stderr, "rxmppctl: out of memory\n");
		elector_local_free(local);
		return CTL_FAILED;
	}
	int rc = CTL_OK;
	if (count == 0) {
		/* Nothing to carry, nothing to say: the folder stays as it is. */
		free(names);
		elector_local_free(local);
		return CTL_OK;
	}
	for (size_t i = 0; i < count && rc == CTL_OK; i++) {
		uint32_t held = 0;
		rc = rxmppctl_user_data_items(names[i], socket_path, &held);
		if (rc == CTL_OK && held > 0) {
			printf(
			    "user %s: the cluster's state holds data of this user already, which "
			    "stays; this node's is not merged (the folder keeps it)\n",
			    names[i]);
			kept++;
		} else if (rc == CTL_OK &&
			   (rc = merge_user(u, names[i], socket_path, &items)) == CTL_OK) {
			users++;
		}
	}
	free(names);
	elector_local_free(local);
	if (rc != CTL_OK) {
		fprintf(stderr,
			"rxmppctl: this node's own user data is not all in the cluster's state "
			"(%zu users merged before the failure); it stays in %s: put right what is "
			"named above and run `rxmppctl cluster merge`\n",
			users, dir);
		return rc;
	}
	char merged[PATH_MAX + 32];
	snprintf(merged, sizeof(merged), "%s.merged-%lld", dir, (long long)time(NULL));
	printf("merged this node's own user data into the cluster's state: %zu user%s, %zu "
	       "item%s (versions are the cluster's from now on: clients fetch whole rosters "
	       "once)%s\n",
	       users, users == 1 ? "" : "s", items, items == 1 ? "" : "s",
	       kept > 0 ? "; the users named above keep the cluster's" : "");
	if (rename(dir, merged) == -1) {
		fprintf(stderr,
			"rxmppctl: warning: %s could not be renamed %s (%m): a later `cluster "
			"merge` would carry it again\n",
			dir, merged);
		return CTL_OK;
	}
	printf("%s is kept as %s\n", dir, merged);
	return CTL_OK;
}
