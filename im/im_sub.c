/* SPDX-License-Identifier: MIT */
/*
 * The subscription state machine; see im_sub.h.  The eight tables of RFC
 * 6121 Appendix A are written out below row by row, in the RFC's order, so
 * that each can be read against the RFC; the few rules the tables do not
 * show (pre-approval, 3.4; the stanzas the server generates, 3.1.3, 3.1.5,
 * 3.2.2, 3.3.3) are applied after the table in im_sub_step.
 */
#include "im_sub.h"

#include <string.h>

/* One row: whether the stanza goes on (routed outbound, delivered
 * inbound) and the new state (KEEP: "no state change"). */
struct im_sub_row {
	bool forward;
	int next;
};

#define KEEP (-1)

/* [direction][type][existing state] */
static const struct im_sub_row
    im_sub_table[2][IM_SUB_TYPES]
		[IM_SUB_STATES] =
		    {
			[IM_SUB_OUTBOUND] =
			    {
				/* A.2.1: the user asks; always routed, so that a contact whose
				 * server lost the state learns it again. */
				[IM_SUB_SUBSCRIBE] =
				    {
					[IM_SUB_NONE] = {true, IM_SUB_NONE_OUT},
					[IM_SUB_NONE_OUT] = {true, KEEP},
					[IM_SUB_NONE_IN] = {true, IM_SUB_NONE_OUT_IN},
					[IM_SUB_NONE_OUT_IN] = {true, KEEP},
					[IM_SUB_TO] = {true, KEEP},
					[IM_SUB_TO_IN] = {true, KEEP},
					[IM_SUB_FROM] = {true, IM_SUB_FROM_OUT},
					[IM_SUB_FROM_OUT] = {true, KEEP},
					[IM_SUB_BOTH] = {true, KEEP},
				    },
				/* A.2.2: the user approves; routed only where a request waits. */
				[IM_SUB_SUBSCRIBED] =
				    {
					[IM_SUB_NONE] = {false, KEEP},
					[IM_SUB_NONE_OUT] = {false, KEEP},
					[IM_SUB_NONE_IN] = {true, IM_SUB_FROM},
					[IM_SUB_NONE_OUT_IN] = {true, IM_SUB_FROM_OUT},
					[IM_SUB_TO] = {false, KEEP},
					[IM_SUB_TO_IN] = {true, IM_SUB_BOTH},
					[IM_SUB_FROM] = {false, KEEP},
					[IM_SUB_FROM_OUT] = {false, KEEP},
					[IM_SUB_BOTH] = {false, KEEP},
				    },
				/* A.2.3: the user cancels its own subscription; always routed. */
				[IM_SUB_UNSUBSCRIBE] =
				    {
					[IM_SUB_NONE] = {true, KEEP},
					[IM_SUB_NONE_OUT] = {true, IM_SUB_NONE},
					[IM_SUB_NONE_IN] = {true, KEEP},
					[IM_SUB_NONE_OUT_IN] = {true, IM_SUB_NONE_IN},
					[IM_SUB_TO] = {true, IM_SUB_NONE},
					[IM_SUB_TO_IN] = {true, IM_SUB_NONE_IN},
					[IM_SUB_FROM] = {true, KEEP},
					[IM_SUB_FROM_OUT] = {true, IM_SUB_FROM},
					[IM_SUB_BOTH] = {true, IM_SUB_FROM},
				    },
				/* A.2.4: the user denies a request or cancels the contact's
				 * subscription; routed only where there was one. */
				[IM_SUB_UNSUBSCRIBED] =
				    {
					[IM_SUB_NONE] = {false, KEEP},
					[IM_SUB_NONE_OUT] = {false, KEEP},
					[IM_SUB_NONE_IN] = {true, IM_SUB_NONE},
					[IM_SUB_NONE_OUT_IN] = {true, IM_SUB_NONE_OUT},
					[IM_SUB_TO] = {false, KEEP},
					[IM_SUB_TO_IN] = {true, IM_SUB_TO},
					[IM_SUB_FROM] = {true, IM_SUB_NONE},
					[IM_SUB_FROM_OUT] = {true, IM_SUB_NONE_OUT},
					[IM_SUB_BOTH] = {true, IM_SUB_TO},
				    },
			    },
			[IM_SUB_INBOUND] =
			    {
				/* A.3.1: the contact asks; a request already pending is not
				 * delivered twice, and one already granted is answered by the
				 * server (IM_SUB_GEN_SUBSCRIBED below). */
				[IM_SUB_SUBSCRIBE] =
				    {
					[IM_SUB_NONE] = {true, IM_SUB_NONE_IN},
					[IM_SUB_NONE_OUT] = {true, IM_SUB_NONE_OUT_IN},
					[IM_SUB_NONE_IN] = {false, KEEP},
					[IM_SUB_NONE_OUT_IN] = {false, KEEP},
					[IM_SUB_TO] = {true, IM_SUB_TO_IN},
					[IM_SUB_TO_IN] = {false, KEEP},
					[IM_SUB_FROM] = {false, KEEP},
					[IM_SUB_FROM_OUT] = {false, KEEP},
					[IM_SUB_BOTH] = {false, KEEP},
				    },
				/* A.3.2: the contact approves; only a request the user made. */
				[IM_SUB_SUBSCRIBED] =
				    {
					[IM_SUB_NONE] = {false, KEEP},
					[IM_SUB_NONE_OUT] = {true, IM_SUB_TO},
					[IM_SUB_NONE_IN] = {false, KEEP},
					[IM_SUB_NONE_OUT_IN] = {true, IM_SUB_TO_IN},
					[IM_SUB_TO] = {false, KEEP},
					[IM_SUB_TO_IN] = {false, KEEP},
					[IM_SUB_FROM] = {false, KEEP},
					[IM_SUB_FROM_OUT] = {true, IM_SUB_BOTH},
					[IM_SUB_BOTH] = {false, KEEP},
				    },
				/* A.3.3: the contact withdraws its request or its subscription. */
				[IM_SUB_UNSUBSCRIBE] =
				    {
					[IM_SUB_NONE] = {false, KEEP},
					[IM_SUB_NONE_OUT] = {false, KEEP},
					[IM_SUB_NONE_IN] = {true, IM_SUB_NONE},
					[IM_SUB_NONE_OUT_IN] = {true, IM_SUB_NONE_OUT},
					[IM_SUB_TO] = {false, KEEP},
					[IM_SUB_TO_IN] = {true, IM_SUB_TO},
					[IM_SUB_FROM] = {true, IM_SUB_NONE},
					[IM_SUB_FROM_OUT] = {true, IM_SUB_NONE_OUT},
					[IM_SUB_BOTH] = {true, IM_SUB_TO},
				    },
				/* A.3.4: the contact denies the user's request or ends the
				 * user's subscription. */
				[IM_SUB_UNSUBSCRIBED] =
				    {
					[IM_SUB_NONE] = {false, KEEP},
					[IM_SUB_NONE_OUT] = {true, IM_SUB_NONE},
					[IM_SUB_NONE_IN] = {false, KEEP},
					[IM_SUB_NONE_OUT_IN] = {true, IM_SUB_NONE_IN},
					[IM_SUB_TO] = {true, IM_SUB_NONE},
					[IM_SUB_TO_IN] = {true, IM_SUB_NONE_IN},
					[IM_SUB_FROM] = {false, KEEP},
					[IM_SUB_FROM_OUT] = {true, IM_SUB_FROM},
					[IM_SUB_BOTH] = {true, IM_SUB_FROM},
				    },
			    },
};

