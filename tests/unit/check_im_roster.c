/* SPDX-License-Identifier: MIT */
/*
 * Rosters (im/im_roster.c) and their stored form (im/im_rosterval.c):
 * roster sets and removals with the errors of RFC 6121 2.3.3 and 2.5.3,
 * the limits, subscription stanzas applied to items (hidden requests,
 * status text, removal's unsubscribe/unsubscribed), roster versions
 * (2.6), and the strict decoder.
 */
#include <stdlib.h>
#include <string.h>

#include "im/im_roster.h"
#include "im/im_rosterval.h"
#include "unit.h"

static const struct im_roster_limits limits = {
    .items_max = 3, .item_bytes_max = 200, .name_max = 20, .group_max = 10};
static const char *const user = "juliet@example.com";

static struct im_roster roster;
static struct im_roster_effect effect;
static struct im_error err;

static void setup(void)
{
	im_roster_init(&roster);
}

static void teardown(void)
{
	im_roster_free(&roster);
}

static int set(const char *jid, const char *name, const char *const *groups, size_t ngroups)
{
	struct im_roster_set s = {
	    .items = 1, .jid = jid, .name = name, .groups = groups, .ngroups = ngroups};
	return im_roster_set(&roster, user, &s, &limits, &effect, &err);
}

static int del(const char *jid)
{
	struct im_roster_set s = {.items = 1, .jid = jid, .remove = true};
	return im_roster_set(&roster, user, &s, &limits, &effect, &err);
}

static int sub(const char *contact, enum im_sub_dir dir, enum im_sub_type type, const char *status)
{
	return im_roster_subscription(&roster, contact, dir, type, status, &limits, &effect, &err);
}

#define ck_error(call, t, cond)                                                                    \
	do {                                                                                       \
		ck_assert_int_eq((call), -1);                                                      \
		ck_assert_str_eq(err.type, (t));                                                   \
		ck_assert_str_eq(err.condition, (cond));                                           \
	} while (0)

START_TEST(test_set_adds_and_updates)
{
	static const char *const g[] = {"Friends", "Family"};
	ck_assert_int_eq(set("Romeo@Example.NET", "Romeo", g, 2), 0);
	ck_assert(effect.write && effect.push && !effect.removed && effect.item != NULL);
	ck_assert_str_eq(effect.item->jid, "romeo@example.net");
	ck_assert_str_eq(effect.item->name, "Romeo");
	ck_assert_uint_eq(effect.item->ngroups, 2);
	ck_assert_int_eq(effect.item->sub.state, IM_SUB_NONE);
	ck_assert(effect.item->listed);
	/* 2.3.2: the set replaces name and groups, keeps the subscription. */
	ck_assert_int_eq(sub("romeo@example.net", IM_SUB_OUTBOUND, IM_SUB_SUBSCRIBE, NULL), 0);
	ck_assert_int_eq(set("romeo@example.net", "", NULL, 0), 0);
	ck_assert_ptr_null(effect.item->name);
	ck_assert_uint_eq(effect.item->ngroups, 0);
	ck_assert_int_eq(effect.item->sub.state, IM_SUB_NONE_OUT);
	ck_assert_uint_eq(roster.count, 1);
	/* Sorted by JID whatever the order of the sets. */
	ck_assert_int_eq(set("benvolio@example.net", NULL, NULL, 0), 0);
	ck_assert_int_eq(set("example.org", NULL, NULL, 0), 0);
	ck_assert_str_eq(roster.items[0].jid, "benvolio@example.net");
	ck_assert_str_eq(roster.items[1].jid, "example.org");
	ck_assert_str_eq(roster.items[2].jid, "romeo@example.net");
}
END_TEST

