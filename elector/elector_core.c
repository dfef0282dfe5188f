/* SPDX-License-Identifier: MIT */
/*
 * The election core; see elector_core.h.  Pure: everything it knows comes in
 * through elector_new, elector_tick, elector_step and the propose calls, and
 * everything it decides goes out through elector_ready.
 */
#include "elector_core.h"

#include <stdlib.h>
#include <string.h>

struct peer_progress {
	uint64_t id;
	uint64_t match_index; /* the membership entry the peer acknowledged */
	uint64_t heard_at;    /* tick of its last reply (or of the start of the term) */
	bool heard;	      /* a reply came since this node leads */
};

/* Follower: the leader's view of each member, from its last heartbeat. */
struct leader_report {
	uint64_t from; /* the leader that sent it; ELECTOR_NONE: no report */
	uint64_t at;   /* tick it arrived */
	uint32_t count;
	uint64_t ids[ELECTOR_MEMBERS_MAX];
	uint32_t silence[ELECTOR_MEMBERS_MAX];
};

/* Leader: a member just removed, told of its removal by heartbeats that
 * carry the membership without it, until it acknowledges the committed
 * removal or a bounded time has passed. */
struct departure {
	struct elector_member member;
	uint64_t index; /* the membership entry that removed it */
	uint64_t since; /* tick it was removed at */
	enum elector_departure state;
};

struct elector {
	struct elector_options opt;
	struct elector_persistent p;
	bool dirty;
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
	struct elector_msg *out;
	size_t out_count;
	size_t out_cap;
};

const char *elector_role_name(enum elector_role role)
{
	switch (role) {
	case ELECTOR_FOLLOWER:
		return "FOLLOWER";
	case ELECTOR_PRE_CANDIDATE:
		return "PRE-CANDIDATE";
	case ELECTOR_CANDIDATE:
		return "CANDIDATE";
	case ELECTOR_LEADER:
		return "LEADER";
	}
	return "UNKNOWN";
}

/* xorshift64*: the only randomness, from the injected seed. */
static uint64_t next_random(struct elector *e)
{
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 2685821657736338717ull;
}

static void reset_timer(struct elector *e)
{
	uint64_t span = e->opt.election_ticks_max - e->opt.election_ticks_min;
	e->elapsed = 0;
	e->timeout = e->opt.election_ticks_min + (span > 0 ? next_random(e) % span : 0);
}

bool elector_address_valid(const char *address, size_t size)
{
	const char *end = memchr(address, '\0', size);
	if (end == NULL || end == address)
		return false;
	for (const char *p = address; p < end; p++) {
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	}
	const char *colon = strrchr(address, ':');
	if (colon == NULL || colon == address || colon[1] == '\0' || end - colon > 6)
		return false;
	unsigned long port = 0;
	for (const char *p = colon + 1; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return false;
	if (address[0] == '[')
		return colon - address > 2 && colon[-1] == ']' &&
		       memchr(address + 1, ']', (size_t)(colon - address - 2)) == NULL;
	/* An IPv6 address without brackets would be ambiguous. */
	return memchr(address, ':', (size_t)(colon - address)) == NULL &&
	       memchr(address, '[', (size_t)(colon - address)) == NULL &&
	       memchr(address, ']', (size_t)(colon - address)) == NULL;
}

static bool same_fingerprint(const struct elector_member *m,
			     const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE])
{
	return memcmp(m->fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE) == 0;
}

/* A member read from a state file of before fingerprints: bound to the
 * next certificate the shell lets speak for it (see elector_propose_add). */
static bool unbound(const struct elector_member *m)
{
	static const uint8_t zero[ELECTOR_FINGERPRINT_SIZE];
	return same_fingerprint(m, zero);
}

static const struct elector_member *member(const struct elector_config *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->members[i].id == id)
			return &c->members[i];
	}
	return NULL;
}

static unsigned quorum(const struct elector *e)
{
	return e->p.config.count / 2 + 1;
}

/* A node outside the membership never campaigns. */
static bool promotable(const struct elector *e)
{
	return member(&e->p.config, e->opt.id) != NULL;
}

