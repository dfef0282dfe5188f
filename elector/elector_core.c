/* SPDX-License-Identifier: MIT */
/*
 * The election core and its replicated log; see elector_core.h.  Pure:
 * everything it knows comes in through elector_new, elector_tick,
 * elector_step and the propose calls, and everything it decides goes out
 * through elector_ready.  Its state is elector_core_state.h; what may be
 * read of it, elector_core_query.c; its log in memory, elector_log.c.
 */
#include "elector_core.h"
#include "elector_core_state.h"
#include "elector_log.h"

#include <stdlib.h>
#include <string.h>

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

const struct elector_member *elector_member_of(const struct elector_config *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->members[i].id == id)
			return &c->members[i];
	}
	return NULL;
}

static const struct elector_member *member(const struct elector_config *c, uint64_t id)
{
	return elector_member_of(c, id);
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

static bool grow(void **array, size_t *cap, size_t count, size_t size)
{
	return elector_log_grow(array, cap, count, size);
}

/* The log (elector_log.c) as the core reads it. */
static uint64_t last_index(const struct elector *e)
{
	return elector_log_last_index(&e->log);
}

static const struct elector_entry *entry_at(const struct elector *e, uint64_t index)
{
	return elector_log_entry(&e->log, index);
}

static uint64_t term_at(const struct elector *e, uint64_t index)
{
	return elector_log_term(&e->log, index);
}

static uint64_t last_term(const struct elector *e)
{
	return term_at(e, last_index(e));
}

static void config_at(const struct elector *e, uint64_t index, struct elector_config *c)
{
	elector_log_config_at(&e->log, index, c);
}

static void refresh_config(struct elector *e);

/* Entries from `index` on are dropped (a conflicting uncommitted tail):
 * a membership among them is no longer in effect. */
static void truncate_from(struct elector *e, uint64_t index)
{
	elector_log_truncate(&e->log, index);
	if (e->p.config.index >= index)
		refresh_config(e);
}

/* An entry at the next index; -1 when memory is short. */
static int append_entry(struct elector *e, uint64_t term, uint32_t type, const uint8_t *data,
			size_t len)
{
	if (elector_log_append(&e->log, term, type, data, len) == -1)
		return -1;
	e->data_seen |= type == ELECTOR_ENTRY_DATA;
	/* A membership is in effect once appended (thesis 4.1). */
	if (type == ELECTOR_ENTRY_CONFIG)
		elector_log_config_of(entry_at(e, last_index(e)), &e->p.config);
	return 0;
}

/* The latest membership, and the latest committed one, follow the log
 * (after a truncation, a snapshot, a start). */
static void refresh_config(struct elector *e)
{
	config_at(e, last_index(e), &e->p.config);
	if (e->p.commit_index >= e->p.config.index)
		e->p.committed = e->p.config;
	else
		config_at(e, e->p.commit_index, &e->p.committed);
}

/* Entries up to `index` are committed (never past the log's end). */
static void commit_to(struct elector *e, uint64_t index)
{
	if (index > last_index(e))
		index = last_index(e);
	if (index <= e->p.commit_index)
		return;
	uint64_t from = e->p.commit_index + 1;
	e->p.commit_index = index;
	if (index >= e->p.config.index) {
		e->p.committed = e->p.config;
		return;
	}
	for (uint64_t i = index; i >= from && i > e->log.snap.index; i--) {
		const struct elector_entry *x = entry_at(e, i);
		if (x->type == ELECTOR_ENTRY_CONFIG) {
			elector_log_config_of(x, &e->p.committed);
			return;
		}
	}
}

/* Messages */

static struct elector_msg *emit(struct elector *e, uint32_t type, uint64_t to)
{
	if (!grow((void **)&e->out, &e->out_cap, e->out_count, sizeof(*e->out)))
		return NULL; /* dropped: the protocol tolerates lost messages */
	size_t cap = e->out_cap;
	struct out_ref *refs = realloc(e->refs, cap * sizeof(*refs));
	if (refs == NULL)
		return NULL;
	e->refs = refs;
	e->refs[e->out_count] = (struct out_ref){0};
	struct elector_msg *m = &e->out[e->out_count++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->flags = ELECTOR_MSG_LOG;
	m->from = e->opt.id;
	m->to = to;
	m->term = e->p.term;
	/* What protocol 3 says: the membership entry; votes: the last entry. */
	m->last_index = e->p.config.index;
	m->last_term = e->p.config.term;
	m->commit_index = e->p.commit_index;
	m->applied_index = e->applied;
	/* A reply vouches for the leader this node follows, as its
	 * membership binds it (a node that missed its addition takes its
	 * appends on this word: check_sender). */
	const struct elector_member *leader = member(&e->p.config, e->leader);
	if ((type == ELECTOR_MSG_PRE_VOTE_REPLY || type == ELECTOR_MSG_VOTE_REPLY ||
	     type == ELECTOR_MSG_APPEND_REPLY) &&
	    leader != NULL && !unbound(leader)) {
		m->vouch_id = leader->id;
		m->vouch_term = e->p.term;
		memcpy(m->vouch_fingerprint, leader->fingerprint, ELECTOR_FINGERPRINT_SIZE);
	}
	return m;
}

/* Is (term, index) at least as recent as this node's last entry? */
static bool up_to_date(const struct elector *e, uint64_t term, uint64_t index)
{
	if (term != last_term(e))
		return term > last_term(e);
	return index >= last_index(e);
}

static void become_follower(struct elector *e, uint64_t term, uint64_t leader)
{
	if (term > e->p.term) {
		e->p.term = term;
		e->p.voted_for = ELECTOR_NONE;
	}
	e->role = ELECTOR_FOLLOWER;
	e->leader = leader;
	e->vote_count = 0;
	e->transferee = ELECTOR_NONE;
	reset_timer(e);
}

static struct peer_progress *progress_of(struct elector *e, uint64_t id)
{
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->progress[i].id == id && id != ELECTOR_NONE)
			return &e->progress[i];
	}
	return NULL;
}

