/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl sessions [--json] and rxmppctl kick JID: the node's client and
 * call-bridge sessions as its listener holds them (CTL_SESSIONS, CTL_KICK;
 * listener/listener_admin.c), and in a cluster the other nodes' as the
 * leader's routing table holds them, by JID and node (CTL_CLUSTER_SESSIONS,
 * CTL_CLUSTER_KICK; router/router_admin.c).  `user del` and `user passwd`
 * end the account's sessions on this node (rxmppctl_end_sessions), and in
 * a cluster that holds its state, where the account changed everywhere, on
 * the other nodes too (rxmppctl_end_sessions_elsewhere, as `kick` does).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ipc.h"
#include "common/jid.h"
#include "common/jidprep.h"
#include "common/proto.h"
#include "rxmppctl.h"

static void sessions_usage(FILE *out)
{
	fprintf(out, "usage: rxmppctl sessions [--json]\n"
		     "The client sessions and call bridges connected to this node: JID, kind,\n"
		     "address, TLS version, since when (UTC) and how long idle.\n");
}

static void kick_usage(FILE *out)
{
	fprintf(out, "usage: rxmppctl kick JID\n"
		     "Ends sessions on this node with the stream error <policy-violation/>\n"
		     "(\"kicked by the administrator\"): a full JID (user@domain/resource) that\n"
		     "session, a bare JID (user@domain) every session of that user, a call\n"
		     "bridge's address (name.domain) its connection.  Exit status 1 when no\n"
		     "session matched.  The account stays: the client may log in again.\n");
}

static void format_utc(int64_t ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "?");
}

