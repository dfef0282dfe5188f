/* SPDX-License-Identifier: MIT */
/*
 * What an administrator asks of the listener through rxmppctl, relayed by
 * the supervisor (header peer: the supervisor's token for its client, put
 * back on the answer):
 *
 *   CTL_SESSIONS  -> SESSIONS: the bound client sessions and connected call
 *                    bridges, with address, TLS version, start and idleness;
 *                    one answer of at most PROTO_SESSIONS_BYTES_MAX, which
 *                    says how many there are when not all fit.
 *   CTL_KICK      -> CTL_RESULT: ends the sessions of a JID with the stream
 *                    error its reason calls for (RFC 6120 4.9.3.14,
 *                    4.9.3.12, 4.9.3.16):
 *                    rxmppctl kick <policy-violation/>, user del
 *                    <not-authorized/>, user passwd <reset/>.
 *
 * A full JID names one session; a bare JID every session of that account;
 * a call bridge's address its connection.  A malformed request cuts the
 * channel off (the supervisor checked it already: it is not ours to fix).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/child.h"
#include "common/log.h"
#include "listener.h"

static bool admin_is_session(const struct conn *c)
{
	return (c->state == CONN_SESSION || c->state == CONN_COMPONENT) && c->jid != NULL;
}

static void admin_sessions(uint64_t token)
{
	struct proto_sessions head = {0};
	struct buf out;
	buf_init(&out, PROTO_SESSIONS_BYTES_MAX - sizeof(head));
	int64_t now = ev_now(listener_state.loop);
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	int64_t wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
	for (const struct conn *c = listener_state.conns; c != NULL; c = c->next) {
		if (!admin_is_session(c))
			continue;
		head.total++;
		struct proto_session_entry entry = {
		    .kind = c->kind == PROTO_SOCKET_COMPONENT ? PROTO_SESSION_COMPONENT
							      : PROTO_SESSION_CLIENT,
		    .jid_len = (uint32_t)strlen(c->jid),
		    .since_ms = wall_ms - (now - c->session_at),
		    .idle_ms = (uint64_t)(now - c->last_in),
		};
		snprintf(entry.address, sizeof(entry.address), "%s", c->peer);
		if (c->stream.tls_active)
			snprintf(entry.tls, sizeof(entry.tls), "%s", listener_conn_tls_version(c));
		if (sizeof(head) + buf_len(&out) + sizeof(entry) + entry.jid_len >
		    PROTO_SESSIONS_BYTES_MAX)
			continue; /* counted in total, not listed */
		if (buf_append(&out, &entry, sizeof(entry)) == -1 ||
		    buf_append(&out, c->jid, entry.jid_len) == -1)
			break;
		head.count++;
	}
	struct iovec iov[2] = {
	    {.iov_base = &head, .iov_len = sizeof(head)},
	    {.iov_base = (void *)buf_head(&out), .iov_len = buf_len(&out)},
	};
	if (child_send_supervisor_v(PROTO_SESSIONS, token, iov, 2) == -1)
		log_warn("cannot answer a session list");
	buf_free(&out);
}

/* The session `c` is one that `jid` names. */
static bool admin_kick_matches(const struct conn *c, const char *jid)
{
	if (strcmp(c->jid, jid) == 0)
		return true;
	if (strchr(jid, '/') != NULL)
		return false;
	char bare[JID_MAX];
	jid_bare(c->jid, bare, sizeof(bare));
	return strcmp(bare, jid) == 0;
}

static void admin_result(uint64_t token, bool ok, const char *text)
{
	struct proto_result result = {.ok = ok, .message_len = (uint32_t)strlen(text)};
	struct iovec iov[2] = {
	    {.iov_base = &result, .iov_len = sizeof(result)},
	    {.iov_base = (void *)text, .iov_len = result.message_len},
	};
	if (child_send_supervisor_v(PROTO_CTL_RESULT, token, iov, 2) == -1)
		log_warn("cannot answer a kick");
}

static void admin_kick(uint64_t token, const struct proto_admin_kick *kick)
{
	static const struct {
		const char *condition;
		const char *text;
		const char *why; /* for the log */
	} reasons[PROTO_ADMIN_KICK_END] = {
	    [PROTO_ADMIN_KICK_ADMIN] = {"policy-violation", "kicked by the administrator",
					"rxmppctl kick"},
	    [PROTO_ADMIN_KICK_DELETED] = {"not-authorized", "the account was deleted",
					  "rxmppctl user del"},
	    [PROTO_ADMIN_KICK_PASSWORD] = {"reset", "the password was changed",
					   "rxmppctl user passwd"},
	};
	unsigned ended = 0;
	/* A stream error leaves the connection in the list (closing) until its
	 * last bytes are out, so the walk goes on safely past it. */
	for (struct conn *c = listener_state.conns; c != NULL; c = c->next) {
		if (!admin_is_session(c) || !admin_kick_matches(c, kick->jid))
			continue;
		log_info("%s: ending session %s (%s)", c->peer, c->jid, reasons[kick->reason].why);
		listener_conn_stream_error(c, reasons[kick->reason].condition,
					   reasons[kick->reason].text);
		ended++;
	}
	char text[JID_MAX + 128];
	if (ended == 0)
		snprintf(text, sizeof(text), "no session of %s on this node", kick->jid);
	else
		snprintf(text, sizeof(text), "ended %u session%s of %s on this node with <%s/>",
			 ended, ended == 1 ? "" : "s", kick->jid, reasons[kick->reason].condition);
	/* A kick that finds nobody failed; an account deleted or changed while
	 * nobody was logged in is the usual case. */
	admin_result(token, ended > 0 || kick->reason != PROTO_ADMIN_KICK_ADMIN, text);
}

bool listener_admin_message(const struct ipc_msg *msg)
{
	if (msg->fd != -1)
		return false;
	if (msg->type == PROTO_CTL_SESSIONS) {
		if (msg->len != 0)
			return false;
		admin_sessions(msg->peer);
		return true;
	}
	if (msg->type == PROTO_CTL_KICK) {
		static struct proto_admin_kick kick;
		if (ipc_get_data(msg, &kick, sizeof(kick)) == -1 ||
		    proto_admin_kick_check(&kick) == -1)
			return false;
		admin_kick(msg->peer, &kick);
		return true;
	}
	return false;
}
