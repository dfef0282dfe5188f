/* SPDX-License-Identifier: MIT */
/* Names of the IPC messages and child states, for log lines and rxmppctl,
 * stanza types, and the unpacking of routing headers. */
#include "proto.h"

#include <string.h>

#include "jid.h"

static const char *const proto_type_names[PROTO_TYPE_END] = {
    [PROTO_HELLO] = "HELLO",
    [PROTO_CONFIG] = "CONFIG",
    [PROTO_LISTEN_SOCKET] = "LISTEN_SOCKET",
    [PROTO_CONFIG_END] = "CONFIG_END",
    [PROTO_READY] = "READY",
    [PROTO_PEER_CHANNEL] = "PEER_CHANNEL",
    [PROTO_PEER_HELLO] = "PEER_HELLO",
    [PROTO_CTL_STATUS] = "CTL_STATUS",
    [PROTO_CTL_STATUS_REPLY] = "CTL_STATUS_REPLY",
    [PROTO_CTL_RELOAD] = "CTL_RELOAD",
    [PROTO_CTL_RESULT] = "CTL_RESULT",
    [PROTO_CALLBRIDGE] = "CALLBRIDGE",
    [PROTO_SESSION_UP] = "SESSION_UP",
    [PROTO_SESSION_DOWN] = "SESSION_DOWN",
    [PROTO_SESSION_PRESENCE] = "SESSION_PRESENCE",
    [PROTO_STANZA] = "STANZA",
    [PROTO_DELIVER] = "DELIVER",
    [PROTO_SESSION_KICK] = "SESSION_KICK",
    [PROTO_CLUSTER_SOCKET] = "CLUSTER_SOCKET",
    [PROTO_CLUSTER_REQUEST] = "CLUSTER_REQUEST",
    [PROTO_CLUSTER_STATUS] = "CLUSTER_STATUS",
    [PROTO_CLUSTER_RESULT] = "CLUSTER_RESULT",
    [PROTO_LEADER] = "LEADER",
    [PROTO_STATS] = "STATS",
    [PROTO_TLS_SET] = "TLS_SET",
    [PROTO_CERT_STATE] = "CERT_STATE",
    [PROTO_LISTEN_CLOSE] = "LISTEN_CLOSE",
    [PROTO_PEER_STATE] = "PEER_STATE",
    [PROTO_MEMBERS] = "MEMBERS",
    [PROTO_CLUSTER_PROGRESS] = "CLUSTER_PROGRESS",
    [PROTO_CTL_SESSIONS] = "CTL_SESSIONS",
    [PROTO_SESSIONS] = "SESSIONS",
    [PROTO_CTL_KICK] = "CTL_KICK",
    [PROTO_CTL_CLUSTER_SESSIONS] = "CTL_CLUSTER_SESSIONS",
    [PROTO_CTL_CLUSTER_KICK] = "CTL_CLUSTER_KICK",
    [PROTO_CLUSTER_SESSIONS] = "CLUSTER_SESSIONS",
    [PROTO_ROUTED] = "ROUTED",
    [PROTO_CTL_DRAIN] = "CTL_DRAIN",
    [PROTO_METRICS] = "METRICS",
    [PROTO_CTL_STATS] = "CTL_STATS",
    [PROTO_CTL_STATS_REPLY] = "CTL_STATS_REPLY",
    [PROTO_PROPOSE] = "PROPOSE",
    [PROTO_PROPOSE_RESULT] = "PROPOSE_RESULT",
    [PROTO_CLUSTER_APPLIED] = "CLUSTER_APPLIED",
    [PROTO_SM_OPEN] = "SM_OPEN",
    [PROTO_SM_STANZA] = "SM_STANZA",
    [PROTO_SM_ACKED] = "SM_ACKED",
    [PROTO_SM_HANDLED] = "SM_HANDLED",
    [PROTO_SM_STANZA_IN] = "SM_STANZA_IN",
    [PROTO_SM_KEPT] = "SM_KEPT",
    [PROTO_SM_REKEEP] = "SM_REKEEP",
    [PROTO_SM_RESUME] = "SM_RESUME",
    [PROTO_SM_RESUMED] = "SM_RESUMED",
    [PROTO_SM_ITEM] = "SM_ITEM",
    [PROTO_SM_RETURN] = "SM_RETURN",
    [PROTO_USERDATA_GET] = "USERDATA_GET",
    [PROTO_USERDATA_ANSWER] = "USERDATA_ANSWER",
    [PROTO_IM_STANZA] = "IM_STANZA",
    [PROTO_IM_OUT] = "IM_OUT",
    [PROTO_SM_GIVE_UP] = "SM_GIVE_UP",
    [PROTO_SM_GIVEN] = "SM_GIVEN",
};

