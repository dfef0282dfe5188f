/* SPDX-License-Identifier: MIT */
/*
 * The election core's state, shared by its two files: elector_core.c (the
 * protocol: what comes in, what it decides) and elector_core_query.c
 * (what the shell and the tests may read of it, and its digest).  Nothing
 * else includes this: the rest sees struct elector as opaque.
 */
#ifndef RXMPP_ELECTOR_CORE_STATE_H
#define RXMPP_ELECTOR_CORE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "elector_core.h"
#include "elector_log.h"

/* Leader: what it knows of a member (or of a member being told of its
 * removal). */
struct peer_progress {
	uint64_t id;
	uint64_t match;	   /* the last index its log is known to match ours up to */
	uint64_t next;	   /* the next index to send it */
	uint64_t applied;  /* what it said it applied */
	uint64_t heard_at; /* tick of its last reply (or of the start of the term) */
	bool heard;	   /* a reply came since this node leads */
};

/* Follower: the leader's view of each member, from its last append. */
struct leader_report {
	uint64_t from; /* the leader that sent it; ELECTOR_NONE: no report */
	uint64_t at;   /* tick it arrived */
	uint32_t count;
	uint64_t ids[ELECTOR_MEMBERS_MAX];
	uint32_t silence[ELECTOR_MEMBERS_MAX];
};

/* Leader: a member just removed, told of its removal by appends until it
 * acknowledges the committed removal or a bounded time has passed. */
struct departure {
	struct elector_member member;
	uint64_t index; /* the membership entry that removed it */
	uint64_t since; /* tick it was removed at */
	enum elector_departure state;
	struct peer_progress pr;
};

/* What an outgoing message refers to, resolved into pointers by
 * elector_ready (the arrays grow while messages are made). */
struct out_ref {
	size_t first; /* into `arena` */
	size_t snap;  /* into `snaps`, plus one; 0: none */
};

struct elector {
	struct elector_options opt;
	/* term, vote, commit index, latest and latest committed membership */
	struct elector_persistent p;
	struct elector_persistent told; /* as handed out last */
	bool compat;
	/* The log or the state machine held a DATA entry: from then on a
	 * protocol-3 member's word moves nothing (on_v3_heartbeat). */
	bool data_seen;
	struct elector_log log; /* the snapshot and the entries after it */
	uint64_t applied;	/* handed out to apply and advanced */
	uint64_t applying;	/* handed out by the last elector_ready */
	enum elector_role role;
	uint64_t leader;
	uint64_t reported_leader;
	uint64_t now;		   /* ticks since start */
	uint64_t elapsed;	   /* ticks since the election timer was reset */
	uint64_t timeout;	   /* this round's election timeout */
	uint64_t heartbeat_due;	   /* leader: ticks since the last heartbeat */
	uint64_t quorum_due;	   /* leader: ticks since the last quorum check */
	uint64_t leader_heard;	   /* ticks since a leader was last heard */
	uint64_t transferee;	   /* leader: handing leadership to it; ELECTOR_NONE */
	uint64_t transfer_elapsed; /* leader: ticks since the transfer began */
	uint64_t rng;
	uint64_t votes[ELECTOR_MEMBERS_MAX];
	unsigned vote_count;
	struct peer_progress progress[ELECTOR_MEMBERS_MAX];
	struct departure departures[ELECTOR_MEMBERS_MAX];
	struct leader_report report;
	/* A leader not in this node's membership that a member said it
	 * follows: its id (ELECTOR_NONE: none), the term it was said to lead
	 * in (moved on with what is taken from it), its certificate. */
	struct {
		uint64_t id;
		uint64_t term;
		uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE];
	} vouch;
	/* What elector_unverified_leader reports (not in the digest: it
	 * changes nothing the core does). */
	uint64_t unverified;
	uint64_t unverified_term;
	struct elector_msg *out;
	struct out_ref *refs;
	size_t out_count;
	size_t out_cap;
	struct elector_entry *arena; /* entries of outgoing appends */
	size_t arena_count;
	size_t arena_cap;
	struct elector_snapshot *snaps; /* snapshots of outgoing messages */
	size_t snap_count;
	size_t snap_cap;
};

/* Member `id` of `c`; NULL when it is not one. */
const struct elector_member *elector_member_of(const struct elector_config *c, uint64_t id);

#endif
