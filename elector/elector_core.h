/* SPDX-License-Identifier: MIT */
/*
 * The election core: a Raft-style protocol (Ongaro's thesis, chapters 3
 * and 4) for leadership and membership only, as a pure deterministic state
 * machine.  No sockets, no clock, no files, no randomness of its own: the
 * shell feeds it received messages (elector_step) and clock ticks
 * (elector_tick) and takes out what to persist, what to send and who leads
 * (elector_ready), persisting before sending, then says so (elector_advance).
 *
 * What it does: terms; randomised election timeouts from an injected seed;
 * pre-vote (a node that cannot win does not disturb the cluster) and
 * check-quorum (a leader that has not heard from a majority within an
 * election timeout steps down); followers that heard from a leader recently
 * refuse to vote; heartbeats that carry the membership and the leader's
 * view of each member (how long since it last heard from it), so that a
 * follower knows the health of members it does not hear itself (followers
 * do not speak to each other); membership changes
 * one node at a time through the leader, committed by a majority of the new
 * membership before the next may start.  The membership is the only
 * replicated state, so the "log" is its latest entry (index, term).
 *
 * Who a peer is: each member is bound to the SHA-256 fingerprint of the
 * certificate it joined with (the shell reads it from the link's TLS
 * session and hands it in with every message).  A message in a member's
 * name from another certificate is refused, and so is a message from a
 * node that is not a member, except, for a node that knows no membership
 * yet (it is joining), a heartbeat whose membership lists its sender with
 * that certificate.  Members of the last committed membership are heard
 * too while the latest entry is not committed: one that removed a member
 * may give way to that member's leadership (Raft's log truncation).  Which certificates may join at
 * all is the shell's decision (the trust bundle, cluster.peer_names). A removed member is told: the
 * leader goes on sending it heartbeats with the membership without it until it acknowledges the
 * committed removal (or for two election timeouts at most), and hears from it nothing but that
 * acknowledgement.  A node whose committed membership does not list it knows it was removed
 * (elector_removed): it is persisted with the membership, and such a node never campaigns. A member
 * with an all-zero fingerprint (read from a state file of before fingerprints) is not bound yet:
 * the leader binds it with elector_propose_add when it is heard from.
 *
 * A crash noticed at once: the shell says when a peer link to a member
 * closed (elector_link_closed); a follower whose leader's link closed
 * (FIN or RST: the process or its machine went away) starts its pre-vote
 * at once instead of waiting out its election timeout; the followers take
 * turns by rank of node id, half a heartbeat apart, so that their votes
 * do not split (no randomness needed).  Pre-vote still
 * decides: members that hear the leader refuse, so a link that flaps, or
 * a follower that lost only its own link, changes no term and deposes
 * nobody.
 *
 * Leadership transfer (thesis 3.10, elector_transfer): the leader stops
 * taking membership changes, brings the chosen member up to date (a
 * heartbeat with the membership), and tells it to campaign at once
 * (ELECTOR_MSG_TIMEOUT_NOW).  The target skips pre-vote and marks its vote
 * requests ELECTOR_VOTE_TRANSFER, which members grant although they heard
 * the leader lately (the leader among them: it steps down).  A transfer
 * not done within election_ticks_min ticks is given up and the leader
 * leads on.
 */
#ifndef RXMPP_ELECTOR_CORE_H
#define RXMPP_ELECTOR_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELECTOR_MEMBERS_MAX	 16
#define ELECTOR_ADDRESS_MAX	 128
#define ELECTOR_NONE		 0	    /* no node: node ids are never 0 */
#define ELECTOR_FINGERPRINT_SIZE 32	    /* SHA-256 */
#define ELECTOR_SILENCE_NEVER	 UINT32_MAX /* not heard since this leader leads */

struct elector_member {
	uint64_t id;
	uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE]; /* of its certificate */
	char address[ELECTOR_ADDRESS_MAX];	       /* where its peers reach it, host:port */
};

/* A member address: host:port (IPv6 in brackets), printable ASCII without
 * spaces, ended within `size` bytes.  It goes into files and log lines, so
 * every address from a peer is checked with this. */
bool elector_address_valid(const char *address, size_t size);

/* A membership entry: the members, and the (index, term) it was made at. */
struct elector_config {
	uint64_t index;
	uint64_t term;
	uint32_t count;
	struct elector_member members[ELECTOR_MEMBERS_MAX];
};

/* What must be on disk before any message that depends on it is sent. */
struct elector_persistent {
	uint64_t term;
	uint64_t voted_for;
	uint64_t commit_index; /* the membership entry known committed */
	struct elector_config config;
	/* The latest membership known committed: `config` once that is;
	 * while it is not, the one before, whose members are heard too (an
	 * entry that removed one of them may yet give way to its leadership).
	 * Empty when not known (a state file of before it was kept). */
	struct elector_config committed;
};

enum elector_role {
	ELECTOR_FOLLOWER,
	ELECTOR_PRE_CANDIDATE,
	ELECTOR_CANDIDATE,
	ELECTOR_LEADER,
};

enum elector_msg_type {
	ELECTOR_MSG_PRE_VOTE = 1,
	ELECTOR_MSG_PRE_VOTE_REPLY,
	ELECTOR_MSG_VOTE,
	ELECTOR_MSG_VOTE_REPLY,
	ELECTOR_MSG_HEARTBEAT,
	ELECTOR_MSG_HEARTBEAT_REPLY,
	ELECTOR_MSG_TIMEOUT_NOW, /* leader -> transfer target: campaign now */
};

/* `granted` of an ELECTOR_MSG_VOTE: the candidate campaigns because the
 * leader handed leadership to it, so recent heartbeats do not stop it. */
