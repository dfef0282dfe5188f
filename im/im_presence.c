/* SPDX-License-Identifier: MIT */
/*
 * Presence and delivery rules; see im_presence.h.  The routing decision
 * follows the order of RFC 6121 8.5: no such account (8.5.1), then the
 * bare JID (8.5.2), then the full JID (8.5.3); each case cites its
 * section.  Where the RFC lets the server choose between silence and an
 * error, the error is chosen (nothing is dropped silently); where it says
 * "silently ignore" -- an error stanza, which RFC 6120 8.3.1 forbids
 * answering, a headline nobody is there to read, presence for nobody --
 * the stanza is ignored and `why` names the rule.
 */
#include "im_presence.h"

#include <stdlib.h>
#include <string.h>

static bool im_presence_is(const char *type, const char *value)
{
	return type != NULL && strcmp(type, value) == 0;
}

static void im_presence_bounce(struct im_route *out, const char *condition, const char *why)
{
	out->action = IM_ROUTE_BOUNCE;
	/* RFC 6120 8.3.2: bad-request is to be fixed by the sender, the
	 * others are final. */
	out->err = (struct im_error){strcmp(condition, "bad-request") == 0 ? "modify" : "cancel",
				     condition, NULL};
	out->why = why;
}

/* Subscription stanzas and probes are the server's whatever resource
 * they name: a subscription is between bare JIDs (RFC 6121 3), a probe is
 * answered by the server (4.3).  8.5.3.2.2 would ignore a subscribed,
 * unsubscribe or unsubscribed sent to a resource that is not there; the
 * state machine takes them all, so that the two rosters do not drift
 * apart. */
static bool im_presence_for_server(const char *type)
{
	return type != NULL && (im_sub_type_parse(type) != -1 || strcmp(type, "probe") == 0);
}

/* 4.7.1: a presence type outside the RFC's list is refused. */
static bool im_presence_type_known(const char *type)
{
	return type == NULL || strcmp(type, "unavailable") == 0 || strcmp(type, "error") == 0 ||
	       im_presence_for_server(type);
}

static void im_presence_do(struct im_route *out, enum im_route_action action, const char *why)
{
	out->action = action;
	out->why = why;
}

/* Marks the available resources of non-negative priority; how many. */
static size_t im_presence_nonnegative(const struct im_route_in *in, bool *deliver)
{
	size_t n = 0;
	for (size_t i = 0; i < in->nres; i++)
		if ((deliver[i] = in->res[i].available && in->res[i].priority >= 0))
			n++;
	return n;
}

static size_t im_presence_all_available(const struct im_route_in *in, bool *deliver)
{
	size_t n = 0;
	for (size_t i = 0; i < in->nres; i++)
		if ((deliver[i] = in->res[i].available))
			n++;
	return n;
}

static void im_presence_bare_message(const struct im_route_in *in, bool *deliver,
				     struct im_route *out)
{
	/* A missing or unknown type is "normal" (RFC 6121 5.2.2): only the
	 * other three are named here. */
	const char *t = in->type;
	if (im_presence_is(t, "error"))
		return im_presence_do(out, IM_ROUTE_IGNORE, "8.5.2: message error");
	if (im_presence_is(t, "groupchat"))
		return im_presence_bounce(out, "service-unavailable", "8.5.2: groupchat to a user");
	/* 8.5.2.1.1: resources of negative priority do not count as
	 * available for a bare JID. */
	size_t n = im_presence_nonnegative(in, deliver);
	if (n > 0)
		return im_presence_do(out, IM_ROUTE_DELIVER, "8.5.2.1.1: message");
	if (im_presence_is(t, "headline"))
		return im_presence_do(out, IM_ROUTE_IGNORE, "8.5.2.2.1: headline, nobody online");
	im_presence_do(out, IM_ROUTE_STORE, "8.5.2.2.1: chat or normal, nobody online");
}

static void im_presence_bare_presence(const struct im_route_in *in, bool *deliver,
				      struct im_route *out)
{
	if (im_presence_all_available(in, deliver) > 0)
		return im_presence_do(out, IM_ROUTE_DELIVER, "8.5.2.1.2: presence");
	im_presence_do(out, IM_ROUTE_IGNORE, "8.5.2.2.2: presence, nobody online");
}

