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
 * membership before the next may start.
 *
 * The replicated log (thesis chapter 3, 4 and 5): entries (index, term,
 * type, bytes) of three types: NOOP (a new leader's first entry, whose
 * commit commits the earlier terms' entries), CONFIG (a membership,
 * encoded by the core: elector_config_encode) and DATA (opaque commands of
 * the state machine, at most ELECTOR_DATA_MAX bytes).  A membership is in
 * effect as soon as it is appended (thesis 4.1): the latest CONFIG entry
 * of the log, else the snapshot's.  The leader sends AppendEntries
 * (ELECTOR_MSG_APPEND: prev_index/prev_term, up to ELECTOR_APPEND_ENTRIES
 * entries and ELECTOR_APPEND_BYTES bytes, its commit index) and the
 * follower checks log matching: a mismatch is refused with a hint (the
 * follower's last index, or the last index whose term is not above the
 * leader's prev_term: etcd's findConflictByTerm) so that the leader skips
 * a whole conflicting term at once; a conflicting uncommitted tail is
 * replaced.  An entry commits when a majority of the current membership
 * holds it and it is of the leader's term (thesis 3.6.2), and everything
 * before it with it.  A vote goes only to a candidate whose last entry
 * (term, then index) is at least as recent as the voter's (the election
 * restriction).
 *
 * Snapshots (thesis chapter 5): once the shell has written the state
 * machine as applied up to index I, it says so with elector_compact; the
 * core drops entries up to I and keeps the snapshot's bytes, which it sends
 * (ELECTOR_MSG_SNAPSHOT) to a follower whose next entry was dropped (a
 * lagging follower, a node that joins).  A follower that takes one hands it
 * out in elector_ready for the shell to install, then the entries after it.
 *
 * Compat with protocol 3 (0.2.0, rolling upgrades): a member of 0.2.0
 * knows only "heartbeats" that carry the membership at (index, term), and
 * replies with its own membership entry.  While the shell says a member
 * speaks protocol 3 (elector_set_compat), the log takes only CONFIG
 * entries: a new leader re-enters the membership instead of a NOOP, and
 * DATA proposals are refused.  Every message the core emits fills the
 * protocol-3 fields as 0.2.0 did (appends and snapshots: last_index /
 * last_term / config are the leader's membership entry, with the commit
 * index and the silences; replies: the follower's membership entry), so
 * the shell translates to protocol 3 by dropping the rest.  What comes from
 * a protocol-3 peer has no ELECTOR_MSG_LOG flag and the core reads it as
 * 0.2.0 meant it: an append without entries that makes the leader's
 * membership entry authoritative (appended after what the log holds
 * before it, with a membership-only snapshot standing in for memberships
 * the log misses; once the leader says it is committed it stands for the
 * whole log before it: a membership-only snapshot at it; see struct
 * elector_snapshot), and a reply that matches the follower up to its
 * membership entry when the leader's log holds that entry.  A heartbeat of
 * protocol 3 shows nothing of the log before its membership entry: while a
 * protocol-3 member leads, log matching holds for what is committed only.
 *
 * Who a peer is: each member is bound to the SHA-256 fingerprint of the
 * certificate it joined with (the shell reads it from the link's TLS
 * session and hands it in with every message).  A message in a member's
 * name from another certificate is refused, and so is a message from a
 * node that is not a member, except, for a node that knows no membership
 * yet (it is joining), a heartbeat whose membership lists its sender with
 * that certificate.  Members of the last committed membership are heard
 * too while the latest entry is not committed: one that removed a member
 * may give way to that member's leadership (Raft's log truncation).
 *
 * A leader this node's membership does not list yet (the node missed its
 * addition: it was cut off or down meanwhile) must still be heard, as it
 * alone can bring the node up to date (thesis 4.1: a server accepts
 * AppendEntries from a leader not in its latest configuration).  Its
 * appends alone cannot tell it from an impostor with a trusted
 * certificate (entries are not signed), so a member this node knows
 * vouches for it: every reply a node sends (PRE_VOTE_REPLY, VOTE_REPLY,
 * APPEND_REPLY) names the leader it follows, that leader's term and the
 * fingerprint its membership binds it to; from a member's reply this node
 * keeps the newest such word, and takes appends and snapshots from that
 * node, on a link with that certificate, of that term or later (one of a
 * term behind this node's is answered with this node's term, which
 * deposes a stale leader, as for a member).  The node that
 * refuses its leader campaigns at its election timeout, and the members'
 * refusals of its pre-votes carry the word (elector_unverified_leader
 * says whom it refuses meanwhile).  Only protocol 4 carries it.  A node
 * none of whose known members is still in the cluster stays stuck: reset
 * it and join it again.  Which certificates may join at
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
 *
 * What the shell does with elector_ready, in this order: persist the hard
 * state (term, vote, commit), install the snapshot if there is one (it
 * replaces the whole log and the state machine), truncate its log from the
 * first entry's index and append the entries, fsync; then send the
 * messages; then apply the committed entries in order; then
 * elector_advance.  Nothing the core hands out changes before
 * elector_advance.
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

