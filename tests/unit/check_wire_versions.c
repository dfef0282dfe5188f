/* SPDX-License-Identifier: MIT */
/*
 * The compatibility rule's guard (common/peerlink.h, README "Upgrades and
 * compatibility"): what each released protocol version puts on a peer link
 * is pinned here, so a change to a frame under a version number a release
 * already speaks fails here instead of splitting a cluster in the middle
 * of its upgrade.  A change after a release raises PEERLINK_VERSION,
 * keeps the codec of the previous version for links that agree on it, and
 * adds a row for the new version; until a release that speaks the new
 * version is cut (CHANGELOG.md is the record), further changes update that
 * row instead.
 */
#include <stddef.h>

#include "common/peerlink.h"
#include "common/proto.h"
#include "elector/elector_wire.h"
#include "router/router_relay_wire.h"
#include "unit.h"

struct wire_layout {
	unsigned version;
	/* Payload sizes, then the last frame or message type of each enum;
	 * 0: not in that version. */
	size_t hello, elector_msg, elector_msg_head, change, change_reply, route;
	size_t query, answer, reg, session, presence, forward, deliver, delivered, ack, kick;
	size_t elector_log, elector_entry, elector_chunk, elector_propose, elector_propose_reply;
	size_t keep_open, keep_count, keep_resume, keep_resumed;
	unsigned last_elector_wire, last_elector_msg, last_change_op, last_relay_wire,
	    last_query_op;
};

/* 3: rxmpp 0.2.0.  4: not released yet (the replicated log, stream
 * management across nodes); its row is updated with each change until a
 * release speaks it. */
static const struct wire_layout released[] = {
    {.version = 3,
     .hello = 144,
     .elector_msg = 2832,
     .elector_msg_head = 56,
     .change = 144,
     .change_reply = 264,
     .route = 20,
     .query = 24,
     .answer = 8,
     .reg = 24,
     .session = 8,
     .presence = 16,
     .forward = 24,
     .deliver = 40,
     .delivered = 8,
     .ack = 16,
     .kick = 16,
     .last_elector_wire = 4,
     .last_elector_msg = 7,
     .last_change_op = 2,
     .last_relay_wire = 13,
     .last_query_op = 1},
    {.version = 4,
     .hello = 144,
     .elector_msg = 2832,
     .elector_msg_head = 56,
     .change = 144,
     .change_reply = 264,
     .route = 20,
     .query = 24,
     .answer = 8,
     .reg = 24,
     .session = 8,
     .presence = 16,
     .forward = 24,
     .deliver = 40,
     .delivered = 8,
     .ack = 16,
     .kick = 16,
     .elector_log = 112,
     .elector_entry = 24,
     .elector_chunk = 48,
     .elector_propose = 16,
     .elector_propose_reply = 48,
     .keep_open = 88,
     .keep_count = 16,
     .keep_resume = 80,
     .keep_resumed = 48,
     .last_elector_wire = 8,
     .last_elector_msg = 8,
     .last_change_op = 2,
     .last_relay_wire = 22,
     .last_query_op = 1},
};

