/* SPDX-License-Identifier: MIT */
/*
 * The metric families, the METRICS decoder and the exposition writer
 * (metrics.h).  Used by every child (metrics_add), the supervisor (the
 * decoder and the writer) and the unit tests; no I/O here.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

static const char *const conn_states[METRICS_CONN_STATE_END] = {
    "tls_handshake", "stream_header",	 "auth",   "sasl",    "bind",
    "session",	     "bridge_handshake", "bridge", "closing",
};
static const char *const login_kinds[METRICS_LOGIN_KIND_END] = {"client", "bridge"};
static const char *const login_failures[METRICS_LOGIN_FAILURE_END] = {
    "not_authorized",
    "temporary_auth_failure",
    "invalid_mechanism",
    "malformed_request",
    "aborted",
    "encryption_required",
    "other",
    "bridge_wrong_secret",
    "bridge_unknown",
};
static const char *const limits[METRICS_LIMIT_END] = {
    "connection_rate_per_address", "max_unauthenticated_per_address",
    "max_connections_per_address", "max_sessions",
    "max_resources_per_user",	   "max_stanza_size",
    "max_queued_bytes_total",	   "auth_attempts",
};
static const char *const stanza_kinds[METRICS_STANZA_KIND_END] = {"message", "presence", "iq"};
static const char *const roles[METRICS_ROLE_END] = {"follower", "pre_candidate", "candidate",
						    "leader"};

#define ENUM_LABEL(name, table) name, table, sizeof(table) / sizeof(table[0]), false
#define NO_LABEL		NULL, NULL, 0, false
#define FREE_LABEL(name)	name, NULL, 0, false
#define MEMBER_LABEL(name)	name, NULL, 0, true

const struct metrics_def metrics_defs[METRICS_ID_END] = {
    [METRICS_CLIENT_SESSIONS] = {"rxmpp_client_sessions", METRICS_GAUGE, PROC_LISTENER, NO_LABEL,
				 false, "Bound client sessions on this node."},
    [METRICS_BRIDGE_SESSIONS] = {"rxmpp_bridge_sessions", METRICS_GAUGE, PROC_LISTENER, NO_LABEL,
				 false,
				 "Call bridges (XEP-0114 components) connected to this node."},
    [METRICS_CONNECTIONS] = {"rxmpp_connections", METRICS_GAUGE, PROC_LISTENER,
			     ENUM_LABEL("state", conn_states), false,
			     "Client and bridge connections by the state of their stream."},
    [METRICS_LOGINS] = {"rxmpp_logins_total", METRICS_COUNTER, PROC_LISTENER,
			ENUM_LABEL("kind", login_kinds), false,
			"Successful authentications: SASL for clients, the handshake for bridges."},
    [METRICS_LOGIN_FAILURES] = {"rxmpp_login_failures_total", METRICS_COUNTER, PROC_LISTENER,
				ENUM_LABEL("reason", login_failures), false,
				"Failed authentications by the condition the peer was sent."},
    [METRICS_TLS_HANDSHAKES] = {"rxmpp_tls_handshakes_total", METRICS_COUNTER, PROC_LISTENER,
				NO_LABEL, false,
				"TLS handshakes completed with clients and bridges."},
    [METRICS_TLS_FAILURES] =
	{"rxmpp_tls_failures_total", METRICS_COUNTER, PROC_LISTENER, NO_LABEL, false,
	 "TLS handshakes refused or timed out, and TLS sessions broken later."},
    [METRICS_LIMIT_REFUSALS] =
	{"rxmpp_limit_refusals_total", METRICS_COUNTER, PROC_LISTENER, ENUM_LABEL("limit", limits),
	 false, "Connections, sessions or stanzas refused because a limit was reached."},
    [METRICS_OUTPUT_QUEUED_BYTES] = {"rxmpp_output_queued_bytes", METRICS_GAUGE, PROC_LISTENER,
				     NO_LABEL, false,
				     "Output waiting to be sent to all connections of this node."},
    [METRICS_SM_WAITING] = {"rxmpp_sm_waiting_sessions", METRICS_GAUGE, PROC_LISTENER, NO_LABEL,
			    false,
			    "Client sessions whose connection was lost, waiting to be "
			    "resumed (XEP-0198)."},
    [METRICS_SM_UNACKED_BYTES] = {"rxmpp_sm_unacked_bytes", METRICS_GAUGE, PROC_LISTENER, NO_LABEL,
				  false,
				  "Stanzas sent to clients and kept until they acknowledge them "
				  "(XEP-0198), in bytes."},
    [METRICS_SM_RESUMPTIONS] = {"rxmpp_sm_resumptions_total", METRICS_COUNTER, PROC_LISTENER,
				NO_LABEL, false, "Client sessions resumed (XEP-0198)."},
    [METRICS_STANZAS_ROUTED] = {"rxmpp_stanzas_routed_total", METRICS_COUNTER, PROC_ROUTER,
				ENUM_LABEL("kind", stanza_kinds), false,
				"Stanzas the router handled itself (delivered or answered)."},
    [METRICS_STANZAS_BOUNCED] = {"rxmpp_stanzas_bounced_total", METRICS_COUNTER, PROC_ROUTER,
				 ENUM_LABEL("kind", stanza_kinds), false,
				 "Stanzas that could not be delivered (answered with an RFC 6120 "
				 "error where one is allowed)."},
    [METRICS_STANZAS_QUEUED] =
	{"rxmpp_stanzas_queued_total", METRICS_COUNTER, PROC_ROUTER,
	 ENUM_LABEL("kind", stanza_kinds), false,
	 "Stanzas handed to the cluster relay for another node or the leader."},
    [METRICS_RELAY_QUEUE_STANZAS] =
	{"rxmpp_relay_queue_stanzas", METRICS_GAUGE, PROC_ROUTER, NO_LABEL, false,
	 "Stanzas the cluster relay holds (waiting or unacknowledged)."},
    [METRICS_RELAY_QUEUE_OVERFLOWS] =
	{"rxmpp_relay_queue_overflows_total", METRICS_COUNTER, PROC_ROUTER, NO_LABEL, false,
	 "Stanzas bounced at once because the relay's queue was full."},
    [METRICS_CLUSTER_ROLE] = {"rxmpp_cluster_role", METRICS_GAUGE, PROC_ELECTOR,
			      ENUM_LABEL("role", roles), false,
			      "1 for this node's role in the cluster, 0 for the others."},
    [METRICS_CLUSTER_TERM] = {"rxmpp_cluster_term", METRICS_GAUGE, PROC_ELECTOR, NO_LABEL, false,
			      "The election term this node is in."},
    [METRICS_CLUSTER_LEADER] = {"rxmpp_cluster_leader_info", METRICS_GAUGE, PROC_ELECTOR,
				MEMBER_LABEL("leader"), false,
				"1, labelled with the node id of the leader this node knows."},
    [METRICS_CLUSTER_MEMBERS] = {"rxmpp_cluster_members", METRICS_GAUGE, PROC_ELECTOR, NO_LABEL,
				 false, "Members of the cluster, this node included."},
    [METRICS_ELECTIONS_STARTED] = {"rxmpp_cluster_elections_started_total", METRICS_COUNTER,
				   PROC_ELECTOR, NO_LABEL, false,
				   "Elections this node started (it became a candidate)."},
    [METRICS_ELECTIONS_WON] = {"rxmpp_cluster_elections_won_total", METRICS_COUNTER, PROC_ELECTOR,
			       NO_LABEL, false, "Elections this node won (it became the leader)."},
    [METRICS_HEARTBEAT_AGE] = {"rxmpp_cluster_heartbeat_age_seconds", METRICS_GAUGE, PROC_ELECTOR,
			       MEMBER_LABEL("member"), true,
			       "Since this node last heard from each other member."},
    [METRICS_PEER_LINK_UP] = {"rxmpp_cluster_peer_link_up", METRICS_GAUGE, PROC_ELECTOR,
			      MEMBER_LABEL("member"), false,
			      "1 while this node's cluster link to the member is up."},
    [METRICS_BUILD_INFO] = {"rxmpp_build_info", METRICS_GAUGE, PROC_SUPERVISOR,
			    FREE_LABEL("version"), false, "1, labelled with the running version."},
    [METRICS_CHILD_RESTARTS] = {"rxmpp_child_restarts_total", METRICS_COUNTER, PROC_SUPERVISOR,
				FREE_LABEL("process"), false,
				"Times the supervisor restarted each process."},
    [METRICS_CHILD_UP] = {"rxmpp_child_up", METRICS_GAUGE, PROC_SUPERVISOR, FREE_LABEL("process"),
			  false, "1 while the process is running and ready."},
    [METRICS_CERTIFICATE_EXPIRY] =
	{"rxmpp_certificate_expiry_seconds", METRICS_GAUGE,
	 PROC_SUPERVISOR, FREE_LABEL("certificate"), false,
	 "Until the first member of the certificate chain in use expires "
	 "(negative once past)."},
    [METRICS_PROCESS_CPU] = {"rxmpp_process_cpu_seconds_total", METRICS_COUNTER, PROC_SUPERVISOR,
			     FREE_LABEL("process"), true,
			     "CPU time (user and system) each process has used."},
    [METRICS_PROCESS_MEMORY] = {"rxmpp_process_resident_memory_bytes", METRICS_GAUGE,
				PROC_SUPERVISOR, FREE_LABEL("process"), false,
				"Resident memory of each process."},
};

int metrics_unpack(const void *data, size_t len, enum proc_role from, struct metrics_entry *out,
		   size_t *count)
{
	struct metrics_head head;
	if (len < sizeof(head))
		return -1;
	memcpy(&head, data, sizeof(head));
	if (head.reserved != 0 || head.count > METRICS_ENTRIES_MAX ||
	    len != sizeof(head) + (size_t)head.count * sizeof(struct metrics_entry))
		return -1;
	const char *at = (const char *)data + sizeof(head);
	for (uint32_t i = 0; i < head.count; i++) {
		struct metrics_entry e;
		memcpy(&e, at + (size_t)i * sizeof(e), sizeof(e));
		if (e.id >= METRICS_ID_END || e.reserved != 0)
			return -1;
		const struct metrics_def *d = &metrics_defs[e.id];
		if (d->source != from || from == PROC_SUPERVISOR)
			return -1;
		if (d->per_member ? e.member == 0 || e.label != 0
				  : e.member != 0 || e.label >= (d->values ? d->value_count : 1))
			return -1;
		for (uint32_t j = 0; j < i; j++) {
			if (out[j].id == e.id && out[j].label == e.label &&
			    out[j].member == e.member)
				return -1;
		}
		out[i] = e;
	}
	*count = head.count;
	return 0;
}

void metrics_add(struct metrics_set *set, enum metrics_id id, uint16_t label, uint64_t member,
		 uint64_t value)
{
	if (set->head.count == METRICS_ENTRIES_MAX) {
		/* Ours, not a peer's: a set grown past the bound is a bug to see. */
		static struct log_limit full;
		log_warnx_limited(&full, "metrics: more than %d figures; %s left out",
				  METRICS_ENTRIES_MAX, metrics_defs[id].name);
		return;
	}
	set->entries[set->head.count++] =
	    (struct metrics_entry){.id = id, .label = label, .member = member, .value = value};
}