static struct elector_msg *emit(struct elector *e, uint32_t type, uint64_t to)
{
	if (e->out_count == e->out_cap) {
		size_t cap = e->out_cap ? 2 * e->out_cap : 16;
		struct elector_msg *grown = realloc(e->out, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL; /* dropped: the protocol tolerates lost messages */
		e->out = grown;
		e->out_cap = cap;
	}
	struct elector_msg *m = &e->out[e->out_count++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = e->opt.id;
	m->to = to;
	m->term = e->p.term;
	m->last_index = e->p.config.index;
	m->last_term = e->p.config.term;
	m->commit_index = e->p.commit_index;
	return m;
}

/* Is (term, index) at least as recent as this node's membership entry? */
static bool up_to_date(const struct elector *e, uint64_t last_term, uint64_t last_index)
{
	if (last_term != e->p.config.term)
		return last_term > e->p.config.term;
	return last_index >= e->p.config.index;
}

static void become_follower(struct elector *e, uint64_t term, uint64_t leader)
{
	if (term > e->p.term) {
		e->p.term = term;
		e->p.voted_for = ELECTOR_NONE;
		e->dirty = true;
	}
	e->role = ELECTOR_FOLLOWER;
	e->leader = leader;
	e->vote_count = 0;
	e->transferee = ELECTOR_NONE;
	reset_timer(e);
}

static struct peer_progress *progress_of(struct elector *e, uint64_t id);

/* A heartbeat to `to`: the membership and how long since this leader
 * heard from each member. */
static void emit_heartbeat(struct elector *e, uint64_t to)
{
	struct elector_msg *m = emit(e, ELECTOR_MSG_HEARTBEAT, to);
	if (m == NULL)
		return;
	m->config = e->p.config;
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		uint64_t silence = elector_silence(e, e->p.config.members[i].id);
		m->silence[i] =
		    silence < ELECTOR_SILENCE_NEVER ? (uint32_t)silence : ELECTOR_SILENCE_NEVER;
	}
}

static void send_heartbeats(struct elector *e)
{
	e->heartbeat_due = 0;
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		uint64_t id = e->p.config.members[i].id;
		if (id != e->opt.id)
			emit_heartbeat(e, id);
	}
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->departures[i].state == ELECTOR_DEPARTURE_TELLING)
			emit_heartbeat(e, e->departures[i].member.id);
	}
}

static size_t departure_slot(const struct elector *e, uint64_t id)
{
	size_t i = 0;
	while (i < ELECTOR_MEMBERS_MAX && (e->departures[i].state == ELECTOR_DEPARTURE_NONE ||
					   e->departures[i].member.id != id))
		i++;
	return i;
}

static struct departure *departure_of(struct elector *e, uint64_t id)
{
	size_t i = departure_slot(e, id);
	return i < ELECTOR_MEMBERS_MAX ? &e->departures[i] : NULL;
}

/* Leader: members of `old` missing from the new membership are told they
 * were removed; a member (again) is no longer departing.  A full table
 * gives the oldest slot up. */
static void departures_sync(struct elector *e, const struct elector_config *old)
{
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->departures[i].state != ELECTOR_DEPARTURE_NONE &&
		    member(&e->p.config, e->departures[i].member.id) != NULL)
			e->departures[i] = (struct departure){0};
	}
	for (uint32_t k = 0; k < old->count; k++) {
		const struct elector_member *gone = &old->members[k];
		if (gone->id == e->opt.id || member(&e->p.config, gone->id) != NULL)
			continue;
		struct departure *d = departure_of(e, gone->id);
		for (size_t i = 0; d == NULL && i < ELECTOR_MEMBERS_MAX; i++) {
			if (e->departures[i].state == ELECTOR_DEPARTURE_NONE)
				d = &e->departures[i];
		}
		if (d == NULL) {
			d = &e->departures[0];
			for (size_t i = 1; i < ELECTOR_MEMBERS_MAX; i++) {
				if (e->departures[i].since < d->since)
					d = &e->departures[i];
			}
		}
		*d = (struct departure){.member = *gone,
					.index = e->p.config.index,
					.since = e->now,
					.state = ELECTOR_DEPARTURE_TELLING};
	}
}