/* The leader's membership and silences, which every append and snapshot
 * carry (and all a protocol-3 heartbeat is). */
static void fill_view(struct elector *e, struct elector_msg *m)
{
	m->config = e->p.config;
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		uint64_t silence = elector_silence(e, e->p.config.members[i].id);
		m->silence[i] =
		    silence < ELECTOR_SILENCE_NEVER ? (uint32_t)silence : ELECTOR_SILENCE_NEVER;
	}
}

static void send_snapshot(struct elector *e, struct peer_progress *pr)
{
	if (!grow((void **)&e->snaps, &e->snap_cap, e->snap_count, sizeof(*e->snaps)))
		return;
	struct elector_msg *m = emit(e, ELECTOR_MSG_SNAPSHOT, pr->id);
	if (m == NULL)
		return;
	fill_view(e, m);
	m->prev_index = e->log.snap.index;
	m->prev_term = e->log.snap.term;
	e->snaps[e->snap_count++] = e->log.snap;
	e->refs[e->out_count - 1].snap = e->snap_count;
	/* Optimistic: the entries after it follow at once; a lost snapshot
	 * shows as a refused append, which brings next back below it. */
	pr->next = e->log.snap.index + 1;
}

/* An append to `pr` from its next entry on (none: a heartbeat), bounded
 * in count and bytes; a follower that needs compacted entries gets the
 * snapshot. */
static void send_append(struct elector *e, struct peer_progress *pr)
{
	if (pr->next <= e->log.snap.index) {
		send_snapshot(e, pr);
		return;
	}
	if (pr->next > last_index(e) + 1)
		pr->next = last_index(e) + 1;
	struct elector_msg *m = emit(e, ELECTOR_MSG_APPEND, pr->id);
	if (m == NULL)
		return;
	fill_view(e, m);
	m->prev_index = pr->next - 1;
	m->prev_term = term_at(e, m->prev_index);
	size_t first = e->arena_count, bytes = 0;
	for (uint64_t i = pr->next;
	     i <= last_index(e) && m->entry_count < e->opt.append_entries_max; i++) {
		const struct elector_entry *x = entry_at(e, i);
		if (m->entry_count > 0 && bytes + x->len > ELECTOR_APPEND_BYTES)
			break;
		if (!grow((void **)&e->arena, &e->arena_cap, e->arena_count, sizeof(*e->arena)))
			break;
		e->arena[e->arena_count++] = *x;
		bytes += x->len;
		m->entry_count++;
	}
	e->refs[e->out_count - 1].first = first;
	/* Pipelined: the next append goes on from here; a refusal brings it back. */
	pr->next += m->entry_count;
}

static void send_heartbeats(struct elector *e)
{
	e->heartbeat_due = 0;
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		struct peer_progress *pr = progress_of(e, e->p.config.members[i].id);
		if (pr != NULL && pr->id != e->opt.id)
			send_append(e, pr);
	}
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->departures[i].state == ELECTOR_DEPARTURE_TELLING)
			send_append(e, &e->departures[i].pr);
	}
}

/* New entries go out at once to followers that are not behind. */
static void broadcast(struct elector *e)
{
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		struct peer_progress *pr = progress_of(e, e->p.config.members[i].id);
		if (pr != NULL && pr->id != e->opt.id && pr->next <= last_index(e) &&
		    pr->next > pr->match)
			send_append(e, pr);
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
		struct peer_progress pr = {.id = gone->id, .next = last_index(e)};
		struct peer_progress *was = progress_of(e, gone->id);
		if (was != NULL)
			pr = *was;
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
					.state = ELECTOR_DEPARTURE_TELLING,
					.pr = pr};
	}
}

/* Leader: the progress table follows the membership. */
static void progress_sync(struct elector *e)
{
	struct peer_progress next[ELECTOR_MEMBERS_MAX];
	memset(next, 0, sizeof(next));
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		uint64_t id = e->p.config.members[i].id;
		struct peer_progress *old = progress_of(e, id);
		next[i] = old != NULL ? *old
				      : (struct peer_progress){.id = id,
							       .heard_at = e->now,
							       .next = last_index(e) + 1};
	}
	memcpy(e->progress, next, sizeof(next));
	struct peer_progress *self = progress_of(e, e->opt.id);
	if (self != NULL) {
		self->match = last_index(e);
		self->next = last_index(e) + 1;
		self->applied = e->applied;
		self->heard_at = e->now;
		self->heard = true;
	}
}