bool im_sub_has_to(enum im_sub_state state)
{
	return state == IM_SUB_TO || state == IM_SUB_TO_IN || state == IM_SUB_BOTH;
}

bool im_sub_has_from(enum im_sub_state state)
{
	return state == IM_SUB_FROM || state == IM_SUB_FROM_OUT || state == IM_SUB_BOTH;
}

bool im_sub_ask(enum im_sub_state state)
{
	return state == IM_SUB_NONE_OUT || state == IM_SUB_NONE_OUT_IN || state == IM_SUB_FROM_OUT;
}

bool im_sub_pending_in(enum im_sub_state state)
{
	return state == IM_SUB_NONE_IN || state == IM_SUB_NONE_OUT_IN || state == IM_SUB_TO_IN;
}

const char *im_sub_subscription(enum im_sub_state state)
{
	if (im_sub_has_to(state))
		return im_sub_has_from(state) ? "both" : "to";
	return im_sub_has_from(state) ? "from" : "none";
}

enum im_sub_state im_sub_state_of(bool to, bool from, bool pending_out, bool pending_in)
{
	/* A.1 has no state for a request pending towards a contact one is
	 * already subscribed to, nor from one already subscribed: the
	 * subscription wins. */
	if (to && from)
		return IM_SUB_BOTH;
	if (to)
		return pending_in ? IM_SUB_TO_IN : IM_SUB_TO;
	if (from)
		return pending_out ? IM_SUB_FROM_OUT : IM_SUB_FROM;
	if (pending_out)
		return pending_in ? IM_SUB_NONE_OUT_IN : IM_SUB_NONE_OUT;
	return pending_in ? IM_SUB_NONE_IN : IM_SUB_NONE;
}