/* The bytes of a membership in a CONFIG entry (and in a snapshot's
 * meta): elector_config_encode writes at most ELECTOR_CONFIG_ENCODED_MAX;
 * the entry's (index, term) are the entry's, not in the bytes.
 * elector_config_decode checks counts, ids and addresses (-1 when
 * malformed). */
#define ELECTOR_CONFIG_ENCODED_MAX                                                                 \
	(4 + ELECTOR_MEMBERS_MAX * (8 + ELECTOR_FINGERPRINT_SIZE + 1 + ELECTOR_ADDRESS_MAX))
size_t elector_config_encode(const struct elector_config *c, uint8_t *out);
int elector_config_decode(const uint8_t *data, size_t len, struct elector_config *c);

enum elector_entry_type {
	ELECTOR_ENTRY_NOOP = 1,
	ELECTOR_ENTRY_CONFIG,
	ELECTOR_ENTRY_DATA,
};

#define ELECTOR_DATA_MAX	    8192u	   /* bytes of one DATA entry */
#define ELECTOR_APPEND_ENTRIES	    64u		   /* entries in one append */
#define ELECTOR_APPEND_BYTES	    (256u * 1024u) /* their bytes, past the first */
#define ELECTOR_UNCOMMITTED_ENTRIES 1024u	   /* a leader takes no more proposals beyond */
#define ELECTOR_UNCOMMITTED_BYTES   (1024u * 1024u)

struct elector_entry {
	uint64_t index;
	uint64_t term;
	uint32_t type; /* enum elector_entry_type */
	uint32_t len;
	const uint8_t *data; /* len bytes; a CONFIG entry's: elector_config_encode */
};

/* A snapshot: the state machine as applied up to `index`, whose entry was
 * of `term`, and the membership in effect there.  `data` is the state
 * machine's bytes, opaque to the core.  membership_only: made from a
 * protocol-3 heartbeat (see above): it carries the membership and no
 * state machine, and the shell installs only its meta (keeps its state
 * machine; a log of protocol-3 times has no DATA entries).  Such a
 * snapshot may be of term 0 and stand past the commit index: it stands
 * in for memberships a protocol-3 leader did not show, before its own
 * membership entry, and is not taken as committed (the hard state's
 * commit index may then be below the snapshot's index). */
struct elector_snapshot {
	uint64_t index;
	uint64_t term;
	struct elector_config config;
	bool membership_only;
	const uint8_t *data;
	size_t len;
};

/* What must be on disk before any message that depends on it is sent:
 * the hard state (term, vote, commit index), and, of the log, the latest
 * membership entry and the latest committed one (what the election file of
 * protocol 3 keeps; the entries themselves come in elector_ready). */
struct elector_persistent {
	uint64_t term;
	uint64_t voted_for;
	uint64_t commit_index;
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
	ELECTOR_MSG_APPEND,	  /* AppendEntries; protocol 3's heartbeat */
	ELECTOR_MSG_APPEND_REPLY, /* also the answer to a snapshot */
	ELECTOR_MSG_TIMEOUT_NOW,  /* leader -> transfer target: campaign now */
	ELECTOR_MSG_SNAPSHOT,	  /* leader -> follower: install `snapshot` (protocol 4 only) */
};

/* flags: the sender keeps a log (every message the core emits; a
 * protocol-3 peer's have none); a reply that refuses an append. */
#define ELECTOR_MSG_LOG	   1u
#define ELECTOR_MSG_REJECT 2u

/* `granted` of an ELECTOR_MSG_VOTE: the candidate campaigns because the
 * leader handed leadership to it, so recent heartbeats do not stop it. */
#define ELECTOR_VOTE_TRANSFER 1