/* RFC 6120 8.2.3 and RFC 6121 8.5.2.1.3, 8.5.3.2.3: a request gets an
 * answer, a result or an error does not. */
static bool im_presence_iq_request(const char *type)
{
	return im_presence_is(type, "get") || im_presence_is(type, "set");
}

static void im_presence_no_resource(const struct im_route_in *in, bool *deliver,
				    struct im_route *out)
{
	const char *t = in->type;
	switch (in->kind) {
	case IM_KIND_MESSAGE:
		/* 8.5.3.2.1: a chat goes on as if to the bare JID; normal,
		 * groupchat and headline are refused (the RFC allows silence
		 * or service-unavailable); an error is ignored. */
		if (im_presence_is(t, "chat"))
			return im_presence_bare_message(in, deliver, out);
		if (im_presence_is(t, "error"))
			return im_presence_do(out, IM_ROUTE_IGNORE, "8.5.3.2.1: message error");
		return im_presence_bounce(out, "service-unavailable",
					  "8.5.3.2.1: no such resource");
	case IM_KIND_PRESENCE:
		return im_presence_do(out, IM_ROUTE_IGNORE, "8.5.3.2.2: no such resource");
	case IM_KIND_IQ:
		if (im_presence_iq_request(t))
			return im_presence_bounce(out, "service-unavailable",
						  "8.5.3.2.3: no such resource");
		return im_presence_do(out, IM_ROUTE_IGNORE, "8.5.3.2.3: iq result or error");
	}
}

void im_presence_route(const struct im_route_in *in, bool *deliver, struct im_route *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->nres; i++)
		deliver[i] = false;
	const char *t = in->type;
	if (!in->account) {
		/* 8.5.1: a presence is ignored (no directory harvesting) but a
		 * subscription request or probe is answered (3.1.3, 4.3.2);
		 * a message or a request is refused; errors never answered. */
		if (in->kind == IM_KIND_PRESENCE)
			return t != NULL && (strcmp(t, "subscribe") == 0 || strcmp(t, "probe") == 0)
				   ? im_presence_do(out, IM_ROUTE_SERVER, "8.5.1: no such user")
				   : im_presence_do(out, IM_ROUTE_IGNORE, "8.5.1: no such user");
		if ((in->kind == IM_KIND_MESSAGE && !im_presence_is(t, "error")) ||
		    (in->kind == IM_KIND_IQ && im_presence_iq_request(t)))
			return im_presence_bounce(out, "service-unavailable",
						  "8.5.1: no such user");
		return im_presence_do(out, IM_ROUTE_IGNORE, "8.5.1: no such user, error or result");
	}
	if (in->kind == IM_KIND_PRESENCE && im_presence_for_server(t))
		return im_presence_do(out, IM_ROUTE_SERVER, "3, 4.3: subscription or probe");
	if (in->kind == IM_KIND_PRESENCE && !im_presence_type_known(t))
		return im_presence_bounce(out, "bad-request", "4.7.1: no such presence type");
	if (in->full) {
		if (in->resource < in->nres) {
			/* 8.5.3.1: the resource is connected; it gets the
			 * stanza whatever its presence. */
			deliver[in->resource] = true;
			return im_presence_do(out, IM_ROUTE_DELIVER, "8.5.3.1: full JID");
		}
		return im_presence_no_resource(in, deliver, out);
	}
	switch (in->kind) {
	case IM_KIND_MESSAGE:
		return im_presence_bare_message(in, deliver, out);
	case IM_KIND_PRESENCE:
		return im_presence_bare_presence(in, deliver, out);
	case IM_KIND_IQ:
		if (im_presence_iq_request(t))
			return im_presence_do(out, IM_ROUTE_SERVER, "8.5.2.1.3: iq to the account");
		return im_presence_do(out, IM_ROUTE_IGNORE, "8.5.2.1.3: iq result or error");
	}
}

static size_t im_presence_select(const struct im_roster *r, bool (*has)(enum im_sub_state),
				 bool (*blocked)(const char *jid, void *arg), void *arg,
				 const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < r->count; i++) {
		const struct im_roster_item *item = &r->items[i];
		if (!has(item->sub.state) || (blocked != NULL && blocked(item->jid, arg)))
			continue;
		if (n < max)
			out[n] = item->jid;
		n++;
	}
	return n;
}