/* What this build puts on a link that agreed on `version`. */
static struct wire_layout built_for(unsigned version)
{
	struct wire_layout b = {
	    .version = version,
	    .hello = sizeof(struct peerlink_hello),
	    .elector_msg = ELECTOR_MSG_V3_SIZE,
	    .elector_msg_head = offsetof(struct elector_msg, config),
	    .change = sizeof(struct elector_change),
	    .change_reply = sizeof(struct elector_change_reply),
	    .route = sizeof(struct proto_route),
	    .query = sizeof(struct relay_wire_query),
	    .answer = sizeof(struct relay_wire_answer),
	    .reg = sizeof(struct relay_wire_register),
	    .session = sizeof(struct relay_wire_session),
	    .presence = sizeof(struct relay_wire_presence),
	    .forward = sizeof(struct relay_wire_forward),
	    .deliver = sizeof(struct relay_wire_deliver),
	    .delivered = sizeof(struct relay_wire_delivered),
	    .ack = sizeof(struct relay_wire_ack),
	    .kick = sizeof(struct relay_wire_kick),
	    .last_elector_wire = ELECTOR_WIRE_CHANGE_REPLY,
	    .last_elector_msg = ELECTOR_MSG_TIMEOUT_NOW,
	    .last_change_op = ELECTOR_CHANGE_LEADER,
	    .last_query_op = RELAY_QUERY_KICK,
	};
	if (version >= 4) {
		b.elector_log = sizeof(struct elector_wire_log);
		b.elector_entry = sizeof(struct elector_wire_entry);
		b.elector_chunk = sizeof(struct elector_wire_chunk);
		b.elector_propose = sizeof(struct elector_wire_propose);
		b.elector_propose_reply = sizeof(struct elector_wire_propose_reply);
		b.last_elector_wire = ELECTOR_WIRE_PROPOSE_REPLY;
		b.last_elector_msg = ELECTOR_MSG_SNAPSHOT;
		b.keep_open = sizeof(struct relay_wire_keep_open);
		b.keep_count = sizeof(struct relay_wire_keep_count);
		b.keep_resume = sizeof(struct relay_wire_keep_resume);
		b.keep_resumed = sizeof(struct relay_wire_keep_resumed);
		b.last_relay_wire = RELAY_WIRE_KEEP_ITEM;
	} else {
		b.last_relay_wire = RELAY_WIRE_FIRST_V4 - 1;
	}
	return b;
}

#define SAME(field)                                                                                \
	ck_assert_msg(built.field == row->field,                                                   \
		      "protocol version %u is pinned with " #field " %zu, this build has %zu: if " \
		      "a release speaks it (CHANGELOG.md), raise PEERLINK_VERSION "                \
		      "(common/peerlink.h) and keep version %u's codec; if none does yet, "        \
		      "update its row here",                                                       \
		      row->version, (size_t)row->field, (size_t)built.field, row->version)

/* Every version this build speaks, the previous release's included. */
START_TEST(test_a_released_version_keeps_its_layout)
{
	unsigned checked = 0;
	for (size_t i = 0; i < sizeof(released) / sizeof(released[0]); i++) {
		const struct wire_layout *row = &released[i];
		if (row->version < PEERLINK_VERSION_MIN || row->version > PEERLINK_VERSION)
			continue;
		struct wire_layout built = built_for(row->version);
		checked++;
		SAME(hello);
		SAME(elector_msg);
		SAME(elector_msg_head);
		SAME(change);
		SAME(change_reply);
		SAME(route);
		SAME(query);
		SAME(answer);
		SAME(reg);
		SAME(session);
		SAME(presence);
		SAME(forward);
		SAME(deliver);
		SAME(delivered);
		SAME(ack);
		SAME(kick);
		SAME(elector_log);
		SAME(elector_entry);
		SAME(elector_chunk);
		SAME(elector_propose);
		SAME(elector_propose_reply);
		SAME(keep_open);
		SAME(keep_count);
		SAME(keep_resume);
		SAME(keep_resumed);
		SAME(last_elector_wire);
		SAME(last_elector_msg);
		SAME(last_change_op);
		SAME(last_relay_wire);
		SAME(last_query_op);
	}
	ck_assert_uint_eq(checked, PEERLINK_VERSION - PEERLINK_VERSION_MIN + 1);
}
END_TEST

/* N-1 is the previous release's version, and a release speaks its own. */
START_TEST(test_the_version_range_is_n_and_the_previous_release)
{
	ck_assert_uint_le(PEERLINK_VERSION_MIN, PEERLINK_VERSION);
	bool min_released = false;
	for (size_t i = 0; i < sizeof(released) / sizeof(released[0]); i++)
		min_released |= released[i].version == PEERLINK_VERSION_MIN;
	ck_assert_msg(min_released, "PEERLINK_VERSION_MIN %u is no released version",
		      PEERLINK_VERSION_MIN);
}
END_TEST

Suite *wire_versions_suite(void)
{
	Suite *s = suite_create("wire_versions");
	TCase *tc = tcase_create("wire_versions");
	tcase_add_test(tc, test_a_released_version_keeps_its_layout);
	tcase_add_test(tc, test_the_version_range_is_n_and_the_previous_release);
	suite_add_tcase(s, tc);
	return s;
}
