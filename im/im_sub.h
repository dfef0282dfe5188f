/* SPDX-License-Identifier: MIT */
/*
 * The presence subscription state machine of RFC 6121 section 3 and
 * Appendix A, for one (user, contact) pair as the user's server keeps it.
 * Pure: a state and a subscription stanza in, the new state and what the
 * server must do out.  No I/O: the im process writes the item, routes or
 * delivers the stanza and sends what is generated.
 *
 * "Outbound" is a stanza the user sent to the contact (Appendix A.2, the
 * tables for the sender's server); "inbound" is one the contact sent to the
 * user (Appendix A.3, the recipient's server).  A local user talking to a
 * local user goes through both: the outbound step on the sender's roster,
 * then, if it is routed, the inbound step on the recipient's.
 */
#ifndef RXMPP_IM_SUB_H
#define RXMPP_IM_SUB_H

#include <stdbool.h>

/* The nine states of RFC 6121 A.1.  "To": the user receives the contact's
 * presence; "From": the contact receives the user's; "Pending Out": the
 * user asked the contact (ask='subscribe'); "Pending In": the contact asked
 * the user and the user has not answered. */
enum im_sub_state {
	IM_SUB_NONE,
	IM_SUB_NONE_OUT,
	IM_SUB_NONE_IN,
	IM_SUB_NONE_OUT_IN,
	IM_SUB_TO,
	IM_SUB_TO_IN,
	IM_SUB_FROM,
	IM_SUB_FROM_OUT,
	IM_SUB_BOTH,
	IM_SUB_STATES
};

enum im_sub_type {
	IM_SUB_SUBSCRIBE,
	IM_SUB_SUBSCRIBED,
	IM_SUB_UNSUBSCRIBE,
	IM_SUB_UNSUBSCRIBED,
	IM_SUB_TYPES
};

enum im_sub_dir {
	IM_SUB_OUTBOUND, /* from the user to the contact: A.2 */
	IM_SUB_INBOUND,	 /* from the contact to the user: A.3 */
};

/* What the server sends on its own, besides the stanza itself. */
enum im_sub_generate {
	/* <presence type='subscribed'/> from the user's bare JID to the
	 * contact: the auto-reply of RFC 6121 3.1.3 (the contact is already
	 * subscribed, or pre-approved, 3.4). */
	IM_SUB_GEN_SUBSCRIBED = 1 << 0,
	/* The last presence of each of the user's available resources, to the
	 * contact: the contact has just been allowed to see it (3.1.5, 3.4),
	 * or asked again while subscribed (3.1.3).  With none available
	 * nothing is sent: the contact's client shows the user offline until
	 * told otherwise (4.3). */
	IM_SUB_GEN_AVAILABLE = 1 << 1,
	/* <presence type='unavailable'/> from each of the user's available
	 * resources to the contact: the contact may no longer see the user's
	 * presence (3.2.2, 3.3.3). */
	IM_SUB_GEN_UNAVAILABLE = 1 << 2,
};

struct im_sub_item {
	enum im_sub_state state;
	/* The user pre-approved the contact's future request (3.4); only
	 * meaningful while the contact has no subscription (no From). */
	bool approved;
};

struct im_sub_result {
	struct im_sub_item item;
	/* The state or the pre-approval changed: the item must be written. */
	bool changed;
	/* Outbound: route the stanza to the contact.  Inbound: deliver it to
	 * the user's available resources (or keep it, for a subscribe, until
	 * they are available: the Pending In of the item). */
	bool forward;
	/* What the client sees of the item (subscription, ask, approved)
	 * changed: a roster push to the user's interested resources (2.1.6). */
	bool push;
	unsigned generate; /* enum im_sub_generate bits */
};

/* One step of the machine: `type` in direction `dir` applied to `from`. */
void im_sub_step(struct im_sub_item from, enum im_sub_dir dir, enum im_sub_type type,
		 struct im_sub_result *out);

/* The roster item attributes of a state (RFC 6121 2.1.2): subscription
 * "none", "to", "from" or "both"; ask='subscribe' for Pending Out; and
 * whether a request from the contact waits for an answer. */
const char *im_sub_subscription(enum im_sub_state state);
bool im_sub_ask(enum im_sub_state state);
bool im_sub_pending_in(enum im_sub_state state);
/* The state of those three facts (the inverse of the three above). */
enum im_sub_state im_sub_state_of(bool to, bool from, bool pending_out, bool pending_in);
bool im_sub_has_to(enum im_sub_state state);
bool im_sub_has_from(enum im_sub_state state);
/* The type of a presence stanza's 'type' attribute; -1 when it is not a
 * subscription type. */
int im_sub_type_parse(const char *type);

#endif
