/* SPDX-License-Identifier: MIT */
/*
 * Protocol 4 on the electors' links (elector/elector_wire_log.c): what the
 * encoder writes decodes to the same message, and every frame that breaks
 * the protocol (entries out of order or too long, bytes after the end,
 * flags a message cannot carry, a frame of protocol 3 on a link of 4) is
 * refused with a reason, which closes the link.
 */
#include <string.h>

#include "elector/elector_digests.h"
#include "elector/elector_wire.h"
#include "unit.h"

static struct elector_msg append_msg(struct elector_entry *entries, uint32_t count)
{
	struct elector_msg m = {.type = ELECTOR_MSG_APPEND,
				.from = 1,
				.to = 2,
				.term = 5,
				.last_index = 3,
				.last_term = 2,
				.commit_index = 4,
				.flags = ELECTOR_MSG_LOG,
				.entry_count = count,
				.prev_index = 4,
				.prev_term = 4,
				.entries = entries};
	m.config.index = 3;
	m.config.term = 2;
	m.config.count = 1;
	m.config.members[0].id = 1;
	strcpy(m.config.members[0].address, "node1:5229");
	return m;
}

static int decode(const struct buf *b, uint16_t type, struct elector_wire_msg *out,
		  const char **why)
{
	struct ipc_msg msg = {.type = type, .data = buf_head(b), .len = buf_len(b), .fd = -1};
	return elector_wire_decode_v4(&msg, out, why);
}

START_TEST(test_an_append_round_trips)
{
	struct elector_entry e[2] = {{.index = 5, .term = 5, .type = ELECTOR_ENTRY_NOOP},
				     {.index = 6,
				      .term = 5,
				      .type = ELECTOR_ENTRY_DATA,
				      .len = 3,
				      .data = (const uint8_t *)"abc"}};
	struct elector_msg m = append_msg(e, 2);
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(elector_wire_encode_log(&m, &b), 0);
	static struct elector_wire_msg out;
	const char *why = NULL;
	ck_assert_msg(decode(&b, ELECTOR_WIRE_LOG, &out, &why) == 0, "%s", why);
	ck_assert_uint_eq(out.u.msg.type, ELECTOR_MSG_APPEND);
	ck_assert_uint_eq(out.u.msg.term, 5);
	ck_assert_uint_eq(out.u.msg.commit_index, 4);
	ck_assert_uint_eq(out.u.msg.config.count, 1);
	ck_assert_uint_eq(out.u.msg.entry_count, 2);
	ck_assert_uint_eq(out.u.msg.prev_index, 4);
	ck_assert_uint_eq(out.u.msg.entries[1].index, 6);
	ck_assert_uint_eq(out.u.msg.entries[1].len, 3);
	ck_assert(memcmp(out.u.msg.entries[1].data, "abc", 3) == 0);

	/* Every way of breaking it: cut, padded, entries out of order. */
	struct buf bad;
	buf_init(&bad, 1 << 20);
	buf_append(&bad, buf_head(&b), buf_len(&b) - 1);
	ck_assert_int_eq(decode(&bad, ELECTOR_WIRE_LOG, &out, &why), -1);
	buf_reset(&bad, 0);
	buf_append(&bad, buf_head(&b), buf_len(&b));
	buf_append(&bad, "x", 1);
	ck_assert_int_eq(decode(&bad, ELECTOR_WIRE_LOG, &out, &why), -1);
	ck_assert_str_eq(why, "a log message with bytes after its end");
	e[1].index = 7;
	buf_reset(&bad, 0);
	ck_assert_int_eq(elector_wire_encode_log(&m, &bad), 0);
	ck_assert_int_eq(decode(&bad, ELECTOR_WIRE_LOG, &out, &why), -1);
	ck_assert_str_eq(why, "a malformed entry in an append");
	e[1].index = 6;
	e[1].len = ELECTOR_DATA_MAX + 1;
	static uint8_t big[ELECTOR_DATA_MAX + 1];
	e[1].data = big;
	buf_reset(&bad, 0);
	ck_assert_int_eq(elector_wire_encode_log(&m, &bad), 0);
	ck_assert_int_eq(decode(&bad, ELECTOR_WIRE_LOG, &out, &why), -1);
	/* Not the protocol-3 frame on a link of 4. */
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_MSG, &out, &why), -1);
	/* A vote carries no entries. */
	m = append_msg(NULL, 0);
	m.type = ELECTOR_MSG_VOTE;
	buf_reset(&bad, 0);
	ck_assert_int_eq(elector_wire_encode_log(&m, &bad), 0);
	ck_assert_int_eq(decode(&bad, ELECTOR_WIRE_LOG, &out, &why), 0);
	ck_assert_uint_eq(out.u.msg.config.count, 0);
	/* Nor a reject flag. */
	m.flags |= ELECTOR_MSG_REJECT;
	buf_reset(&bad, 0);
	ck_assert_int_eq(elector_wire_encode_log(&m, &bad), 0);
	ck_assert_int_eq(decode(&bad, ELECTOR_WIRE_LOG, &out, &why), -1);
	buf_free(&bad);
	buf_free(&b);
}
END_TEST