static struct peer_progress *progress_of(struct elector *e, uint64_t id)
{
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->progress[i].id == id)
			return &e->progress[i];
	}
	return NULL;
}

/* Leader: the progress table follows the membership. */
static void progress_sync(struct elector *e)
{
	struct peer_progress next[ELECTOR_MEMBERS_MAX];
	memset(next, 0, sizeof(next));
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		uint64_t id = e->p.config.members[i].id;
		struct peer_progress *old = progress_of(e, id);
		next[i] = old != NULL ? *old : (struct peer_progress){.id = id, .heard_at = e->now};
		next[i].id = id;
	}
	memcpy(e->progress, next, sizeof(next));
	struct peer_progress *self = progress_of(e, e->opt.id);
	if (self != NULL) {
		self->match_index = e->p.config.index;
		self->heard_at = e->now;
		self->heard = true;
	}
}

/* The committed membership follows the latest entry once it commits. */
static void note_committed(struct elector *e)
{
	if (e->p.commit_index >= e->p.config.index &&
	    memcmp(&e->p.committed, &e->p.config, sizeof(e->p.config)) != 0) {
		e->p.committed = e->p.config;
		e->dirty = true;
	}
}

static void maybe_commit(struct elector *e)
{
	if (e->role != ELECTOR_LEADER || e->p.commit_index >= e->p.config.index ||
	    e->p.config.term != e->p.term)
		return;
	unsigned acked = 0;
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		struct peer_progress *pr = progress_of(e, e->p.config.members[i].id);
		if (pr != NULL && pr->match_index >= e->p.config.index)
			acked++;
	}
	if (acked < quorum(e))
		return;
	e->p.commit_index = e->p.config.index;
	e->dirty = true;
	note_committed(e);
	/* Committed without us: a leader that removed itself steps down. */
	if (!promotable(e))
		become_follower(e, e->p.term, ELECTOR_NONE);
}

/* A new membership entry at the next index, in this term. */
static void append_config(struct elector *e, const struct elector_config *members)
{
	uint64_t index = e->p.config.index + 1;
	struct elector_config old = e->p.config;
	e->p.config = *members;
	e->p.config.index = index;
	e->p.config.term = e->p.term;
	e->dirty = true;
	progress_sync(e);
	if (e->role == ELECTOR_LEADER)
		departures_sync(e, &old);
	maybe_commit(e);
	if (e->role == ELECTOR_LEADER)
		send_heartbeats(e);
}

static void become_leader(struct elector *e)
{
	e->role = ELECTOR_LEADER;
	e->leader = e->opt.id;
	e->heartbeat_due = 0;
	e->quorum_due = 0;
	e->transferee = ELECTOR_NONE;
	memset(e->progress, 0, sizeof(e->progress));
	memset(e->departures, 0, sizeof(e->departures));
	/* The same membership re-entered in this term is Raft's no-op entry: its
	 * commit is what lets this leader commit anything. */
	struct elector_config same = e->p.config;
	append_config(e, &same);
}

static void count_vote(struct elector *e, uint64_t from)
{
	for (unsigned i = 0; i < e->vote_count; i++) {
		if (e->votes[i] == from)
			return;
	}
	if (member(&e->p.config, from) != NULL && e->vote_count < ELECTOR_MEMBERS_MAX)
		e->votes[e->vote_count++] = from;
}

/* `transfer`: the leader handed leadership here (no pre-vote; see
 * ELECTOR_VOTE_TRANSFER). */
