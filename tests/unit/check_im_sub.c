/* SPDX-License-Identifier: MIT */
/*
 * The subscription state machine (im/im_sub.c) against RFC 6121 Appendix
 * A: every row of the eight tables (A.2.1-A.2.4 for the user's outbound
 * stanzas, A.3.1-A.3.4 for inbound ones), written out here again from the
 * RFC with what the server must do besides (roster push, 2.1.6; the
 * stanzas it generates, 3.1.3, 3.1.5, 3.2.2, 3.3.3), then pre-approval
 * (3.4) on its own.
 */
#include "im/im_sub.h"
#include "unit.h"

enum { N, NO, NI, NOI, T, TI, F, FO, B, K = -1 };
#define SUBD  IM_SUB_GEN_SUBSCRIBED
#define AVAIL IM_SUB_GEN_AVAILABLE
#define UNAV  IM_SUB_GEN_UNAVAILABLE

struct row {
	int state;
	bool forward;
	int next; /* K: no state change */
	bool push;
	unsigned generate;
};

/* [dir][type][state], each row as the RFC's table prints it. */
static const struct row rows[2][4][9] =
    {
	[IM_SUB_OUTBOUND] =
	    {
		[IM_SUB_SUBSCRIBE] = /* A.2.1 */
		{{N, 1, NO, 1, 0},
		 {NO, 1, K, 0, 0},
		 {NI, 1, NOI, 1, 0},
		 {NOI, 1, K, 0, 0},
		 {T, 1, K, 0, 0},
		 {TI, 1, K, 0, 0},
		 {F, 1, FO, 1, 0},
		 {FO, 1, K, 0, 0},
		 {B, 1, K, 0, 0}},
		/* A.2.2; None, None + Pending Out and To are pre-approvals
		 * (3.4), pushed with approved='true' and tested below. */
		[IM_SUB_SUBSCRIBED] = {{N, 0, K, 1, 0},
				       {NO, 0, K, 1, 0},
				       {NI, 1, F, 1, AVAIL},
				       {NOI, 1, FO, 1, AVAIL},
				       {T, 0, K, 1, 0},
				       {TI, 1, B, 1, AVAIL},
				       {F, 0, K, 0, 0},
				       {FO, 0, K, 0, 0},
				       {B, 0, K, 0, 0}},
		[IM_SUB_UNSUBSCRIBE] = /* A.2.3 */
		{{N, 1, K, 0, 0},
		 {NO, 1, N, 1, 0},
		 {NI, 1, K, 0, 0},
		 {NOI, 1, NI, 1, 0},
		 {T, 1, N, 1, 0},
		 {TI, 1, NI, 1, 0},
		 {F, 1, K, 0, 0},
		 {FO, 1, F, 1, 0},
		 {B, 1, F, 1, 0}},
		[IM_SUB_UNSUBSCRIBED] = /* A.2.4 */
		{{N, 0, K, 0, 0},
		 {NO, 0, K, 0, 0},
		 {NI, 1, N, 0, 0},
		 {NOI, 1, NO, 0, 0},
		 {T, 0, K, 0, 0},
		 {TI, 1, T, 0, 0},
		 {F, 1, N, 1, UNAV},
		 {FO, 1, NO, 1, UNAV},
		 {B, 1, T, 1, UNAV}},
	    },
	[IM_SUB_INBOUND] =
	    {
		/* A.3.1; already subscribed: auto-reply, with the user's
		 * presence (3.1.3, as Prosody does) */
		[IM_SUB_SUBSCRIBE] = {{N, 1, NI, 0, 0},
				      {NO, 1, NOI, 0, 0},
				      {NI, 0, K, 0, 0},
				      {NOI, 0, K, 0, 0},
				      {T, 1, TI, 0, 0},
				      {TI, 0, K, 0, 0},
				      {F, 0, K, 0, SUBD | AVAIL},
				      {FO, 0, K, 0, SUBD | AVAIL},
				      {B, 0, K, 0, SUBD | AVAIL}},
		[IM_SUB_SUBSCRIBED] = /* A.3.2 */
		{{N, 0, K, 0, 0},
		 {NO, 1, T, 1, 0},
		 {NI, 0, K, 0, 0},
		 {NOI, 1, TI, 1, 0},
		 {T, 0, K, 0, 0},
		 {TI, 0, K, 0, 0},
		 {F, 0, K, 0, 0},
		 {FO, 1, B, 1, 0},
		 {B, 0, K, 0, 0}},
		[IM_SUB_UNSUBSCRIBE] = /* A.3.3 */
		{{N, 0, K, 0, 0},
		 {NO, 0, K, 0, 0},
		 {NI, 1, N, 0, 0},
		 {NOI, 1, NO, 0, 0},
		 {T, 0, K, 0, 0},
		 {TI, 1, T, 0, 0},
		 {F, 1, N, 1, UNAV},
		 {FO, 1, NO, 1, UNAV},
		 {B, 1, T, 1, UNAV}},
		[IM_SUB_UNSUBSCRIBED] = /* A.3.4 */
		{{N, 0, K, 0, 0},
		 {NO, 1, N, 1, 0},
		 {NI, 0, K, 0, 0},
		 {NOI, 1, NI, 1, 0},
		 {T, 1, N, 1, 0},
		 {TI, 1, NI, 1, 0},
		 {F, 0, K, 0, 0},
		 {FO, 1, F, 1, 0},
		 {B, 1, F, 1, 0}},
	    },
};

