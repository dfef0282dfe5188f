/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl's changes to the cluster's replicated state (issue 15): when
 * this node holds the cluster's state -- cluster.enabled, and the elector
 * has materialised that state (state_directory/cluster-callbridges exists,
 * elector/elector_machine.h) -- `user` and `callbridge` changes are
 * commands for the state machine, sent through the control socket to the
 * elector (PROTO_PROPOSE), which has them committed by a majority and
 * applied on every node before it answers (PROTO_PROPOSE_RESULT).  What
 * was committed is printed with the state machine's own answer; a change
 * refused for want of a leader or a quorum is printed with why and
 * changed nothing anywhere.  A node outside a cluster, or one of a cluster
 * that has no replicated state yet (all of it on an older release), keeps
 * its own files as before (rxmppctl_user.c, rxmppctl_callbridge.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/callbridge.h"
#include "common/ipc.h"
#include "common/proto.h"
#include "elector/elector_machine.h"
#include "elector/elector_state.h"
#include "rxmppctl.h"

/* A write waits for the majority and then up to about 2 s for the other
 * members to apply it (PROTO_PROPOSE_COMMITTED after that). */
#define STATE_PROPOSE_TIMEOUT_MS 15000

bool rxmppctl_state_clustered(const struct config *cfg)
{
	return callbridge_state_in_use(cfg->state_directory, cfg->cluster.enabled);
}

struct state_answer {
	bool quiet;  /* print only failures (for merges, which print a summary) */
	bool silent; /* not even the commit's line (one of many writes) */
	uint32_t outcome;
	bool committed;
	bool not_in_log;  /* refused before any log: nothing changed anywhere */
	bool hold;	  /* keep such a refusal in `held` instead of printing it */
	bool any_outcome; /* a committed REFUSED outcome is the caller's to judge */
	char held[PROTO_PROPOSE_TEXT_MAX + 64];
};

static int state_on_answer(const struct ipc_msg *msg, void *arg)
{
	struct state_answer *a = arg;
	if (msg->type == PROTO_CTL_RESULT) {
		/* The supervisor's own answer: the elector is not running. */
		struct proto_result result;
		if (msg->len < sizeof(result))
			return CTL_FAILED;
		memcpy(&result, msg->data, sizeof(result));
		int len = (int)(msg->len - sizeof(result));
		a->not_in_log = true;
		fprintf(stderr, "rxmppctl: not committed, nothing changed: %.*s\n", len,
			(const char *)msg->data + sizeof(result));
		return CTL_FAILED;
	}
	static struct proto_propose_result_view view;
	if (msg->type != PROTO_PROPOSE_RESULT ||
	    proto_propose_result_unpack(msg->data, msg->len, &view) == -1) {
		fprintf(stderr, "rxmppctl: malformed answer %s from rxmppd\n",
			proto_type_name(msg->type));
		return CTL_FAILED;
	}
	const struct proto_propose_result *h = &view.head;
	switch (h->status) {
	case PROTO_PROPOSE_REFUSED:
		a->not_in_log = true;
		snprintf(a->held, sizeof(a->held),
			 "rxmppctl: not committed, nothing changed anywhere: %s\n", view.text);
		if (!a->hold)
			fputs(a->held, stderr);
		return CTL_FAILED;
	case PROTO_PROPOSE_UNKNOWN:
		fprintf(stderr,
			"rxmppctl: unknown whether it was committed (it is in the leader's log, "
			"but the leader lost its majority): %s\nrun the command's `list` on any "
			"node to see whether it took effect\n",
			view.text);
		return CTL_FAILED;
	default:
		break;
	}
	a->committed = true;
	a->outcome = h->outcome;
	if (h->outcome == ELECTOR_MACHINE_REFUSED && a->any_outcome)
		return CTL_OK;
	if (h->outcome == ELECTOR_MACHINE_REFUSED) {
		fprintf(stderr, "rxmppctl: %s\n", view.outcome);
		return CTL_FAILED;
	}
	if (a->silent)
		return CTL_OK;
	if (!a->quiet)
		printf("%s\n", view.outcome);
	/* A node in no cluster wrote it to its own store
	 * (elector/elector_local.h). */
	if (h->members == 0) {
		if (h->index > 0)
			printf("%s, at index %" PRIu64 "\n", view.text, h->index);
		else
			printf("%s\n", view.text);
		return CTL_OK;
	}
	/* The elector's text names the members that have not applied it
	 * (not heard lately, or late), when there are any. */
	printf("committed at index %" PRIu64 " (term %" PRIu64 ") by a majority; applied on %u of "
	       "%u members%s%s\n",
	       h->index, h->term, h->applied, h->members, view.text[0] ? "; " : "", view.text);
	return CTL_OK;
}

static int state_send(const char *socket_path, const struct buf *command, struct state_answer *a)
{
	static unsigned char payload[sizeof(struct proto_propose) + PROTO_PROPOSE_MAX];
	struct proto_propose head = {.len = (uint32_t)buf_len(command)};
	if (buf_len(command) == 0 || buf_len(command) > PROTO_PROPOSE_MAX) {
		fprintf(stderr, "rxmppctl: the change is too large for one command\n");
		return CTL_FAILED;
	}
	memcpy(payload, &head, sizeof(head));
	memcpy(payload + sizeof(head), buf_head(command), buf_len(command));
	int rc = rxmppctl_request_with(socket_path, PROTO_PROPOSE, payload,
				       sizeof(head) + buf_len(command), STATE_PROPOSE_TIMEOUT_MS,
				       state_on_answer, a);
	/* The command holds keys or a secret. */
	explicit_bzero(payload, sizeof(payload));
	return rc;
}

int rxmppctl_state_propose(const char *socket_path, const struct buf *command, bool *not_in_log)
{
	struct state_answer a = {0};
	int rc = state_send(socket_path, command, &a);
	if (not_in_log != NULL)
		*not_in_log = rc != CTL_OK && a.not_in_log;
	return rc;
}

int rxmppctl_state_propose_outcome(const char *socket_path, const struct buf *command,
				   uint32_t *outcome)
{
	struct state_answer a = {.any_outcome = true};
	int rc = state_send(socket_path, command, &a);
	*outcome = a.outcome;
	return rc;
}

int rxmppctl_state_propose_silent(const char *socket_path, const struct buf *command)
{
	struct state_answer a = {.quiet = true, .silent = true};
	return state_send(socket_path, command, &a);
}

int rxmppctl_state_settings(const struct config *cfg, const char *socket_path, int patience_ms,
			    bool *not_in_log)
{
	uint64_t node;
	char why[512];
	*not_in_log = false;
	int got = elector_state_node_id(cfg->state_directory, &node, why, sizeof(why));
	if (got != 0) {
		fprintf(stderr, "rxmppctl: %s\n",
			got == 1 ? "this node has no node id yet (is it in a cluster?)" : why);
		return CTL_FAILED;
	}
	struct config_setting wide[CONFIG_CLUSTER_WIDE_MAX];
	struct elector_machine_setting items[CONFIG_CLUSTER_WIDE_MAX];
	size_t count = config_cluster_wide(cfg, wide);
	memset(items, 0, sizeof(items));
	for (size_t i = 0; i < count; i++) {
		snprintf(items[i].key, sizeof(items[i].key), "%s", wide[i].key);
		snprintf(items[i].value, sizeof(items[i].value), "%s", wide[i].value);
	}
	struct buf command;
	if (elector_machine_encode_settings(&command, ELECTOR_MACHINE_SETTINGS, node, items,
					    count) == -1) {
		fprintf(stderr, "rxmppctl: this node's settings cannot be encoded\n");
		return CTL_FAILED;
	}
	/* Right after a join the node may not reach the leader yet (its link
	 * comes up after the membership change): a refusal before any log is
	 * asked again for `patience_ms` once the node holds the cluster's state
	 * (the cluster replicates: the refusal is about reaching the leader),
	 * for a second before that (the state is on its way), and only the last
	 * one printed.  A cluster that carries no state refuses for good. */
	static struct state_answer a;
	int rc;
	for (int waited = 0;; waited += 250) {
		bool holds = callbridge_state_in_use(cfg->state_directory, cfg->cluster.enabled);
		memset(&a, 0, sizeof(a));
		a.quiet = true;
		a.hold = waited < (holds ? patience_ms : patience_ms > 0 ? 1000 : 0);
		rc = state_send(socket_path, &command, &a);
		if (rc == CTL_OK || !a.not_in_log || !a.hold)
			break;
		usleep(250 * 1000);
	}
	buf_free(&command);
	*not_in_log = rc != CTL_OK && a.not_in_log;
	return rc;
}

int rxmppctl_state_merge(const char *socket_path, const struct accounts *accounts,
			 const struct proto_callbridge *bridges, size_t bridge_count,
			 bool *not_in_log)
{
	*not_in_log = false;
	/* Every batch is checked before any is merged, so that a conflict
	 * anywhere changes nothing; each MERGE is then all or nothing by
	 * itself (a change made between the check and the merge is caught
	 * there). */
	enum elector_machine_op ops[2] = {ELECTOR_MACHINE_MERGE_CHECK, ELECTOR_MACHINE_MERGE};
	size_t added[2] = {0, 0};
	for (int pass = 0; pass < 2; pass++) {
		size_t done_accounts = 0, done_bridges = 0;
		do {
			struct buf command;
			size_t ta, tb;
			if (elector_machine_encode_merge(
				&command, ops[pass], accounts->items + done_accounts,
				accounts->count - done_accounts, bridges + done_bridges,
				bridge_count - done_bridges, &ta, &tb) == -1) {
				fprintf(stderr,
					"rxmppctl: an account or bridge of this node cannot "
					"be merged (not valid)\n");
				return CTL_FAILED;
			}
			struct state_answer a = {.quiet = pass == 0};
			int rc = state_send(socket_path, &command, &a);
			buf_free(&command);
			if (rc != CTL_OK) {
				/* Only a first command refused before any log
				 * changed nothing at all. */
				*not_in_log = a.not_in_log && pass == 0 && added[0] == 0;
				return rc;
			}
			added[pass]++;
			done_accounts += ta;
			done_bridges += tb;
		} while (done_accounts < accounts->count || done_bridges < bridge_count);
	}
	printf("merged this node's %zu account%s and %zu call bridge%s into the cluster's state "
	       "(%zu command%s)\n",
	       accounts->count, accounts->count == 1 ? "" : "s", bridge_count,
	       bridge_count == 1 ? "" : "s", added[1], added[1] == 1 ? "" : "s");
	return CTL_OK;
}
