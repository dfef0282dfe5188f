/* SPDX-License-Identifier: MIT */
/* The decoders of the administration messages (common/proto.c): a session
 * list is taken whole or not at all, a kick only for something shaped as a
 * JID. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/proto.h"
#include "unit.h"

/* A SESSIONS payload with the given JIDs (kinds alternate client, bridge). */
static size_t build_sessions(char *out, size_t size, const char *const *jids, uint32_t count,
			     uint32_t total)
{
	struct proto_sessions head = {.count = count, .total = total};
	size_t at = sizeof(head);
	memcpy(out, &head, sizeof(head));
	for (uint32_t i = 0; i < count; i++) {
		struct proto_session_entry e = {
		    .kind = i % 2 ? PROTO_SESSION_COMPONENT : PROTO_SESSION_CLIENT,
		    .jid_len = (uint32_t)strlen(jids[i]),
		    .since_ms = 1796655845123 + i,
		    .idle_ms = 1000 * i,
		};
		strcpy(e.address, "[192.0.2.7]:50312");
		strcpy(e.tls, "TLSv1.3");
		ck_assert_uint_le(at + sizeof(e) + e.jid_len, size);
		memcpy(out + at, &e, sizeof(e));
		memcpy(out + at + sizeof(e), jids[i], e.jid_len);
		at += sizeof(e) + e.jid_len;
	}
	return at;
}

struct seen {
	unsigned calls;
	char last[3200];
	uint64_t idle;
};

static void count_one(const struct proto_session_view *s, void *arg)
{
	struct seen *seen = arg;
	seen->calls++;
	snprintf(seen->last, sizeof(seen->last), "%s %s %s", s->jid, s->address, s->tls);
	seen->idle = s->idle_ms;
}

START_TEST(test_sessions_unpack)
{
	static const char *const jids[] = {"alice@example.com/desk", "cb1.example.com"};
	char payload[1024];
	size_t len = build_sessions(payload, sizeof(payload), jids, 2, 7);
	struct proto_sessions head;
	struct seen seen = {0};
	ck_assert_int_eq(proto_sessions_unpack(payload, len, &head, count_one, &seen), 0);
	ck_assert_uint_eq(head.count, 2);
	ck_assert_uint_eq(head.total, 7);
	ck_assert_uint_eq(seen.calls, 2);
	ck_assert_str_eq(seen.last, "cb1.example.com [192.0.2.7]:50312 TLSv1.3");
	ck_assert_uint_eq(seen.idle, 1000);

	/* Anything short, long or inconsistent is refused before any entry is
	 * handed over. */
	seen.calls = 0;
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(proto_sessions_unpack(payload, cut, &head, count_one, &seen), -1);
	char longer[1100];
	memcpy(longer, payload, len);
	longer[len] = 'x';
	ck_assert_int_eq(proto_sessions_unpack(longer, len + 1, &head, count_one, &seen), -1);
	ck_assert_uint_eq(seen.calls, 0);

	char bad[1024];
	struct proto_session_entry e;
	/* total below count */
	memcpy(bad, payload, len);
	((struct proto_sessions *)bad)->total = 1;
	ck_assert_int_eq(proto_sessions_unpack(bad, len, &head, NULL, NULL), -1);
	/* an unknown kind, an address without its NUL, a control byte in a JID,
	 * a JID longer than the rest */
	for (int variant = 0; variant < 4; variant++) {
		memcpy(bad, payload, len);
		memcpy(&e, bad + sizeof(struct proto_sessions), sizeof(e));
		if (variant == 0)
			e.kind = 9;
		else if (variant == 1)
			memset(e.address, 'a', sizeof(e.address));
		else if (variant == 3)
			e.jid_len = 4000;
		memcpy(bad + sizeof(struct proto_sessions), &e, sizeof(e));
		if (variant == 2)
			bad[sizeof(struct proto_sessions) + sizeof(e) + 5] = '\n';
		ck_assert_int_eq(proto_sessions_unpack(bad, len, &head, count_one, &seen), -1);
	}
	ck_assert_uint_eq(seen.calls, 0);

	/* None listed, some counted: a node with more than one answer holds. */
	len = build_sessions(payload, sizeof(payload), jids, 0, 5);
	ck_assert_int_eq(proto_sessions_unpack(payload, len, &head, count_one, &seen), 0);
	ck_assert_uint_eq(head.total, 5);
	ck_assert_uint_eq(seen.calls, 0);
}
END_TEST