static void format_idle(uint64_t ms, char *out, size_t size)
{
	uint64_t s = ms / 1000;
	if (s >= 3600)
		snprintf(out, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(out, size, "%" PRIu64 "s", s);
}

struct sessions_print {
	bool json;
	unsigned printed;
	uint64_t node; /* this node's id in a cluster; 0 without one */
};

static void print_one(const struct proto_session_view *s, void *arg)
{
	struct sessions_print *p = arg;
	char since[32], idle[32];
	format_utc(s->since_ms, since, sizeof(since));
	if (p->json) {
		printf("%s{\"jid\": ", p->printed ? ", " : "");
		rxmppctl_print_json_string(s->jid);
		printf(", \"kind\": \"%s\", \"address\": ", proto_session_kind_name(s->kind));
		rxmppctl_print_json_string(s->address);
		printf(", \"tls\": ");
		if (s->tls[0] != '\0')
			rxmppctl_print_json_string(s->tls);
		else
			printf("null");
		printf(", \"since\": \"%s\", \"since_ms\": %" PRId64 ", \"idle_ms\": %" PRIu64
		       ", \"node\": ",
		       since, s->since_ms, s->idle_ms);
		if (p->node != 0)
			printf("\"%016" PRIx64 "\"}", p->node);
		else
			printf("null}");
	} else {
		format_idle(s->idle_ms, idle, sizeof(idle));
		printf("%-40s %-10s %-24s %-8s %-20s %s\n", s->jid,
		       proto_session_kind_name(s->kind), s->address, s->tls[0] ? s->tls : "none",
		       since, idle);
	}
	p->printed++;
}

/* An answer kept for printing once both have come. */
struct captured {
	uint16_t type;
	char *data;
	size_t len;
};

static int capture(const struct ipc_msg *msg, void *arg)
{
	struct captured *c = arg;
	c->type = msg->type;
	c->len = msg->len;
	c->data = malloc(msg->len + 1);
	if (c->data == NULL)
		return CTL_FAILED;
	memcpy(c->data, msg->data, msg->len);
	c->data[msg->len] = '\0';
	return CTL_OK;
}

/* The text of a CTL_RESULT (a process away, or a kick's answer); NULL when
 * malformed.  Points into `c`. */
static const char *result_text(struct captured *c, bool *ok)
{
	struct proto_result result;
	if (c->type != PROTO_CTL_RESULT || c->len < sizeof(result))
		return NULL;
	memcpy(&result, c->data, sizeof(result));
	if (result.message_len != c->len - sizeof(result))
		return NULL;
	*ok = result.ok != 0;
	return c->data + sizeof(result);
}

static const char *const cluster_states[PROTO_CLUSTER_SESSIONS_STATE_END] = {
    [PROTO_CLUSTER_SESSIONS_OFF] = "off",
    [PROTO_CLUSTER_SESSIONS_OK] = "ok",
    [PROTO_CLUSTER_SESSIONS_NO_LEADER] = "no-leader",
    [PROTO_CLUSTER_SESSIONS_NO_ANSWER] = "no-answer",
};

static void print_remote(const struct proto_remote_session_view *s, void *arg)
{
	struct sessions_print *p = arg;
	if (p->json) {
		printf("%s{\"jid\": ", p->printed ? ", " : "");
		rxmppctl_print_json_string(s->jid);
		printf(", \"kind\": \"%s\", \"node\": \"%016" PRIx64 "\"}",
		       proto_session_kind_name(s->kind), s->node);
	} else {
		printf("%-40s %-10s %016" PRIx64 "\n", s->jid, proto_session_kind_name(s->kind),
		       s->node);
	}
	p->printed++;
}

/* The other nodes' part; `c` is a CLUSTER_SESSIONS answer or the
 * supervisor's word that the router is away. */
static int print_cluster(struct captured *c, bool json)
{
	struct proto_cluster_sessions head;
	bool ok;
	const char *away = result_text(c, &ok);
	if (c->type != PROTO_CLUSTER_SESSIONS ||
	    proto_cluster_sessions_unpack(c->data, c->len, &head, NULL, NULL) == -1) {
		if (away == NULL)
			fprintf(stderr, "rxmppctl: malformed answer from rxmppd\n");
		if (json)
			printf(", \"cluster\": null}\n");
		else if (away != NULL)
			printf("\nsessions on the other nodes: unknown (%s)\n", away);
		return away != NULL ? CTL_OK : CTL_FAILED;
	}
	struct sessions_print p = {.json = json};
	if (json) {
		if (head.state == PROTO_CLUSTER_SESSIONS_OFF) {
			printf(", \"cluster\": null}\n");
			return CTL_OK;
		}
		printf(", \"cluster\": {\"state\": \"%s\", \"node\": \"%016" PRIx64
		       "\", \"leader\": ",
		       cluster_states[head.state], head.self);
		if (head.leader != 0)
			printf("\"%016" PRIx64 "\"", head.leader);
		else
			printf("null");
		printf(", \"total\": %u, \"shown\": %u, \"sessions\": [", head.total, head.count);
		proto_cluster_sessions_unpack(c->data, c->len, &head, print_remote, &p);
		printf("]}}\n");
		return CTL_OK;
	}
	switch (head.state) {
	case PROTO_CLUSTER_SESSIONS_OFF:
		return CTL_OK;
	case PROTO_CLUSTER_SESSIONS_NO_LEADER:
		printf(
		    "\nsessions on the other nodes: unknown (no leader, or no link to it, now)\n");
		return CTL_OK;
	case PROTO_CLUSTER_SESSIONS_NO_ANSWER:
		printf(
		    "\nsessions on the other nodes: unknown (the leader did not answer in time)\n");
		return CTL_OK;
	}
	printf("\non the other nodes, as the leader (node %016" PRIx64
	       ") knows them (address, TLS and times: rxmppctl sessions on that node):\n",
	       head.leader);
	if (head.total > 0)
		printf("%-40s %-10s %s\n", "JID", "KIND", "NODE");
	proto_cluster_sessions_unpack(c->data, c->len, &head, print_remote, &p);
	printf("%u session%s on the other nodes", head.total, head.total == 1 ? "" : "s");
	if (head.count < head.total)
		printf("; %u not shown (one answer holds at most %u KiB)", head.total - head.count,
		       PROTO_SESSIONS_BYTES_MAX / 1024);
	printf("\n");
	return CTL_OK;
}

/* This node's id, when the cluster's answer has it. */
static uint64_t cluster_self(struct captured *c)
{
	struct proto_cluster_sessions head;
	if (c->type != PROTO_CLUSTER_SESSIONS ||
	    proto_cluster_sessions_unpack(c->data, c->len, &head, NULL, NULL) == -1 ||
	    head.state == PROTO_CLUSTER_SESSIONS_OFF)
		return 0;
	return head.self;
}

static int print_local(struct captured *c, bool json, uint64_t node)
{
	struct proto_sessions head;
	bool ok;
	if (c->type != PROTO_SESSIONS ||
	    proto_sessions_unpack(c->data, c->len, &head, NULL, NULL) == -1) {
		const char *text = result_text(c, &ok);
		fprintf(stderr, "rxmppctl: %s\n",
			text != NULL ? text : "malformed answer from rxmppd");
		return CTL_FAILED;
	}
	struct sessions_print p = {.json = json, .node = node};
	char which[40] = "";
	if (node != 0)
		snprintf(which, sizeof(which), " (node %016" PRIx64 ")", node);
	if (json) {
		printf("{\"total\": %u, \"shown\": %u, \"sessions\": [", head.total, head.count);
	} else if (head.total == 0) {
		printf("no sessions on this node%s\n", which);
		return CTL_OK;
	} else {
		printf("%-40s %-10s %-24s %-8s %-20s %s\n", "JID", "KIND", "ADDRESS", "TLS",
		       "SINCE", "IDLE");
	}
	proto_sessions_unpack(c->data, c->len, &head, print_one, &p);
	if (json) {
		printf("]");
	} else {
		printf("%u session%s on this node%s", head.total, head.total == 1 ? "" : "s",
		       which);
		if (head.count < head.total)
			printf("; %u not shown (one answer holds at most %u KiB)",
			       head.total - head.count, PROTO_SESSIONS_BYTES_MAX / 1024);
		printf("\n");
	}
	return CTL_OK;
}

int rxmppctl_sessions(int argc, char **argv, const char *socket_path, bool json)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		sessions_usage(stdout);
		return CTL_OK;
	}
	if (argc != 1) {
		sessions_usage(stderr);
		return CTL_USAGE;
	}
	struct captured local = {0}, cluster = {0};
	int rc =
	    rxmppctl_request_with(socket_path, PROTO_CTL_SESSIONS, NULL, 0, 5000, capture, &local);
	/* Both answers first: the local sessions are listed with this node's
	 * id, which the cluster's answer brings.  The leader answers within
	 * 2 s, or the router says it did not. */
	bool cluster_answered =
	    rc == CTL_OK && rxmppctl_request_with(socket_path, PROTO_CTL_CLUSTER_SESSIONS, NULL, 0,
						  5000, capture, &cluster) == CTL_OK;
	if (rc == CTL_OK)
		rc = print_local(&local, json, cluster_answered ? cluster_self(&cluster) : 0);
	if (rc == CTL_OK && cluster_answered)
		rc = print_cluster(&cluster, json);
	else if (rc == CTL_OK && json)
		printf(", \"cluster\": null}\n");
	free(local.data);
	free(cluster.data);
	return rc;
}