/* Leader: the highest index a majority of the membership holds, committed
 * when its entry is of this term (thesis 3.6.2). */
static void maybe_commit(struct elector *e)
{
	if (e->role != ELECTOR_LEADER)
		return;
	uint64_t matches[ELECTOR_MEMBERS_MAX];
	unsigned n = 0;
	for (uint32_t i = 0; i < e->p.config.count; i++) {
		struct peer_progress *pr = progress_of(e, e->p.config.members[i].id);
		matches[n++] = pr != NULL ? pr->match : 0;
	}
	/* The quorum-th highest match. */
	for (unsigned i = 1; i < n; i++) {
		for (unsigned k = i; k > 0 && matches[k - 1] < matches[k]; k--) {
			uint64_t t = matches[k];
			matches[k] = matches[k - 1];
			matches[k - 1] = t;
		}
	}
	if (n == 0)
		return;
	uint64_t index = matches[quorum(e) - 1];
	if (index <= e->p.commit_index || term_at(e, index) != e->p.term)
		return;
	commit_to(e, index);
	/* Committed without us: a leader that removed itself steps down. */
	if (!promotable(e)) {
		become_follower(e, e->p.term, ELECTOR_NONE);
		return;
	}
	/* Followers learn the commit index with the next append; now, for a
	 * membership change (the next may start once they know). */
	send_heartbeats(e);
}

/* Leader: an entry of this term at the end of the log. */
static int leader_append(struct elector *e, uint32_t type, const uint8_t *data, size_t len)
{
	struct elector_config old = e->p.config;
	if (append_entry(e, e->p.term, type, data, len) == -1)
		return -1;
	if (type == ELECTOR_ENTRY_CONFIG) {
		progress_sync(e);
		departures_sync(e, &old);
	}
	struct peer_progress *self = progress_of(e, e->opt.id);
	if (self != NULL)
		self->match = last_index(e);
	maybe_commit(e);
	if (e->role == ELECTOR_LEADER)
		broadcast(e);
	return 0;
}

static int append_config(struct elector *e, const struct elector_config *c)
{
	uint8_t buf[ELECTOR_CONFIG_ENCODED_MAX];
	size_t len = elector_config_encode(c, buf);
	return leader_append(e, ELECTOR_ENTRY_CONFIG, buf, len);
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
	progress_sync(e);
	/* A removal the leader before did not see committed: this one tells
	 * the members it removed, as that one would have. */
	if (e->p.committed.index < e->p.config.index)
		departures_sync(e, &e->p.committed);
	/* The first entry of a term: its commit commits the earlier terms'
	 * entries.  Protocol 3 knows only memberships: then the membership
	 * itself, re-entered (what 0.2.0 did). */
	if (e->compat) {
		struct elector_config same = e->p.config;
		append_config(e, &same);
	} else {
		leader_append(e, ELECTOR_ENTRY_NOOP, NULL, 0);
	}
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
		if (m == NULL)
			continue;
		/* The election restriction: the last entry, not the membership. */
		m->last_index = last_index(e);
		m->last_term = last_term(e);
		if (pre)
			m->term = e->p.term + 1; /* the term it would campaign in */
		else if (transfer)
			m->granted = ELECTOR_VOTE_TRANSFER;
	}
}

void elector_boot_from_state(const struct elector_persistent *state, struct elector_boot *boot,
			     struct elector_entry *entry, uint8_t buf[ELECTOR_CONFIG_ENCODED_MAX])
{
	memset(boot, 0, sizeof(*boot));
	boot->term = state->term;
	boot->voted_for = state->voted_for;
	const struct elector_config *base = &state->config;
	/* Not committed: the committed one is the snapshot, the latest the
	 * entry after it (protocol 3 numbers memberships one after another). */
	if (state->commit_index < state->config.index && state->committed.count > 0 &&
	    state->committed.index + 1 == state->config.index) {
		base = &state->committed;
		*entry = (struct elector_entry){.index = state->config.index,
						.term = state->config.term,
						.type = ELECTOR_ENTRY_CONFIG,
						.data = buf};
		entry->len = (uint32_t)elector_config_encode(&state->config, buf);
		boot->entries = entry;
		boot->entry_count = 1;
	}
	boot->snapshot.index = base->index;
	boot->snapshot.term = base->term;
	boot->snapshot.config = *base;
	boot->snapshot.membership_only = true;
	boot->commit_index = base->index;
}