static void campaign(struct elector *e, bool pre, bool transfer)
{
	e->vote_count = 0;
	e->leader = ELECTOR_NONE;
	reset_timer(e);
	if (pre) {
		e->role = ELECTOR_PRE_CANDIDATE;
	} else {
		e->role = ELECTOR_CANDIDATE;
		e->p.term++;
		e->p.voted_for = e->opt.id;
		e->dirty = true;
	}
	count_vote(e, e->opt.id);
	if (e->vote_count >= quorum(e)) {
		if (pre)
			campaign(e, false, false);
		else
			become_leader(e);
		return;
	}
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		uint64_t id = e->p.config.members[i].id;
		if (id == e->opt.id)
			continue;
		struct elector_msg *m = emit(e, pre ? ELECTOR_MSG_PRE_VOTE : ELECTOR_MSG_VOTE, id);
		if (m != NULL && pre)
			m->term = e->p.term + 1; /* the term it would campaign in */
		else if (m != NULL && transfer)
			m->granted = ELECTOR_VOTE_TRANSFER;
	}
}

struct elector *elector_new(const struct elector_options *options,
			    const struct elector_persistent *state)
{
	if (options->id == ELECTOR_NONE || options->election_ticks_min == 0 ||
	    options->election_ticks_max < options->election_ticks_min ||
	    options->heartbeat_ticks == 0)
		return NULL;
	struct elector *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->opt = *options;
	e->p = *state;
	e->rng = options->seed ^ (options->id * 0x9e3779b97f4a7c15ull);
	if (e->rng == 0)
		e->rng = 0x2545f4914f6cdd1dull;
	e->leader_heard = UINT64_MAX / 2;
	/* A state of before the committed membership was kept knows it only
	 * when its latest entry is committed. */
	if (e->p.committed.count == 0 && e->p.commit_index >= e->p.config.index)
		e->p.committed = e->p.config;
	become_follower(e, e->p.term, ELECTOR_NONE);
	return e;
}

void elector_free(struct elector *e)
{
	if (e == NULL)
		return;
	free(e->out);
	free(e);
}

void elector_tick(struct elector *e)
{
	e->now++;
	e->leader_heard++;
	if (e->role == ELECTOR_LEADER) {
		for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
			struct departure *d = &e->departures[i];
			if (d->state == ELECTOR_DEPARTURE_TELLING &&
			    e->now - d->since >= 2 * (uint64_t)e->opt.election_ticks_max)
				d->state = ELECTOR_DEPARTURE_UNANSWERED;
		}
		/* A target that did not take over in time is not coming: lead on. */
		if (e->transferee != ELECTOR_NONE &&
		    ++e->transfer_elapsed >= e->opt.election_ticks_min)
			e->transferee = ELECTOR_NONE;
		if (++e->heartbeat_due >= e->opt.heartbeat_ticks)
			send_heartbeats(e);
		if (++e->quorum_due >= e->opt.election_ticks_min) {
			e->quorum_due = 0;
			unsigned recent = 0;
			for (uint32_t i = 0; i < e->p.config.count; i++) {
				uint64_t id = e->p.config.members[i].id;
				struct peer_progress *pr = progress_of(e, id);
				if (id == e->opt.id ||
				    (pr != NULL &&
				     e->now - pr->heard_at < e->opt.election_ticks_min))
					recent++;
			}
			/* Check-quorum: cut off from the majority, stop leading. */
			if (recent < quorum(e))
				become_follower(e, e->p.term, ELECTOR_NONE);
		}
		return;
	}
	if (++e->elapsed >= e->timeout) {
		if (promotable(e))
			campaign(e, true, false);
		else
			reset_timer(e);
	}
}

static void step(struct elector *e, const struct elector_msg *m);

static bool leader_recently_heard(const struct elector *e)
{
	return e->role == ELECTOR_LEADER ||
	       (e->leader != ELECTOR_NONE && e->leader_heard < e->opt.election_ticks_min);
}

