/* SPDX-License-Identifier: MIT */
/* XEP-0198 state (listener/listener_sm.c) and XEP-0352 sorting
 * (listener/listener_csi.c): counters that wrap at 2^32, acknowledgements
 * that cannot exceed what was sent, the queue a resumption replays exactly,
 * the ack requests and limits that bound it, its serialised form; what an
 * inactive client is spared, and the bound on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/listener_csi.h"
#include "listener/listener_sm.h"
#include "unit.h"

static const unsigned char random16[LISTENER_SM_RANDOM_LEN] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const struct listener_sm_limits roomy = {.max_stanzas = 1000, .max_bytes = 1 << 20};

static void send_numbered(struct listener_sm *sm, unsigned from, unsigned to)
{
	for (unsigned i = from; i <= to; i++) {
		char stanza[64];
		int n = snprintf(stanza, sizeof(stanza), "<message><body>%u</body></message>", i);
		ck_assert_int_ne(listener_sm_sent(sm, &roomy, stanza, (size_t)n),
				 LISTENER_SM_NO_MEMORY);
	}
}

/* The numbers in the queue, oldest first, as "4,5,6". */
static void queue_text(const struct listener_sm *sm, char *out, size_t size)
{
	out[0] = '\0';
	for (const struct listener_sm_item *item = sm->head; item != NULL; item = item->next) {
		unsigned n;
		ck_assert_int_eq(sscanf(item->bytes, "<message><body>%u<", &n), 1);
		snprintf(out + strlen(out), size - strlen(out), "%s%u", out[0] ? "," : "", n);
	}
}

START_TEST(test_sm_id_and_start)
{
	struct listener_sm sm;
	listener_sm_init(&sm, true, 300, random16);
	ck_assert_str_eq(sm.id, "00112233445566778899aabbccddeeff");
	ck_assert_uint_eq(sm.handled, 0);
	ck_assert_uint_eq(sm.sent, 0);
	ck_assert_uint_eq(sm.count, 0);
	listener_sm_free(&sm);
}
END_TEST

START_TEST(test_sm_resume_replays_exactly_the_unacknowledged)
{
	struct listener_sm sm;
	listener_sm_init(&sm, true, 300, random16);
	send_numbered(&sm, 1, 6);
	ck_assert_int_eq(listener_sm_acked(&sm, 2), 0);
	char text[256];
	queue_text(&sm, text, sizeof(text));
	ck_assert_str_eq(text, "3,4,5,6");
	/* The client resumes having handled one more than it acknowledged. */
	ck_assert_int_eq(listener_sm_acked(&sm, 3), 0);
	queue_text(&sm, text, sizeof(text));
	ck_assert_str_eq(text, "4,5,6");
	ck_assert_uint_eq(sm.count, 3);
	ck_assert_uint_eq(sm.bytes, 3 * strlen("<message><body>4</body></message>"));
	/* The same h again acknowledges nothing new. */
	ck_assert_int_eq(listener_sm_acked(&sm, 3), 0);
	ck_assert_uint_eq(sm.count, 3);
	ck_assert_int_eq(listener_sm_acked(&sm, 6), 0);
	ck_assert_ptr_null(sm.head);
	ck_assert_uint_eq(sm.bytes, 0);
	send_numbered(&sm, 7, 7);
	queue_text(&sm, text, sizeof(text));
	ck_assert_str_eq(text, "7");
	listener_sm_free(&sm);
}
END_TEST

START_TEST(test_sm_ack_bounds)
{
	struct listener_sm sm;
	listener_sm_init(&sm, true, 300, random16);
	ck_assert_int_eq(listener_sm_acked(&sm, 1), -1); /* nothing sent */
	send_numbered(&sm, 1, 3);
	ck_assert_int_eq(listener_sm_acked(&sm, 4), -1);
	ck_assert_uint_eq(sm.count, 3);
	ck_assert_int_eq(listener_sm_acked(&sm, 2), 0);
	/* Going back is as impossible as going beyond. */
	ck_assert_int_eq(listener_sm_acked(&sm, 1), -1);
	ck_assert_int_eq(listener_sm_acked(&sm, UINT32_MAX), -1);
	ck_assert_uint_eq(sm.count, 1);
	ck_assert_uint_eq(sm.acked, 2);
	listener_sm_free(&sm);
}
END_TEST