struct elector *elector_new(const struct elector_options *options, const struct elector_boot *boot)
{
	if (options->id == ELECTOR_NONE || options->election_ticks_min == 0 ||
	    options->election_ticks_max < options->election_ticks_min ||
	    options->heartbeat_ticks == 0 || options->append_entries_max > ELECTOR_APPEND_ENTRIES)
		return NULL;
	struct elector *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->opt = *options;
	if (e->opt.append_entries_max == 0)
		e->opt.append_entries_max = ELECTOR_APPEND_ENTRIES;
	e->p.term = boot->term;
	e->p.voted_for = boot->voted_for;
	e->rng = options->seed ^ (options->id * 0x9e3779b97f4a7c15ull);
	if (e->rng == 0)
		e->rng = 0x2545f4914f6cdd1dull;
	e->leader_heard = UINT64_MAX / 2;
	bool ok = elector_log_snapshot(&e->log, &boot->snapshot, true) == 0;
	for (size_t i = 0; ok && i < boot->entry_count; i++) {
		const struct elector_entry *x = &boot->entries[i];
		struct elector_config c;
		ok = x->index == last_index(e) + 1 && x->term >= last_term(e) &&
		     (x->type != ELECTOR_ENTRY_CONFIG ||
		      elector_config_decode(x->data, x->len, &c) == 0) &&
		     append_entry(e, x->term, x->type, x->data, x->len) == 0;
	}
	ok = ok && boot->commit_index <= last_index(e);
	if (!ok) {
		elector_free(e);
		return NULL;
	}
	/* What is on disk need not be written again; what was committed is
	 * applied again from the snapshot on (the shell rebuilt it). */
	e->log.unstable = 0;
	e->log.snap_unstable = false;
	e->data_seen |= boot->snapshot.len > 0 && !boot->snapshot.membership_only;
	/* A snapshot is of committed state, but for the stand-in of no term a
	 * protocol-3 heartbeat leaves (on_v3_heartbeat): not taken as
	 * committed after a restart either. */
	e->p.commit_index = boot->commit_index;
	if (e->log.snap.term != 0 && e->p.commit_index < e->log.snap.index)
		e->p.commit_index = e->log.snap.index;
	e->applied = e->log.snap.index;
	e->applying = e->applied;
	refresh_config(e);
	e->told = e->p;
	become_follower(e, e->p.term, ELECTOR_NONE);
	return e;
}

void elector_free(struct elector *e)
{
	if (e == NULL)
		return;
	elector_log_free(&e->log);
	free(e->out);
	free(e->refs);
	free(e->arena);
	free(e->snaps);
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

/* Follower: an append or snapshot from the leader of this term. */
static void heard_leader(struct elector *e, const struct elector_msg *m)
{
	if (e->role != ELECTOR_FOLLOWER || e->leader != m->from)
		become_follower(e, m->term, m->from);
	e->leader = m->from;
	e->unverified = ELECTOR_NONE;
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
}

static void reply(struct elector *e, const struct elector_msg *m, uint64_t match)
{
	struct elector_msg *r = emit(e, ELECTOR_MSG_APPEND_REPLY, m->from);
	if (r != NULL)
		r->prev_index = match;
}

/* The last index up to `index` whose entry's term is not above `term`
 * (etcd's findConflictByTerm): where the leader's log may match ours. */
static uint64_t conflict_hint(const struct elector *e, uint64_t index, uint64_t term)
{
	while (index > e->log.snap.index && term_at(e, index) > term)
		index--;
	return index;
}

/* Entries a leader sends: those not held already are appended, after
 * dropping a conflicting tail (never a committed entry: the log-matching
 * check passed at prev, and a leader holds every committed entry). */
static int take_entries(struct elector *e, const struct elector_entry *xs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct elector_entry *x = &xs[i];
		if (x->index <= last_index(e)) {
			if (term_at(e, x->index) == x->term)
				continue;
			truncate_from(e, x->index);
		}
		if (x->index != last_index(e) + 1 ||
		    append_entry(e, x->term, x->type, x->data, x->len) == -1)
			return -1;
	}
	return 0;
}

static void on_append(struct elector *e, const struct elector_msg *m)
{
	heard_leader(e, m);
	uint64_t prev = m->prev_index, prev_term = m->prev_term;
	const struct elector_entry *xs = m->entries;
	size_t count = m->entry_count;
	/* What is committed here matches the leader's log: skip it. */
	while (prev < e->p.commit_index && count > 0) {
		prev = xs[0].index;
		prev_term = xs[0].term;
		xs++;
		count--;
	}
	if (prev < e->p.commit_index) {
		reply(e, m, e->p.commit_index);
		return;
	}
	if (prev > last_index(e) || term_at(e, prev) != prev_term) {
		struct elector_msg *r = emit(e, ELECTOR_MSG_APPEND_REPLY, m->from);
		if (r == NULL)
			return;
		r->flags |= ELECTOR_MSG_REJECT;
		r->prev_index = m->prev_index;
		r->hint_index =
		    conflict_hint(e, prev < last_index(e) ? prev : last_index(e), prev_term);
		r->hint_term = term_at(e, r->hint_index);
		return;
	}
	if (take_entries(e, xs, count) == -1)
		return; /* memory short: as if lost */
	uint64_t matched = prev + count;
	commit_to(e, m->commit_index < matched ? m->commit_index : matched);
	reply(e, m, matched);
}

/* Protocol 3: a heartbeat that makes the leader's membership entry (I, T)
 * authoritative (see elector_core.h).  It shows nothing of the log before
 * I (no prev_index), so what this log holds before I is never taken as
 * committed on its word: once the leader says I is committed, the
 * membership entry stands for everything up to it (a membership-only
 * snapshot at I: a log of protocol-3 times holds memberships only); until
 * then I is appended after what this log holds before it (which may then
 * be past the commit index: see below). */