/* A reply names the leader its sender follows (the word that lets a node
 * which missed that leader's addition take its appends): it travels
 * whole; any other message that names one is refused. */
START_TEST(test_a_reply_vouches_for_its_leader)
{
	struct elector_msg m = {.type = ELECTOR_MSG_PRE_VOTE_REPLY,
				.from = 1,
				.to = 3,
				.term = 2,
				.flags = ELECTOR_MSG_LOG,
				.vouch_id = 4,
				.vouch_term = 2};
	memset(m.vouch_fingerprint, 0xab, sizeof(m.vouch_fingerprint));
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(elector_wire_encode_log(&m, &b), 0);
	static struct elector_wire_msg out;
	const char *why = NULL;
	ck_assert_msg(decode(&b, ELECTOR_WIRE_LOG, &out, &why) == 0, "%s", why);
	ck_assert_uint_eq(out.u.msg.vouch_id, 4);
	ck_assert_uint_eq(out.u.msg.vouch_term, 2);
	ck_assert(memcmp(out.u.msg.vouch_fingerprint, m.vouch_fingerprint,
			 sizeof(m.vouch_fingerprint)) == 0);
	/* An append naming a leader, a reply naming none with a term. */
	struct elector_entry none[1];
	struct elector_msg a = append_msg(none, 0);
	a.vouch_id = 4;
	buf_reset(&b, 0);
	ck_assert_int_eq(elector_wire_encode_log(&a, &b), 0);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_LOG, &out, &why), -1);
	ck_assert_str_eq(why, "a log message that names a leader where only a reply may");
	m.vouch_id = ELECTOR_NONE;
	buf_reset(&b, 0);
	ck_assert_int_eq(elector_wire_encode_log(&m, &b), 0);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_LOG, &out, &why), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_a_snapshot_and_its_chunks)
{
	struct elector_snapshot snap = {.index = 40, .term = 4, .len = 300000};
	snap.config.count = 2;
	snap.config.members[0].id = 1;
	strcpy(snap.config.members[0].address, "node1:5229");
	snap.config.members[1].id = 2;
	strcpy(snap.config.members[1].address, "[2001:db8::2]:5229");
	struct elector_msg m = append_msg(NULL, 0);
	m.type = ELECTOR_MSG_SNAPSHOT;
	m.prev_index = 40;
	m.prev_term = 4;
	m.snapshot = &snap;
	struct buf b;
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(elector_wire_encode_log(&m, &b), 0);
	static struct elector_wire_msg out;
	const char *why = NULL;
	ck_assert_msg(decode(&b, ELECTOR_WIRE_LOG, &out, &why) == 0, "%s", why);
	ck_assert_uint_eq(out.u.msg.type, ELECTOR_MSG_SNAPSHOT);
	ck_assert_ptr_nonnull(out.u.msg.snapshot);
	ck_assert_uint_eq(out.u.msg.snapshot->index, 40);
	ck_assert_uint_eq(out.u.msg.snapshot->len, 300000);
	ck_assert_uint_eq(out.u.msg.snapshot->config.count, 2);
	ck_assert_str_eq(out.u.msg.snapshot->config.members[1].address, "[2001:db8::2]:5229");
	ck_assert_ptr_null(out.u.msg.snapshot->data);

	struct elector_wire_chunk c = {
	    .term = 5, .index = 40, .snapshot_term = 4, .total = 300000, .offset = 0, .len = 4};
	buf_reset(&b, 0);
	buf_append(&b, &c, sizeof(c));
	buf_append(&b, "snap", 4);
	ck_assert_msg(decode(&b, ELECTOR_WIRE_CHUNK, &out, &why) == 0, "%s", why);
	ck_assert(memcmp(out.bytes, "snap", 4) == 0);
	c.offset = 299999; /* past the end with its 4 bytes */
	buf_reset(&b, 0);
	buf_append(&b, &c, sizeof(c));
	buf_append(&b, "snap", 4);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHUNK, &out, &why), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_a_forwarded_write_and_its_answer)
{
	struct elector_wire_propose p = {.request = 9, .len = 5};
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_append(&b, &p, sizeof(p));
	buf_append(&b, "hello", 5);
	static struct elector_wire_msg out;
	const char *why = NULL;
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_PROPOSE, &out, &why), 0);
	ck_assert_uint_eq(out.u.propose.request, 9);
	ck_assert(memcmp(out.bytes, "hello", 5) == 0);
	buf_append(&b, "!", 1);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_PROPOSE, &out, &why), -1);

	struct elector_wire_propose_reply r = {
	    .request = 9,
	    .result = {
		.status = PROTO_PROPOSE_APPLIED, .index = 7, .outcome_len = 2, .text_len = 3}};
	buf_reset(&b, 0);
	buf_append(&b, &r, sizeof(r));
	buf_append(&b, "okall", 5);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_PROPOSE_REPLY, &out, &why), 0);
	ck_assert(memcmp(out.outcome, "ok", 2) == 0);
	ck_assert(memcmp(out.text, "all", 3) == 0);
	r.result.status = PROTO_PROPOSE_STATUS_END;
	memcpy((char *)buf_head(&b), &r, sizeof(r));
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_PROPOSE_REPLY, &out, &why), -1);
	buf_free(&b);
}
END_TEST