static void on_heartbeat(struct elector *e, const struct elector_msg *m)
{
	if (e->role != ELECTOR_FOLLOWER || e->leader != m->from)
		become_follower(e, m->term, m->from);
	e->leader = m->from;
	e->elapsed = 0;
	/* A turn taken after a closed link (elector_link_closed) ends when
	 * the leader is heard again. */
	if (e->timeout < e->opt.election_ticks_min)
		reset_timer(e);
	e->leader_heard = 0;
	e->report = (struct leader_report){.from = m->from, .at = e->now, .count = m->config.count};
	for (uint32_t i = 0; i < m->config.count && i < ELECTOR_MEMBERS_MAX; i++) {
		e->report.ids[i] = m->config.members[i].id;
		e->report.silence[i] = m->silence[i];
	}
	/* The leader's membership entry is authoritative: an uncommitted entry
	 * from an older leader is replaced (Raft's log truncation). */
	if (m->config.index != e->p.config.index || m->config.term != e->p.config.term ||
	    m->config.count != e->p.config.count ||
	    memcmp(m->config.members, e->p.config.members,
		   m->config.count * sizeof(m->config.members[0])) != 0) {
		if (m->config.count <= ELECTOR_MEMBERS_MAX) {
			e->p.config = m->config;
			e->dirty = true;
		}
	}
	uint64_t commit = m->commit_index < e->p.config.index ? m->commit_index : e->p.config.index;
	if (commit > e->p.commit_index) {
		e->p.commit_index = commit;
		e->dirty = true;
	}
	note_committed(e);
	emit(e, ELECTOR_MSG_HEARTBEAT_REPLY, m->from);
}

/* Is the sender of `m`, on a link with `fingerprint`, who it says? */
static int check_sender(const struct elector *e, const struct elector_msg *m,
			const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE], const char **why)
{
	const struct elector_member *known = member(&e->p.config, m->from);
	if (known == NULL && e->p.commit_index < e->p.config.index)
		known = member(&e->p.committed, m->from);
	if (known != NULL) {
		if (same_fingerprint(known, fingerprint) || unbound(known))
			return 0;
		*why = "a message in a member's name from another certificate";
		return -1;
	}
	/* A node that knows no membership yet (it is joining) learns it from
	 * the leader's first heartbeat, which must list that leader with the
	 * certificate it speaks with.  A node with a membership hears only its
	 * members: one that missed the change adding a new leader learns it
	 * from the next leader it knows, as a majority always includes one. */
	const struct elector_member *claimed =
	    m->type == ELECTOR_MSG_HEARTBEAT ? member(&m->config, m->from) : NULL;
	if (e->p.config.count == 0 && claimed != NULL && same_fingerprint(claimed, fingerprint))
		return 0;
	*why = "an election message from a node that is not a member";
	return -1;
}

int elector_step(struct elector *e, const struct elector_msg *m,
		 const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE], const char **why)
{
	if (m->to != e->opt.id || m->from == e->opt.id || m->from == ELECTOR_NONE)
		return 0;
	/* A member being told of its removal is heard only to learn that it
	 * knows; whatever else it says (it may have campaigned before it
	 * knew) changes nothing here. */
	struct departure *d = e->role == ELECTOR_LEADER && member(&e->p.config, m->from) == NULL
				  ? departure_of(e, m->from)
				  : NULL;
	if (d != NULL && same_fingerprint(&d->member, fingerprint)) {
		if (m->type == ELECTOR_MSG_HEARTBEAT_REPLY && d->state != ELECTOR_DEPARTURE_TOLD &&
		    m->last_index >= d->index && m->commit_index >= d->index &&
		    e->p.commit_index >= d->index)
			d->state = ELECTOR_DEPARTURE_TOLD;
		return 0;
	}
	if (check_sender(e, m, fingerprint, why) == -1)
		return -1;
	step(e, m);
	return 0;
}

