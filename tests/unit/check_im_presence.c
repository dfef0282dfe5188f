/* SPDX-License-Identifier: MIT */
/*
 * Presence and delivery rules (im/im_presence.c): RFC 6121 8.5 row by row
 * (no such account, bare JID with and without available resources of
 * non-negative priority, full JID matching or not, for each stanza kind
 * and type), broadcast and probe recipients, the life of a session's
 * presence (initial presence, offline delivery, directed presence and the
 * unavailable its targets get at the end, presence errors), and probes.
 */
#include <string.h>

#include "im/im_presence.h"
#include "unit.h"

/* Connected resources: 0 available at 5, 1 available at -1, 2 connected
 * without presence. */
static const struct im_resource mixed[] = {{true, 5}, {true, -1}, {false, 0}};
/* Only a negative priority. */
static const struct im_resource negative[] = {{true, -1}};

enum { ALL, NONE, NEG };
enum { BARE = -1, MISSING = -2 };
#define D IM_ROUTE_DELIVER
#define S IM_ROUTE_STORE
#define V IM_ROUTE_SERVER
#define E IM_ROUTE_BOUNCE
#define I IM_ROUTE_IGNORE

struct row {
	int line;
	enum im_kind kind;
	const char *type;
	bool account;
	int resources; /* ALL (mixed), NONE, NEG (negative) */
	int to;	       /* BARE, MISSING, or a resource index */
	enum im_route_action action;
	unsigned deliver; /* bit i: resource i gets it */
	const char *condition;
};

#define M IM_KIND_MESSAGE
#define P IM_KIND_PRESENCE
#define Q IM_KIND_IQ
#define R(...)                                                                                     \
	{                                                                                          \
		__LINE__, __VA_ARGS__                                                              \
	}