size_t im_presence_subscribers(const struct im_roster *r,
			       bool (*blocked)(const char *jid, void *arg), void *arg,
			       const char **out, size_t max)
{
	return im_presence_select(r, im_sub_has_from, blocked, arg, out, max);
}

size_t im_presence_probed(const struct im_roster *r, bool (*blocked)(const char *jid, void *arg),
			  void *arg, const char **out, size_t max)
{
	return im_presence_select(r, im_sub_has_to, blocked, arg, out, max);
}

void im_presence_session_init(struct im_presence_session *s, size_t directed_max)
{
	memset(s, 0, sizeof(*s));
	s->directed_max = directed_max;
}

static void im_presence_strings_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void im_presence_session_free(struct im_presence_session *s)
{
	im_presence_strings_free(s->directed, s->ndirected);
	im_presence_session_init(s, s->directed_max);
}

void im_presence_step_free(struct im_presence_step *step)
{
	im_presence_strings_free(step->unavailable_to, step->nunavailable_to);
	memset(step, 0, sizeof(*step));
}

void im_presence_broadcast(struct im_presence_session *s, bool available, int priority,
			   struct im_presence_step *step)
{
	memset(step, 0, sizeof(*step));
	if (available) {
		step->initial = !s->available;
		step->broadcast = true;
		s->available = true;
		s->priority = priority;
		/* XEP-0160: not to a resource of negative priority, which
		 * asked not to get messages for the bare JID (RFC 6121
		 * 4.7.2.3); when its priority rises it gets them then. */
		if (!s->offline_sent && priority >= 0) {
			step->offline = true;
			s->offline_sent = true;
		}
		return;
	}
	/* 4.5.2: the broadcast only if there was an available presence to
	 * withdraw; the directed targets in any case (4.6.3). */
	step->broadcast = s->available;
	s->available = false;
	step->unavailable_to = s->directed;
	step->nunavailable_to = s->ndirected;
	s->directed = NULL;
	s->ndirected = 0;
}

static size_t im_presence_directed_index(const struct im_presence_session *s, const char *to)
{
	size_t i = 0;
	while (i < s->ndirected && strcmp(s->directed[i], to) != 0)
		i++;
	return i;
}

static void im_presence_forget(struct im_presence_session *s, size_t i)
{
	free(s->directed[i]);
	memmove(&s->directed[i], &s->directed[i + 1], (s->ndirected - i - 1) * sizeof(char *));
	s->ndirected--;
}

int im_presence_directed(struct im_presence_session *s, const char *to, bool subscriber,
			 bool available, struct im_error *err)
{
	size_t i = im_presence_directed_index(s, to);
	if (!available || subscriber) {
		/* 4.6.3: the target has been told; nothing is owed to it. */
		if (i < s->ndirected)
			im_presence_forget(s, i);
		return 0;
	}
	if (i < s->ndirected)
		return 0;
	*err = (struct im_error){"wait", "resource-constraint", "too many directed presences"};
	if (s->ndirected >= s->directed_max)
		return -1;
	char **v = realloc(s->directed, (s->ndirected + 1) * sizeof(char *));
	if (v == NULL)
		return -1;
	s->directed = v;
	if ((v[s->ndirected] = strdup(to)) == NULL)
		return -1;
	s->ndirected++;
	return 0;
}

bool im_presence_error_from(struct im_presence_session *s, const char *from)
{
	size_t i = im_presence_directed_index(s, from);
	if (i == s->ndirected)
		return false;
	im_presence_forget(s, i);
	return true;
}

enum im_probe_answer im_presence_probe(bool account, const struct im_roster_item *item,
				       bool blocked, size_t navailable)
{
	if (blocked)
		return IM_PROBE_NOTHING;
	/* 4.3.2: presence is revealed only to a subscriber. */
	if (!account || item == NULL || !im_sub_has_from(item->sub.state))
		return IM_PROBE_UNSUBSCRIBED;
	return navailable > 0 ? IM_PROBE_PRESENCE : IM_PROBE_UNAVAILABLE;
}
