/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl reset: forget this node's cluster identity, its node id, its
 * persisted term, vote and membership and its copy of the replicated log
 * (log, snapshot), so that it can start over (and join
 * again, replacing its old entry).  rxmppd must be stopped: a running
 * elector would write its state back.  It asks for confirmation (--yes for
 * scripts), and a node that is still a member of a larger cluster is told
 * to be removed from it first (--force to reset anyway).  A node that was
 * removed knows it (the leader told it: its persisted, committed
 * membership no longer lists it) and resets without --force.  A node that
 * held the cluster's replicated state also forgets its copy of it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/accounts.h"
#include "common/accounts_journal.h"
#include "common/callbridge.h"
#include "elector/elector_machine.h"
#include "elector/elector_log_store.h"
#include "elector/elector_state.h"
#include "rxmppctl.h"

static bool daemon_answers(const char *socket_path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive = fd != -1 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	if (fd != -1)
		close(fd);
	return alive;
}

int rxmppctl_reset(int argc, char **argv, const struct config *cfg, const char *socket_path)
{
	bool yes = false, force = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--yes") == 0)
			yes = true;
		else if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf(
			    "usage: rxmppctl reset [--yes] [--force]\n"
			    "Removes this node's id and cluster state (rxmppd must be stopped).\n"
			    "--yes: do not ask; --force: even while it is a member of a "
			    "cluster\n"
			    "(a node removed with cluster remove knows it and needs no "
			    "--force).\n");
			return CTL_OK;
		} else {
			fprintf(stderr, "usage: rxmppctl reset [--yes] [--force]\n");
			return CTL_USAGE;
		}
	}
	if (daemon_answers(socket_path)) {
		fprintf(stderr,
			"rxmppctl: rxmppd is running; stop it first (systemctl stop rxmpp)\n");
		return CTL_FAILED;
	}
	struct elector_persistent state;
	char why[512];
	bool unsealed;
	uint64_t id;
	bool loaded =
	    elector_state_load(cfg->state_directory, &state, &unsealed, why, sizeof(why)) == 0;
	bool removed = loaded &&
		       elector_state_node_id(cfg->state_directory, &id, why, sizeof(why)) == 0 &&
		       elector_state_removed(&state, id);
	if (removed)
		printf("this node was removed from its cluster of %u nodes\n", state.config.count);
	else if (loaded && state.config.count > 1 && !force) {
		fprintf(stderr,
			"rxmppctl: this node is a member of a cluster of %u nodes; remove it first "
			"(rxmppctl cluster remove NODE on another member), or reset --force\n",
			state.config.count);
		return CTL_FAILED;
	}
	if (!yes) {
		char answer[16] = "";
		printf("This removes the node id and the cluster state of this node. Type yes: ");
		fflush(stdout);
		if (fgets(answer, sizeof(answer), stdin) == NULL || strcmp(answer, "yes\n") != 0) {
			fprintf(stderr, "rxmppctl: not reset\n");
			return CTL_FAILED;
		}
	}
	/* The log first: one left behind would start the new node with the
	 * old one's entries. */
	const char *files[] = {ELECTOR_LOG_FILE, ELECTOR_SNAPSHOT_FILE, "node-id", "election"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", cfg->state_directory, files[i]);
		if (unlink(path) == -1 && errno != ENOENT) {
			fprintf(stderr, "rxmppctl: %s: %s\n", path, strerror(errno));
			return CTL_FAILED;
		}
	}
	/* The accounts of a node that held the cluster's state are the
	 * cluster's (and so are the ones kept from before it, merged when it
	 * joined): it receives them again when it joins.  Merging them again
	 * instead would bring back what the cluster deleted since.  For the
	 * same reason callbridges.merged stays (rxmppctl_merged.c): it keeps
	 * the next join from merging again the bridges of the call-bridges
	 * file, which stays too. */
	if (callbridge_state_in_use(cfg->state_directory, true)) {
		const char *state[] = {ACCOUNTS_FILE_NAME,
				       ACCOUNTS_FILE_NAME ACCOUNTS_JOURNAL_SUFFIX,
				       ELECTOR_MACHINE_BEFORE_CLUSTER,
				       ELECTOR_MACHINE_BEFORE_CLUSTER ACCOUNTS_JOURNAL_SUFFIX,
				       CALLBRIDGE_STATE_FILE_NAME};
		for (size_t i = 0; i < sizeof(state) / sizeof(state[0]); i++) {
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", cfg->state_directory, state[i]);
			if (unlink(path) == -1 && errno != ENOENT) {
				fprintf(stderr, "rxmppctl: %s: %s\n", path, strerror(errno));
				return CTL_FAILED;
			}
		}
		printf("reset: this node's copy of the cluster's accounts and call bridges "
		       "removed; it receives them again when it joins\n");
	}
	printf("reset: node id and cluster state removed; the node starts as a new one\n");
	return CTL_OK;
}