static const struct row rows[] = {
    /* 8.5.1: no such account. */
    R(M, "chat", false, NONE, BARE, E, 0, "service-unavailable"),
    R(M, NULL, false, NONE, MISSING, E, 0, "service-unavailable"),
    R(M, "error", false, NONE, BARE, I, 0, NULL),
    R(P, NULL, false, NONE, BARE, I, 0, NULL),
    R(P, "subscribe", false, NONE, BARE, V, 0, NULL),
    R(P, "probe", false, NONE, BARE, V, 0, NULL),
    R(P, "unsubscribed", false, NONE, BARE, I, 0, NULL),
    R(Q, "get", false, NONE, BARE, E, 0, "service-unavailable"),
    R(Q, "set", false, NONE, MISSING, E, 0, "service-unavailable"),
    R(Q, "result", false, NONE, BARE, I, 0, NULL),
    /* 8.5.2.1: bare JID, available resources of non-negative priority. */
    R(M, "chat", true, ALL, BARE, D, 1, NULL),
    R(M, "normal", true, ALL, BARE, D, 1, NULL),
    R(M, NULL, true, ALL, BARE, D, 1, NULL),
    R(M, "bogus", true, ALL, BARE, D, 1, NULL),
    R(M, "headline", true, ALL, BARE, D, 1, NULL),
    R(M, "groupchat", true, ALL, BARE, E, 0, "service-unavailable"),
    R(M, "error", true, ALL, BARE, I, 0, NULL),
    R(P, NULL, true, ALL, BARE, D, 3, NULL),
    R(P, "unavailable", true, ALL, BARE, D, 3, NULL),
    R(P, "error", true, ALL, BARE, D, 3, NULL),
    R(P, "subscribe", true, ALL, BARE, V, 0, NULL),
    R(P, "unsubscribed", true, ALL, BARE, V, 0, NULL),
    R(P, "probe", true, ALL, BARE, V, 0, NULL),
    R(P, "bogus", true, ALL, BARE, E, 0, "bad-request"),
    R(Q, "get", true, ALL, BARE, V, 0, NULL),
    R(Q, "set", true, ALL, BARE, V, 0, NULL),
    R(Q, "result", true, ALL, BARE, I, 0, NULL),
    R(Q, "error", true, ALL, BARE, I, 0, NULL),
    /* 8.5.2.2: nobody available (or only at a negative priority, for
     * messages: 8.5.2.1.1). */
    R(M, "chat", true, NONE, BARE, S, 0, NULL),
    R(M, "normal", true, NONE, BARE, S, 0, NULL),
    R(M, NULL, true, NEG, BARE, S, 0, NULL),
    R(M, "chat", true, NEG, BARE, S, 0, NULL),
    R(M, "headline", true, NONE, BARE, I, 0, NULL),
    R(M, "headline", true, NEG, BARE, I, 0, NULL),
    R(M, "groupchat", true, NONE, BARE, E, 0, "service-unavailable"),
    R(M, "error", true, NONE, BARE, I, 0, NULL),
    R(P, NULL, true, NONE, BARE, I, 0, NULL),
    R(P, NULL, true, NEG, BARE, D, 1, NULL),
    R(P, "unavailable", true, NONE, BARE, I, 0, NULL),
    R(P, "error", true, NONE, BARE, I, 0, NULL),
    R(P, "subscribe", true, NONE, BARE, V, 0, NULL),
    R(P, "probe", true, NONE, BARE, V, 0, NULL),
    R(Q, "get", true, NONE, BARE, V, 0, NULL),
    /* 8.5.3.1: a connected resource gets what is sent to it. */
    R(M, "normal", true, ALL, 0, D, 1, NULL),
    R(M, "groupchat", true, ALL, 1, D, 2, NULL),
    R(M, "error", true, ALL, 2, D, 4, NULL),
    R(P, NULL, true, ALL, 2, D, 4, NULL),
    R(Q, "get", true, ALL, 2, D, 4, NULL),
    R(Q, "result", true, ALL, 0, D, 1, NULL),
    /* Subscriptions and probes are the server's, whatever the resource. */
    R(P, "subscribe", true, ALL, 0, V, 0, NULL),
    R(P, "unsubscribed", true, ALL, 2, V, 0, NULL),
    R(P, "probe", true, ALL, 0, V, 0, NULL),
    R(P, "bogus", true, ALL, 0, E, 0, "bad-request"),
    /* 8.5.3.2: no such resource. */
    R(M, "chat", true, ALL, MISSING, D, 1, NULL),
    R(M, "chat", true, NONE, MISSING, S, 0, NULL),
    R(M, "chat", true, NEG, MISSING, S, 0, NULL),
    R(M, "normal", true, ALL, MISSING, E, 0, "service-unavailable"),
    R(M, NULL, true, NONE, MISSING, E, 0, "service-unavailable"),
    R(M, "groupchat", true, ALL, MISSING, E, 0, "service-unavailable"),
    R(M, "headline", true, ALL, MISSING, E, 0, "service-unavailable"),
    R(M, "error", true, ALL, MISSING, I, 0, NULL),
    R(P, NULL, true, ALL, MISSING, I, 0, NULL),
    R(P, "unavailable", true, NONE, MISSING, I, 0, NULL),
    R(P, "error", true, ALL, MISSING, I, 0, NULL),
    R(P, "subscribed", true, ALL, MISSING, V, 0, NULL),
    R(P, "probe", true, NONE, MISSING, V, 0, NULL),
    R(P, "unsubscribe", true, NONE, MISSING, V, 0, NULL),
    R(P, "bogus", true, NONE, MISSING, E, 0, "bad-request"),
    R(Q, "get", true, ALL, MISSING, E, 0, "service-unavailable"),
    R(Q, "set", true, NONE, MISSING, E, 0, "service-unavailable"),
    R(Q, "result", true, ALL, MISSING, I, 0, NULL),
    R(Q, "error", true, NONE, MISSING, I, 0, NULL),
};