START_TEST(test_set_errors)
{
	static const char *const dup[] = {"a", "b", "a"}, *const empty[] = {""},
				 *const longg[] = {"12345678901"}, *const fits[] = {"1234567890"};
	struct im_roster_set two = {.items = 2, .jid = "romeo@example.net"};
	ck_error(im_roster_set(&roster, user, &two, &limits, &effect, &err), "modify",
		 "bad-request");
	struct im_roster_set none = {.items = 0, .jid = "romeo@example.net"};
	ck_error(im_roster_set(&roster, user, &none, &limits, &effect, &err), "modify",
		 "bad-request");
	ck_error(set(NULL, NULL, NULL, 0), "modify", "bad-request");
	ck_error(set("romeo@@example.net", NULL, NULL, 0), "modify", "jid-malformed");
	ck_error(set("", NULL, NULL, 0), "modify", "jid-malformed");
	ck_error(set("romeo@example.net/balcony", NULL, NULL, 0), "modify", "bad-request");
	ck_error(set("JULIET@example.com", NULL, NULL, 0), "cancel", "not-allowed");
	ck_error(set("romeo@example.net", NULL, dup, 3), "modify", "bad-request");
	ck_error(set("romeo@example.net", NULL, empty, 1), "modify", "not-acceptable");
	ck_error(set("romeo@example.net", NULL, longg, 1), "modify", "not-acceptable");
	ck_error(set("romeo@example.net", "123456789012345678901", NULL, 0), "modify",
		 "not-acceptable");
	ck_error(set("romeo@example.net", "\xc3\x28", NULL, 0), "modify", "bad-request");
	ck_assert_uint_eq(roster.count, 0);
	ck_assert_int_eq(set("romeo@example.net", "12345678901234567890", fits, 1), 0);
	/* The item as a whole: 9 bytes, the name (2 + 20) and 14 groups of
	 * 2 + 10 make 199 bytes; a 15th passes the 200. */
	const char *many[15];
	char names[15][11];
	for (int i = 0; i < 15; i++) {
		memcpy(names[i], "group-name", 11);
		names[i][0] = (char)('a' + i);
		many[i] = names[i];
	}
	ck_assert_int_eq(set("romeo@example.net", "12345678901234567890", many, 14), 0);
	ck_error(set("romeo@example.net", "12345678901234567890", many, 15), "modify",
		 "not-acceptable");
	ck_assert_uint_eq(roster.items[0].ngroups, 14);
	/* A full roster takes no new item but still updates its items. */
	ck_assert_int_eq(set("a@example.net", NULL, NULL, 0), 0);
	ck_assert_int_eq(set("b@example.net", NULL, NULL, 0), 0);
	ck_error(set("c@example.net", NULL, NULL, 0), "cancel", "resource-constraint");
	ck_assert_int_eq(set("b@example.net", "B", NULL, 0), 0);
	ck_assert_uint_eq(roster.count, 3);
}
END_TEST

/* 2.5: removal pushes subscription='remove' and tells the contact that
 * each direction there was, or was asked for, is gone. */