const char *proto_type_name(uint16_t type)
{
	if (type < PROTO_TYPE_END && proto_type_names[type] != 0)
		return proto_type_names[type];
	return "UNKNOWN";
}

static const char *const proto_child_state_names[] = {
    [PROTO_CHILD_STARTING] = "starting",     [PROTO_CHILD_READY] = "ready",
    [PROTO_CHILD_BACKOFF] = "backoff",	     [PROTO_CHILD_THROTTLED] = "throttled",
    [PROTO_CHILD_FAILED] = "failed",	     [PROTO_CHILD_STOPPED] = "stopped",
    [PROTO_CHILD_NO_STORAGE] = "no-storage",
};

const char *proto_child_state_name(uint32_t state)
{
	if (state < sizeof(proto_child_state_names) / sizeof(proto_child_state_names[0]))
		return proto_child_state_names[state];
	return "unknown";
}

static const char *const proto_socket_kind_names[] = {
    [PROTO_SOCKET_CLIENT] = "client",	    [PROTO_SOCKET_CLIENT_TLS] = "client-tls",
    [PROTO_SOCKET_COMPONENT] = "component", [PROTO_SOCKET_CLUSTER] = "cluster",
    [PROTO_SOCKET_STANZAS] = "stanzas",
};

const char *proto_socket_kind_name(uint32_t kind)
{
	if (kind < sizeof(proto_socket_kind_names) / sizeof(proto_socket_kind_names[0]))
		return proto_socket_kind_names[kind];
	return "unknown";
}

static int proto_take(const char **p, size_t *left, size_t n, char *out, size_t size)
{
	if (n > *left || n >= size)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	/* A NUL inside would cut the string short where the sender did not. */
	if (memchr(out, '\0', n) != NULL)
		return -1;
	*p += n;
	*left -= n;
	return 0;
}

static const char *const proto_stanza_type_names[PROTO_STANZA_TYPE_END] = {
    [PROTO_STANZA_TYPE_NORMAL] = "normal",
    [PROTO_STANZA_TYPE_CHAT] = "chat",
    [PROTO_STANZA_TYPE_GROUPCHAT] = "groupchat",
    [PROTO_STANZA_TYPE_HEADLINE] = "headline",
    [PROTO_STANZA_TYPE_GET] = "get",
    [PROTO_STANZA_TYPE_SET] = "set",
    [PROTO_STANZA_TYPE_RESULT] = "result",
    [PROTO_STANZA_TYPE_UNAVAILABLE] = "unavailable",
    [PROTO_STANZA_TYPE_SUBSCRIBE] = "subscribe",
    [PROTO_STANZA_TYPE_SUBSCRIBED] = "subscribed",
    [PROTO_STANZA_TYPE_UNSUBSCRIBE] = "unsubscribe",
    [PROTO_STANZA_TYPE_UNSUBSCRIBED] = "unsubscribed",
    [PROTO_STANZA_TYPE_PROBE] = "probe",
    [PROTO_STANZA_TYPE_ERROR] = "error",
};

uint16_t proto_stanza_type_from_name(const char *name)
{
	if (name == NULL)
		return PROTO_STANZA_TYPE_NONE;
	for (uint16_t t = PROTO_STANZA_TYPE_NORMAL; t < PROTO_STANZA_TYPE_END; t++) {
		if (strcmp(name, proto_stanza_type_names[t]) == 0)
			return t;
	}
	return PROTO_STANZA_TYPE_OTHER;
}

