/* SPDX-License-Identifier: MIT */
/*
 * The session keeper core: what a second node keeps of a client's XEP-0198
 * session so that the client can resume on any survivor after the node
 * that held its session died, as a pure deterministic state machine.  No
 * sockets, no clock, no randomness: the router's shell feeds it what the
 * holding node reports and takes out, in order, what to do
 * (router_keep_next).
 *
 * The protocol (README "What happens to my clients when a node dies").
 * Every resumable session has a holder (the node whose listener has its
 * connection) and a keeper (the leader, for sessions on followers; a
 * follower, for the leader's, which hands them over to the next leader if
 * the leader dies: router_keep_each, router_keep_adopt); a client
 * that resumes anywhere is looked up at the leader.  The keeper is told:
 *
 *   OPEN       the session became resumable (id, full JID, counters);
 *   DELIVERED  the leader itself sent the holder a stanza for the session
 *              (kept, not yet numbered: router_keep_delivered);
 *   STANZA     the holder numbered stanza n for the client (its bytes;
 *              the same bytes delivered before are now that number).  The
 *              holder writes it to the client only once the keeper has it,
 *              so the client never saw what the keeper does not have;
 *   ACKED      the client acknowledged h of them;
 *   HANDLED    the client's stanzas up to h reached the leader (sent on
 *              the same link right after the stanza itself, so that the
 *              two arrive together or not at all; the leader's own, once
 *              they are safe beyond it: router_counts.h), and the keeper answers
 *              with the count it now has: the holder never acknowledges to
 *              its client more than that (`<a h/>`), so an acknowledgement
 *              means the stanza is routed and counted on two nodes;
 *   END        the session ended for good (the holder bounced the rest).
 *
 * When the holder is lost (router_keep_node_lost), each of its sessions
 * waits here for its max time, with the stanzas delivered and not numbered
 * after the numbered ones, in the order they were delivered (the order
 * the holder numbered them in, as far as the client could have seen them).
 * Stanzas routed to its full JID meanwhile are held with the next numbers
 * (router_keep_hold; the relay's marks drop one routed twice after a leader
 * change), bounded like the holder's queue.  A resumption on any node
 * (router_keep_resume) gets the handled count and exactly the stanzas
 * after the client's h; a session not resumed in time bounces every
 * stanza it kept (KEEP_OUT_BOUNCE) and ends (KEEP_OUT_ENDED).  A holder
 * that comes back (its link dropped, it did not die) opens its sessions
 * again: what it may not have had goes to them (KEEP_OUT_DELIVER): what was
 * held meanwhile, and what it was sent and had not numbered when it was
 * lost -- which it may have had after all: a link that drops without its
 * node dying can duplicate those (a second failure of a kind).
 *
 * A resumption asked on another node while the holder lives (the client's
 * connection was cut, or it is still connected there: XEP-0198 section 5,
 * the new resumption wins and the old connection gets a conflict) is a
 * handover (router_keep_resume returns 1): the keeper asks the holder to
 * give the session up (GIVE_UP) and holds what is routed to it meanwhile
 * (the router asks before it delivers to the holder, which still lists
 * the session: router_sm_hold_for; the holder sends its own senders'
 * stanzas for it to the leader once asked);
 * the holder ends it without bouncing anything, after reporting every
 * stanza it numbered (the same link, in order), and says so (GIVEN, with
 * what was left of its waiting time).  What the leader delivered there and
 * the holder never numbered (nothing, as everything delivered went ahead
 * of GIVE_UP on the link, unless the link was made again in between)
 * went elsewhere (routed again when the session was gone): it is not
 * kept.  The session then waits here and is resumed
 * for the asker at once (KEEP_OUT_RESUMED), with exactly the stanzas after
 * the client's h.  The holder lost meanwhile: the same, from what it
 * reported.  The session ended meanwhile (its window ran out there, a
 * fresh bind of its JID), or the holder had none to give (a resumption
 * being taken over there): the asker gets item-not-found
 * (KEEP_OUT_REFUSED) and what was held for it goes back to its senders.
 * The same when the holder has not answered within KEEP_HANDOVER_MS
 * (router_keep_tick): the session stays as its holder reports it,
 * resumable again, and a GIVEN that comes after all makes it wait here
 * for the rest of its time.  The asker is refused too when its h is no
 * longer between what was acknowledged and what was sent once the holder
 * gave the session up (the old connection acknowledged more meanwhile):
 * then the session waits here, with what the holder reported and what was
 * held, resumable on any node for the rest of its time, although its old
 * node has ended it.
 * A second resumption asked during a handover is refused.
 *
 * Covered: one node lost at a time.  The holder and the keeper lost
 * together lose the session (the client binds afresh, as before).
 */
#ifndef RXMPP_ROUTER_KEEP_H
#define RXMPP_ROUTER_KEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router_relay.h"

#define KEEP_ID_MAX  64
#define KEEP_JID_MAX 3072
/* How long a handover waits for the holder's answer (GIVEN): far beyond a
 * round trip on a loaded node, so that only a holder that cannot answer
 * (its GIVE_UP was never sent, or it does not report the session) hits
 * it; the asker's client is waiting for `<resumed/>` meanwhile. */