int im_sub_type_parse(const char *type)
{
	static const char *const names[IM_SUB_TYPES] = {
	    [IM_SUB_SUBSCRIBE] = "subscribe",
	    [IM_SUB_SUBSCRIBED] = "subscribed",
	    [IM_SUB_UNSUBSCRIBE] = "unsubscribe",
	    [IM_SUB_UNSUBSCRIBED] = "unsubscribed",
	};
	for (int i = 0; i < IM_SUB_TYPES; i++)
		if (strcmp(type, names[i]) == 0)
			return i;
	return -1;
}

/* Pre-approval (RFC 6121 3.4) is possible only while the contact has
 * neither a subscription nor a request waiting: then a subscribed is a
 * pre-approval, otherwise it is an approval (A.2.2) or nothing. */
static bool im_sub_preapprovable(enum im_sub_state state)
{
	return state == IM_SUB_NONE || state == IM_SUB_NONE_OUT || state == IM_SUB_TO;
}

void im_sub_step(struct im_sub_item from, enum im_sub_dir dir, enum im_sub_type type,
		 struct im_sub_result *out)
{
	const struct im_sub_row *row = &im_sub_table[dir][type][from.state];
	memset(out, 0, sizeof(*out));
	out->item = from;
	out->forward = row->forward;
	if (row->next != KEEP)
		out->item.state = (enum im_sub_state)row->next;

	if (dir == IM_SUB_OUTBOUND && type == IM_SUB_SUBSCRIBED &&
	    im_sub_preapprovable(from.state)) {
		/* 3.4.2: noted, not routed: the contact learns nothing until it
		 * asks. */
		out->item.approved = true;
	} else if (dir == IM_SUB_OUTBOUND && type == IM_SUB_UNSUBSCRIBED &&
		   im_sub_preapprovable(from.state)) {
		/* 3.4: an unsubscribed withdraws a pre-approval. */
		out->item.approved = false;
	} else if (dir == IM_SUB_INBOUND && type == IM_SUB_SUBSCRIBE && from.approved &&
		   im_sub_preapprovable(from.state)) {
		/* 3.4.2: the server approves on the user's behalf, as if the
		 * user had answered subscribed, and the request is not shown. */
		out->forward = false;
		out->item.approved = false;
		out->item.state = from.state == IM_SUB_TO	  ? IM_SUB_BOTH
				  : from.state == IM_SUB_NONE_OUT ? IM_SUB_FROM_OUT
								  : IM_SUB_FROM;
		out->generate |= IM_SUB_GEN_SUBSCRIBED;
	} else if (dir == IM_SUB_INBOUND && type == IM_SUB_SUBSCRIBE &&
		   im_sub_has_from(from.state)) {
		/* 3.1.3: the contact already has a subscription; the server
		 * answers for the user instead of asking again.  The contact's
		 * server evidently lost the state, so the user's presence goes
		 * with the answer (the RFC leaves it open; Prosody does the
		 * same, and it is the oracle of make conformance). */
		out->generate |= IM_SUB_GEN_SUBSCRIBED | IM_SUB_GEN_AVAILABLE;
	}
	/* A subscription or a pre-approval keeps no meaning once the contact
	 * is subscribed. */
	if (im_sub_has_from(out->item.state))
		out->item.approved = false;

	bool had_from = im_sub_has_from(from.state), has_from = im_sub_has_from(out->item.state);
	if (!had_from && has_from)
		out->generate |= IM_SUB_GEN_AVAILABLE; /* 3.1.5 */
	if (had_from && !has_from)
		out->generate |= IM_SUB_GEN_UNAVAILABLE; /* 3.2.2, 3.3.3 */

	out->changed = out->item.state != from.state || out->item.approved != from.approved;
	out->push =
	    strcmp(im_sub_subscription(out->item.state), im_sub_subscription(from.state)) != 0 ||
	    im_sub_ask(out->item.state) != im_sub_ask(from.state) ||
	    out->item.approved != from.approved;
}