START_TEST(test_route_rows)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct im_route_in in = {.kind = w->kind, .type = w->type, .account = w->account};
		if (w->resources == ALL)
			in.res = mixed, in.nres = 3;
		else if (w->resources == NEG)
			in.res = negative, in.nres = 1;
		in.full = w->to != BARE;
		in.resource = w->to >= 0 ? (size_t)w->to : in.nres;
		bool deliver[3] = {true, true, true};
		struct im_route out;
		im_presence_route(&in, deliver, &out);
		unsigned mask = 0;
		for (size_t k = 0; k < in.nres; k++)
			mask |= deliver[k] ? 1u << k : 0;
		ck_assert_msg(out.action == w->action && mask == w->deliver,
			      "row at line %d: action %d deliver %u (%s)", w->line, out.action,
			      mask, out.why);
		ck_assert_ptr_nonnull(out.why);
		if (w->condition != NULL) {
			ck_assert_str_eq(out.err.condition, w->condition);
			ck_assert_str_eq(out.err.type, strcmp(w->condition, "bad-request") == 0
							   ? "modify"
							   : "cancel");
		}
	}
}
END_TEST

static const struct im_roster_limits limits = {100, 1000, 100, 100};

static void roster_with(struct im_roster *r, const char *jid, enum im_sub_state state)
{
	struct im_roster_set s = {.items = 1, .jid = jid};
	struct im_roster_effect e;
	struct im_error err;
	ck_assert_int_eq(im_roster_set(r, "juliet@example.com", &s, &limits, &e, &err), 0);
	im_roster_find(r, jid)->sub.state = state;
}

static bool blocked(const char *jid, void *arg)
{
	return strcmp(jid, (const char *)arg) == 0;
}

START_TEST(test_recipients)
{
	struct im_roster r;
	im_roster_init(&r);
	roster_with(&r, "a@example.net", IM_SUB_NONE);
	roster_with(&r, "b@example.net", IM_SUB_TO);
	roster_with(&r, "c@example.net", IM_SUB_FROM);
	roster_with(&r, "d@example.net", IM_SUB_BOTH);
	roster_with(&r, "e@example.net", IM_SUB_FROM_OUT);
	roster_with(&r, "f@example.net", IM_SUB_TO_IN);
	roster_with(&r, "g@example.net", IM_SUB_NONE_OUT_IN);
	const char *out[8];
	ck_assert_uint_eq(im_presence_subscribers(&r, NULL, NULL, out, 8), 3);
	ck_assert_str_eq(out[0], "c@example.net");
	ck_assert_str_eq(out[1], "d@example.net");
	ck_assert_str_eq(out[2], "e@example.net");
	ck_assert_uint_eq(im_presence_probed(&r, NULL, NULL, out, 8), 3);
	ck_assert_str_eq(out[0], "b@example.net");
	ck_assert_str_eq(out[1], "d@example.net");
	ck_assert_str_eq(out[2], "f@example.net");
	/* Blocked contacts get nothing (XEP-0191); a short array gets the
	 * count. */
	ck_assert_uint_eq(im_presence_subscribers(&r, blocked, "d@example.net", out, 8), 2);
	ck_assert_str_eq(out[1], "e@example.net");
	ck_assert_uint_eq(im_presence_probed(&r, blocked, "b@example.net", out, 1), 2);
	ck_assert_str_eq(out[0], "d@example.net");
	im_roster_free(&r);
}
END_TEST