START_TEST(test_sm_counters_wrap)
{
	struct listener_sm sm;
	listener_sm_init(&sm, true, 300, random16);
	/* As if 2^32 - 2 stanzas had gone both ways and been acknowledged. */
	sm.handled = sm.sent = sm.acked = UINT32_MAX - 1;
	listener_sm_handled(&sm);
	listener_sm_handled(&sm);
	listener_sm_handled(&sm);
	ck_assert_uint_eq(sm.handled, 1);
	send_numbered(&sm, 1, 4);
	ck_assert_uint_eq(sm.sent, 2);
	ck_assert_uint_eq(sm.count, 4);
	/* h = 0 is two stanzas past 2^32 - 2. */
	ck_assert_int_eq(listener_sm_acked(&sm, 0), 0);
	char text[64];
	queue_text(&sm, text, sizeof(text));
	ck_assert_str_eq(text, "3,4");
	ck_assert_int_eq(listener_sm_acked(&sm, 3), -1);
	ck_assert_int_eq(listener_sm_acked(&sm, 2), 0);
	ck_assert_uint_eq(sm.count, 0);
	listener_sm_free(&sm);
}
END_TEST

START_TEST(test_sm_requests_and_limits)
{
	struct listener_sm sm;
	struct listener_sm_limits limits = {.max_stanzas = 8, .max_bytes = 1000};
	listener_sm_init(&sm, true, 300, random16);
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, "<iq/>", 5), LISTENER_SM_FINE);
	/* A quarter of the count: ask. */
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, "<iq/>", 5), LISTENER_SM_REQUEST);
	listener_sm_requested(&sm);
	for (int i = 3; i <= 8; i++)
		ck_assert_int_eq(listener_sm_sent(&sm, &limits, "<iq/>", 5), LISTENER_SM_FINE);
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, "<iq/>", 5), LISTENER_SM_OVER);
	/* An answer lets a new request go out. */
	ck_assert_int_eq(listener_sm_acked(&sm, 9), 0);
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, "<iq/>", 5), LISTENER_SM_FINE);
	/* A quarter of the bytes asks too; more than all of them is over. */
	char big[300];
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, big, sizeof(big)), LISTENER_SM_REQUEST);
	listener_sm_requested(&sm);
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, big, sizeof(big)), LISTENER_SM_FINE);
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, big, sizeof(big)), LISTENER_SM_FINE);
	ck_assert_int_eq(listener_sm_sent(&sm, &limits, big, sizeof(big)), LISTENER_SM_OVER);
	ck_assert_uint_eq(sm.bytes, 2 * 5 + 4 * 300 - 5);
	listener_sm_free(&sm);
}
END_TEST

START_TEST(test_sm_parse_h)
{
	uint32_t h;
	ck_assert_int_eq(listener_sm_parse_h("0", &h), 0);
	ck_assert_uint_eq(h, 0);
	ck_assert_int_eq(listener_sm_parse_h("4294967295", &h), 0);
	ck_assert_uint_eq(h, UINT32_MAX);
	ck_assert_int_eq(listener_sm_parse_h("4294967296", &h), -1);
	ck_assert_int_eq(listener_sm_parse_h("-1", &h), -1);
	ck_assert_int_eq(listener_sm_parse_h("", &h), -1);
	ck_assert_int_eq(listener_sm_parse_h(NULL, &h), -1);
	ck_assert_int_eq(listener_sm_parse_h("12a", &h), -1);
	ck_assert_int_eq(listener_sm_parse_h("00000000001", &h), -1);
}
END_TEST

START_TEST(test_sm_serialise_round_trip)
{
	struct listener_sm sm, copy;
	listener_sm_init(&sm, true, 120, random16);
	sm.handled = sm.sent = sm.acked = UINT32_MAX;
	listener_sm_handled(&sm);
	send_numbered(&sm, 1, 5);
	ck_assert_int_eq(listener_sm_acked(&sm, 1), 0);
	struct buf out;
	buf_init(&out, 1 << 20);
	ck_assert_int_eq(listener_sm_serialise(&sm, &out), 0);
	ck_assert_int_eq(listener_sm_restore(&copy, buf_head(&out), buf_len(&out)), 0);
	ck_assert_str_eq(copy.id, sm.id);
	ck_assert_uint_eq(copy.max_seconds, 120);
	ck_assert(copy.resumable);
	ck_assert_uint_eq(copy.handled, 0);
	ck_assert_uint_eq(copy.sent, sm.sent);
	ck_assert_uint_eq(copy.acked, 1);
	ck_assert_uint_eq(copy.bytes, sm.bytes);
	char a[64], b[64];
	queue_text(&sm, a, sizeof(a));
	queue_text(&copy, b, sizeof(b));
	ck_assert_str_eq(a, "3,4,5");
	ck_assert_str_eq(b, a);
	/* The copy goes on where the original was. */
	ck_assert_int_eq(listener_sm_acked(&copy, 4), 0);
	ck_assert_uint_eq(copy.count, 0);
	listener_sm_free(&copy);
	/* Every truncation and a byte too many are refused, holding nothing. */
	for (size_t len = 0; len < buf_len(&out); len++)
		ck_assert_int_eq(listener_sm_restore(&copy, buf_head(&out), len), -1);
	ck_assert_int_eq(buf_append(&out, "x", 1), 0);
	ck_assert_int_eq(listener_sm_restore(&copy, buf_head(&out), buf_len(&out)), -1);
	ck_assert_ptr_null(copy.head);
	buf_free(&out);
	listener_sm_free(&sm);
}
END_TEST