START_TEST(test_a_join_carries_its_settings_and_an_answer_its_whole_text)
{
	/* Protocol 3's layout alone still decodes, with nothing after it. */
	struct elector_change c = {.op = ELECTOR_CHANGE_JOIN, .node_id = 7};
	strcpy(c.address, "node7:5229");
	struct buf b;
	buf_init(&b, 2 << 20);
	buf_append(&b, &c, sizeof(c));
	static struct elector_wire_msg out;
	const char *why = NULL;
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE, &out, &why), 0);
	ck_assert_uint_eq(out.tail_len, 0);
	ck_assert_uint_eq(out.digests_len, 0);
	/* Settings, length first; no digests. */
	buf_append(&b, "\0\10settings", 10);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE, &out, &why), 0);
	ck_assert_uint_eq(out.u.change.node_id, 7);
	ck_assert_uint_eq(out.tail_len, 8);
	ck_assert(memcmp(out.bytes, "settings", 8) == 0);
	ck_assert_uint_eq(out.digests_len, 0);
	/* Then the accounts' and bridges' digests, checked. */
	struct buf list;
	struct proto_callbridge cb = {
	    .name = "cb1", .address = "cb1.example.com", .secret = "the-secret-1"};
	ck_assert_int_eq(elector_digests_encode(&list, NULL, 0, &cb, 1), 0);
	buf_append(&b, buf_head(&list), buf_len(&list));
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE, &out, &why), 0);
	ck_assert_uint_eq(out.tail_len, 8);
	ck_assert_uint_eq(out.digests_len, buf_len(&list));
	ck_assert(memcmp(out.digests, buf_head(&list), buf_len(&list)) == 0);
	ck_assert(memmem(buf_head(&b), buf_len(&b), "the-secret-1", 12) == NULL);
	/* A malformed list (one byte more) breaks the protocol. */
	buf_append(&b, "x", 1);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE, &out, &why), -1);
	ck_assert_str_eq(why, "a join with a malformed list of accounts and call bridges");
	buf_free(&list);
	/* Only a join carries settings, and no more than a command holds;
	 * their length is 1 to that and within the frame. */
	c.op = ELECTOR_CHANGE_REMOVE;
	buf_reset(&b, 0);
	buf_append(&b, &c, sizeof(c));
	buf_append(&b, "\0\10settings", 10);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE, &out, &why), -1);
	c.op = ELECTOR_CHANGE_JOIN;
	const char *bad[] = {"\0", "\0\0settings", "\0\11settings", "\x20\x01settings"};
	size_t bad_len[] = {1, 10, 10, 10};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b, 0);
		buf_append(&b, &c, sizeof(c));
		buf_append(&b, bad[i], bad_len[i]);
		ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE, &out, &why), -1);
	}
	buf_reset(&b, 0);
	buf_append(&b, &c, sizeof(c));
	static char big[2 + ELECTOR_WIRE_JOIN_SETTINGS_MAX + 1];
	big[0] = (char)((ELECTOR_WIRE_JOIN_SETTINGS_MAX + 1) >> 8);
	big[1] = (char)((ELECTOR_WIRE_JOIN_SETTINGS_MAX + 1) & 0xff);
	buf_append(&b, big, sizeof(big));
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE, &out, &why), -1);

	struct elector_change_reply r = {.status = ELECTOR_CHANGE_REFUSED};
	strcpy(r.text, "2 settings differ");
	buf_reset(&b, 0);
	buf_append(&b, &r, sizeof(r));
	buf_append(&b, "2 settings differ: domain", 25);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE_REPLY, &out, &why), 0);
	ck_assert_uint_eq(out.tail_len, 25);
	ck_assert(memcmp(out.text, "2 settings differ: domain", 25) == 0);
	buf_append(&b, "\0", 1);
	ck_assert_int_eq(decode(&b, ELECTOR_WIRE_CHANGE_REPLY, &out, &why), -1);
	buf_free(&b);
}
END_TEST

Suite *elector_wire_log_suite(void)
{
	Suite *s = suite_create("elector_wire_log");
	TCase *tc = tcase_create("elector_wire_log");
	tcase_add_test(tc, test_an_append_round_trips);
	tcase_add_test(tc, test_a_snapshot_and_its_chunks);
	tcase_add_test(tc, test_a_reply_vouches_for_its_leader);
	tcase_add_test(tc, test_a_forwarded_write_and_its_answer);
	tcase_add_test(tc, test_a_join_carries_its_settings_and_an_answer_its_whole_text);
	suite_add_tcase(s, tc);
	return s;
}
