/* SPDX-License-Identifier: MIT */
/*
 * Sessions and stanzas between the listener and the router.
 *
 * Sends SESSION_UP/DOWN/PRESENCE and STANZA (a routing header plus the
 * serialized stanza, so that the router never parses XML); receives DELIVER
 * (bytes for one session) and SESSION_KICK.  When the router restarts, every
 * session is announced again.  A stanza that cannot reach the router is
 * answered with service-unavailable, never dropped silently; nor is one
 * delivered to a session that has just ended (listener_route_undeliverable).
 * A session kept for XEP-0198 resumption stays announced while it has no
 * connection; its deliveries are held (listener_client_sm.c).
 *
 * Nor is one the router took and then lost by dying: until the router
 * confirms a stanza (ROUTED, router_confirm.c: routed, or acknowledged by
 * the cluster's leader) a note of it is kept here, and when the channel to
 * the router goes, each stanza still noted is answered with
 * internal-server-error, type wait (it may or may not have been delivered:
 * a leader may have routed it before this node's router died).
 */
#include <stdio.h>
#include <stdlib.h>
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

/* Never an error about an error, a result or presence (RFC 6120 8.3.1). */
static bool route_answerable(const char *name, const char *type)
{
	return !((type != NULL && (strcmp(type, "error") == 0 || strcmp(type, "result") == 0)) ||
		 strcmp(name, "presence") == 0);
}

/* The error reply of RFC 6120 8.3 to the stanza `name` with `to` and `id`
 * (either may be NULL). */
static void route_error(struct conn *c, const char *name, const char *to, const char *id,
			const char *error_type, const char *condition, const char *text)
{
	struct buf out;
	buf_init(&out, 8192);
	buf_append(&out, "<", 1);
	buf_append(&out, name, strlen(name));
	if (to != NULL) {
		buf_append(&out, " from=\"", 7);
		xml_escape(&out, to, strlen(to), true);
		buf_append(&out, "\"", 1);
	}
	buf_append(&out, " type=\"error\"", 13);
	if (id != NULL) {
		buf_append(&out, " id=\"", 5);
		xml_escape(&out, id, strlen(id), true);
		buf_append(&out, "\"", 1);
	}
	char error[256];
	snprintf(error, sizeof(error), "><error type='%s'><%s xmlns='" XML_NS_STANZA_ERRORS "'/>",
		 error_type, condition);
	buf_append(&out, error, strlen(error));
	if (text != NULL) {
		const char *open = "<text xmlns='" XML_NS_STANZA_ERRORS "'>";
		buf_append(&out, open, strlen(open));
		xml_escape(&out, text, strlen(text), false);
		buf_append(&out, "</text>", 7);
	}
	snprintf(error, sizeof(error), "</error></%s>", name);
	buf_append(&out, error, strlen(error));
	listener_client_sm_send(c, buf_head(&out), buf_len(&out));
	buf_free(&out);
}

void listener_route_bounce(struct conn *c, const struct xml_node *stanza, const char *to,
			   const char *error_type, const char *condition, const char *text)
{
	if (route_answerable(stanza->name, xml_attr_get(stanza, "type")))
		route_error(c, stanza->name, to, xml_attr_get(stanza, "id"), error_type, condition,
			    text);
}

/* A stanza the router has not confirmed yet: what its error needs. */
struct route_note {
	struct route_note *next;
	uint64_t number; /* its STANZA's on the channel, from 1 */
	uint64_t session;
	char name[9];  /* message or iq */
	char *to, *id; /* in `text`; NULL when absent */
	char text[];
};

struct route_notes {
	struct route_note *head, **tail;
	size_t count;
};

static struct {
	uint64_t sent; /* STANZAs on the channel to the router */
	/* Not yet read by the router (beyond its last `through`), then taken
	 * by its relay and not yet let go; both in order. */
	struct route_notes unread, kept;
} unconfirmed = {.unread.tail = &unconfirmed.unread.head, .kept.tail = &unconfirmed.kept.head};