START_TEST(test_csi_sorting)
{
	ck_assert(!listener_csi_urgent("<presence from=\"a@x/1\"/>", 24));
	const char *away = "<presence from=\"a@x/1\" type=\"unavailable\"/>";
	ck_assert(!listener_csi_urgent(away, strlen(away)));
	const char *subscribe = "<presence from=\"a@x\" type=\"subscribe\"/>";
	ck_assert(listener_csi_urgent(subscribe, strlen(subscribe)));
	const char *typing = "<message from=\"a@x/1\"><composing "
			     "xmlns=\"http://jabber.org/protocol/chatstates\"/></message>";
	ck_assert(!listener_csi_urgent(typing, strlen(typing)));
	const char *to_account = "<message from=\"a@x/1\" to=\"b@x\"><event/></message>";
	ck_assert(listener_csi_urgent(to_account, strlen(to_account)));
	const char *to_device = "<message from=\"a@x/1\" to=\"b@x/2\"><event/></message>";
	ck_assert(!listener_csi_urgent(to_device, strlen(to_device)));
	const char *chat = "<message from=\"a@x/1\"><body>hi</body></message>";
	ck_assert(listener_csi_urgent(chat, strlen(chat)));
	/* Attribute values are escaped: "<body" there is never a tag. */
	const char *bodyless = "<message from=\"a@x/1\" id=\"&lt;body>\"><bodyguard/></message>";
	ck_assert(!listener_csi_urgent(bodyless, strlen(bodyless)));
	ck_assert(listener_csi_urgent("<iq type=\"get\" id=\"1\"/>", 22));
}
END_TEST

static void offer(struct listener_csi *csi, uint32_t max, const char *stanza,
		  enum listener_csi_verdict want)
{
	enum listener_csi_verdict got;
	ck_assert_int_eq(listener_csi_offer(csi, max, stanza, strlen(stanza), &got), 0);
	ck_assert_int_eq(got, want);
}

START_TEST(test_csi_latest_presence_per_sender_and_bound)
{
	struct listener_csi csi;
	listener_csi_init(&csi);
	/* Active: nothing is held. */
	offer(&csi, 4, "<presence from=\"a@x/1\"/>", LISTENER_CSI_SEND);
	csi.inactive = true;
	offer(&csi, 4, "<presence from=\"a@x/1\"><show>away</show></presence>", LISTENER_CSI_HELD);
	offer(&csi, 4, "<presence from=\"b@x/1\"/>", LISTENER_CSI_HELD);
	offer(&csi, 4, "<message from=\"b@x/1\"><gone/></message>", LISTENER_CSI_HELD);
	offer(&csi, 4, "<presence from=\"a@x/1\" type=\"unavailable\"/>", LISTENER_CSI_HELD);
	ck_assert_uint_eq(csi.count, 3);
	offer(&csi, 4, "<iq type=\"get\" id=\"1\"/>", LISTENER_CSI_SEND);
	offer(&csi, 4, "<presence from=\"c@x/1\"/>", LISTENER_CSI_FLUSH);
	const char *want[] = {
	    "<presence from=\"b@x/1\"/>", "<message from=\"b@x/1\"><gone/></message>",
	    "<presence from=\"a@x/1\" type=\"unavailable\"/>", "<presence from=\"c@x/1\"/>"};
	for (size_t i = 0; i < 4; i++) {
		struct listener_csi_item *item = listener_csi_take(&csi);
		ck_assert_ptr_nonnull(item);
		ck_assert_uint_eq(item->len, strlen(want[i]));
		ck_assert(memcmp(item->bytes, want[i], item->len) == 0);
		free(item);
	}
	ck_assert_ptr_null(listener_csi_take(&csi));
	ck_assert_uint_eq(csi.count, 0);
	/* The list is usable again after it was emptied. */
	offer(&csi, 4, "<presence from=\"a@x/1\"/>", LISTENER_CSI_HELD);
	free(listener_csi_take(&csi));
}
END_TEST

Suite *listener_sm_suite(void)
{
	Suite *s = suite_create("listener_sm");
	TCase *tc = tcase_create("sm");
	tcase_add_test(tc, test_sm_id_and_start);
	tcase_add_test(tc, test_sm_resume_replays_exactly_the_unacknowledged);
	tcase_add_test(tc, test_sm_ack_bounds);
	tcase_add_test(tc, test_sm_counters_wrap);
	tcase_add_test(tc, test_sm_requests_and_limits);
	tcase_add_test(tc, test_sm_parse_h);
	tcase_add_test(tc, test_sm_serialise_round_trip);
	tcase_add_test(tc, test_csi_sorting);
	tcase_add_test(tc, test_csi_latest_presence_per_sender_and_bound);
	suite_add_tcase(s, tc);
	return s;
}