START_TEST(test_remove)
{
	ck_error(del("romeo@example.net"), "cancel", "item-not-found");
	ck_error(del("juliet@example.com"), "cancel", "not-allowed");
	static const struct {
		int state;
		bool unsubscribe, unsubscribed;
		unsigned generate;
	} cases[] = {
	    {IM_SUB_NONE, 0, 0, 0},
	    {IM_SUB_NONE_OUT, 1, 0, 0},
	    {IM_SUB_NONE_IN, 0, 1, 0},
	    {IM_SUB_NONE_OUT_IN, 1, 1, 0},
	    {IM_SUB_TO, 1, 0, 0},
	    {IM_SUB_TO_IN, 1, 1, 0},
	    {IM_SUB_FROM, 0, 1, IM_SUB_GEN_UNAVAILABLE},
	    {IM_SUB_FROM_OUT, 1, 1, IM_SUB_GEN_UNAVAILABLE},
	    {IM_SUB_BOTH, 1, 1, IM_SUB_GEN_UNAVAILABLE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(set("romeo@example.net", "R", NULL, 0), 0);
		roster.items[0].sub.state = (enum im_sub_state)cases[i].state;
		ck_assert_int_eq(del("Romeo@example.net"), 0);
		ck_assert(effect.removed && effect.write && effect.push && effect.item == NULL);
		ck_assert(effect.send_unsubscribe == cases[i].unsubscribe);
		ck_assert(effect.send_unsubscribed == cases[i].unsubscribed);
		ck_assert_uint_eq(effect.generate, cases[i].generate);
		ck_assert_uint_eq(roster.count, 0);
	}
}
END_TEST

/* 3.1.3: a request from a contact not in the roster is kept with its text
 * but not listed; the user's answer lists it (3.1.5) or forgets it. */
START_TEST(test_hidden_request)
{
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, "Hello"), 0);
	ck_assert(effect.forward && effect.write && !effect.push && effect.item != NULL);
	ck_assert(!effect.item->listed);
	ck_assert_str_eq(effect.item->status, "Hello");
	/* Not delivered again, text kept. */
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, "Again"), 0);
	ck_assert(!effect.forward && !effect.write);
	ck_assert_str_eq(roster.items[0].status, "Hello");
	/* Withdrawn: nothing is left. */
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_INBOUND, IM_SUB_UNSUBSCRIBE, NULL), 0);
	ck_assert(effect.forward && effect.write && effect.removed && !effect.push);
	ck_assert_uint_eq(roster.count, 0);
	/* Denied: nothing is left either; the denial is routed. */
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, NULL), 0);
	ck_assert_ptr_null(roster.items[0].status);
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_OUTBOUND, IM_SUB_UNSUBSCRIBED, NULL), 0);
	ck_assert(effect.forward && effect.removed);
	ck_assert_uint_eq(roster.count, 0);
	/* Approved: listed with subscription from, pushed, presence sent. */
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, "Hi"), 0);
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_OUTBOUND, IM_SUB_SUBSCRIBED, NULL), 0);
	ck_assert(effect.forward && effect.write && effect.push && effect.item->listed);
	ck_assert_int_eq(effect.item->sub.state, IM_SUB_FROM);
	ck_assert_ptr_null(effect.item->status);
	ck_assert_uint_eq(effect.generate, IM_SUB_GEN_AVAILABLE);
	/* A roster set lists a hidden request and keeps it waiting. */
	ck_assert_int_eq(sub("tybalt@example.com", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, "X"), 0);
	ck_assert_int_eq(set("tybalt@example.com", "T", NULL, 0), 0);
	ck_assert(effect.item->listed && effect.item->sub.state == IM_SUB_NONE_IN);
	ck_assert_str_eq(effect.item->status, "X");
}
END_TEST

START_TEST(test_subscription_items)
{
	static const char *const g[] = {"Verona"};
	/* The user's request creates a listed item with ask, pushed. */
	ck_assert_int_eq(sub("romeo@example.net", IM_SUB_OUTBOUND, IM_SUB_SUBSCRIBE, NULL), 0);
	ck_assert(effect.forward && effect.write && effect.push && effect.item->listed);
	ck_assert_int_eq(effect.item->sub.state, IM_SUB_NONE_OUT);
	ck_assert_int_eq(set("romeo@example.net", "Romeo", g, 1), 0);
	ck_assert_int_eq(sub("romeo@example.net", IM_SUB_INBOUND, IM_SUB_SUBSCRIBED, NULL), 0);
	ck_assert(effect.forward && effect.push);
	ck_assert_int_eq(effect.item->sub.state, IM_SUB_TO);
	/* Name and groups survive a subscription change. */
	ck_assert_str_eq(effect.item->name, "Romeo");
	ck_assert_str_eq(effect.item->groups[0], "Verona");
	/* Stanzas that change nothing write nothing; an absent contact gets
	 * no item from them. */
	ck_assert_int_eq(sub("romeo@example.net", IM_SUB_INBOUND, IM_SUB_SUBSCRIBED, NULL), 0);
	ck_assert(!effect.forward && !effect.write && !effect.push);
	ck_assert_int_eq(sub("paris@example.net", IM_SUB_INBOUND, IM_SUB_UNSUBSCRIBED, NULL), 0);
	ck_assert(!effect.forward && !effect.write && effect.item == NULL);
	ck_assert_int_eq(sub("paris@example.net", IM_SUB_OUTBOUND, IM_SUB_UNSUBSCRIBE, NULL), 0);
	ck_assert(effect.forward && !effect.write);
	ck_assert_uint_eq(roster.count, 1);
	/* A pre-approval creates a listed item, not routed. */
	ck_assert_int_eq(sub("paris@example.net", IM_SUB_OUTBOUND, IM_SUB_SUBSCRIBED, NULL), 0);
	ck_assert(!effect.forward && effect.write && effect.push && effect.item->listed);
	ck_assert(effect.item->sub.approved);
	ck_assert_int_eq(sub("paris@example.net", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, "hi"), 0);
	ck_assert(!effect.forward && effect.push && !effect.item->sub.approved);
	ck_assert_int_eq(effect.item->sub.state, IM_SUB_FROM);
	ck_assert_uint_eq(effect.generate, IM_SUB_GEN_SUBSCRIBED | IM_SUB_GEN_AVAILABLE);
	ck_assert_ptr_null(effect.item->status);
	/* A full roster refuses a new contact's request. */
	ck_assert_int_eq(set("a@example.net", NULL, NULL, 0), 0);
	ck_error(sub("b@example.net", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, NULL), "cancel",
		 "resource-constraint");
	ck_assert_uint_eq(roster.count, 3);
}
END_TEST