int rxmppctl_end_sessions(const char *socket_path, const char *jid, uint32_t reason)
{
	static struct proto_admin_kick kick;
	memset(&kick, 0, sizeof(kick));
	kick.reason = reason;
	char why[JIDPREP_WHY_MAX];
	if (jidprep_jid(jid, strlen(jid), kick.jid, sizeof(kick.jid), why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: '%s' is not a valid JID (%s)\n", jid, why);
		return CTL_FAILED;
	}
	return rxmppctl_request(socket_path, PROTO_CTL_KICK, &kick, sizeof(kick), PROTO_CTL_RESULT,
				false, 5000);
}

/* Asks the leader to end `kick`'s sessions on the other nodes and prints
 * what it said; whether any was ended. */
static bool kick_elsewhere(const char *socket_path, const struct proto_admin_kick *kick)
{
	struct captured cluster = {0};
	bool ended = false;
	struct proto_cluster_sessions head;
	if (rxmppctl_request_with(socket_path, PROTO_CTL_CLUSTER_KICK, kick, sizeof(*kick), 5000,
				  capture, &cluster) == CTL_OK) {
		bool ok;
		const char *away = result_text(&cluster, &ok);
		if (cluster.type == PROTO_CLUSTER_SESSIONS &&
		    proto_cluster_sessions_unpack(cluster.data, cluster.len, &head, NULL, NULL) ==
			0) {
			if (head.state == PROTO_CLUSTER_SESSIONS_OK && head.total > 0)
				printf("told the other nodes to end %u session%s of %s\n",
				       head.total, head.total == 1 ? "" : "s", kick->jid);
			else if (head.state == PROTO_CLUSTER_SESSIONS_OK)
				printf("no session of %s on the other nodes\n", kick->jid);
			else if (head.state == PROTO_CLUSTER_SESSIONS_NO_LEADER)
				printf("the other nodes were not asked: no leader, or no link to "
				       "it, now\n");
			else if (head.state == PROTO_CLUSTER_SESSIONS_NO_ANSWER)
				printf("the other nodes may not have been asked: the leader did "
				       "not answer in time\n");
			ended = head.state == PROTO_CLUSTER_SESSIONS_OK && head.total > 0;
		} else {
			printf("the other nodes were not asked: %s\n",
			       away != NULL ? away : "malformed answer from rxmppd");
		}
	}
	free(cluster.data);
	return ended;
}

int rxmppctl_end_sessions_elsewhere(const char *socket_path, const char *jid)
{
	static struct proto_admin_kick kick;
	memset(&kick, 0, sizeof(kick));
	kick.reason = PROTO_ADMIN_KICK_ADMIN;
	char why[JIDPREP_WHY_MAX];
	if (jidprep_jid(jid, strlen(jid), kick.jid, sizeof(kick.jid), why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: '%s' is not a valid JID (%s)\n", jid, why);
		return CTL_FAILED;
	}
	kick_elsewhere(socket_path, &kick);
	return CTL_OK;
}

int rxmppctl_kick(int argc, char **argv, const char *socket_path)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		kick_usage(stdout);
		return CTL_OK;
	}
	if (argc != 2) {
		kick_usage(stderr);
		return CTL_USAGE;
	}
	static struct proto_admin_kick kick;
	kick.reason = PROTO_ADMIN_KICK_ADMIN;
	char why[JIDPREP_WHY_MAX];
	if (jidprep_jid(argv[1], strlen(argv[1]), kick.jid, sizeof(kick.jid), why, sizeof(why)) ==
	    -1) {
		fprintf(stderr, "rxmppctl: '%s' is not a valid JID (%s)\n", argv[1], why);
		return CTL_FAILED;
	}
	struct captured local = {0};
	bool local_ok = false, ended = false;
	int rc = rxmppctl_request_with(socket_path, PROTO_CTL_KICK, &kick, sizeof(kick), 5000,
				       capture, &local);
	const char *text = rc == CTL_OK ? result_text(&local, &local_ok) : NULL;
	if (rc == CTL_OK && text == NULL)
		fprintf(stderr, "rxmppctl: malformed answer from rxmppd\n");
	else if (text != NULL)
		printf("%s\n", text);
	ended = text != NULL && local_ok;
	if (rc == CTL_OK)
		ended |= kick_elsewhere(socket_path, &kick);
	free(local.data);
	if (rc == CTL_OK && !ended)
		fprintf(stderr, "rxmppctl: no session of %s ended\n", kick.jid);
	return rc == CTL_OK && ended ? CTL_OK : CTL_FAILED;
}