static void on_v3_heartbeat(struct elector *e, const struct elector_msg *m)
{
	heard_leader(e, m);
	uint64_t at = m->last_index, term = m->last_term;
	if (at == 0 || m->config.count > ELECTOR_MEMBERS_MAX) {
		reply(e, m, 0);
		return;
	}
	/* Once commands exist, a protocol-3 heartbeat cannot stand for them:
	 * wait for a leader of protocol 4 (0.2.0 members are not to be
	 * admitted then; README, upgrading). */
	if (e->data_seen) {
		reply(e, m, 0);
		return;
	}
	bool held = at <= last_index(e) && term_at(e, at) == term;
	if (!held && at <= e->p.commit_index) {
		reply(e, m, 0); /* would undo a committed entry: not from a leader */
		return;
	}
	/* Everything committed applied first: the snapshot replaces the log. */
	if (m->commit_index >= at && at > e->p.commit_index && e->applied >= e->p.commit_index) {
		struct elector_snapshot base = {
		    .index = at, .term = term, .config = m->config, .membership_only = true};
		base.config.index = at;
		base.config.term = term;
		if (elector_log_snapshot(&e->log, &base, true) == -1)
			return;
		e->p.commit_index = at;
		e->applied = at;
		e->applying = at;
		refresh_config(e);
		reply(e, m, at);
		return;
	}
	if (!held) {
		truncate_from(e, at);
		/* What stands before it must be what this node committed: an
		 * uncommitted entry there may be another leader's, and with
		 * the leader's entry after it, it would win elections without
		 * the entries committed in its place (leader completeness).
		 * Memberships before it missed or not known committed (a node
		 * that joins misses them all): a membership-only snapshot of
		 * what this node had committed stands before it, of no term (no
		 * entry of a leader matches it) and not taken as committed. */
		if (last_index(e) + 1 < at || at - 1 > e->p.commit_index) {
			struct elector_snapshot base = {
			    .index = at - 1, .config = e->p.committed, .membership_only = true};
			base.config.index = at - 1;
			base.config.term = 0;
			if (elector_log_snapshot(&e->log, &base, true) == -1)
				return;
			e->applied = at - 1;
			e->applying = at - 1;
		}
		uint8_t buf[ELECTOR_CONFIG_ENCODED_MAX];
		size_t len = elector_config_encode(&m->config, buf);
		if (append_entry(e, term, ELECTOR_ENTRY_CONFIG, buf, len) == -1)
			return;
	}
	reply(e, m, at);
}

static void on_snapshot(struct elector *e, const struct elector_msg *m)
{
	heard_leader(e, m);
	const struct elector_snapshot *s = m->snapshot;
	if (s == NULL || s->index != m->prev_index || s->term != m->prev_term)
		return;
	if (s->index <= e->p.commit_index) {
		reply(e, m, e->p.commit_index);
		return;
	}
	/* The log holds it already: what follows is kept. */
	if (term_at(e, s->index) == s->term && s->index <= last_index(e)) {
		commit_to(e, s->index);
		reply(e, m, s->index);
		return;
	}
	/* The membership's entry is the snapshot's at the latest (a decoder
	 * may leave it unset). */
	struct elector_snapshot taken = *s;
	if (taken.config.index == 0 || taken.config.index > taken.index) {
		taken.config.index = taken.index;
		taken.config.term = taken.term;
	}
	if (elector_log_snapshot(&e->log, &taken, true) == -1)
		return;
	e->data_seen |= taken.len > 0;
	e->p.commit_index = s->index;
	e->applied = s->index;
	e->applying = s->index;
	refresh_config(e);
	reply(e, m, s->index);
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
	 * the leader's first append or snapshot, which must list that leader
	 * with the certificate it speaks with.  A node with a membership hears
	 * a leader its membership does not list (it missed that leader's
	 * addition) only on a member's word (elector_core.h). */
	const struct elector_member *claimed =
	    m->type == ELECTOR_MSG_APPEND || m->type == ELECTOR_MSG_SNAPSHOT
		? member(&m->config, m->from)
		: NULL;
	if (e->p.config.count == 0 && claimed != NULL && same_fingerprint(claimed, fingerprint))
		return 0;
	if ((m->type == ELECTOR_MSG_APPEND || m->type == ELECTOR_MSG_SNAPSHOT) &&
	    m->term == e->vouch.term && elector_vouched(e, m->from, fingerprint))
		return 0;
	*why = claimed != NULL && same_fingerprint(claimed, fingerprint)
		   ? "a leader that is not in this node's membership, and no member vouched for "
		     "it"
		   : "an election message from a node that is not a member";
	return -1;
}

bool elector_vouched(const struct elector *e, uint64_t id,
		     const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE])
{
	return id != ELECTOR_NONE && e->vouch.id == id &&
	       memcmp(e->vouch.fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE) == 0 &&
	       member(&e->p.config, id) == NULL;
}

uint64_t elector_unverified_leader(const struct elector *e, uint64_t *term)
{
	*term = e->unverified_term;
	return e->unverified;
}

/* A member's reply names the leader it follows (emit): the newest word on
 * a leader this node's membership does not list is kept, for
 * check_sender.  A word of a term behind this node's is kept too: this
 * node then answers that leader's appends with its own term, which
 * deposes it (step), as it would a member that leads in a stale term; a
 * node whose term went up in an election it lost (pre-votes granted while
 * no leader was heard) would otherwise never be heard by that leader
 * again, nor hear it. */