START_TEST(test_every_row)
{
	int checked = 0;
	for (int dir = 0; dir < 2; dir++)
		for (int type = 0; type < IM_SUB_TYPES; type++)
			for (int s = 0; s < IM_SUB_STATES; s++) {
				const struct row *w = &rows[dir][type][s];
				struct im_sub_result r;
				ck_assert_int_eq(w->state, s);
				im_sub_step((struct im_sub_item){(enum im_sub_state)s, false},
					    (enum im_sub_dir)dir, (enum im_sub_type)type, &r);
				int next = w->next == K ? s : w->next;
				ck_assert_msg(
				    (int)r.item.state == next && r.forward == w->forward &&
					r.push == w->push && r.generate == w->generate,
				    "dir %d type %d state %d: state %d forward %d push %d "
				    "generate %u",
				    dir, type, s, r.item.state, r.forward, r.push, r.generate);
				bool preapproval = dir == IM_SUB_OUTBOUND &&
						   type == IM_SUB_SUBSCRIBED &&
						   (s == N || s == NO || s == T);
				ck_assert(r.item.approved == preapproval);
				ck_assert(r.changed == (next != s || preapproval));
				checked++;
			}
	ck_assert_int_eq(checked, 72);
}
END_TEST

/* 3.4: a pre-approval is kept through the user's own requests, consumed
 * by the contact's request (answered by the server, not shown to the
 * user), withdrawn by an unsubscribed, and meaningless once the contact
 * is subscribed. */
START_TEST(test_preapproval)
{
	static const int states[] = {N, NO, T}, granted[] = {F, FO, B};
	for (int i = 0; i < 3; i++) {
		struct im_sub_result r;
		im_sub_step((struct im_sub_item){(enum im_sub_state)states[i], true},
			    IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, &r);
		ck_assert_int_eq(r.item.state, granted[i]);
		ck_assert(!r.item.approved && !r.forward && r.push && r.changed);
		ck_assert_uint_eq(r.generate, SUBD | AVAIL);

		im_sub_step((struct im_sub_item){(enum im_sub_state)states[i], true},
			    IM_SUB_OUTBOUND, IM_SUB_UNSUBSCRIBED, &r);
		ck_assert_int_eq(r.item.state, states[i]);
		ck_assert(!r.item.approved && !r.forward && r.push && r.changed);

		/* Approving again changes nothing and pushes nothing. */
		im_sub_step((struct im_sub_item){(enum im_sub_state)states[i], true},
			    IM_SUB_OUTBOUND, IM_SUB_SUBSCRIBED, &r);
		ck_assert(r.item.approved && !r.forward && !r.push && !r.changed);
	}
	struct im_sub_result r;
	im_sub_step((struct im_sub_item){IM_SUB_NONE, true}, IM_SUB_OUTBOUND, IM_SUB_SUBSCRIBE, &r);
	ck_assert(r.item.state == IM_SUB_NONE_OUT && r.item.approved && r.forward);
	im_sub_step((struct im_sub_item){IM_SUB_NONE_OUT, true}, IM_SUB_INBOUND, IM_SUB_SUBSCRIBED,
		    &r);
	ck_assert(r.item.state == IM_SUB_TO && r.item.approved && r.forward);
	/* A contact that asks while not pre-approved is asked about. */
	im_sub_step((struct im_sub_item){IM_SUB_TO, false}, IM_SUB_INBOUND, IM_SUB_SUBSCRIBE, &r);
	ck_assert(r.item.state == IM_SUB_TO_IN && r.forward && r.generate == 0);
}
END_TEST

START_TEST(test_attributes)
{
	static const char *const sub[] = {"none", "none", "none", "none", "to",
					  "to",	  "from", "from", "both"};
	static const bool ask[] = {0, 1, 0, 1, 0, 0, 0, 1, 0}, in[] = {0, 0, 1, 1, 0, 1, 0, 0, 0};
	for (int s = 0; s < IM_SUB_STATES; s++) {
		ck_assert_str_eq(im_sub_subscription((enum im_sub_state)s), sub[s]);
		ck_assert(im_sub_ask((enum im_sub_state)s) == ask[s]);
		ck_assert(im_sub_pending_in((enum im_sub_state)s) == in[s]);
		bool to = im_sub_has_to((enum im_sub_state)s);
		bool from = im_sub_has_from((enum im_sub_state)s);
		ck_assert_int_eq(im_sub_state_of(to, from, ask[s], in[s]), s);
	}
	ck_assert_int_eq(im_sub_type_parse("subscribe"), IM_SUB_SUBSCRIBE);
	ck_assert_int_eq(im_sub_type_parse("unsubscribed"), IM_SUB_UNSUBSCRIBED);
	ck_assert_int_eq(im_sub_type_parse("probe"), -1);
	ck_assert_int_eq(im_sub_type_parse(""), -1);
}
END_TEST

Suite *im_sub_suite(void)
{
	Suite *s = suite_create("im_sub");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_every_row);
	tcase_add_test(tc, test_preapproval);
	tcase_add_test(tc, test_attributes);
	suite_add_tcase(s, tc);
	return s;
}