#define KEEP_HANDOVER_MS 10000

struct keep_options {
	/* Per session, like stream_management.max_unacked_*: what a waiting
	 * session holds beyond them is bounced at once, and a holder that
	 * reports more is refused (its session is no longer kept). */
	uint32_t max_stanzas;
	size_t max_bytes;
};

enum keep_out_kind {
	/* The stanza `data` kept for `jid` was never acknowledged and the
	 * session ended unresumed: bounce it to its sender. */
	KEEP_OUT_BOUNCE,
	/* The session `id` of `jid` waited in vain: route nothing more to it. */
	KEEP_OUT_ENDED,
	/* The stanza `data` was held for `jid` while its holder was away, and
	 * the holder is back: deliver it to the session there. */
	KEEP_OUT_DELIVER,
	/* The handover of `id` is done: `resumed` goes to the connection
	 * `session` that asked on `node` (as router_keep_resume's 0). */
	KEEP_OUT_RESUMED,
	/* The handover of `id` failed: the connection `session` that asked on
	 * `node` gets item-not-found. */
	KEEP_OUT_REFUSED,
};

/* One kept stanza, numbered as the client counts it. */
struct keep_item {
	struct keep_item *next;
	uint32_t number;
	struct relay_key key; /* as the relay routed it ({0}: not known) */
	/* Numbered here after its holder was lost: the holder may not have
	 * had it (delivered unconfirmed, or held since). */
	bool unsure;
	size_t len;
	char data[];
};

/* What a resumption takes over: the client's stanzas we handled, and the
 * stanzas after the client's h, oldest first (valid until the next call
 * that changes the keeper). */
struct keep_resumed {
	const char *jid;
	size_t jid_len;
	uint32_t max_seconds;
	int32_t priority; /* its presence when its holder was lost */
	bool available;
	uint32_t handled;
	uint32_t sent; /* the number of the last stanza below, or h when none */
	const struct keep_item *first;
	uint32_t count;
	/* What is left of its waiting time: a connection that goes before the
	 * answer leaves the session waiting this long, not a whole window
	 * again (a client cannot stretch its wait by asking and going). */
	uint32_t remaining_ms;
	/* router_keep_resume's 1: the holder to ask, and its session there. */
	uint64_t holder, holder_session;
};

struct keep_out {
	enum keep_out_kind kind;
	const char *id;
	const char *jid;
	size_t jid_len;
	const char *data;
	size_t len;
	uint64_t node, session; /* RESUMED, REFUSED: who asked */
	struct keep_resumed resumed;
};

enum keep_verdict {
	KEEP_KEPT,	/* done */
	KEEP_DUPLICATE, /* held: already kept (a delivery sent again) */
	KEEP_BOUNCED,	/* held: over the bounds, bounce it now */
	KEEP_REFUSED,	/* not possible (`why`): unknown id, a number out of turn, bounds */
};

struct keep;

struct keep *router_keep_new(const struct keep_options *options);
void router_keep_free(struct keep *k);

/* The reports of the holder `from` (see above), in the order it sent
 * them; KEEP_REFUSED with `why` when `from` does not hold `id` here, or
 * when the report is impossible -- a stanza out of turn or past the bounds
 * then also forgets the session (what is kept must be exactly the holder's
 * queue, or nothing: the client can still resume on its holder).  An OPEN
 * of an id kept already replaces it when it comes from its holder, or
 * from the node it was lost with (back after its link dropped), and is
 * refused otherwise; one with the counters of the record already there
 * (the holder a resumption moved it to) changes nothing, and neither do
 * that holder's reports of the stanzas kept already (same number, same
 * bytes) that follow it.  A new record
 * starts at `acked`: the holder reports its stanzas acked+1.. after it. */
enum keep_verdict router_keep_open(struct keep *k, uint64_t from, const char *id, const char *jid,
				   size_t jid_len, uint64_t session, uint32_t max_seconds,
				   uint32_t handled, uint32_t acked, uint32_t sent,
				   const char **why);
enum keep_verdict router_keep_stanza(struct keep *k, uint64_t from, const char *id, uint32_t number,
				     const void *data, size_t len, const char **why);
enum keep_verdict router_keep_acked(struct keep *k, uint64_t from, const char *id, uint32_t h,
				    const char **why);
/* On KEEP_KEPT, `*now_handled` is the count kept here (the holder's bound
 * on what it acknowledges to its client). */
enum keep_verdict router_keep_handled(struct keep *k, uint64_t from, const char *id, uint32_t h,
				      uint32_t *now_handled, const char **why);
void router_keep_end(struct keep *k, uint64_t from, const char *id);
/* The leader delivers `data` to the session of `jid` on `holder`: kept,
 * not numbered, until the holder reports it (router_keep_stanza with the
 * same bytes) or is lost.  Nothing when no such session is kept here. */
void router_keep_delivered(struct keep *k, uint64_t holder, const char *jid, size_t jid_len,
			   struct relay_key key, const void *data, size_t len);