static void take_vouch(struct elector *e, const struct elector_msg *m)
{
	static const uint8_t zero[ELECTOR_FINGERPRINT_SIZE];
	if ((m->type != ELECTOR_MSG_PRE_VOTE_REPLY && m->type != ELECTOR_MSG_VOTE_REPLY &&
	     m->type != ELECTOR_MSG_APPEND_REPLY) ||
	    m->vouch_id == ELECTOR_NONE || m->vouch_id == e->opt.id ||
	    member(&e->p.config, m->from) == NULL || member(&e->p.config, m->vouch_id) != NULL ||
	    m->vouch_term < e->vouch.term ||
	    memcmp(m->vouch_fingerprint, zero, ELECTOR_FINGERPRINT_SIZE) == 0)
		return;
	e->vouch.id = m->vouch_id;
	e->vouch.term = m->vouch_term;
	memcpy(e->vouch.fingerprint, m->vouch_fingerprint, ELECTOR_FINGERPRINT_SIZE);
}

/* Leader: the index a reply says its sender now matches up to, 0 when it
 * says nothing of the kind.  Protocol 3 replies with the membership entry
 * it holds: a match when this log holds that entry. */
static uint64_t reply_match(const struct elector *e, const struct elector_msg *m)
{
	if (m->flags & ELECTOR_MSG_LOG)
		return m->flags & ELECTOR_MSG_REJECT ? 0 : m->prev_index;
	/* A member of protocol 3 holds memberships only: once commands
	 * exist it holds no log the leader may count. */
	if (e->data_seen)
		return 0;
	if (m->last_index <= last_index(e) && m->last_index >= e->log.snap.index &&
	    term_at(e, m->last_index) == m->last_term)
		return m->last_index;
	return 0;
}

/* Leader: a follower's (or a departing member's) answer to an append. */
static void on_append_reply(struct elector *e, struct peer_progress *pr,
			    const struct elector_msg *m)
{
	pr->heard_at = e->now;
	pr->heard = true;
	if (m->applied_index > pr->applied)
		pr->applied = m->applied_index;
	uint64_t match = reply_match(e, m);
	if (match > last_index(e))
		match = last_index(e); /* not of this log: a stale reply */
	bool advanced = match > pr->match;
	if (advanced)
		pr->match = match;
	if (pr->next <= pr->match)
		pr->next = pr->match + 1;
	if ((m->flags & (ELECTOR_MSG_LOG | ELECTOR_MSG_REJECT)) ==
	    (ELECTOR_MSG_LOG | ELECTOR_MSG_REJECT)) {
		/* A refusal of an append it since matched is stale. */
		if (m->prev_index <= pr->match)
			return;
		/* The follower's hint, then ours (etcd's findConflictByTerm on
		 * both sides): a whole term that cannot match is skipped. */
		uint64_t hint = m->hint_index <= last_index(e) ? m->hint_index : last_index(e);
		if (m->hint_term > 0)
			hint = conflict_hint(e, hint, m->hint_term);
		uint64_t next = hint + 1 < m->prev_index ? hint + 1 : m->prev_index;
		pr->next = next > pr->match ? next : pr->match + 1;
		send_append(e, pr);
		return;
	}
	if (!(m->flags & ELECTOR_MSG_LOG) && match == 0 && m->last_index < pr->next)
		pr->next = m->last_index > pr->match ? m->last_index : pr->match + 1;
	if (!advanced)
		return;
	maybe_commit(e);
	if (e->role != ELECTOR_LEADER)
		return;
	/* More to send: on at once, up to the bound of what is in flight. */
	if ((m->flags & ELECTOR_MSG_LOG) && pr->next <= last_index(e) &&
	    pr->next - pr->match <= e->opt.append_entries_max)
		send_append(e, pr);
}

/* What no honest peer sends: entries that do not follow prev_index one
 * after another, of terms past the message's or going back, past the
 * bounds, or a membership that does not decode; a snapshot that is not
 * the one the message names. */
static const char *malformed(const struct elector_msg *m)
{
	if (m->type == ELECTOR_MSG_SNAPSHOT &&
	    (m->snapshot == NULL || m->snapshot->index != m->prev_index ||
	     m->snapshot->term != m->prev_term || m->snapshot->index == 0 ||
	     m->snapshot->term > m->term || m->snapshot->config.count > ELECTOR_MEMBERS_MAX))
		return "a snapshot that is not the one its message names";
	if (m->type != ELECTOR_MSG_APPEND || m->entry_count == 0)
		return NULL;
	if (m->entries == NULL || m->entry_count > ELECTOR_APPEND_ENTRIES)
		return "an append with more entries than one may carry";
	uint64_t term = m->prev_term;
	for (uint32_t i = 0; i < m->entry_count; i++) {
		const struct elector_entry *x = &m->entries[i];
		struct elector_config c;
		if (x->index != m->prev_index + 1 + i || x->term < term || x->term > m->term)
			return "an append whose entries do not follow one another";
		if (x->type < ELECTOR_ENTRY_NOOP || x->type > ELECTOR_ENTRY_DATA ||
		    (x->type == ELECTOR_ENTRY_CONFIG
			 ? elector_config_decode(x->data, x->len, &c) == -1
			 : x->len > (x->type == ELECTOR_ENTRY_DATA ? ELECTOR_DATA_MAX : 0)))
			return "an append with an entry that is not one";
		term = x->term;
	}
	return NULL;
}