static void put(struct buf *out, const char *text)
{
	buf_append(out, text, strlen(text));
}

void metrics_escape_label(struct buf *out, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\')
			put(out, "\\\\");
		else if (*p == '"')
			put(out, "\\\"");
		else if (*p == '\n')
			put(out, "\\n");
		else
			buf_append(out, p, 1);
	}
}

void metrics_write_family(struct buf *out, const struct metrics_def *def)
{
	put(out, "# HELP ");
	put(out, def->name);
	put(out, " ");
	/* The format escapes backslash and line feed in help texts. */
	for (const char *p = def->help; *p != '\0'; p++) {
		if (*p == '\\')
			put(out, "\\\\");
		else if (*p == '\n')
			put(out, "\\n");
		else
			buf_append(out, p, 1);
	}
	put(out, "\n# TYPE ");
	put(out, def->name);
	put(out, def->type == METRICS_COUNTER ? " counter\n" : " gauge\n");
}

void metrics_write_sample(struct buf *out, const struct metrics_def *def, const char *const *names,
			  const char *const *values, size_t labels, int64_t value)
{
	put(out, def->name);
	for (size_t i = 0; i < labels; i++) {
		put(out, i == 0 ? "{" : ",");
		put(out, names[i]);
		put(out, "=\"");
		metrics_escape_label(out, values[i]);
		put(out, "\"");
	}
	if (labels > 0)
		put(out, "}");
	char number[48];
	if (def->milli) {
		uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
		snprintf(number, sizeof(number), " %s%" PRIu64 ".%03" PRIu64 "\n",
			 value < 0 ? "-" : "", magnitude / 1000, magnitude % 1000);
	} else {
		snprintf(number, sizeof(number), " %" PRId64 "\n", value);
	}
	put(out, number);
}

void metrics_write_entry(struct buf *out, const struct metrics_entry *e)
{
	const struct metrics_def *d = &metrics_defs[e->id];
	char member[17];
	const char *value = NULL;
	if (d->per_member) {
		snprintf(member, sizeof(member), "%016" PRIx64, e->member);
		value = member;
	} else if (d->values != NULL) {
		value = d->values[e->label];
	}
	/* Figures above INT64_MAX do not occur (counters of one process). */
	metrics_write_sample(out, d, &d->label, &value, value != NULL, (int64_t)e->value);
}