static void step(struct elector *e, const struct elector_msg *m)
{

	if (m->type == ELECTOR_MSG_PRE_VOTE) {
		/* Granted without changing our term: only a node that could win a
		 * real election gets to start one. */
		bool grant = m->term > e->p.term && up_to_date(e, m->last_term, m->last_index) &&
			     !leader_recently_heard(e);
		struct elector_msg *r = emit(e, ELECTOR_MSG_PRE_VOTE_REPLY, m->from);
		if (r != NULL) {
			r->granted = grant;
			r->term = grant ? m->term : e->p.term;
		}
		return;
	}

	if (m->term > e->p.term) {
		/* A node that heard its leader lately ignores would-be candidates
		 * altogether (thesis 4.2.3): removed or partitioned nodes cannot
		 * depose a healthy leader. */
		if (m->type == ELECTOR_MSG_VOTE && m->granted != ELECTOR_VOTE_TRANSFER &&
		    leader_recently_heard(e))
			return;
		if (m->type == ELECTOR_MSG_PRE_VOTE_REPLY) {
			/* A refusal that names a newer term: that term exists. */
			if (!m->granted)
				become_follower(e, m->term, ELECTOR_NONE);
		} else {
			become_follower(e, m->term,
					m->type == ELECTOR_MSG_HEARTBEAT ? m->from : ELECTOR_NONE);
		}
	} else if (m->term < e->p.term) {
		/* A stale leader or candidate learns the current term and steps down. */
		if (m->type == ELECTOR_MSG_HEARTBEAT)
			emit(e, ELECTOR_MSG_HEARTBEAT_REPLY, m->from);
		else if (m->type == ELECTOR_MSG_VOTE)
			emit(e, ELECTOR_MSG_VOTE_REPLY, m->from);
		return;
	}

	switch (m->type) {
	case ELECTOR_MSG_PRE_VOTE_REPLY:
		if (e->role == ELECTOR_PRE_CANDIDATE && m->granted && m->term == e->p.term + 1) {
			count_vote(e, m->from);
			if (e->vote_count >= quorum(e))
				campaign(e, false, false);
		}
		break;
	case ELECTOR_MSG_VOTE: {
		bool grant = (e->p.voted_for == ELECTOR_NONE || e->p.voted_for == m->from) &&
			     up_to_date(e, m->last_term, m->last_index) &&
			     e->role != ELECTOR_LEADER;
		if (grant) {
			if (e->p.voted_for != m->from) {
				e->p.voted_for = m->from;
				e->dirty = true;
			}
			reset_timer(e);
		}
		struct elector_msg *r = emit(e, ELECTOR_MSG_VOTE_REPLY, m->from);
		if (r != NULL)
			r->granted = grant;
		break;
	}
	case ELECTOR_MSG_VOTE_REPLY:
		if (e->role == ELECTOR_CANDIDATE && m->granted) {
			count_vote(e, m->from);
			if (e->vote_count >= quorum(e))
				become_leader(e);
		}
		break;
	case ELECTOR_MSG_HEARTBEAT:
		on_heartbeat(e, m);
		break;
	case ELECTOR_MSG_HEARTBEAT_REPLY:
		if (e->role == ELECTOR_LEADER) {
			struct peer_progress *pr = progress_of(e, m->from);
			if (pr != NULL) {
				pr->heard_at = e->now;
				pr->heard = true;
				if (m->last_index == e->p.config.index &&
				    m->last_term == e->p.config.term)
					pr->match_index = m->last_index;
				maybe_commit(e);
				/* The target caught up: it may take over now. */
				if (e->transferee == m->from &&
				    pr->match_index == e->p.config.index)
					emit(e, ELECTOR_MSG_TIMEOUT_NOW, m->from);
			}
		}
		break;
	case ELECTOR_MSG_TIMEOUT_NOW:
		/* Only from the leader this node follows, in its term. */
		if (e->role == ELECTOR_FOLLOWER && e->leader == m->from && promotable(e))
			campaign(e, false, true);
		break;
	default:
		break;
	}
}

int elector_initialize(struct elector *e, const char *address,
		       const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE])
{
	if (e->p.config.count != 0 || !elector_address_valid(address, ELECTOR_ADDRESS_MAX))
		return -1;
	struct elector_config one = {.count = 1};
	one.members[0].id = e->opt.id;
	memcpy(one.members[0].fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE);
	strcpy(one.members[0].address, address);
	e->p.term++;
	e->p.voted_for = e->opt.id;
	e->p.config = one;
	e->dirty = true;
	e->role = ELECTOR_LEADER;
	e->leader = e->opt.id;
	memset(e->progress, 0, sizeof(e->progress));
	append_config(e, &one);
	return 0;
}

/* Not while leadership is being handed over: the target must be up to
 * date when it campaigns (thesis 3.10). */