/* A note for the stanza about to be sent as number unconfirmed.sent + 1, or
 * NULL when it needs none (no answer is due for it, or it is the server's);
 * `*failed` when there is no memory for one. */
static struct route_note *route_note_new(uint64_t session, const struct xml_node *stanza,
					 const char *to, bool *failed)
{
	const char *id = xml_attr_get(stanza, "id");
	*failed = false;
	if (session == PROTO_SERVER_SESSION ||
	    !route_answerable(stanza->name, xml_attr_get(stanza, "type")))
		return NULL;
	size_t to_size = to ? strlen(to) + 1 : 0, id_size = id ? strlen(id) + 1 : 0;
	struct route_note *n = malloc(sizeof(*n) + to_size + id_size);
	if (n == NULL) {
		*failed = true;
		return NULL;
	}
	n->next = NULL;
	n->session = session;
	snprintf(n->name, sizeof(n->name), "%s", stanza->name);
	n->to = to ? memcpy(n->text, to, to_size) : NULL;
	n->id = id ? memcpy(n->text + to_size, id, id_size) : NULL;
	return n;
}

static void route_notes_append(struct route_notes *l, struct route_note *n)
{
	n->next = NULL;
	*l->tail = n;
	l->tail = &n->next;
	l->count++;
}

static struct route_note *route_notes_take(struct route_notes *l)
{
	struct route_note *n = l->head;
	l->head = n->next;
	if (l->head == NULL)
		l->tail = &l->head;
	l->count--;
	return n;
}

static void route_note_add(struct route_note *n)
{
	unconfirmed.sent++;
	if (n == NULL)
		return;
	n->number = unconfirmed.sent;
	route_notes_append(&unconfirmed.unread, n);
}

/* ROUTED (common/proto.h): false when it makes no sense here. */
static bool route_note_confirmed(const struct ipc_msg *msg)
{
	struct proto_routed routed;
	if (msg->len < sizeof(routed))
		return false;
	memcpy(&routed, msg->data, sizeof(routed));
	const char *numbers = (const char *)msg->data + sizeof(routed);
	if (msg->len != sizeof(routed) + (size_t)routed.kept * sizeof(uint64_t) ||
	    routed.through > unconfirmed.sent)
		return false;
	uint32_t k = 0;
	uint64_t kept = 0, previous = 0;
	while (unconfirmed.unread.head != NULL &&
	       unconfirmed.unread.head->number <= routed.through) {
		struct route_note *n = route_notes_take(&unconfirmed.unread);
		/* The relay's numbers include stanzas without a note (presence). */
		while (k < routed.kept && kept < n->number) {
			memcpy(&kept, numbers + k++ * sizeof(kept), sizeof(kept));
			if (kept <= previous || kept > routed.through) {
				free(n);
				return false;
			}
			previous = kept;
		}
		if (kept == n->number)
			route_notes_append(&unconfirmed.kept, n);
		else
			free(n);
	}
	while (unconfirmed.kept.head != NULL &&
	       (routed.oldest == 0 || unconfirmed.kept.head->number < routed.oldest))
		free(route_notes_take(&unconfirmed.kept));
	return true;
}

static void route_note_answer(struct route_note *n, size_t *answered)
{
	struct conn *c = listener_index_find(&listener_state.index, n->session);
	if (c != NULL && (c->state == CONN_SESSION || c->state == CONN_COMPONENT)) {
		route_error(c, n->name, n->to, n->id, "wait", "internal-server-error",
			    "the router restarted before it confirmed this stanza; it may "
			    "not have been delivered");
		(*answered)++;
	}
	free(n);
}