struct elector_msg {
	uint32_t type;	  /* enum elector_msg_type */
	uint32_t granted; /* replies: 0 or 1; votes: 0 or ELECTOR_VOTE_TRANSFER; else 0 */
	uint64_t from;
	uint64_t to;
	uint64_t term;
	/* Votes: the candidate's last entry; appends and snapshots: the
	 * leader's membership entry; replies: the sender's membership entry. */
	uint64_t last_index;
	uint64_t last_term;
	uint64_t commit_index;
	struct elector_config config; /* appends and snapshots: the leader's membership */
	/* Appends and snapshots: ticks since the leader last heard from
	 * config.members[i] (0 for itself), or ELECTOR_SILENCE_NEVER. */
	uint32_t silence[ELECTOR_MEMBERS_MAX];
	/* Not in a protocol-3 frame, which ends here (ELECTOR_MSG_V3_SIZE). */
	uint32_t flags;	      /* ELECTOR_MSG_LOG, ELECTOR_MSG_REJECT */
	uint32_t entry_count; /* appends */
	/* Appends: the entry before `entries`.  Replies: the last index the
	 * sender now matches the leader up to, or when rejecting, the
	 * append's prev_index.  Snapshots: the snapshot's index and term. */
	uint64_t prev_index;
	uint64_t prev_term;
	/* Rejecting replies: where the leader may try next (see above). */
	uint64_t hint_index;
	uint64_t hint_term;
	uint64_t applied_index; /* replies: what the sender applied */
	/* Replies: the leader the sender follows in term `vouch_term`
	 * (ELECTOR_NONE: none known) and the fingerprint the sender's
	 * membership binds it to: a member's word that lets a node which
	 * missed that leader's addition take its appends (see above). */
	uint64_t vouch_id;
	uint64_t vouch_term;
	uint8_t vouch_fingerprint[ELECTOR_FINGERPRINT_SIZE];
	const struct elector_entry *entries;	 /* appends: entry_count entries */
	const struct elector_snapshot *snapshot; /* snapshots */
};

/* The protocol-3 layout of a message: what 0.2.0 sends and takes. */
#define ELECTOR_MSG_V3_SIZE offsetof(struct elector_msg, flags)

struct elector_options {
	uint64_t id;
	unsigned heartbeat_ticks;
	unsigned election_ticks_min; /* the timeout is drawn from [min, max) */
	unsigned election_ticks_max;
	uint64_t seed;
	/* Entries in one append, 1..ELECTOR_APPEND_ENTRIES; 0 means
	 * ELECTOR_APPEND_ENTRIES.  The shell keeps the default; the tests cut
	 * batches short so that a follower can hold part of a leader's tail,
	 * which the byte bound does only with thousands of large entries. */
	unsigned append_entries_max;
};

struct elector;

/* What a node reads from its disk at start: the hard state, the snapshot
 * (meta and bytes; index 0 and no members when there is none) and the
 * entries after it, in order.  All zero for a new node, which knows no
 * membership and waits to be initialized or joined.  The core copies
 * what it keeps. */
struct elector_boot {
	uint64_t term;
	uint64_t voted_for;
	uint64_t commit_index;
	struct elector_snapshot snapshot;
	const struct elector_entry *entries;
	size_t entry_count;
};

/* The boot of a protocol-3 election file (term, vote, commit and the
 * membership entries, no log): the committed membership as the snapshot,
 * the latest one after it as the one entry when it is not committed
 * (`entry` and `buf` hold it). */
void elector_boot_from_state(const struct elector_persistent *state, struct elector_boot *boot,
			     struct elector_entry *entry, uint8_t buf[ELECTOR_CONFIG_ENCODED_MAX]);

/* NULL when the options or the boot are not consistent (entries not
 * contiguous after the snapshot, a CONFIG entry that does not decode, a
 * commit index past the log). */
struct elector *elector_new(const struct elector_options *options, const struct elector_boot *boot);
void elector_free(struct elector *e);

void elector_tick(struct elector *e);
/* A message from a peer over a link whose certificate has `fingerprint`;
 * ones not addressed to this node are ignored.  -1 with `*why` when the
 * message is not the sender's to send (see above) or breaks the protocol
 * (entries that do not follow prev_index one after another, a CONFIG
 * entry that does not decode, a snapshot other than the one named): the
 * shell closes the link. */
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
/* Whether a membership change may start now: this node leads, the latest
 * membership is committed, so is an entry of this leader's own term (a
 * new leader's first), and no transfer is under way.  When it may not,
 * the shell answers "pending", not "refused". */
bool elector_change_allowed(const struct elector *e);

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

/* Whether appends and snapshots of node `id`, which is not in this
 * node's membership, on a link with `fingerprint`, are taken on a
 * member's word (see above; the shell takes a snapshot's chunks then). */
