/* SPDX-License-Identifier: MIT */
/*
 * What the shell and the tests may read of the election core (see
 * elector_core.h), and the digest of its state the exhaustive explorer
 * merges states by.  Reads only: the protocol is elector_core.c.
 */
#include <string.h>

#include "elector_core.h"
#include "elector_core_state.h"

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

uint64_t elector_last_index(const struct elector *e)
{
	return elector_log_last_index(&e->log);
}

uint64_t elector_last_term(const struct elector *e)
{
	return elector_log_term(&e->log, elector_log_last_index(&e->log));
}

uint64_t elector_applied_index(const struct elector *e)
{
	return e->applied;
}

const struct elector_snapshot *elector_snapshot(const struct elector *e)
{
	return &e->log.snap;
}

const struct elector_entry *elector_entry(const struct elector *e, uint64_t index)
{
	return elector_log_entry(&e->log, index);
}

int elector_progress(const struct elector *e, uint64_t id, uint64_t *match, uint64_t *applied)
{
	if (e->role != ELECTOR_LEADER || elector_member_of(&e->p.config, id) == NULL)
		return -1;
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->progress[i].id == id) {
			*match = e->progress[i].match;
			*applied = e->progress[i].applied;
			return 0;
		}
	}
	return -1;
}

bool elector_state_removed(const struct elector_persistent *p, uint64_t id)
{
	return p->config.count > 0 && elector_member_of(&p->config, id) == NULL &&
	       p->commit_index >= p->config.index;
}

bool elector_commands_seen(const struct elector *e)
{
	return e->data_seen;
}

bool elector_removed(const struct elector *e)
{
	if (!elector_state_removed(&e->p, e->opt.id))
		return false;
	/* A node that joins replays memberships from before it was added:
	 * the leader it follows listing it says it is joining, not removed. */
	if (e->leader != ELECTOR_NONE && e->report.from == e->leader) {
		for (uint32_t i = 0; i < e->report.count; i++) {
			if (e->report.ids[i] == e->opt.id)
				return false;
		}
	}
	return true;
}

enum elector_departure elector_departure(const struct elector *e, uint64_t id)
{
	if (e->role != ELECTOR_LEADER)
		return ELECTOR_DEPARTURE_NONE;
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (e->departures[i].state != ELECTOR_DEPARTURE_NONE &&
		    e->departures[i].member.id == id)
			return e->departures[i].state;
	}
	return ELECTOR_DEPARTURE_NONE;
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
		if (elector_member_of(&e->p.config, id) == NULL)
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

/* FNV-1a over the fields that matter, in a fixed order. */
static void mix(uint64_t *h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		*h ^= (uint8_t)(v >> (8 * i));
		*h *= 0x100000001b3ull;
	}
}

static void mix_config(uint64_t *h, const struct elector_config *c)
{
	mix(h, c->index);
	mix(h, c->term);
	mix(h, c->count);
	for (uint32_t i = 0; i < c->count && i < ELECTOR_MEMBERS_MAX; i++)
		mix(h, c->members[i].id);
}

static void mix_progress(uint64_t *h, const struct elector *e, const struct peer_progress *pr)
{
	mix(h, pr->id);
	mix(h, pr->match);
	mix(h, pr->next);
	mix(h, pr->applied);
	mix(h, pr->heard);
	/* Only whether it was heard within an election timeout decides. */
	uint64_t silence = e->now - pr->heard_at;
	mix(h, silence < e->opt.election_ticks_min ? silence : UINT64_MAX);
}

uint64_t elector_digest(const struct elector *e)
{
	uint64_t h = 0xcbf29ce484222325ull;
	mix(&h, e->p.term);
	mix(&h, e->p.voted_for);
	mix(&h, e->p.commit_index);
	mix_config(&h, &e->p.config);
	mix_config(&h, &e->p.committed);
	mix(&h, e->compat);
	mix(&h, e->log.snap.index);
	mix(&h, e->log.snap.term);
	mix(&h, e->log.snap.len);
	for (size_t i = 0; i < e->log.snap.len; i++)
		mix(&h, e->log.snap.data[i]);
	for (size_t i = 0; i < e->log.count; i++) {
		const struct elector_entry *x = &e->log.entries[i];
		mix(&h, x->term);
		mix(&h, x->type);
		mix(&h, x->len);
		for (uint32_t k = 0; k < x->len; k++)
			mix(&h, x->data[k]);
	}
	mix(&h, e->applied);
	mix(&h, e->role);
	mix(&h, e->leader);
	mix(&h, e->elapsed);
	mix(&h, e->timeout);
	mix(&h, e->heartbeat_due);
	mix(&h, e->quorum_due);
	mix(&h, e->leader_heard < e->opt.election_ticks_min ? e->leader_heard : UINT64_MAX);
	mix(&h, e->transferee);
	mix(&h, e->transfer_elapsed);
	mix(&h, e->rng);
	mix(&h, e->vouch.id);
	mix(&h, e->vouch.term);
	for (size_t i = 0; i < ELECTOR_FINGERPRINT_SIZE; i++)
		mix(&h, e->vouch.fingerprint[i]);
	mix(&h, e->vote_count);
	for (unsigned i = 0; i < e->vote_count; i++)
		mix(&h, e->votes[i]);
	if (e->role == ELECTOR_LEADER) {
		for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++)
			mix_progress(&h, e, &e->progress[i]);
		for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
			const struct departure *d = &e->departures[i];
			mix(&h, d->state);
			if (d->state != ELECTOR_DEPARTURE_NONE) {
				mix(&h, d->member.id);
				mix(&h, d->index);
				uint64_t since = e->now - d->since;
				mix(&h, since < 2 * (uint64_t)e->opt.election_ticks_max
					    ? since
					    : UINT64_MAX);
				mix_progress(&h, e, &d->pr);
			}
		}
	}
	return h;
}