static bool change_allowed(const struct elector *e)
{
	return e->role == ELECTOR_LEADER && e->p.commit_index == e->p.config.index &&
	       e->transferee == ELECTOR_NONE;
}

int elector_propose_add(struct elector *e, uint64_t id, const char *address,
			const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE])
{
	if (!change_allowed(e) || id == ELECTOR_NONE ||
	    !elector_address_valid(address, ELECTOR_ADDRESS_MAX))
		return -1;
	struct elector_config next = e->p.config;
	for (uint32_t i = 0; i < next.count; i++) {
		if (next.members[i].id == id) {
			/* An id stays with the certificate it joined with. */
			bool same = same_fingerprint(&next.members[i], fingerprint);
			if ((same && strcmp(next.members[i].address, address) == 0) ||
			    (!same && !unbound(&next.members[i])))
				return -1;
			memcpy(next.members[i].fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE);
			strcpy(next.members[i].address, address);
			append_config(e, &next);
			return 0;
		}
	}
	if (next.count == ELECTOR_MEMBERS_MAX)
		return -1;
	next.members[next.count].id = id;
	memcpy(next.members[next.count].fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE);
	strcpy(next.members[next.count].address, address);
	next.count++;
	append_config(e, &next);
	return 0;
}

int elector_propose_remove(struct elector *e, uint64_t id)
{
	if (!change_allowed(e))
		return -1;
	struct elector_config next = e->p.config;
	for (uint32_t i = 0; i < next.count; i++) {
		if (next.members[i].id != id)
			continue;
		if (next.count == 1)
			return -1; /* the last member: disable the cluster instead */
		memmove(&next.members[i], &next.members[i + 1],
			(next.count - i - 1) * sizeof(next.members[0]));
		next.count--;
		memset(&next.members[next.count], 0, sizeof(next.members[0]));
		append_config(e, &next);
		return 0;
	}
	return -1;
}

void elector_link_closed(struct elector *e, uint64_t id)
{
	if (e->role != ELECTOR_FOLLOWER || e->leader == ELECTOR_NONE || e->leader != id ||
	    !promotable(e))
		return;
	/* The leader is as good as gone: this node no longer holds it heard,
	 * so it grants the others' pre-votes too. */
	e->leader_heard = UINT64_MAX / 2;
	/* Every follower hears the close at once: were they all to campaign
	 * at once, their votes would split and cost a whole election timeout.
	 * They take turns instead, by rank of id among the members that do
	 * not lead, half a heartbeat apart (a pre-vote and a vote take far
	 * less); a later one finds a leader already, or stands in for a
	 * first one that cannot win. */
	uint64_t rank = 0;
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		uint64_t other = e->p.config.members[i].id;
		rank += other != id && other < e->opt.id;
	}
	if (rank == 0) {
		campaign(e, true, false);
		return;
	}
	uint64_t turn = rank * (e->opt.heartbeat_ticks / 2 > 0 ? e->opt.heartbeat_ticks / 2 : 1);
	if (e->timeout - e->elapsed > turn) {
		e->elapsed = 0;
		e->timeout = turn;
	}
}

/* The most up-to-date other member: one that acknowledged the latest
 * membership before one that did not, then the one heard from last. */
static uint64_t transfer_candidate(const struct elector *e)
{
	const struct peer_progress *best = NULL;
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		const struct peer_progress *pr = &e->progress[i];
		if (pr->id == ELECTOR_NONE || pr->id == e->opt.id || !pr->heard ||
		    member(&e->p.config, pr->id) == NULL)
			continue;
		bool current = pr->match_index == e->p.config.index;
		bool best_current = best != NULL && best->match_index == e->p.config.index;
		if (best == NULL || (current && !best_current) ||
		    (current == best_current && pr->heard_at > best->heard_at))
			best = pr;
	}
	return best != NULL ? best->id : ELECTOR_NONE;
}

