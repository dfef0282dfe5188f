/* SPDX-License-Identifier: MIT */
/*
 * Sessions and stanzas between the listener and the router.
 *
 * Sends SESSION_UP/DOWN/PRESENCE and STANZA (a routing header plus the
 * serialized stanza, so that the router never parses XML); receives DELIVER
 * (bytes for one session) and SESSION_KICK.  When the router restarts, every
 * session is announced again.  A stanza that cannot reach the router is
 * answered with service-unavailable, never dropped silently; nor is one
 * delivered to a session that has just ended (route_undeliverable).
 */
#include <stdio.h>
#include <string.h>

#include "common/child.h"
#include "common/log.h"
#include "listener.h"

static enum proto_stanza_kind stanza_kind(const char *name)
{
	if (strcmp(name, "message") == 0)
		return PROTO_STANZA_MESSAGE;
	if (strcmp(name, "presence") == 0)
		return PROTO_STANZA_PRESENCE;
	return PROTO_STANZA_IQ;
}

void listener_route_bounce(struct conn *c, const struct xml_node *stanza, const char *to,
			   const char *error_type, const char *condition, const char *text)
{
	const char *type = listener_xml_attr_get(stanza, "type");
	const char *id = listener_xml_attr_get(stanza, "id");
	if ((type != NULL && (strcmp(type, "error") == 0 || strcmp(type, "result") == 0)) ||
	    strcmp(stanza->name, "presence") == 0)
		return; /* never an error about an error, a result or presence */
	struct buf out;
	buf_init(&out, 8192);
	buf_append(&out, "<", 1);
	buf_append(&out, stanza->name, strlen(stanza->name));
	if (to != NULL) {
		buf_append(&out, " from=\"", 7);
		listener_xml_escape(&out, to, strlen(to), true);
		buf_append(&out, "\"", 1);
	}
	buf_append(&out, " type=\"error\"", 13);
	if (id != NULL) {
		buf_append(&out, " id=\"", 5);
		listener_xml_escape(&out, id, strlen(id), true);
		buf_append(&out, "\"", 1);
	}
	char error[256];
	snprintf(error, sizeof(error), "><error type='%s'><%s xmlns='" XML_NS_STANZA_ERRORS "'/>",
		 error_type, condition);
	buf_append(&out, error, strlen(error));
	if (text != NULL) {
		const char *open = "<text xmlns='" XML_NS_STANZA_ERRORS "'>";
		buf_append(&out, open, strlen(open));
		listener_xml_escape(&out, text, strlen(text), false);
		buf_append(&out, "</text>", 7);
	}
	snprintf(error, sizeof(error), "</error></%s>", stanza->name);
	buf_append(&out, error, strlen(error));
	listener_conn_send(c, buf_head(&out), buf_len(&out));
	buf_free(&out);
}

/* Sends a stanza to the router as `session` (0: the server itself). */
static bool route_send(uint64_t session, const struct xml_node *stanza, const char *parent_ns,
		       const char *from, const char *to, bool *too_large)
{
	const char *type = listener_xml_attr_get(stanza, "type");
	const char *id = listener_xml_attr_get(stanza, "id");
	struct xml_node *payload = listener_xml_first_element(stanza);
	struct buf bytes;
	/* The serialized form stays within the IPC frame whatever the input. */
	buf_init(&bytes, IPC_FRAME_MAX - 16 * 1024);
	if (listener_xml_serialize(stanza, parent_ns, from, to, &bytes) == -1) {
		buf_free(&bytes);
		*too_large = true;
		return false;
	}
	struct proto_route route = {
	    .kind = stanza_kind(stanza->name),
	    .type = proto_stanza_type_from_name(type),
	    .id_len = (uint16_t)(id ? strlen(id) : 0),
	    .from_len = (uint16_t)strlen(from),
	    .to_len = (uint16_t)(to ? strlen(to) : 0),
	    .payload_ns_len =
		(uint16_t)(payload && strlen(payload->ns) < 256 ? strlen(payload->ns) : 0),
	    .payload_name_len =
		(uint16_t)(payload && strlen(payload->name) < 64 ? strlen(payload->name) : 0),
	    .stanza_len = (uint32_t)buf_len(&bytes),
	};
	struct iovec iov[] = {
	    {.iov_base = &route, .iov_len = sizeof(route)},
	    {.iov_base = (void *)(id ? id : ""), .iov_len = route.id_len},
	    {.iov_base = (void *)from, .iov_len = route.from_len},
	    {.iov_base = (void *)(to ? to : ""), .iov_len = route.to_len},
	    {.iov_base = (void *)(payload ? payload->ns : ""), .iov_len = route.payload_ns_len},
	    {.iov_base = (void *)(payload ? payload->name : ""), .iov_len = route.payload_name_len},
	    {.iov_base = (void *)buf_head(&bytes), .iov_len = buf_len(&bytes)},
	};
	bool sent = child_peer_connected(PROC_ROUTER) &&
		    child_send_v(PROC_ROUTER, PROTO_STANZA, session, iov, 7) == 0;
	buf_free(&bytes);
	return sent;
}

void listener_route_stanza(struct conn *c, struct xml_node *stanza, const char *from,
			   const char *to)
{
	const char *parent_ns =
	    c->kind == PROTO_SOCKET_COMPONENT ? XML_NS_COMPONENT : XML_NS_CLIENT;
	bool too_large = false;
	if (c->announced && route_send(c->id, stanza, parent_ns, from, to, &too_large))
		return;
	if (too_large)
		listener_conn_stream_error(c, "policy-violation",
					   "stanza too large once serialized");
	else
		listener_route_bounce(c, stanza, to, "cancel", "service-unavailable", NULL);
}