START_TEST(test_admin_kick_check)
{
	struct proto_admin_kick kick = {.reason = PROTO_ADMIN_KICK_ADMIN};
	strcpy(kick.jid, "alice@example.com/desk");
	ck_assert_int_eq(proto_admin_kick_check(&kick), 0);
	strcpy(kick.jid, "alice@example.com");
	ck_assert_int_eq(proto_admin_kick_check(&kick), 0);
	strcpy(kick.jid, "cb1.example.com");
	ck_assert_int_eq(proto_admin_kick_check(&kick), 0);
	kick.reason = PROTO_ADMIN_KICK_PASSWORD;
	ck_assert_int_eq(proto_admin_kick_check(&kick), 0);

	/* Not a JID, empty, unterminated. */
	strcpy(kick.jid, "@example.com");
	ck_assert_int_eq(proto_admin_kick_check(&kick), -1);
	strcpy(kick.jid, "alice@example.com/");
	ck_assert_int_eq(proto_admin_kick_check(&kick), -1);
	kick.jid[0] = '\0';
	ck_assert_int_eq(proto_admin_kick_check(&kick), -1);
	memset(kick.jid, 'a', sizeof(kick.jid));
	ck_assert_int_eq(proto_admin_kick_check(&kick), -1);
	/* An unknown reason, reserved bits set. */
	strcpy(kick.jid, "alice@example.com");
	kick.reason = PROTO_ADMIN_KICK_END;
	ck_assert_int_eq(proto_admin_kick_check(&kick), -1);
	kick.reason = PROTO_ADMIN_KICK_ADMIN;
	kick.reserved = 1;
	ck_assert_int_eq(proto_admin_kick_check(&kick), -1);
}
END_TEST

static void count_remote(const struct proto_remote_session_view *s, void *arg)
{
	struct seen *seen = arg;
	seen->calls++;
	snprintf(seen->last, sizeof(seen->last), "%s %llx", s->jid, (unsigned long long)s->node);
}

START_TEST(test_cluster_sessions_unpack)
{
	char payload[512];
	struct proto_cluster_sessions head = {
	    .self = 1, .leader = 2, .state = PROTO_CLUSTER_SESSIONS_OK, .count = 1, .total = 4};
	struct proto_remote_session e = {.node = 0xab, .kind = PROTO_SESSION_CLIENT, .jid_len = 5};
	memcpy(payload, &head, sizeof(head));
	memcpy(payload + sizeof(head), &e, sizeof(e));
	memcpy(payload + sizeof(head) + sizeof(e), "a@b/c", 5);
	size_t len = sizeof(head) + sizeof(e) + 5;
	struct proto_cluster_sessions out;
	struct seen seen = {0};
	ck_assert_int_eq(proto_cluster_sessions_unpack(payload, len, &out, count_remote, &seen), 0);
	ck_assert_uint_eq(seen.calls, 1);
	ck_assert_str_eq(seen.last, "a@b/c ab");
	ck_assert_uint_eq(out.total, 4);
	seen.calls = 0;
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(
		    proto_cluster_sessions_unpack(payload, cut, &out, count_remote, &seen), -1);
	/* An unknown state, reserved bits, a NUL inside the JID. */
	char bad[512];
	memcpy(bad, payload, len);
	((struct proto_cluster_sessions *)bad)->state = PROTO_CLUSTER_SESSIONS_STATE_END;
	ck_assert_int_eq(proto_cluster_sessions_unpack(bad, len, &out, count_remote, &seen), -1);
	memcpy(bad, payload, len);
	((struct proto_cluster_sessions *)bad)->reserved = 1;
	ck_assert_int_eq(proto_cluster_sessions_unpack(bad, len, &out, count_remote, &seen), -1);
	memcpy(bad, payload, len);
	bad[len - 2] = '\0';
	ck_assert_int_eq(proto_cluster_sessions_unpack(bad, len, &out, count_remote, &seen), -1);
	ck_assert_uint_eq(seen.calls, 0);
}
END_TEST