int elector_transfer(struct elector *e, uint64_t id)
{
	if (e->role != ELECTOR_LEADER)
		return -1;
	if (id == ELECTOR_NONE)
		id = e->transferee != ELECTOR_NONE ? e->transferee : transfer_candidate(e);
	if (id == ELECTOR_NONE || id == e->opt.id || member(&e->p.config, id) == NULL ||
	    (e->transferee != ELECTOR_NONE && e->transferee != id))
		return -1;
	if (e->transferee == id)
		return 0;
	e->transferee = id;
	e->transfer_elapsed = 0;
	const struct peer_progress *pr = progress_of(e, id);
	if (pr != NULL && pr->match_index == e->p.config.index)
		emit(e, ELECTOR_MSG_TIMEOUT_NOW, id);
	else
		emit_heartbeat(e, id); /* its reply says when it is up to date */
	return 0;
}

uint64_t elector_transferee(const struct elector *e)
{
	return e->role == ELECTOR_LEADER ? e->transferee : ELECTOR_NONE;
}

bool elector_has_ready(const struct elector *e)
{
	return e->dirty || e->out_count > 0 || e->leader != e->reported_leader;
}

void elector_ready(struct elector *e, struct elector_ready *out)
{
	memset(out, 0, sizeof(*out));
	out->persist = e->dirty;
	out->state = e->p;
	out->msgs = e->out;
	out->msg_count = e->out_count;
	out->role = e->role;
	out->leader = e->leader;
	out->leader_changed = e->leader != e->reported_leader;
}

void elector_advance(struct elector *e)
{
	e->dirty = false;
	e->out_count = 0;
	e->reported_leader = e->leader;
}

enum elector_role elector_role(const struct elector *e)
{
	return e->role;
}

uint64_t elector_term(const struct elector *e)
{
	return e->p.term;
}

uint64_t elector_leader(const struct elector *e)
{
	return e->leader;
}

const struct elector_config *elector_config(const struct elector *e)
{
	return &e->p.config;
}

uint64_t elector_commit_index(const struct elector *e)
{
	return e->p.commit_index;
}

bool elector_state_removed(const struct elector_persistent *p, uint64_t id)
{
	return p->config.count > 0 && member(&p->config, id) == NULL &&
	       p->commit_index >= p->config.index;
}

bool elector_removed(const struct elector *e)
{
	return elector_state_removed(&e->p, e->opt.id);
}

enum elector_departure elector_departure(const struct elector *e, uint64_t id)
{
	if (e->role != ELECTOR_LEADER)
		return ELECTOR_DEPARTURE_NONE;
	size_t i = departure_slot(e, id);
	return i < ELECTOR_MEMBERS_MAX ? e->departures[i].state : ELECTOR_DEPARTURE_NONE;
}

const struct elector_member *elector_departing(const struct elector *e, size_t i)
{
	if (e->role != ELECTOR_LEADER)
		return NULL;
	for (size_t k = 0; k < ELECTOR_MEMBERS_MAX; k++) {
		if (e->departures[k].state == ELECTOR_DEPARTURE_TELLING && i-- == 0)
			return &e->departures[k].member;
	}
	return NULL;
}

uint64_t elector_silence(const struct elector *e, uint64_t id)
{
	if (e->role != ELECTOR_LEADER)
		return UINT64_MAX;
	if (id == e->opt.id)
		return 0;
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->progress[i].id == id)
			return e->progress[i].heard ? e->now - e->progress[i].heard_at : UINT64_MAX;
	}
	return UINT64_MAX;
}

int elector_leader_view(const struct elector *e, uint64_t id, uint64_t *silence, uint64_t *age)
{
	if (e->role == ELECTOR_LEADER) {
		if (member(&e->p.config, id) == NULL)
			return -1;
		*silence = elector_silence(e, id);
		*age = 0;
		return 0;
	}
	/* Only the report of the leader this node follows. */
	if (e->report.from == ELECTOR_NONE || e->report.from != e->leader)
		return -1;
	for (uint32_t i = 0; i < e->report.count; i++) {
		if (e->report.ids[i] == id) {
			*silence = e->report.silence[i] == ELECTOR_SILENCE_NEVER
				       ? UINT64_MAX
				       : e->report.silence[i];
			*age = e->now - e->report.at;
			return 0;
		}
	}
	return -1;
}