#define ELECTOR_VOTE_TRANSFER 1

struct elector_msg {
	uint32_t type;	  /* enum elector_msg_type */
	uint32_t granted; /* replies: 0 or 1; votes: 0 or ELECTOR_VOTE_TRANSFER; else 0 */
	uint64_t from;
	uint64_t to;
	uint64_t term;
	/* votes: the candidate's membership entry; heartbeats: the leader's */
	uint64_t last_index;
	uint64_t last_term;
	uint64_t commit_index;
	struct elector_config config; /* heartbeats only */
	/* Heartbeats only: ticks since the leader last heard from
	 * config.members[i] (0 for itself), or ELECTOR_SILENCE_NEVER. */
	uint32_t silence[ELECTOR_MEMBERS_MAX];
};

struct elector_options {
	uint64_t id;
	unsigned heartbeat_ticks;
	unsigned election_ticks_min; /* the timeout is drawn from [min, max) */
	unsigned election_ticks_max;
	uint64_t seed;
};

struct elector;

/* Starts from persisted state (all zero for a new node, which knows no
 * membership and waits to be initialized or joined). */
struct elector *elector_new(const struct elector_options *options,
			    const struct elector_persistent *state);
void elector_free(struct elector *e);

void elector_tick(struct elector *e);
/* A message from a peer over a link whose certificate has `fingerprint`;
 * ones not addressed to this node are ignored.  -1 with `*why` when the
 * message is not the sender's to send (see above): the shell closes the
 * link. */
int elector_step(struct elector *e, const struct elector_msg *msg,
		 const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE], const char **why);

/* A one-node cluster of this node at `address`, with this node's
 * certificate's `fingerprint`; it leads at once. */
int elector_initialize(struct elector *e, const char *address,
		       const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE]);
/* Leader only: add `id` at `address` (or move it there) bound to
 * `fingerprint` (or bind a member not bound yet), or remove `id`.  -1 when
 * not leader, when another change is not yet committed, when the cluster is
 * full, when the address is not valid, when `id` is a member bound to
 * another fingerprint, or when it would change nothing. */
int elector_propose_add(struct elector *e, uint64_t id, const char *address,
			const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE]);
int elector_propose_remove(struct elector *e, uint64_t id);

/* A peer link to member `id` closed (FIN or RST); see above.  Whether the
 * member was heard lately is the core's business: nothing for a leader,
 * for a member that does not lead, or for a node that is not a member. */
void elector_link_closed(struct elector *e, uint64_t id);

/* Leader only: hand leadership to member `id`, or with ELECTOR_NONE to the
 * most up-to-date other member (it acknowledged the latest membership;
 * the one heard from last among those).  -1 when not leader, when `id` is
 * this node or not a member, when no other member was heard from, or
 * when a transfer is already under way to another member.  The outcome
 * shows in elector_ready: another leader (or none, then that one) within
 * election_ticks_min ticks, or this node still leading and
 * elector_transferee back to ELECTOR_NONE (given up). */
int elector_transfer(struct elector *e, uint64_t id);
/* The member a transfer under way hands leadership to; ELECTOR_NONE when
 * no transfer is under way. */
uint64_t elector_transferee(const struct elector *e);

struct elector_ready {
	bool persist; /* state changed: write it before sending the messages */
	struct elector_persistent state;
	const struct elector_msg *msgs;
	size_t msg_count;
	enum elector_role role;
	uint64_t leader; /* ELECTOR_NONE when not known */
	bool leader_changed;
};

/* Leader: whether a removed member `id` knows (see above). */
enum elector_departure {
	ELECTOR_DEPARTURE_NONE,	      /* not a member removed by this leader */
	ELECTOR_DEPARTURE_TELLING,    /* being told */
	ELECTOR_DEPARTURE_TOLD,	      /* it acknowledged the committed removal */
	ELECTOR_DEPARTURE_UNANSWERED, /* it did not within two election timeouts */
};
enum elector_departure elector_departure(const struct elector *e, uint64_t id);
/* Leader: the i-th removed member still being told (NULL past the last):
 * the shell keeps a link to each. */
const struct elector_member *elector_departing(const struct elector *e, size_t i);
/* This node's committed membership does not list it: it was removed.
 * The same of persisted state `p` of node `id` (rxmppctl reset asks). */
bool elector_removed(const struct elector *e);
bool elector_state_removed(const struct elector_persistent *p, uint64_t id);

bool elector_has_ready(const struct elector *e);
/* Valid until elector_advance, which must follow once the state is
 * persisted and the messages are handed to the network. */
void elector_ready(struct elector *e, struct elector_ready *out);
void elector_advance(struct elector *e);

/* For status and tests. */
enum elector_role elector_role(const struct elector *e);
uint64_t elector_term(const struct elector *e);
uint64_t elector_leader(const struct elector *e);
const struct elector_config *elector_config(const struct elector *e);
uint64_t elector_commit_index(const struct elector *e);
/* Ticks since a leader last heard from `id` (leader only; UINT64_MAX if never). */
uint64_t elector_silence(const struct elector *e, uint64_t id);
/* The leader's view of member `id`: on the leader its own; on a follower
 * what the last heartbeat of the leader it follows said.  0 with `*silence`
 * (ticks since the leader heard from it, as of the report; UINT64_MAX:
 * not since it leads) and `*age` (ticks since the report; 0 on the
 * leader); -1 when there is no such report. */
int elector_leader_view(const struct elector *e, uint64_t id, uint64_t *silence, uint64_t *age);
/* The one name of each role ("PRE-CANDIDATE"...): the elector's log lines
 * and rxmppctl cluster status both print it. */
const char *elector_role_name(enum elector_role role);

#endif