/* Its presence, kept for a resumption elsewhere. */
void router_keep_presence(struct keep *k, const char *jid, size_t jid_len, int32_t priority,
			  bool available);

/* The holder `node` is gone (declared dead, or its link did not come back):
 * its sessions wait from `now_ms` for their max time. */
void router_keep_node_lost(struct keep *k, uint64_t node, int64_t now_ms);
/* A waiting session of this full JID, or one being handed over, or NULL:
 * its id (what is routed to it is held here: router_keep_hold). */
const char *router_keep_waiting(const struct keep *k, const char *jid, size_t jid_len);
/* Whether the session of this full JID is being handed over: its holder,
 * which still lists it, was asked to give it up (what is routed to it is
 * held here, although a live target is there).  A session that merely
 * waits has no live target but one bound afresh, which is delivered to. */
bool router_keep_handing(const struct keep *k, const char *jid, size_t jid_len);
/* A stanza for the waiting session of `jid` (see router_keep_waiting). */
enum keep_verdict router_keep_hold(struct keep *k, const char *jid, size_t jid_len,
				   struct relay_key key, const void *data, size_t len,
				   const char **why);
/* Ends the waits and the handovers whose time is up. */
void router_keep_tick(struct keep *k, int64_t now_ms);

/* The client of `user` (its bare JID) resumes `id` having handled `h` of
 * our stanzas, now on node `holder` as `session`.  -1 (item-not-found for
 * the client) when the id is unknown here, belongs to another user, is
 * being handed over already, or `h` is not between what it acknowledged
 * and what was sent; 0 when it waits: the stanzas up to h are let go and
 * the rest fills `out`, and the session is held again (by `holder`, which
 * replays them); 1 when its holder lives: `out->holder` must be asked to
 * give up its session `out->holder_session` (a handover, above), and the
 * answer comes later as KEEP_OUT_RESUMED or KEEP_OUT_REFUSED. */
int router_keep_resume(struct keep *k, const char *id, const char *user, size_t user_len,
		       uint32_t h, uint64_t holder, uint64_t session, int64_t now_ms,
		       struct keep_resumed *out);
/* The holder `from` gave up the session `id` it was asked for (`given`,
 * with `remaining_ms` of its waiting time left), or had none to give (the
 * asker gets item-not-found; the record stays as the holder reports).  A
 * session given up with no handover under way waits here for the rest of
 * its time, resumable on any node. */
void router_keep_given(struct keep *k, uint64_t from, const char *id, bool given,
		       uint32_t remaining_ms, int64_t now_ms);

/* A session as another keeper hands it over (the leader's sessions are
 * kept by a follower, which hands them to the next leader; a leader that
 * stops leading hands what it kept to the next one): router_keep_each
 * gives them all, and the next keeper takes each with router_keep_adopt,
 * then its stanzas in order with router_keep_adopt_item.  A held one stays
 * held by its holder until router_keep_confirm_due finds the holder has
 * not linked to the new leader within the grace time: then it waits, as
 * if its holder had been lost then. */
struct keep_waiting {
	char id[KEEP_ID_MAX + 1];
	const char *jid;
	size_t jid_len;
	bool held;     /* held by `lost` (its holder), not waiting */
	uint64_t lost; /* the node that held it */
	int64_t remaining_ms;
	uint32_t max_seconds;
	int32_t priority;
	bool available;
	uint32_t handled, acked, count;
};
void router_keep_each(const struct keep *k, int64_t now_ms,
		      void (*fn)(const struct keep_waiting *w, const struct keep_item *first,
				 void *arg),
		      void *arg);
enum keep_verdict router_keep_adopt(struct keep *k, const struct keep_waiting *w, int64_t now_ms,
				    const char **why);
enum keep_verdict router_keep_adopt_item(struct keep *k, const char *id, struct relay_key key,
					 bool unsure, const void *data, size_t len,
					 const char **why);
/* A change of leader: every holder must be heard from again (a report, or
 * a link to the new leader) before router_keep_confirm_due's grace ends. */
void router_keep_holders_unsure(struct keep *k, int64_t now_ms);
/* The holder of the session kept for `jid` if it was not heard from since
 * a change of leader, else 0. */
uint64_t router_keep_unconfirmed_holder(const struct keep *k, const char *jid, size_t jid_len);
/* The sessions whose holders were not heard from for `grace_ms` since a
 * change of leader: those of holders `linked` are confirmed, the others
 * wait from `now_ms`.  Returns how many began to wait. */
size_t router_keep_confirm_due(struct keep *k, int64_t now_ms, int64_t grace_ms,
			       bool (*linked)(uint64_t node, void *arg), void *arg);
/* Lets every session go, silently (handed over to the next keeper). */
void router_keep_drop_all(struct keep *k);

/* Outputs, first in first out; pointers stay valid until
 * router_keep_next returns false. */
bool router_keep_next(struct keep *k, struct keep_out *out);

/* Queries */
size_t router_keep_sessions(const struct keep *k);
size_t router_keep_waiting_count(const struct keep *k);
size_t router_keep_bytes(const struct keep *k);

#endif
