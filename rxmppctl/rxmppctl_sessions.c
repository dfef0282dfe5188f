/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl sessions [--json] and rxmppctl kick JID: the node's client and
 * call-bridge sessions as its listener holds them, and ending them.  Both
 * go through rxmppd's control socket to the listener (CTL_SESSIONS,
 * CTL_KICK; listener/listener_admin.c).  `user del` and `user passwd` end
 * the account's sessions the same way (rxmppctl_end_sessions).
 */
#include <inttypes.h>
#include <stdio.h>
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
		printf(", \"since\": \"%s\", \"since_ms\": %" PRId64 ", \"idle_ms\": %" PRIu64 "}",
		       since, s->since_ms, s->idle_ms);
	} else {
		format_idle(s->idle_ms, idle, sizeof(idle));
		printf("%-40s %-10s %-24s %-8s %-20s %s\n", s->jid,
		       proto_session_kind_name(s->kind), s->address, s->tls[0] ? s->tls : "none",
		       since, idle);
	}
	p->printed++;
}

int rxmppctl_print_sessions(const struct ipc_msg *msg, bool json)
{
	struct proto_sessions head;
	if (proto_sessions_unpack(msg->data, msg->len, &head, NULL, NULL) == -1)
		return CTL_FAILED;
	struct sessions_print p = {.json = json};
	if (json) {
		printf("{\"total\": %u, \"shown\": %u, \"sessions\": [", head.total, head.count);
	} else if (head.total == 0) {
		printf("no sessions on this node\n");
		return CTL_OK;
	} else {
		printf("%-40s %-10s %-24s %-8s %-20s %s\n", "JID", "KIND", "ADDRESS", "TLS",
		       "SINCE", "IDLE");
	}
	proto_sessions_unpack(msg->data, msg->len, &head, print_one, &p);
	if (json) {
		printf("]}\n");
	} else {
		printf("%u session%s on this node", head.total, head.total == 1 ? "" : "s");
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
	return rxmppctl_request(socket_path, PROTO_CTL_SESSIONS, NULL, 0, PROTO_SESSIONS, json,
				5000);
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
	return rxmppctl_end_sessions(socket_path, argv[1], PROTO_ADMIN_KICK_ADMIN);
}