int elector_step(struct elector *e, const struct elector_msg *m,
		 const uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE], const char **why)
{
	if (m->to != e->opt.id || m->from == e->opt.id || m->from == ELECTOR_NONE)
		return 0;
	if ((*why = malformed(m)) != NULL)
		return -1;
	/* A member being told of its removal is heard only to learn that it
	 * knows; whatever else it says (it may have campaigned before it
	 * knew) changes nothing here. */
	struct departure *d = e->role == ELECTOR_LEADER && member(&e->p.config, m->from) == NULL
				  ? departure_of(e, m->from)
				  : NULL;
	if (d != NULL && same_fingerprint(&d->member, fingerprint)) {
		if (m->type == ELECTOR_MSG_APPEND_REPLY && m->term == e->p.term) {
			on_append_reply(e, &d->pr, m);
			if (d->state != ELECTOR_DEPARTURE_TOLD && d->pr.match >= d->index &&
			    m->commit_index >= d->index && e->p.commit_index >= d->index)
				d->state = ELECTOR_DEPARTURE_TOLD;
		}
		return 0;
	}
	if (check_sender(e, m, fingerprint, why) == -1) {
		/* What looks like a leader this node cannot verify is said (the
		 * shell says it once, loudly); the message changes nothing. */
		const struct elector_member *claimed =
		    m->type == ELECTOR_MSG_APPEND || m->type == ELECTOR_MSG_SNAPSHOT
			? member(&m->config, m->from)
			: NULL;
		if (claimed != NULL && same_fingerprint(claimed, fingerprint) &&
		    m->term >= e->p.term && member(&e->p.config, m->from) == NULL &&
		    !leader_recently_heard(e)) {
			e->unverified = m->from;
			e->unverified_term = m->term;
		}
		return -1;
	}
	take_vouch(e, m);
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
			bool from_leader =
			    m->type == ELECTOR_MSG_APPEND || m->type == ELECTOR_MSG_SNAPSHOT;
			become_follower(e, m->term, from_leader ? m->from : ELECTOR_NONE);
		}
	} else if (m->term < e->p.term) {
		/* A stale leader or candidate learns the current term and steps down. */
		if (m->type == ELECTOR_MSG_APPEND || m->type == ELECTOR_MSG_SNAPSHOT)
			reply(e, m, 0);
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
			e->p.voted_for = m->from;
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
	case ELECTOR_MSG_APPEND:
		if (e->role == ELECTOR_LEADER)
			break; /* two leaders in one term cannot be: not a leader's */
		if (m->flags & ELECTOR_MSG_LOG)
			on_append(e, m);
		else
			on_v3_heartbeat(e, m);
		break;
	case ELECTOR_MSG_SNAPSHOT:
		if (e->role != ELECTOR_LEADER)
			on_snapshot(e, m);
		break;
	case ELECTOR_MSG_APPEND_REPLY:
		if (e->role == ELECTOR_LEADER) {
			struct peer_progress *pr = progress_of(e, m->from);
			if (pr == NULL)
				break;
			on_append_reply(e, pr, m);
			/* The target caught up: it may take over now. */
			if (e->role == ELECTOR_LEADER && e->transferee == m->from &&
			    pr->match == last_index(e))
				emit(e, ELECTOR_MSG_TIMEOUT_NOW, m->from);
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
	if (e->p.config.count != 0 || last_index(e) != 0 ||
	    !elector_address_valid(address, ELECTOR_ADDRESS_MAX))
		return -1;
	struct elector_config one = {.count = 1};
	one.members[0].id = e->opt.id;
	memcpy(one.members[0].fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE);
	strcpy(one.members[0].address, address);
	e->p.term++;
	e->p.voted_for = e->opt.id;
	e->p.config = one;
	e->role = ELECTOR_LEADER;
	e->leader = e->opt.id;
	memset(e->progress, 0, sizeof(e->progress));
	progress_sync(e);
	return append_config(e, &one);
}

/* Not while leadership is being handed over: the target must be up to
 * date when it campaigns (thesis 3.10).  Not before an entry of this
 * leader's term is committed (its first, the NOOP): a membership one
 * change away from the committed one, appended by a leader before and
 * not committed, may still be in other logs, and the majorities of that
 * one and of a change made now need not overlap (Ongaro, raft-dev 2015:
 * the single-server change bug). */
bool elector_change_allowed(const struct elector *e)
{
	return e->role == ELECTOR_LEADER && e->p.commit_index >= e->p.config.index &&
	       term_at(e, e->p.commit_index) == e->p.term && e->transferee == ELECTOR_NONE;
}

static bool change_allowed(const struct elector *e)
{
	return elector_change_allowed(e);
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
			memset(next.members[i].address, 0, ELECTOR_ADDRESS_MAX);
			strcpy(next.members[i].address, address);
			return append_config(e, &next);
		}
	}
	if (next.count == ELECTOR_MEMBERS_MAX)
		return -1;
	next.members[next.count].id = id;
	memcpy(next.members[next.count].fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE);
	strcpy(next.members[next.count].address, address);
	next.count++;
	return append_config(e, &next);
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
		return append_config(e, &next);
	}
	return -1;
}