bool elector_vouched(const struct elector *e, uint64_t id,
		     const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE]);
/* The node this one last refused as its leader (an append or snapshot of
 * a term not behind this node's, from a node that is not a member and
 * that no member vouched for, listing itself with the certificate it
 * speaks with) and that term; ELECTOR_NONE once a leader is heard. */
uint64_t elector_unverified_leader(const struct elector *e, uint64_t *term);

/* Leader: a DATA entry of `len` bytes at the end of the log; its index
 * and term in *index and *term: it is committed when the commit index
 * reaches the index while the entry there is of that term.  -1 with
 * `*why` when this node does not lead, when leadership is being handed
 * over, when a member speaks protocol 3, when `len` is 0 or above
 * ELECTOR_DATA_MAX, or when too much is not yet committed
 * (ELECTOR_UNCOMMITTED_*). */
int elector_propose(struct elector *e, const uint8_t *data, size_t len, uint64_t *index,
		    uint64_t *term, const char **why);

/* The shell wrote the state machine as applied up to `index` (`len`
 * bytes of `data`, copied): the core drops the entries up to it and sends
 * this snapshot to followers that need entries before it.  -1 when
 * `index` was not applied yet (handed out by elector_ready and advanced)
 * or is not past the current snapshot. */
int elector_compact(struct elector *e, uint64_t index, const uint8_t *data, size_t len);

/* Whether a member speaks protocol 3 (or its version is not known yet):
 * see above.  Off by default. */
void elector_set_compat(struct elector *e, bool compat);

/* Whether the log or its snapshot holds a command (DATA), on disk since
 * the node started or received since: only a leader out of compat mode
 * appends one, so the cluster has left protocol 3 for good. */
bool elector_commands_seen(const struct elector *e);

/* Leader: what it knows of member `id`: the last index its log matches
 * the leader's up to, and the last index it said it applied.  -1 when not
 * leader or `id` is not a member. */
int elector_progress(const struct elector *e, uint64_t id, uint64_t *match, uint64_t *applied);

struct elector_ready {
	bool persist; /* hard state or membership changed: write before sending */
	struct elector_persistent state;
	/* To install before appending the entries: replaces the log and the
	 * state machine (or, membership_only, only the log).  NULL: none. */
	const struct elector_snapshot *snapshot;
	/* To write to the log: truncate it from entries[0].index, then
	 * append them. */
	const struct elector_entry *entries;
	size_t entry_count;
	/* Committed and to apply, in order, after the messages are sent. */
	const struct elector_entry *committed;
	size_t committed_count;
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
/* This node's committed membership does not list it: it was removed
 * (unless the leader it follows lists it: a node that joins replays the
 * memberships from before it was added).  The same of persisted state
 * `p` of node `id` (rxmppctl reset asks; a node stopped while it was
 * joining may show as removed there). */
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
/* The log: its last index and term, the index handed out to apply last,
 * the snapshot, and entry `index` (NULL when not in the log: compacted
 * or past the end). */
uint64_t elector_last_index(const struct elector *e);
uint64_t elector_last_term(const struct elector *e);
uint64_t elector_applied_index(const struct elector *e);
const struct elector_snapshot *elector_snapshot(const struct elector *e);
const struct elector_entry *elector_entry(const struct elector *e, uint64_t index);
/* Ticks since a leader last heard from `id` (leader only; UINT64_MAX if never). */
uint64_t elector_silence(const struct elector *e, uint64_t id);
/* The leader's view of member `id`: on the leader its own; on a follower
 * what the last heartbeat of the leader it follows said.  0 with `*silence`
 * (ticks since the leader heard from it, as of the report; UINT64_MAX:
 * not since it leads) and `*age` (ticks since the report; 0 on the
 * leader); -1 when there is no such report. */
int elector_leader_view(const struct elector *e, uint64_t id, uint64_t *silence, uint64_t *age);
/* A hash of everything that decides what this core does next (terms,
 * votes, the log, the snapshot's meta, timers relative to now, what the
 * leader knows of each member), not of what it merely reports (the
 * leader's view of silences): states that hash alike behave alike, which
 * lets the exhaustive explorer of the tests merge them.  Pending output
 * is not in it. */
uint64_t elector_digest(const struct elector *e);
/* The one name of each role ("PRE-CANDIDATE"...): the elector's log lines
 * and rxmppctl cluster status both print it. */
const char *elector_role_name(enum elector_role role);

#endif
