/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl drain and undrain: empty a node for maintenance and open it
 * again.  drain reads the node's status (its client port) and the
 * cluster's (its role, the other members' addresses), names the other
 * members' client addresses as where clients go (the host of each one's
 * cluster address with this node's client port, or what --to says), sends
 * CTL_DRAIN to rxmppd (supervisor/supervisor_control.c, which hands it to
 * the listener: listener/listener_drain.c) and then follows the session
 * count in the status until it is zero, the timeout passes, or at once
 * with --no-wait.  A leader is not drained while it leads (the others
 * route through it): it yields first (PROTO_CLUSTER_OP_YIELD, the
 * elector's leadership transfer) and drains once another member leads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ipc.h"
#include "common/proto.h"
#include "elector/elector_core.h"
#include "rxmppctl.h"

#define DRAIN_RATE_DEFAULT    50
#define DRAIN_TIMEOUT_DEFAULT 600 /* seconds */
#define DRAIN_POLL_MS	      500

static void drain_usage(FILE *out, bool undrain)
{
	fprintf(out, "%s",
		undrain
		    ? "usage: rxmppctl undrain\n"
		      "       rxmppctl drain [--rate N] [--to HOST:PORT]... [--timeout SECONDS] "
		      "[--no-wait]\n"
		    : "usage: rxmppctl drain [--rate N] [--to HOST:PORT]... [--timeout SECONDS] "
		      "[--no-wait]\n"
		      "       rxmppctl undrain\n");
	fprintf(out,
		"drain prepares this node for maintenance: new client streams and the\n"
		"client sessions it holds are told to go elsewhere (<see-other-host/>),\n"
		"N sessions a second (default %d), each naming the next of the other\n"
		"members' client addresses in turn: the host of each one's cluster\n"
		"address with this node's client port, or the addresses given with --to\n"
		"(needed when members share a host).  Call bridges are ended with\n"
		"<system-shutdown/> and reconnect through their DNS SRV records.  drain\n"
		"then shows the sessions left and returns when there are none (exit\n"
		"status 0), after the timeout (default %d s; exit status 1, the node\n"
		"stays draining), or at once with --no-wait.  On the leader, the\n"
		"leadership goes to the most up-to-date other member first.  Draining\n"
		"survives rxmppctl reload, not a restart of rxmppd.\n"
		"undrain accepts clients and call bridges again.\n",
		DRAIN_RATE_DEFAULT, DRAIN_TIMEOUT_DEFAULT);
}

static int drain_status_answer(const struct ipc_msg *msg, void *arg)
{
	if (msg->type != PROTO_CTL_STATUS_REPLY || msg->len < sizeof(struct proto_status)) {
		fprintf(stderr, "rxmppctl: unexpected answer %s from rxmppd\n",
			proto_type_name(msg->type));
		return CTL_FAILED;
	}
	memcpy(arg, msg->data, sizeof(struct proto_status));
	return CTL_OK;
}

struct drain_cluster {
	struct proto_cluster_status st;
	struct proto_cluster_member members[ELECTOR_MEMBERS_MAX];
};

static int drain_cluster_answer(const struct ipc_msg *msg, void *arg)
{
	struct drain_cluster *c = arg;
	if (msg->type != PROTO_CLUSTER_STATUS || msg->len < sizeof(c->st)) {
		fprintf(stderr, "rxmppctl: no cluster status from rxmppd (%s)\n",
			proto_type_name(msg->type));
		return CTL_FAILED;
	}
	memcpy(&c->st, msg->data, sizeof(c->st));
	if (c->st.members > ELECTOR_MEMBERS_MAX ||
	    msg->len != sizeof(c->st) + c->st.members * sizeof(c->members[0])) {
		fprintf(stderr, "rxmppctl: malformed cluster status from rxmppd\n");
		return CTL_FAILED;
	}
	memcpy(c->members, (const char *)msg->data + sizeof(c->st),
	       c->st.members * sizeof(c->members[0]));
	return CTL_OK;
}

static int drain_result_answer(const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	struct proto_result result;
	if (msg->type != PROTO_CTL_RESULT || msg->len < sizeof(result) ||
	    (memcpy(&result, msg->data, sizeof(result)),
	     result.message_len != msg->len - sizeof(result))) {
		fprintf(stderr, "rxmppctl: unexpected answer %s from rxmppd\n",
			proto_type_name(msg->type));
		return CTL_FAILED;
	}
	fprintf(result.ok ? stdout : stderr, "%.*s\n", (int)result.message_len,
		(const char *)msg->data + sizeof(result));
	return result.ok ? CTL_OK : CTL_FAILED;
}

/* The leader's answer to a yield: printed as it comes; a failure means
 * it still leads, and nothing is drained. */
static int drain_yield_answer(const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	struct proto_result result;
	if (msg->type != PROTO_CLUSTER_RESULT || msg->len < sizeof(result) ||
	    (memcpy(&result, msg->data, sizeof(result)),
	     result.message_len != msg->len - sizeof(result))) {
		fprintf(stderr, "rxmppctl: unexpected answer %s from rxmppd\n",
			proto_type_name(msg->type));
		return CTL_FAILED;
	}
	fprintf(result.ok ? stdout : stderr, "%s%.*s\n",
		result.ok ? "" : "rxmppctl: ", (int)result.message_len,
		(const char *)msg->data + sizeof(result));
	if (!result.ok)
		fprintf(stderr, "rxmppctl: this node still leads; not draining\n");
	return result.ok ? CTL_OK : CTL_FAILED;
}

static int drain_status(const char *socket_path, struct proto_status *status)
{
	return rxmppctl_request_with(socket_path, PROTO_CTL_STATUS, NULL, 0, 5000,
				     drain_status_answer, status);
}

/* The length of the host part of a member's address (host:port). */
static int drain_host_len(const struct proto_cluster_member *m)
{
	const char *colon = strrchr(m->address, ':');
	return colon == NULL ? -1 : (int)(colon - m->address);
}

/* The other members' client addresses: each one's cluster host with this
 * node's client port (the nodes of a cluster serve the same ports, each on
 * its own address, as one SRV record per node has it).  The count, or -1
 * (said on stderr) when this node leads others, or when another member
 * shares this node's host: its client port cannot be told then, and --to
 * must name it (`named`). */
static int drain_targets_from_cluster(const char *socket_path, uint32_t client_port, bool named,
				      struct proto_drain *drain)
{
	static struct drain_cluster cluster;
	struct proto_cluster_request request = {.op = PROTO_CLUSTER_OP_STATUS};
	if (rxmppctl_request_with(socket_path, PROTO_CLUSTER_REQUEST, &request, sizeof(request),
				  5000, drain_cluster_answer, &cluster) != CTL_OK)
		return -1;
	if (!cluster.st.enabled || cluster.st.removed)
		return 0;
	if (cluster.st.role == ELECTOR_LEADER && cluster.st.members > 1) {
		/* The others route through the leader: it hands leadership to
		 * the most up-to-date other member first (elector_handover.c),
		 * answered once another leads or the transfer failed. */
		struct proto_cluster_request yield = {.op = PROTO_CLUSTER_OP_YIELD};
		if (rxmppctl_request_with(socket_path, PROTO_CLUSTER_REQUEST, &yield, sizeof(yield),
					  15000, drain_yield_answer, NULL) != CTL_OK ||
		    rxmppctl_request_with(socket_path, PROTO_CLUSTER_REQUEST, &request,
					  sizeof(request), 5000, drain_cluster_answer,
					  &cluster) != CTL_OK)
			return -1;
		if (cluster.st.role == ELECTOR_LEADER) {
			fprintf(stderr, "rxmppctl: this node leads again; not draining (try "
					"`rxmppctl cluster leader`, then drain)\n");
			return -1;
		}
	}
	const struct proto_cluster_member *self = NULL;
	for (uint32_t i = 0; i < cluster.st.members; i++) {
		cluster.members[i].address[sizeof(cluster.members[i].address) - 1] = '\0';
		if (cluster.members[i].id == cluster.st.self)
			self = &cluster.members[i];
	}
	for (uint32_t i = 0; i < cluster.st.members && drain->count < PROTO_DRAIN_TARGETS_MAX;
	     i++) {
		const struct proto_cluster_member *m = &cluster.members[i];
		int len = drain_host_len(m);
		if (m == self || len < 0)
			continue;
		if (!named && self != NULL && drain_host_len(self) == len &&
		    strncmp(self->address, m->address, (size_t)len) == 0) {
			fprintf(
			    stderr,
			    "rxmppctl: member %s shares this node's host, so its client port is "
			    "not known here: name the other members' client addresses with "
			    "--to HOST:PORT\n",
			    m->address);
			return -1;
		}
		snprintf(drain->targets[drain->count++], sizeof(drain->targets[0]), "%.*s:%u", len,
			 m->address, client_port);
	}
	return (int)drain->count;
}

static void drain_sleep_ms(long ms)
{
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
	while (nanosleep(&t, &t) == -1 && errno == EINTR)
		;
}

/* Follows the session count until it is zero or `timeout_s` passes. */
static int drain_wait(const char *socket_path, long timeout_s)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	uint32_t shown_clients = UINT32_MAX, shown_bridges = UINT32_MAX;
	for (;;) {
		struct proto_status status;
		if (drain_status(socket_path, &status) != CTL_OK)
			return CTL_FAILED;
		if (!status.draining) {
			fprintf(stderr, "rxmppctl: the node is no longer draining (undrain, or a "
					"restart of rxmppd)\n");
			return CTL_FAILED;
		}
		uint32_t clients = status.stats.clients, bridges = status.stats.components;
		if (clients + bridges == 0) {
			printf("drained: no sessions left on this node\n");
			return CTL_OK;
		}
		if (clients != shown_clients || bridges != shown_bridges) {
			printf("%u clients, %u call bridges left\n", clients, bridges);
			fflush(stdout);
			shown_clients = clients;
			shown_bridges = bridges;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout_s) {
			fprintf(stderr,
				"rxmppctl: %u clients and %u call bridges still here after %ld s; "
				"the node stays draining\n",
				clients, bridges, timeout_s);
			return CTL_FAILED;
		}
		drain_sleep_ms(DRAIN_POLL_MS);
	}
}