/* The status of a request is cut (at a character) to fit the item. */
START_TEST(test_status_cut)
{
	char status[400];
	for (int i = 0; i < 199; i++)
		memcpy(status + 2 * i, "\xc3\xa9", 2); /* é */
	status[398] = 0;
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, status), 0);
	const struct im_roster_item *it = effect.item;
	ck_assert_uint_le(im_rosterval_size(it), limits.item_bytes_max);
	ck_assert_uint_eq(strlen(it->status) % 2, 0);
	ck_assert(im_rosterval_utf8_valid(it->status, strlen(it->status)));
	ck_assert_uint_ge(im_rosterval_size(it), limits.item_bytes_max - 1);
}
END_TEST

START_TEST(test_ver)
{
	char ver[21];
	im_roster_ver_format(42, ver, sizeof(ver));
	ck_assert_str_eq(ver, "42");
	im_roster_ver_format(UINT64_MAX, ver, sizeof(ver));
	ck_assert_str_eq(ver, "18446744073709551615");
	ck_assert(im_roster_ver_current("18446744073709551615", UINT64_MAX));
	ck_assert(im_roster_ver_current("42", 42));
	ck_assert(!im_roster_ver_current("41", 42));
	ck_assert(!im_roster_ver_current("042", 42));
	ck_assert(!im_roster_ver_current("", 0));
	ck_assert(!im_roster_ver_current(NULL, 0));
	ck_assert(!im_roster_ver_current("18446744073709551616", 0));
	ck_assert(!im_roster_ver_current("4x", 4));
	ck_assert(!im_roster_ver_current("-1", UINT64_MAX));
}
END_TEST

static const struct im_roster_limits wide = {
    .items_max = 10, .item_bytes_max = 4096, .name_max = 256, .group_max = 128};

static int decode(const char *key, const unsigned char *v, size_t len, struct im_roster_item *it,
		  const char **why)
{
	return im_rosterval_decode(key, strlen(key), v, len, &wide, it, why);
}

START_TEST(test_value_roundtrip)
{
	static const char *const g[] = {"Friends", "V\xc3\xa9rone"};
	ck_assert_int_eq(set("romeo@example.net", "Romeo", g, 2), 0);
	ck_assert_int_eq(sub("romeo@example.net", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, "let me"), 0);
	ck_assert_int_eq(sub("nurse@example.com", IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, NULL), 0);
	ck_assert_int_eq(sub("paris@example.net", IM_SUB_OUTBOUND, IM_SUB_SUBSCRIBED, NULL), 0);
	for (size_t i = 0; i < roster.count; i++) {
		const struct im_roster_item *a = &roster.items[i];
		unsigned char v[256];
		size_t n = im_rosterval_encode(a, v, sizeof(v));
		ck_assert_uint_eq(n, im_rosterval_size(a));
		ck_assert_uint_eq(im_rosterval_encode(a, v, n - 1), 0);
		struct im_roster_item b;
		const char *why;
		ck_assert_int_eq(decode(a->jid, v, n, &b, &why), 0);
		ck_assert_str_eq(b.jid, a->jid);
		ck_assert(b.sub.state == a->sub.state && b.sub.approved == a->sub.approved &&
			  b.listed == a->listed && b.ngroups == a->ngroups);
		ck_assert((a->name == NULL) == (b.name == NULL));
		ck_assert((a->status == NULL) == (b.status == NULL));
		for (size_t k = 0; k < a->ngroups; k++)
			ck_assert_str_eq(b.groups[k], a->groups[k]);
		unsigned char again[256];
		ck_assert_uint_eq(im_rosterval_encode(&b, again, sizeof(again)), n);
		ck_assert_mem_eq(again, v, n);
		im_roster_item_free(&b);
	}
}
END_TEST

