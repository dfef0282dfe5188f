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
	/* Payload sizes, then the last frame or message type of each enum. */
	size_t hello, elector_msg, elector_msg_head, change, change_reply, route;
	size_t query, answer, reg, session, presence, forward, deliver, delivered, ack, kick;
	unsigned last_elector_wire, last_elector_msg, last_change_op, last_relay_wire,
	    last_query_op;
};

/* 3: rxmpp 0.2.0. */
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
     .last_elector_wire = ELECTOR_WIRE_CHANGE_REPLY,
     .last_elector_msg = ELECTOR_MSG_TIMEOUT_NOW,
     .last_change_op = ELECTOR_CHANGE_LEADER,
     .last_relay_wire = RELAY_WIRE_ANSWER,
     .last_query_op = RELAY_QUERY_KICK},
};

static const struct wire_layout built = {
    .version = PEERLINK_VERSION,
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
    .last_relay_wire = RELAY_WIRE_ANSWER,
    .last_query_op = RELAY_QUERY_KICK,
};

#define SAME(field)                                                                                \
	ck_assert_msg(built.field == row->field,                                                   \
		      "protocol version %u is pinned with " #field " %zu, this build has %zu: if " \
		      "a release speaks it (CHANGELOG.md), raise PEERLINK_VERSION "                \
		      "(common/peerlink.h) and keep version %u's codec; if none does yet, "        \
		      "update its row here",                                                       \
		      row->version, (size_t)row->field, (size_t)built.field, row->version)

START_TEST(test_a_released_version_keeps_its_layout)
{
	const struct wire_layout *row = NULL;
	for (size_t i = 0; i < sizeof(released) / sizeof(released[0]); i++) {
		if (released[i].version == PEERLINK_VERSION)
			row = &released[i];
	}
	/* A new version not yet released has no row to keep. */
	if (row == NULL)
		return;
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
	SAME(last_elector_wire);
	SAME(last_elector_msg);
	SAME(last_change_op);
	SAME(last_relay_wire);
	SAME(last_query_op);
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