int proto_route_unpack(const void *data, size_t len, struct proto_route_view *out)
{
	struct proto_route route;
	if (len < sizeof(route))
		return -1;
	memcpy(&route, data, sizeof(route));
	const char *p = (const char *)data + sizeof(route);
	size_t left = len - sizeof(route);
	out->kind = route.kind;
	out->type = route.type;
	if (route.kind > PROTO_STANZA_IQ || route.type >= PROTO_STANZA_TYPE_END ||
	    proto_take(&p, &left, route.id_len, out->id, sizeof(out->id)) == -1 ||
	    proto_take(&p, &left, route.from_len, out->from, sizeof(out->from)) == -1 ||
	    proto_take(&p, &left, route.to_len, out->to, sizeof(out->to)) == -1 ||
	    proto_take(&p, &left, route.payload_ns_len, out->payload_ns, sizeof(out->payload_ns)) ==
		-1 ||
	    proto_take(&p, &left, route.payload_name_len, out->payload_name,
		       sizeof(out->payload_name)) == -1 ||
	    route.stanza_len != left || left == 0)
		return -1;
	out->stanza = p;
	out->stanza_len = left;
	return 0;
}

const char *proto_session_kind_name(uint32_t kind)
{
	return kind == PROTO_SESSION_CLIENT	 ? "client"
	       : kind == PROTO_SESSION_COMPONENT ? "callbridge"
						 : "unknown";
}