#define ck_refused(key, bytes, reason)                                                             \
	do {                                                                                       \
		static const unsigned char v[] = bytes;                                            \
		struct im_roster_item it;                                                          \
		const char *why;                                                                   \
		ck_assert_int_eq(decode((key), v, sizeof(v) - 1, &it, &why), -1);                  \
		ck_assert_str_eq(why, (reason));                                                   \
		ck_assert_ptr_null(it.jid);                                                        \
	} while (0)

START_TEST(test_value_strict)
{
	const char *ok = "romeo@example.net";
	ck_refused(ok, "\x02\x00\x02\x00\x00\x00\x00\x00\x00", "format");
	ck_refused(ok, "\x01\x09\x02\x00\x00\x00\x00\x00\x00", "state");
	ck_refused(ok, "\x01\x00\x06\x00\x00\x00\x00\x00\x00", "flags");
	ck_refused(ok, "\x01\x00\x02\x00\x05Rom\x00\x00\x00\x00", "name");
	ck_refused(ok, "\x01\x00\x02\x00\x02\xc3\x28\x00\x00\x00\x00", "name");
	ck_refused(ok, "\x01\x00\x02\x00\x02R\x00\x00\x00\x00\x00", "name");
	ck_refused(ok, "\x01\x00\x02\x00\x00\x00\x00\xff\xff", "groups");
	ck_refused(ok, "\x01\x00\x02\x00\x00\x00\x00\x00\x01\x00\x00\x00", "group");
	ck_refused(ok, "\x01\x00\x02\x00\x00\x00\x00\x00\x02\x00\x01g\x00\x01g", "group repeated");
	ck_refused(ok, "\x01\x00\x02\x00\x00\x00\x00\x00\x00x", "trailing bytes");
	ck_refused(ok, "\x01\x00\x02\x00\x00\x00\x00\x00", "groups");
	ck_refused(ok, "\x01\x06\x03\x00\x00\x00\x00\x00\x00", "pre-approval");
	ck_refused(ok, "\x01\x04\x02\x00\x00\x00\x02hi\x00\x00", "status");
	ck_refused(ok, "\x01\x04\x00\x00\x00\x00\x00\x00\x00", "unlisted");
	ck_refused(ok, "\x01\x02\x00\x00\x01R\x00\x00\x00\x00", "unlisted");
	ck_refused("Romeo@example.net", "\x01\x00\x02\x00\x00\x00\x00\x00\x00", "key");
	ck_refused("romeo@example.net/x", "\x01\x00\x02\x00\x00\x00\x00\x00\x00", "key");
	ck_refused("", "\x01\x00\x02\x00\x00\x00\x00\x00\x00", "key");
	/* Beyond the limits passed in. */
	static const unsigned char big[300] = {1, 0, 2, 0, 1, 'R'};
	struct im_roster_item it;
	const char *why;
	struct im_roster_limits small = wide;
	small.item_bytes_max = 299;
	ck_assert_int_eq(im_rosterval_decode(ok, strlen(ok), big, sizeof(big), &small, &it, &why),
			 -1);
	ck_assert_str_eq(why, "size");
	static const unsigned char named[] = {1, 0, 2, 0, 3, 'R', 'o', 'm', 0, 0, 0, 0};
	small.name_max = 2;
	ck_assert_int_eq(
	    im_rosterval_decode(ok, strlen(ok), named, sizeof(named), &small, &it, &why), -1);
	ck_assert_str_eq(why, "name");
	small.name_max = 3;
	ck_assert_int_eq(
	    im_rosterval_decode(ok, strlen(ok), named, sizeof(named), &small, &it, &why), 0);
	im_roster_item_free(&it);
}
END_TEST

/* Two local users, each with a roster: a stanza from one goes through the
 * outbound step on its sender's roster and, if routed, the inbound step on
 * its recipient's; an auto-reply the recipient's server generates comes
 * back the same way.  The RFC 6121 3.1 to 3.3 conversations end with both
 * rosters agreeing. */
struct side {
	struct im_roster roster;
	const char *jid;
	int pushes;
};