START_TEST(test_session)
{
	struct im_presence_session s;
	struct im_presence_step step;
	struct im_error err;
	im_presence_session_init(&s, 2);
	/* Directed presence before initial presence is remembered too. */
	ck_assert_int_eq(im_presence_directed(&s, "room@muc.example.org/j", false, true, &err), 0);
	/* Initial presence at a negative priority: no offline messages. */
	im_presence_broadcast(&s, true, -1, &step);
	ck_assert(step.initial && step.broadcast && !step.offline);
	ck_assert_uint_eq(step.nunavailable_to, 0);
	/* Raised: the offline messages now, once. */
	im_presence_broadcast(&s, true, 1, &step);
	ck_assert(!step.initial && step.broadcast && step.offline);
	im_presence_broadcast(&s, true, 2, &step);
	ck_assert(!step.initial && !step.offline);
	ck_assert_int_eq(im_presence_directed(&s, "romeo@example.net/a", false, true, &err), 0);
	ck_assert_int_eq(im_presence_directed(&s, "romeo@example.net/a", false, true, &err), 0);
	ck_assert_uint_eq(s.ndirected, 2);
	/* Bounded: a third target is refused, not forgotten later. */
	ck_assert_int_eq(im_presence_directed(&s, "paris@example.net", false, true, &err), -1);
	ck_assert_str_eq(err.condition, "resource-constraint");
	/* A directed unavailable, or an error from the target, forgets it. */
	ck_assert_int_eq(im_presence_directed(&s, "romeo@example.net/a", false, false, &err), 0);
	ck_assert_uint_eq(s.ndirected, 1);
	ck_assert_int_eq(im_presence_directed(&s, "paris@example.net", false, true, &err), 0);
	ck_assert(im_presence_error_from(&s, "paris@example.net"));
	ck_assert(!im_presence_error_from(&s, "paris@example.net"));
	ck_assert_int_eq(im_presence_directed(&s, "nobody@example.net", false, false, &err), 0);
	/* A subscriber gets the broadcast: not remembered, and an earlier
	 * entry for it is dropped. */
	ck_assert_int_eq(im_presence_directed(&s, "nurse@example.com/x", false, true, &err), 0);
	ck_assert_uint_eq(s.ndirected, 2);
	ck_assert_int_eq(im_presence_directed(&s, "nurse@example.com/x", true, true, &err), 0);
	ck_assert_uint_eq(s.ndirected, 1);
	ck_assert_int_eq(im_presence_directed(&s, "romeo@example.net", true, true, &err), 0);
	ck_assert_uint_eq(s.ndirected, 1);
	/* Unavailable (or the end of the session): broadcast, and the
	 * directed targets that are left. */
	im_presence_broadcast(&s, false, 0, &step);
	ck_assert(step.broadcast && !step.initial);
	ck_assert_uint_eq(step.nunavailable_to, 1);
	ck_assert_str_eq(step.unavailable_to[0], "room@muc.example.org/j");
	ck_assert_uint_eq(s.ndirected, 0);
	im_presence_step_free(&step);
	/* A second unavailable has nothing to withdraw. */
	im_presence_broadcast(&s, false, 0, &step);
	ck_assert(!step.broadcast && step.nunavailable_to == 0);
	/* Available again: initial again, offline already delivered. */
	im_presence_broadcast(&s, true, 0, &step);
	ck_assert(step.initial && !step.offline);
	im_presence_session_free(&s);
}
END_TEST

START_TEST(test_probe)
{
	struct im_roster_item item = {.sub = {IM_SUB_FROM, false}};
	ck_assert_int_eq(im_presence_probe(true, &item, false, 2), IM_PROBE_PRESENCE);
	ck_assert_int_eq(im_presence_probe(true, &item, false, 0), IM_PROBE_UNAVAILABLE);
	ck_assert_int_eq(im_presence_probe(true, &item, true, 2), IM_PROBE_NOTHING);
	item.sub.state = IM_SUB_BOTH;
	ck_assert_int_eq(im_presence_probe(true, &item, false, 1), IM_PROBE_PRESENCE);
	static const enum im_sub_state unsubscribed[] = {IM_SUB_NONE,	 IM_SUB_NONE_OUT,
							 IM_SUB_NONE_IN, IM_SUB_NONE_OUT_IN,
							 IM_SUB_TO,	 IM_SUB_TO_IN};
	for (size_t i = 0; i < 6; i++) {
		item.sub.state = unsubscribed[i];
		ck_assert_int_eq(im_presence_probe(true, &item, false, 1), IM_PROBE_UNSUBSCRIBED);
	}
	ck_assert_int_eq(im_presence_probe(true, NULL, false, 1), IM_PROBE_UNSUBSCRIBED);
	ck_assert_int_eq(im_presence_probe(false, NULL, false, 0), IM_PROBE_UNSUBSCRIBED);
}
END_TEST

Suite *im_presence_suite(void)
{
	Suite *s = suite_create("im_presence");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_route_rows);
	tcase_add_test(tc, test_recipients);
	tcase_add_test(tc, test_session);
	tcase_add_test(tc, test_probe);
	suite_add_tcase(s, tc);
	return s;
}
