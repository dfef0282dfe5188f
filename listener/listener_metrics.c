/* SPDX-License-Identifier: MIT */
/*
 * The listener's figures for the supervisor's metrics (common/metrics.h):
 * sessions, connections by state (counted by a walk once a second, which
 * costs less than keeping counts right through every state change), and
 * the counters the rest of the listener bumps in listener_state.counters.
 */
#include <string.h>

#include "common/table.h"
#include "listener.h"

void listener_metrics_login_failed(const char *condition)
{
	static const struct {
		const char *condition;
		enum metrics_login_failure reason;
	} known[] = {
	    {"not-authorized", METRICS_LOGIN_NOT_AUTHORIZED},
	    {"temporary-auth-failure", METRICS_LOGIN_TEMPORARY_AUTH_FAILURE},
	    {"invalid-mechanism", METRICS_LOGIN_INVALID_MECHANISM},
	    {"malformed-request", METRICS_LOGIN_MALFORMED_REQUEST},
	    {"aborted", METRICS_LOGIN_ABORTED},
	    {"encryption-required", METRICS_LOGIN_ENCRYPTION_REQUIRED},
	};
	enum metrics_login_failure reason = METRICS_LOGIN_OTHER;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(known[i].condition, condition) == 0)
			reason = known[i].reason;
	}
	listener_state.counters.login_failures[reason]++;
}

static enum metrics_conn_state conn_state_label(enum conn_state state)
{
	switch (state) {
	case CONN_TLS_HANDSHAKE:
		return METRICS_CONN_TLS_HANDSHAKE;
	case CONN_STREAM_HEADER:
		return METRICS_CONN_STREAM_HEADER;
	case CONN_AUTH:
		return METRICS_CONN_AUTH;
	case CONN_SASL:
		return METRICS_CONN_SASL;
	case CONN_BIND:
		return METRICS_CONN_BIND;
	case CONN_SESSION:
		return METRICS_CONN_SESSION;
	case CONN_HANDSHAKE:
		return METRICS_CONN_BRIDGE_HANDSHAKE;
	case CONN_COMPONENT:
		return METRICS_CONN_BRIDGE;
	case CONN_CLOSING:
		break;
	}
	return METRICS_CONN_CLOSING;
}

void listener_metrics(struct metrics_set *set)
{
	const struct listener_counters *n = &listener_state.counters;
	uint64_t states[METRICS_CONN_STATE_END] = {0};
	for (const struct conn *c = listener_state.conns; c != NULL; c = c->next)
		states[conn_state_label(c->state)]++;

	metrics_add(set, METRICS_CLIENT_SESSIONS, 0, 0, listener_state.index.clients);
	metrics_add(set, METRICS_BRIDGE_SESSIONS, 0, 0, listener_state.index.components);
	for (uint16_t i = 0; i < METRICS_CONN_STATE_END; i++)
		metrics_add(set, METRICS_CONNECTIONS, i, 0, states[i]);
	for (uint16_t i = 0; i < METRICS_LOGIN_KIND_END; i++)
		metrics_add(set, METRICS_LOGINS, i, 0, n->logins[i]);
	for (uint16_t i = 0; i < METRICS_LOGIN_FAILURE_END; i++)
		metrics_add(set, METRICS_LOGIN_FAILURES, i, 0, n->login_failures[i]);
	metrics_add(set, METRICS_TLS_HANDSHAKES, 0, 0, n->tls_handshakes);
	metrics_add(set, METRICS_TLS_FAILURES, 0, 0, n->tls_failures);
	for (uint16_t i = 0; i < METRICS_LIMIT_END; i++)
		metrics_add(set, METRICS_LIMIT_REFUSALS, i, 0, n->limit_refusals[i]);
	metrics_add(set, METRICS_OUTPUT_QUEUED_BYTES, 0, 0, listener_state.queued_total);
	metrics_add(set, METRICS_SM_WAITING, 0, 0,
		    listener_state.sm_detached != NULL ? table_count(listener_state.sm_detached)
						       : 0);
	metrics_add(set, METRICS_SM_UNACKED_BYTES, 0, 0, n->sm_unacked_bytes);
	metrics_add(set, METRICS_SM_RESUMPTIONS, 0, 0, n->sm_resumptions);
}