void listener_route_router_gone(void)
{
	size_t noted = unconfirmed.kept.count + unconfirmed.unread.count, answered = 0;
	/* In the order they were sent. */
	struct route_note *kept = unconfirmed.kept.head, *unread = unconfirmed.unread.head;
	while (kept != NULL || unread != NULL) {
		struct route_note **first =
		    unread == NULL || (kept != NULL && kept->number < unread->number) ? &kept
										      : &unread;
		struct route_note *n = *first;
		*first = n->next;
		route_note_answer(n, &answered);
	}
	unconfirmed.kept = (struct route_notes){.tail = &unconfirmed.kept.head};
	unconfirmed.unread = (struct route_notes){.tail = &unconfirmed.unread.head};
	unconfirmed.sent = 0;
	if (noted > 0)
		log_warnx("the router went before it confirmed %zu stanzas; %zu of their senders "
			  "were told (internal-server-error), the others are gone",
			  noted, answered);
}

/* Sends a stanza to the router as `session` (0: the server itself); with
 * `sm_count`, the client's handled count goes with it (SM_STANZA_IN). */
static bool route_send(uint64_t session, const struct xml_node *stanza, const char *parent_ns,
		       const char *from, const char *to, const uint32_t *sm_count, bool *too_large)
{
	const char *type = xml_attr_get(stanza, "type");
	const char *id = xml_attr_get(stanza, "id");
	struct xml_node *payload = xml_first_element(stanza);
	struct buf bytes;
	/* The serialized form stays within the IPC frame whatever the input. */
	buf_init(&bytes, IPC_FRAME_MAX - 16 * 1024);
	if (xml_serialize(stanza, parent_ns, from, to, &bytes) == -1) {
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
	struct proto_sm_count count = {.value = sm_count != NULL ? *sm_count : 0};
	struct iovec iov[] = {
	    {.iov_base = &count, .iov_len = sizeof(count)},
	    {.iov_base = &route, .iov_len = sizeof(route)},
	    {.iov_base = (void *)(id ? id : ""), .iov_len = route.id_len},
	    {.iov_base = (void *)from, .iov_len = route.from_len},
	    {.iov_base = (void *)(to ? to : ""), .iov_len = route.to_len},
	    {.iov_base = (void *)(payload ? payload->ns : ""), .iov_len = route.payload_ns_len},
	    {.iov_base = (void *)(payload ? payload->name : ""), .iov_len = route.payload_name_len},
	    {.iov_base = (void *)buf_head(&bytes), .iov_len = buf_len(&bytes)},
	};
	bool no_memory;
	struct route_note *note = route_note_new(session, stanza, to, &no_memory);
	bool sent =
	    !no_memory && child_peer_connected(PROC_ROUTER) &&
	    (sm_count != NULL ? child_send_v(PROC_ROUTER, PROTO_SM_STANZA_IN, session, iov, 8)
			      : child_send_v(PROC_ROUTER, PROTO_STANZA, session, iov + 1, 7)) == 0;
	if (sent)
		route_note_add(note);
	else
		free(note);
	buf_free(&bytes);
	return sent;
}

void listener_route_stanza(struct conn *c, struct xml_node *stanza, const char *from,
			   const char *to)
{
	const char *parent_ns =
	    c->kind == PROTO_SOCKET_COMPONENT ? XML_NS_COMPONENT : XML_NS_CLIENT;
	bool too_large = false;
	/* A redirected session's last stanzas are routed with the sender the
	 * listener stamped, as those of a session that ended on their way. */
	if ((c->announced || c->redirected) &&
	    route_send(c->id, stanza, parent_ns, from, to,
		       c->redirected ? NULL : listener_client_sm_count(c), &too_large))
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
	const char *from = xml_attr_get(stanza, "from");
	const char *to = xml_attr_get(stanza, "to");
	bool too_large = false;
	/* RFC 6121 8.5.3.2.3: presence for a resource that is gone is ignored. */
	if (from != NULL && to != NULL && strcmp(stanza->name, "presence") != 0 &&
	    !route_send(PROTO_SERVER_SESSION, stanza, stanza->ns, from, to, NULL, &too_large))
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
void listener_route_undeliverable(const char *bytes, size_t len)
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
	struct xml_stream *s = xml_stream_new(&limits, &events, NULL);
	if (s == NULL)
		return;
	xml_stream_feed(s, header, sizeof(header) - 1);
	xml_stream_feed(s, bytes, len);
	xml_stream_free(s);
}

static void route_session_up(uint64_t id, enum proto_session_kind kind, const char *jid)
{
	struct proto_session session = {.kind = kind, .jid_len = (uint32_t)strlen(jid)};
	struct iovec iov[] = {
	    {.iov_base = &session, .iov_len = sizeof(session)},
	    {.iov_base = (void *)jid, .iov_len = session.jid_len},
	};
	if (child_peer_connected(PROC_ROUTER))
		child_send_v(PROC_ROUTER, PROTO_SESSION_UP, id, iov, 2);
}

void listener_route_session_up(struct conn *c)
{
	c->announced = true;
	route_session_up(c->id,
			 c->kind == PROTO_SOCKET_COMPONENT ? PROTO_SESSION_COMPONENT
							   : PROTO_SESSION_CLIENT,
			 c->jid);
}

void listener_route_session_up_id(uint64_t session, const char *jid)
{
	route_session_up(session, PROTO_SESSION_CLIENT, jid);
}

void listener_route_session_down_id(uint64_t session)
{
	if (child_peer_connected(PROC_ROUTER))
		child_send(PROC_ROUTER, PROTO_SESSION_DOWN, session, NULL, 0, -1);
}

void listener_route_session_down(struct conn *c)
{
	c->announced = false;
	listener_route_session_down_id(c->id);
}

void listener_route_presence_id(uint64_t session, int priority, bool available)
{
	struct proto_presence presence = {.priority = priority, .available = available};
	if (child_peer_connected(PROC_ROUTER))
		child_send(PROC_ROUTER, PROTO_SESSION_PRESENCE, session, &presence,
			   sizeof(presence), -1);
}

void listener_route_presence(struct conn *c, int priority, bool available)
{
	c->priority = priority;
	c->available = available;
	/* A redirected session is not the router's any more. */
	if (!c->redirected)
		listener_route_presence_id(c->id, priority, available);
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
	listener_client_sm_announce_detached();
}

bool listener_route_message(const struct ipc_msg *msg)
{
	struct conn *c;
	switch (msg->type) {
	case PROTO_DELIVER:
		c = listener_index_find(&listener_state.index, msg->peer);
		if (c != NULL && (c->state == CONN_SESSION || c->state == CONN_COMPONENT) &&
		    !c->redirected)
			listener_client_sm_send(c, msg->data, msg->len);
		else if (c != NULL
			     /* A session that may be resumed holds it for then. */
			     ? !listener_client_sm_keep(c, msg->data, msg->len)
			     : !listener_client_sm_deliver_detached(msg->peer, msg->data,
								    msg->len)) {
			log_debug("session %llu ended before a delivery: routing it again",
				  (unsigned long long)msg->peer);
			listener_route_undeliverable(msg->data, msg->len);
		}
		return true;
	case PROTO_ROUTED:
		return route_note_confirmed(msg);
	case PROTO_SM_KEPT:
	case PROTO_SM_REKEEP:
	case PROTO_SM_RESUMED:
	case PROTO_SM_ITEM:
	case PROTO_SM_RETURN:
	case PROTO_SM_GIVE_UP:
		return listener_client_sm_message(msg);
	case PROTO_SESSION_KICK: {
		struct proto_kick kick;
		if (ipc_get_data(msg, &kick, sizeof(kick)) == -1 || kick.reason >= PROTO_KICK_END)
			return false;
		c = listener_index_find(&listener_state.index, msg->peer);
		if (c == NULL && listener_client_sm_kick_detached(msg->peer))
			return true;
		if (c == NULL || (c->state != CONN_SESSION && c->state != CONN_COMPONENT) ||
		    c->redirected)
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