static bool drain_number(const char *text, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int rxmppctl_drain(int argc, char **argv, const char *socket_path)
{
	bool undrain = strcmp(argv[0], "undrain") == 0;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		drain_usage(stdout, undrain);
		return CTL_OK;
	}
	static struct proto_drain drain;
	drain.on = !undrain;
	drain.rate = undrain ? 0 : DRAIN_RATE_DEFAULT;
	long timeout_s = DRAIN_TIMEOUT_DEFAULT, value;
	bool wait = true, named = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!undrain && strcmp(arg, "--no-wait") == 0) {
			wait = false;
		} else if (!undrain && strcmp(arg, "--rate") == 0 && next != NULL &&
			   drain_number(next, 1, PROTO_DRAIN_RATE_MAX, &value)) {
			drain.rate = (uint32_t)value;
			i++;
		} else if (!undrain && strcmp(arg, "--timeout") == 0 && next != NULL &&
			   drain_number(next, 1, 86400, &value)) {
			timeout_s = value;
			i++;
		} else if (!undrain && strcmp(arg, "--to") == 0 && next != NULL &&
			   drain.count < PROTO_DRAIN_TARGETS_MAX &&
			   strlen(next) < sizeof(drain.targets[0]) && strchr(next, ':') != NULL) {
			snprintf(drain.targets[drain.count++], sizeof(drain.targets[0]), "%s",
				 next);
			named = true;
			i++;
		} else {
			fprintf(stderr, "rxmppctl: %s: bad argument '%s'\n", argv[0], arg);
			drain_usage(stderr, undrain);
			return CTL_USAGE;
		}
	}
	if (!undrain) {
		struct proto_status status;
		if (drain_status(socket_path, &status) != CTL_OK)
			return CTL_FAILED;
		/* The leader check stands even when the targets are named. */
		struct proto_drain found = {0};
		int n = drain_targets_from_cluster(socket_path, status.client_port, named, &found);
		if (n == -1)
			return CTL_FAILED;
		if (!named) {
			memcpy(drain.targets, found.targets, sizeof(drain.targets));
			drain.count = found.count;
		}
		if (proto_drain_check(&drain) == -1) {
			fprintf(stderr, "rxmppctl: drain: an address given with --to has a "
					"character that is not allowed (space, quote, <, >, &)\n");
			return CTL_USAGE;
		}
	}
	int rc = rxmppctl_request_with(socket_path, PROTO_CTL_DRAIN, &drain, sizeof(drain), 5000,
				       drain_result_answer, NULL);
	if (rc != CTL_OK || undrain || !wait)
		return rc;
	return drain_wait(socket_path, timeout_s);
}