int elector_propose(struct elector *e, const uint8_t *data, size_t len, uint64_t *index,
		    uint64_t *term, const char **why)
{
	if (e->role != ELECTOR_LEADER) {
		*why = "this node does not lead";
		return -1;
	}
	if (e->transferee != ELECTOR_NONE) {
		*why = "leadership is being handed over";
		return -1;
	}
	if (e->compat) {
		*why = "a member speaks protocol 3 (rxmpp 0.2.0): upgrade it first";
		return -1;
	}
	if (len == 0 || len > ELECTOR_DATA_MAX) {
		*why = "a command must hold 1 to 8192 bytes";
		return -1;
	}
	size_t bytes = 0;
	for (uint64_t i = e->p.commit_index + 1; i <= last_index(e); i++)
		bytes += entry_at(e, i)->len;
	if (last_index(e) - e->p.commit_index >= ELECTOR_UNCOMMITTED_ENTRIES ||
	    bytes + len > ELECTOR_UNCOMMITTED_BYTES) {
		*why = "too much is not committed yet";
		return -1;
	}
	if (leader_append(e, ELECTOR_ENTRY_DATA, data, len) == -1) {
		*why = "out of memory";
		return -1;
	}
	*index = last_index(e);
	*term = e->p.term;
	return 0;
}

int elector_compact(struct elector *e, uint64_t index, const uint8_t *data, size_t len)
{
	if (index > e->applied || index <= e->log.snap.index || index > last_index(e))
		return -1;
	struct elector_snapshot s = {
	    .index = index, .term = term_at(e, index), .data = data, .len = len};
	config_at(e, index, &s.config);
	e->data_seen |= len > 0;
	return elector_log_snapshot(&e->log, &s, false);
}

void elector_set_compat(struct elector *e, bool compat)
{
	e->compat = compat;
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

/* The most up-to-date other member: one that holds the whole log before
 * one that does not, then the one heard from last. */
static uint64_t transfer_candidate(const struct elector *e)
{
	const struct peer_progress *best = NULL;
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		const struct peer_progress *pr = &e->progress[i];
		if (pr->id == ELECTOR_NONE || pr->id == e->opt.id || !pr->heard ||
		    member(&e->p.config, pr->id) == NULL)
			continue;
		bool current = pr->match == last_index(e);
		bool best_current = best != NULL && best->match == last_index(e);
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
	struct peer_progress *pr = progress_of(e, id);
	if (pr != NULL && pr->match == last_index(e))
		emit(e, ELECTOR_MSG_TIMEOUT_NOW, id);
	else if (pr != NULL)
		send_append(e, pr); /* its reply says when it is up to date */
	return 0;
}

uint64_t elector_transferee(const struct elector *e)
{
	return e->role == ELECTOR_LEADER ? e->transferee : ELECTOR_NONE;
}

bool elector_has_ready(const struct elector *e)
{
	return e->out_count > 0 || e->leader != e->reported_leader || e->log.unstable != 0 ||
	       e->log.snap_unstable || e->applied < e->p.commit_index ||
	       memcmp(&e->p, &e->told, sizeof(e->p)) != 0;
}

void elector_ready(struct elector *e, struct elector_ready *out)
{
	memset(out, 0, sizeof(*out));
	out->persist = memcmp(&e->p, &e->told, sizeof(e->p)) != 0;
	out->state = e->p;
	if (e->log.snap_unstable)
		out->snapshot = &e->log.snap;
	if (e->log.unstable != 0 && e->log.unstable <= last_index(e)) {
		out->entries = entry_at(e, e->log.unstable);
		out->entry_count = (size_t)(last_index(e) - e->log.unstable + 1);
	}
	/* Bounded, so that a long catch-up does not hold the loop.  (A
	 * membership-only snapshot from protocol 3 may stand past the commit
	 * index: nothing to apply then.) */
	uint64_t end = e->p.commit_index > e->applied ? e->p.commit_index : e->applied;
	if (end - e->applied > 256)
		end = e->applied + 256;
	e->applying = end;
	if (end > e->applied) {
		out->committed = entry_at(e, e->applied + 1);
		out->committed_count = (size_t)(end - e->applied);
	}
	for (size_t i = 0; i < e->out_count; i++) {
		struct elector_msg *m = &e->out[i];
		if (m->entry_count > 0)
			m->entries = &e->arena[e->refs[i].first];
		if (e->refs[i].snap > 0)
			m->snapshot = &e->snaps[e->refs[i].snap - 1];
	}
	out->msgs = e->out;
	out->msg_count = e->out_count;
	out->role = e->role;
	out->leader = e->leader;
	out->leader_changed = e->leader != e->reported_leader;
}

void elector_advance(struct elector *e)
{
	e->told = e->p;
	e->out_count = 0;
	e->arena_count = 0;
	e->snap_count = 0;
	e->log.unstable = 0;
	e->log.snap_unstable = false;
	if (e->applying > e->applied)
		e->applied = e->applying;
	e->reported_leader = e->leader;
	struct peer_progress *self = progress_of(e, e->opt.id);
	if (self != NULL && e->role == ELECTOR_LEADER)
		self->applied = e->applied;
	elector_log_release(&e->log);
}