/* A fixed-size string field holds its NUL and nothing unprintable before it. */
static bool proto_field_ok(const char *field, size_t size)
{
	const char *end = memchr(field, '\0', size);
	if (end == NULL)
		return false;
	for (const char *p = field; p < end; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

/* A JID on the wire: 1 to JID_MAX - 1 bytes, no NUL or control character. */
static bool proto_jid_bytes_ok(const char *bytes, uint32_t len)
{
	if (len == 0 || len >= JID_MAX)
		return false;
	for (uint32_t j = 0; j < len; j++) {
		unsigned char c = (unsigned char)bytes[j];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

int proto_sessions_unpack(const void *data, size_t len, struct proto_sessions *head,
			  void (*each)(const struct proto_session_view *s, void *arg), void *arg)
{
	const char *bytes = data;
	if (len < sizeof(*head))
		return -1;
	memcpy(head, bytes, sizeof(*head));
	if (head->total < head->count)
		return -1;
	struct proto_session_view view;
	/* Twice over the payload: first only checking it, so that a malformed
	 * one is refused before anything of it is used. */
	for (int pass = 0; pass < (each == NULL ? 1 : 2); pass++) {
		size_t at = sizeof(*head);
		for (uint32_t i = 0; i < head->count; i++) {
			struct proto_session_entry entry;
			if (len - at < sizeof(entry))
				return -1;
			memcpy(&entry, bytes + at, sizeof(entry));
			at += sizeof(entry);
			if (entry.kind > PROTO_SESSION_COMPONENT || len - at < entry.jid_len ||
			    !proto_jid_bytes_ok(bytes + at, entry.jid_len) ||
			    !proto_field_ok(entry.address, sizeof(entry.address)) ||
			    !proto_field_ok(entry.tls, sizeof(entry.tls)))
				return -1;
			if (pass == 1) {
				view.kind = entry.kind;
				view.since_ms = entry.since_ms;
				view.idle_ms = entry.idle_ms;
				memcpy(view.address, entry.address, sizeof(view.address));
				memcpy(view.tls, entry.tls, sizeof(view.tls));
				memcpy(view.jid, bytes + at, entry.jid_len);
				view.jid[entry.jid_len] = '\0';
				each(&view, arg);
			}
			at += entry.jid_len;
		}
		if (at != len)
			return -1;
	}
	return 0;
}

int proto_admin_kick_check(const struct proto_admin_kick *kick)
{
	if (kick->reason >= PROTO_ADMIN_KICK_END || kick->reserved != 0 ||
	    memchr(kick->jid, '\0', sizeof(kick->jid)) == NULL || kick->jid[0] == '\0')
		return -1;
	/* The sender prepared it (rxmppctl, jidprep); the processes that pass
	 * it on only check its shape, so that none of them needs libidn. */
	struct jid_parts parts;
	return jid_split(kick->jid, strlen(kick->jid), &parts);
}

int proto_cluster_sessions_unpack(const void *data, size_t len, struct proto_cluster_sessions *head,
				  void (*each)(const struct proto_remote_session_view *s,
					       void *arg),
				  void *arg)
{
	const char *bytes = data;
	if (len < sizeof(*head))
		return -1;
	memcpy(head, bytes, sizeof(*head));
	if (head->total < head->count || head->state >= PROTO_CLUSTER_SESSIONS_STATE_END ||
	    head->reserved != 0)
		return -1;
	struct proto_remote_session_view view;
	/* First only checking, then handing out: all or nothing. */
	for (int pass = 0; pass < (each == NULL ? 1 : 2); pass++) {
		size_t at = sizeof(*head);
		for (uint32_t i = 0; i < head->count; i++) {
			struct proto_remote_session entry;
			if (len - at < sizeof(entry))
				return -1;
			memcpy(&entry, bytes + at, sizeof(entry));
			at += sizeof(entry);
			if (entry.kind > PROTO_SESSION_COMPONENT || entry.jid_len > len - at ||
			    !proto_jid_bytes_ok(bytes + at, entry.jid_len))
				return -1;
			if (pass == 1) {
				view.node = entry.node;
				view.kind = entry.kind;
				memcpy(view.jid, bytes + at, entry.jid_len);
				view.jid[entry.jid_len] = '\0';
				each(&view, arg);
			}
			at += entry.jid_len;
		}
		if (at != len)
			return -1;
	}
	return 0;
}

int proto_drain_check(const struct proto_drain *drain)
{
	if (drain->on > 1 || drain->reserved != 0 || drain->count > PROTO_DRAIN_TARGETS_MAX ||
	    (drain->on && (drain->rate == 0 || drain->rate > PROTO_DRAIN_RATE_MAX)))
		return -1;
	for (uint32_t i = 0; i < drain->count; i++) {
		const char *t = drain->targets[i];
		const char *end = memchr(t, '\0', sizeof(drain->targets[i]));
		if (end == NULL || end == t)
			return -1;
		/* It goes into a stream error as text: nothing to escape. */
		for (const char *p = t; p < end; p++) {
			if (*p <= ' ' || *p > '~' || strchr("<>&'\"", *p) != NULL)
				return -1;
		}
	}
	return 0;
}

int proto_propose_check(const void *data, size_t len)
{
	struct proto_propose head;
	if (len < sizeof(head))
		return -1;
	memcpy(&head, data, sizeof(head));
	return head.len == 0 || head.len > PROTO_PROPOSE_MAX || head.reserved != 0 ||
		       len != sizeof(head) + head.len
		   ? -1
		   : 0;
}

int proto_propose_result_unpack(const void *data, size_t len, struct proto_propose_result_view *out)
{
	const char *bytes = data;
	if (len < sizeof(out->head))
		return -1;
	memcpy(&out->head, bytes, sizeof(out->head));
	const struct proto_propose_result *h = &out->head;
	if (h->status >= PROTO_PROPOSE_STATUS_END || h->outcome_len > PROTO_PROPOSE_TEXT_MAX ||
	    h->text_len > PROTO_PROPOSE_TEXT_MAX ||
	    len != sizeof(*h) + (size_t)h->outcome_len + h->text_len)
		return -1;
	const char *outcome = bytes + sizeof(*h), *text = outcome + h->outcome_len;
	if (memchr(outcome, '\0', h->outcome_len) != NULL ||
	    memchr(text, '\0', h->text_len) != NULL)
		return -1;
	memcpy(out->outcome, outcome, h->outcome_len);
	out->outcome[h->outcome_len] = '\0';
	memcpy(out->text, text, h->text_len);
	out->text[h->text_len] = '\0';
	return 0;
}

int proto_userdata_get_unpack(const void *data, size_t len, struct proto_userdata_get_view *out)
{
	const uint8_t *bytes = data;
	if (len < sizeof(out->head))
		return -1;
	memcpy(&out->head, bytes, sizeof(out->head));
	const struct proto_userdata_get *h = &out->head;
	bool one = h->flags == PROTO_USERDATA_ONE;
	if (h->collection > 5 || (h->flags != 0 && !one) || h->reserved != 0 || h->user_len == 0 ||
	    h->user_len > PROTO_USERDATA_USER_MAX || h->key_len > PROTO_USERDATA_KEY_MAX ||
	    (one && h->key_len == 0) ||
	    (h->collection == 0 && (h->flags != 0 || h->key_len != 0)) ||
	    len != sizeof(*h) + (size_t)h->user_len + h->key_len)
		return -1;
	const uint8_t *user = bytes + sizeof(*h);
	if (memchr(user, '\0', h->user_len) != NULL)
		return -1;
	memcpy(out->user, user, h->user_len);
	out->user[h->user_len] = '\0';
	out->key = user + h->user_len;
	return 0;
}

bool proto_userdata_next_item(const uint8_t **cursor, size_t *left, const uint8_t **key,
			      size_t *key_len, const uint8_t **value, size_t *value_len)
{
	struct proto_userdata_item item;
	if (*left < sizeof(item))
		return false;
	memcpy(&item, *cursor, sizeof(item));
	if (item.key_len == 0 || item.key_len > PROTO_USERDATA_KEY_MAX ||
	    item.value_len > PROTO_USERDATA_ANSWER_MAX ||
	    *left - sizeof(item) < (size_t)item.key_len + item.value_len)
		return false;
	*key = *cursor + sizeof(item);
	*key_len = item.key_len;
	*value = *key + item.key_len;
	*value_len = item.value_len;
	*cursor += sizeof(item) + item.key_len + item.value_len;
	*left -= sizeof(item) + item.key_len + item.value_len;
	return true;
}

int proto_userdata_answer_unpack(const void *data, size_t len, struct proto_userdata_answer *head,
				 const uint8_t **items, size_t *items_len)
{
	if (len < sizeof(*head))
		return -1;
	memcpy(head, data, sizeof(*head));
	const uint8_t *rest = (const uint8_t *)data + sizeof(*head);
	size_t left = len - sizeof(*head);
	if (head->status >= PROTO_USERDATA_STATUS_END || head->collection > 5 || head->more > 1 ||
	    head->reserved != 0 || left > PROTO_USERDATA_ANSWER_MAX ||
	    head->items > (head->collection == 0 ? 5 : head->count))
		return -1;
	*items = rest;
	*items_len = left;
	if (head->collection == 0) {
		if (left != head->items * sizeof(struct proto_userdata_summary) || head->more)
			return -1;
		for (uint32_t i = 0; i < head->items; i++) {
			struct proto_userdata_summary sum;
			memcpy(&sum, rest + i * sizeof(sum), sizeof(sum));
			if (sum.collection != i + 1)
				return -1;
		}
		return 0;
	}
	const uint8_t *key, *value;
	size_t key_len, value_len;
	for (uint32_t i = 0; i < head->items; i++) {
		if (!proto_userdata_next_item(&rest, &left, &key, &key_len, &value, &value_len))
			return -1;
	}
	return left == 0 ? 0 : -1;
}

int proto_im_out_unpack(const void *data, size_t len, struct proto_im_out_view *out)
{
	if (len < sizeof(out->head))
		return -1;
	memcpy(&out->head, data, sizeof(out->head));
	const struct proto_im_out *h = &out->head;
	size_t rest = len - sizeof(out->head);
	if (h->target >= PROTO_IM_TARGET_END || h->stanza_len == 0 ||
	    (size_t)h->bare_len + h->stanza_len != rest)
		return -1;
	if ((h->target == PROTO_IM_TO_ORIGIN) != (h->bare_len == 0) ||
	    h->bare_len > PROTO_ROUTE_STRING_MAX)
		return -1;
	if (h->to_at != PROTO_IM_NO_TO && h->to_at > h->stanza_len)
		return -1;
	const char *bare = (const char *)data + sizeof(out->head);
	if (memchr(bare, '\0', h->bare_len) != NULL)
		return -1;
	memcpy(out->bare, bare, h->bare_len);
	out->bare[h->bare_len] = '\0';
	out->stanza = bare + h->bare_len;
	return 0;
}