static void undeliverable_open(void *arg, const char *content_ns, const struct xml_attr *attrs)
{
	(void)arg, (void)content_ns, (void)attrs;
}

static void undeliverable_close(void *arg)
{
	(void)arg;
}

/* Routed again as the server: the router, which has heard SESSION_DOWN by
 * now (the same channel, earlier), applies RFC 6121 8.5.3.2 to the full JID
 * that is gone: a chat message goes to the other resources, an iq comes back
 * to its sender as service-unavailable, presence and errors end here. */
static void undeliverable_element(void *arg, struct xml_node *stanza)
{
	(void)arg;
	const char *from = listener_xml_attr_get(stanza, "from");
	const char *to = listener_xml_attr_get(stanza, "to");
	bool too_large = false;
	/* RFC 6121 8.5.3.2.3: presence for a resource that is gone is ignored. */
	if (from != NULL && to != NULL && strcmp(stanza->name, "presence") != 0 &&
	    !route_send(PROTO_SERVER_SESSION, stanza, stanza->ns, from, to, &too_large))
		log_warnx("a stanza from %s to %s found its session gone and could not be routed "
			  "again%s",
			  from, to, too_large ? " (too large)" : "");
}

/*
 * A delivery for a session that ended while the stanza was on its way (the
 * router had not yet read SESSION_DOWN).  The routing header is not kept
 * with a delivery, so the listener, the one process that parses XML, reads
 * it again from the stanza.
 */
static void route_undeliverable(const char *bytes, size_t len)
{
	static const struct xml_stream_events events = {
	    .open = undeliverable_open,
	    .element = undeliverable_element,
	    .close = undeliverable_close,
	};
	static const char header[] =
	    "<stream:stream xmlns='" XML_NS_CLIENT "' xmlns:stream='" XML_NS_STREAM "'>";
	struct xml_limits limits = {
	    .max_stanza_size = IPC_FRAME_MAX,
	    .max_depth = listener_state.cfg.limits.max_depth,
	    .max_attributes = listener_state.cfg.limits.max_attributes,
	};
	struct xml_stream *s = listener_xml_stream_new(&limits, &events, NULL);
	if (s == NULL)
		return;
	listener_xml_stream_feed(s, header, sizeof(header) - 1);
	listener_xml_stream_feed(s, bytes, len);
	listener_xml_stream_free(s);
}

void listener_route_session_up(struct conn *c)
{
	struct proto_session session = {
	    .kind =
		c->kind == PROTO_SOCKET_COMPONENT ? PROTO_SESSION_COMPONENT : PROTO_SESSION_CLIENT,
	    .jid_len = (uint32_t)strlen(c->jid),
	};
	struct iovec iov[] = {
	    {.iov_base = &session, .iov_len = sizeof(session)},
	    {.iov_base = c->jid, .iov_len = session.jid_len},
	};
	c->announced = true;
	if (child_peer_connected(PROC_ROUTER))
		child_send_v(PROC_ROUTER, PROTO_SESSION_UP, c->id, iov, 2);
}

void listener_route_session_down(struct conn *c)
{
	c->announced = false;
	if (child_peer_connected(PROC_ROUTER))
		child_send(PROC_ROUTER, PROTO_SESSION_DOWN, c->id, NULL, 0, -1);
}

void listener_route_presence(struct conn *c, int priority, bool available)
{
	struct proto_presence presence = {.priority = priority, .available = available};
	c->priority = priority;
	c->available = available;
	if (child_peer_connected(PROC_ROUTER))
		child_send(PROC_ROUTER, PROTO_SESSION_PRESENCE, c->id, &presence, sizeof(presence),
			   -1);
}

void listener_route_announce_all(void)
{
	unsigned n = 0;
	for (struct conn *c = listener_state.conns; c != NULL; c = c->next) {
		if (!c->announced)
			continue;
		listener_route_session_up(c);
		if (c->available)
			listener_route_presence(c, c->priority, true);
		n++;
	}
	if (n > 0)
		log_info("announced %u sessions to the router", n);
}

bool listener_route_message(const struct ipc_msg *msg)
{
	struct conn *c;
	switch (msg->type) {
	case PROTO_DELIVER:
		c = listener_index_find(&listener_state.index, msg->peer);
		if (c != NULL && (c->state == CONN_SESSION || c->state == CONN_COMPONENT))
			listener_conn_send(c, msg->data, msg->len);
		else {
			log_debug("session %llu ended before a delivery: routing it again",
				  (unsigned long long)msg->peer);
			route_undeliverable(msg->data, msg->len);
		}
		return true;
	case PROTO_SESSION_KICK: {
		struct proto_kick kick;
		if (ipc_get_data(msg, &kick, sizeof(kick)) == -1 || kick.reason >= PROTO_KICK_END)
			return false;
		c = listener_index_find(&listener_state.index, msg->peer);
		if (c == NULL || (c->state != CONN_SESSION && c->state != CONN_COMPONENT))
			return true; /* it ended meanwhile */
		if (kick.reason == PROTO_KICK_ADMIN) {
			log_info("%s: ending session %s (rxmppctl kick on another node)", c->peer,
				 c->jid);
			listener_conn_stream_error(c, "policy-violation",
						   "kicked by the administrator");
		} else {
			listener_conn_stream_error(
			    c, "conflict", "replaced by a new session of the same resource");
		}
		return true;
	}
	default:
		return false;
	}
}