/* What goes into a <see-other-host/> as text must need no escaping. */
START_TEST(test_drain_check)
{
	struct proto_drain d = {.on = 1, .rate = 50, .count = 2};
	snprintf(d.targets[0], sizeof(d.targets[0]), "xmpp2.example.com:5222");
	snprintf(d.targets[1], sizeof(d.targets[1]), "[2001:db8::2]:5222");
	ck_assert_int_eq(proto_drain_check(&d), 0);
	struct proto_drain off = {0};
	ck_assert_int_eq(proto_drain_check(&off), 0);
	struct proto_drain none = {.on = 1, .rate = 1};
	ck_assert_int_eq(proto_drain_check(&none), 0); /* <system-shutdown/> */

	struct proto_drain bad = d;
	bad.rate = 0;
	ck_assert_int_eq(proto_drain_check(&bad), -1);
	bad.rate = PROTO_DRAIN_RATE_MAX + 1;
	ck_assert_int_eq(proto_drain_check(&bad), -1);
	bad = d;
	bad.on = 2;
	ck_assert_int_eq(proto_drain_check(&bad), -1);
	bad = d;
	bad.reserved = 1;
	ck_assert_int_eq(proto_drain_check(&bad), -1);
	bad = d;
	bad.count = PROTO_DRAIN_TARGETS_MAX + 1;
	ck_assert_int_eq(proto_drain_check(&bad), -1);
	bad = d;
	bad.targets[1][0] = '\0'; /* empty */
	ck_assert_int_eq(proto_drain_check(&bad), -1);
	bad = d;
	memset(bad.targets[0], 'a', sizeof(bad.targets[0])); /* unterminated */
	ck_assert_int_eq(proto_drain_check(&bad), -1);
	const char *hostile[] = {"a<b>:1", "a&amp;:1", "a'b:1", "a b:1", "a\"b:1", "\xc3\xa9:1"};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		bad = d;
		snprintf(bad.targets[0], sizeof(bad.targets[0]), "%s", hostile[i]);
		ck_assert_msg(proto_drain_check(&bad) == -1, "%s taken", hostile[i]);
	}
}
END_TEST

/* The answer to a write carries two texts whose lengths the head says:
 * every length is checked against the payload, and neither text may
 * smuggle a NUL (rxmppctl prints them). */
START_TEST(test_propose_result_unpack)
{
	struct proto_propose_result head = {.status = PROTO_PROPOSE_APPLIED,
					    .outcome = 1,
					    .index = 42,
					    .term = 3,
					    .applied = 3,
					    .members = 3,
					    .outcome_len = 24,
					    .text_len = 9};
	char buf[sizeof(head) + 33];
	memcpy(buf, &head, sizeof(head));
	memcpy(buf + sizeof(head), "already known, identicalon 3 of 3", 33);
	struct proto_propose_result_view v;
	ck_assert_int_eq(proto_propose_result_unpack(buf, sizeof(buf), &v), 0);
	ck_assert_str_eq(v.outcome, "already known, identical");
	ck_assert_str_eq(v.text, "on 3 of 3");
	ck_assert_uint_eq(v.head.index, 42);

	ck_assert_int_eq(proto_propose_result_unpack(buf, sizeof(buf) - 1, &v), -1); /* cut */
	ck_assert_int_eq(proto_propose_result_unpack(buf, sizeof(head) - 1, &v), -1);
	char bad[sizeof(buf)];
	memcpy(bad, buf, sizeof(buf));
	bad[sizeof(head) + 3] = '\0';
	ck_assert_int_eq(proto_propose_result_unpack(bad, sizeof(bad), &v), -1);
	struct proto_propose_result h = head;
	h.status = PROTO_PROPOSE_STATUS_END;
	memcpy(bad, &h, sizeof(h));
	memcpy(bad + sizeof(h), buf + sizeof(h), 33);
	ck_assert_int_eq(proto_propose_result_unpack(bad, sizeof(bad), &v), -1);
	h = head;
	h.outcome_len = UINT32_MAX; /* no overflow into a "fitting" sum */
	h.text_len = 34;
	memcpy(bad, &h, sizeof(h));
	ck_assert_int_eq(proto_propose_result_unpack(bad, sizeof(bad), &v), -1);
}
END_TEST

Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("proto");
	tcase_add_test(tc, test_sessions_unpack);
	tcase_add_test(tc, test_admin_kick_check);
	tcase_add_test(tc, test_drain_check);
	tcase_add_test(tc, test_cluster_sessions_unpack);
	tcase_add_test(tc, test_propose_result_unpack);
	suite_add_tcase(s, tc);
	return s;
}