static const struct im_roster_limits flow_limits = {10, 1000, 100, 100};

static void send_sub(struct side *from, struct side *to, enum im_sub_type type)
{
	struct im_roster_effect e;
	struct im_error err;
	ck_assert_int_eq(im_roster_subscription(&from->roster, to->jid, IM_SUB_OUTBOUND, type, NULL,
						&flow_limits, &e, &err),
			 0);
	from->pushes += e.push;
	if (!e.forward)
		return;
	ck_assert_int_eq(im_roster_subscription(&to->roster, from->jid, IM_SUB_INBOUND, type, NULL,
						&flow_limits, &e, &err),
			 0);
	to->pushes += e.push;
	if (e.generate & IM_SUB_GEN_SUBSCRIBED) {
		ck_assert_int_eq(im_roster_subscription(&from->roster, to->jid, IM_SUB_INBOUND,
							IM_SUB_SUBSCRIBED, NULL, &flow_limits, &e,
							&err),
				 0);
		from->pushes += e.push;
	}
}

static int state_of(const struct side *s, const struct side *contact)
{
	const struct im_roster_item *it = im_roster_find(&s->roster, contact->jid);
	return it == NULL ? -1 : (int)it->sub.state;
}

START_TEST(test_two_users)
{
	struct side j = {.jid = "juliet@example.com"}, r = {.jid = "romeo@example.net"};
	im_roster_init(&j.roster);
	im_roster_init(&r.roster);
	/* 3.1: Juliet asks, Romeo approves; Romeo asks back, Juliet approves. */
	send_sub(&j, &r, IM_SUB_SUBSCRIBE);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_NONE_OUT);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_NONE_IN);
	ck_assert(!im_roster_find(&r.roster, j.jid)->listed);
	send_sub(&r, &j, IM_SUB_SUBSCRIBED);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_TO);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_FROM);
	send_sub(&r, &j, IM_SUB_SUBSCRIBE);
	send_sub(&j, &r, IM_SUB_SUBSCRIBED);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_BOTH);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_BOTH);
	/* Asking again while subscribed: answered by Romeo's server, nothing
	 * changes and nobody is asked. */
	send_sub(&j, &r, IM_SUB_SUBSCRIBE);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_BOTH);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_BOTH);
	/* 3.3: Juliet unsubscribes from Romeo; 3.2: she cancels his. */
	send_sub(&j, &r, IM_SUB_UNSUBSCRIBE);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_FROM);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_TO);
	/* Romeo cannot cancel what he does not grant: not even routed. */
	send_sub(&r, &j, IM_SUB_UNSUBSCRIBED);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_FROM);
	send_sub(&j, &r, IM_SUB_UNSUBSCRIBED);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_NONE);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_NONE);
	/* 3.4: Romeo pre-approves Juliet; her request is granted at once. */
	send_sub(&r, &j, IM_SUB_SUBSCRIBED);
	ck_assert(im_roster_find(&r.roster, j.jid)->sub.approved);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_NONE);
	send_sub(&j, &r, IM_SUB_SUBSCRIBE);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_TO);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_FROM);
	ck_assert(!im_roster_find(&r.roster, j.jid)->sub.approved);
	/* A denied request leaves the subscription there was. */
	send_sub(&r, &j, IM_SUB_SUBSCRIBE);
	send_sub(&j, &r, IM_SUB_UNSUBSCRIBED);
	ck_assert_int_eq(state_of(&j, &r), IM_SUB_TO);
	ck_assert_int_eq(state_of(&r, &j), IM_SUB_FROM);
	ck_assert_int_gt(j.pushes, 0);
	ck_assert_int_gt(r.pushes, 0);
	im_roster_free(&j.roster);
	im_roster_free(&r.roster);
}
END_TEST

Suite *im_roster_suite(void)
{
	Suite *s = suite_create("im_roster");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_set_adds_and_updates);
	tcase_add_test(tc, test_set_errors);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_hidden_request);
	tcase_add_test(tc, test_subscription_items);
	tcase_add_test(tc, test_status_cut);
	tcase_add_test(tc, test_ver);
	tcase_add_test(tc, test_value_roundtrip);
	tcase_add_test(tc, test_value_strict);
	tcase_add_test(tc, test_two_users);
	suite_add_tcase(s, tc);
	return s;
}
