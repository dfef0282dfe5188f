/* SPDX-License-Identifier: MIT */
/*
 * The election core explored exhaustively: every interleaving of a
 * three-node cluster's deliveries, drops, ticks, crash-restarts (from what
 * the node persisted), a proposal and a compaction (the state machine
 * written as a snapshot at what the node applied, the log before it
 * dropped: a follower behind it is then brought up to date by the
 * snapshot), breadth first up to a bounded depth, each state hashed
 * (elector_digest of each core, each node's state machine, the messages in
 * flight as a multiset, what the run saw so far) so that a state reached
 * by two paths is explored once.  The random schedules of
 * check_elector_sim.c sample long runs; this covers short ones completely,
 * orderings included that a random schedule almost never draws (a vote
 * that overtakes an append, a restart between a persist and the reply it
 * allowed).
 *
 * The timers are as short as they go (heartbeat and election timeout of
 * one tick) so that elections, check-quorum step-downs and their races
 * happen within the depth.  It starts from a leader (node 1) that has just
 * committed an entry with node 2 while node 3 missed it, so that the first
 * steps already decide whether a new leader keeps it.  Checked in every
 * state: at most one leader per term (over the path), log matching between
 * every two logs, leader completeness (a leader holds every entry known
 * committed), and state-machine safety (what is applied at an index is the
 * same everywhere, machines agree at one index).  ELECTOR_EXPLORE_DEPTH
 * sets the depth (make unit runs 6); a failure prints the path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elector/elector_core.h"
#include "elector_testkit.h"
#include "unit.h"

#define X_NODES	   3
#define X_NET_MAX  24
#define X_TERMS	   32
#define X_INDICES  32
#define X_PATH_MAX 24

enum x_kind { X_TICK, X_RESTART, X_DELIVER, X_DROP, X_PROPOSE, X_COMPACT };

struct x_action {
	uint8_t kind;
	uint8_t arg;
};

struct x_state {
	struct elector_testkit_node nodes[X_NODES];
	enum elector_role role[X_NODES];
	struct elector_msg *net[X_NET_MAX];
	size_t net_count;
	unsigned restarts;
	unsigned proposals;
	unsigned compactions;
	uint64_t leader_of_term[X_TERMS];
	uint64_t committed_term[X_INDICES];
	uint64_t applied_entry[X_INDICES];
	uint64_t machine_at[X_INDICES];
	char failure[160];
};

/* Budgets per path: more branch on every level, so they stay small. */
#define X_RESTARTS    1
#define X_PROPOSALS   1
#define X_COMPACTIONS 1

static void x_fail(struct x_state *x, const char *what)
{
	if (x->failure[0] == '\0')
		snprintf(x->failure, sizeof(x->failure), "%s", what);
}

static struct elector_options x_options(uint64_t id)
{
	return (struct elector_options){.id = id,
					.heartbeat_ticks = 1,
					.election_ticks_min = 1,
					.election_ticks_max = 1,
					.seed = id};
}

static uint64_t x_msg_hash(const struct elector_msg *m)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	uint64_t fields[] = {m->type,	    m->granted,	    m->from,	     m->to,
			     m->term,	    m->last_index,  m->last_term,    m->commit_index,
			     m->flags,	    m->entry_count, m->prev_index,   m->prev_term,
			     m->hint_index, m->hint_term,   m->applied_index};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		h = (h ^ fields[i]) * 0x100000001b3ull + (h >> 29);
	for (uint32_t i = 0; i < m->entry_count; i++)
		h = (h ^ elector_testkit_chain(0, &m->entries[i])) * 0x100000001b3ull;
	if (m->snapshot != NULL)
		h = (h ^ m->snapshot->index ^ (m->snapshot->term << 32)) * 0x100000001b3ull;
	return h;
}

static void x_send(struct x_state *x, const struct elector_msg *m)
{
	if (x->net_count == X_NET_MAX)
		return; /* the network is full: lost, as the protocol allows */
	x->net[x->net_count++] = elector_testkit_msg_clone(m);
}

static bool x_entry_same(const struct elector_entry *a, const struct elector_entry *b)
{
	return a->term == b->term && a->type == b->type && a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void x_check(struct x_state *x)
{
	uint64_t max_term = 0;
	for (int i = 0; i < X_NODES; i++) {
		uint64_t t = elector_term(x->nodes[i].e);
		max_term = t > max_term ? t : max_term;
	}
	for (int a = 0; a < X_NODES; a++) {
		struct elector *ea = x->nodes[a].e;
		/* Log matching: one (index, term) in two logs, the same logs up to it. */
		for (int b = a + 1; b < X_NODES; b++) {
			struct elector *eb = x->nodes[b].e;
			uint64_t last = elector_last_index(ea) < elector_last_index(eb)
					    ? elector_last_index(ea)
					    : elector_last_index(eb);
			uint64_t match = 0;
			for (uint64_t k = last; k > 0 && match == 0; k--) {
				const struct elector_entry *xa = elector_entry(ea, k),
							   *xb = elector_entry(eb, k);
				if (xa != NULL && xb != NULL && xa->term == xb->term)
					match = k;
			}
			for (uint64_t k = match; k > 0; k--) {
				const struct elector_entry *xa = elector_entry(ea, k),
							   *xb = elector_entry(eb, k);
				if (xa == NULL || xb == NULL)
					break;
				if (!x_entry_same(xa, xb))
					x_fail(
					    x,
					    "log matching: two logs differ before a common entry");
			}
		}
		/* Leader completeness, of the newest term: every entry committed
		 * anywhere is in its log. */
		if (elector_role(ea) == ELECTOR_LEADER && elector_term(ea) == max_term) {
			for (uint64_t k = elector_snapshot(ea)->index + 1; k < X_INDICES; k++) {
				if (x->committed_term[k] == 0)
					continue;
				const struct elector_entry *e = elector_entry(ea, k);
				if (e == NULL || e->term != x->committed_term[k])
					x_fail(x, "leader completeness: the newest leader lacks a "
						  "committed entry");
			}
		}
	}
}

static void x_drain(struct x_state *x, int i)
{
	struct elector_testkit_node *n = &x->nodes[i];
	while (elector_has_ready(n->e)) {
		struct elector_ready r;
		elector_ready(n->e, &r);
		uint64_t old_commit = n->disk.commit_index;
		elector_testkit_persist(n, &r);
		for (uint64_t k = old_commit + 1; k <= r.state.commit_index && k < X_INDICES; k++) {
			const struct elector_entry *e = elector_entry(n->e, k);
			if (e == NULL)
				continue;
			if (x->committed_term[k] != 0 && x->committed_term[k] != e->term)
				x_fail(x, "two entries committed at one index");
			x->committed_term[k] = e->term;
		}
		for (size_t k = 0; k < r.msg_count; k++)
			x_send(x, &r.msgs[k]);
		for (size_t k = 0; k < r.committed_count; k++) {
			const struct elector_entry *e = &r.committed[k];
			elector_testkit_apply(&n->machine, e);
			if (e->index >= X_INDICES)
				continue;
			uint64_t content = elector_testkit_chain(0, e);
			if (x->applied_entry[e->index] != 0 &&
			    x->applied_entry[e->index] != content)
				x_fail(x, "state-machine safety: two entries applied at one index");
			x->applied_entry[e->index] = content;
			if (x->machine_at[e->index] != 0 &&
			    x->machine_at[e->index] != n->machine.hash)
				x_fail(x, "state-machine safety: machines differ at one index");
			x->machine_at[e->index] = n->machine.hash;
		}
		if (r.role == ELECTOR_LEADER) {
			uint64_t term = elector_term(n->e);
			if (term < X_TERMS) {
				if (x->leader_of_term[term] != 0 &&
				    x->leader_of_term[term] != n->id)
					x_fail(x, "two leaders in one term");
				x->leader_of_term[term] = n->id;
			}
		}
		x->role[i] = r.role;
		elector_advance(n->e);
	}
}

static void x_free(struct x_state *x)
{
	for (int i = 0; i < X_NODES; i++) {
		elector_free(x->nodes[i].e);
		elector_testkit_disk_free(&x->nodes[i].disk);
	}
	for (size_t k = 0; k < x->net_count; k++)
		elector_testkit_msg_free(x->net[k]);
	memset(x, 0, sizeof(*x));
}

static void x_deliver(struct x_state *x, size_t k, bool drop)
{
	struct elector_msg *m = x->net[k];
	memmove(x->net + k, x->net + k + 1, (x->net_count - k - 1) * sizeof(x->net[0]));
	x->net_count--;
	int to = (int)m->to - 1;
	if (!drop && to >= 0 && to < X_NODES) {
		const char *why;
		if (elector_step(x->nodes[to].e, m, elector_testkit_cert(m->from), &why) == -1)
			x_fail(x, "a member's message refused");
		x_drain(x, to);
	}
	elector_testkit_msg_free(m);
}

static int x_leader(const struct x_state *x)
{
	for (int i = 0; i < X_NODES; i++) {
		if (elector_role(x->nodes[i].e) == ELECTOR_LEADER)
			return i;
	}
	return -1;
}

/* Whether `a` can be taken in `x` (and, for messages, is not the same as
 * an earlier identical one). */
static bool x_valid(const struct x_state *x, struct x_action a)
{
	switch (a.kind) {
	case X_TICK:
		return a.arg < X_NODES;
	case X_RESTART:
		return a.arg < X_NODES && x->restarts < X_RESTARTS;
	case X_DELIVER:
	case X_DROP:
		if (a.arg >= x->net_count)
			return false;
		for (size_t k = 0; k < a.arg; k++) {
			if (x_msg_hash(x->net[k]) == x_msg_hash(x->net[a.arg]))
				return false;
		}
		return true;
	case X_PROPOSE:
		return x->proposals < X_PROPOSALS && x_leader(x) >= 0;
	case X_COMPACT:
		/* Only where it drops something: the applied index past the snapshot. */
		return a.arg < X_NODES && x->compactions < X_COMPACTIONS &&
		       elector_applied_index(x->nodes[a.arg].e) >
			   elector_snapshot(x->nodes[a.arg].e)->index;
	}
	return false;
}

static void x_apply(struct x_state *x, struct x_action a)
{
	switch (a.kind) {
	case X_TICK:
		elector_tick(x->nodes[a.arg].e);
		x_drain(x, a.arg);
		break;
	case X_RESTART: {
		struct elector_options o = x_options(x->nodes[a.arg].id);
		elector_testkit_crash(&x->nodes[a.arg]);
		if (!elector_testkit_boot(&x->nodes[a.arg], &o))
			x_fail(x, "a disk refused at restart");
		x->role[a.arg] = ELECTOR_FOLLOWER;
		x->restarts++;
		x_drain(x, a.arg);
		break;
	}
	case X_DELIVER:
	case X_DROP:
		x_deliver(x, a.arg, a.kind == X_DROP);
		break;
	case X_COMPACT:
		x->compactions++;
		if (!elector_testkit_compact(&x->nodes[a.arg]))
			x_fail(x, "a compaction at the applied index refused");
		break;
	case X_PROPOSE: {
		int l = x_leader(x);
		uint8_t data[2] = {0xd0, (uint8_t)x->proposals};
		uint64_t index, term;
		const char *why;
		x->proposals++;
		if (elector_propose(x->nodes[l].e, data, sizeof(data), &index, &term, &why) == 0)
			x_drain(x, l);
		break;
	}
	}
	x_check(x);
}

/* The start: node 1 leads term 1 over a membership of three committed at
 * index 1, takes an entry, and commits it with node 2 while everything
 * to node 3 is lost: node 3 is behind. */
static void x_init(struct x_state *x)
{
	memset(x, 0, sizeof(*x));
	struct elector_config config = {.index = 1, .term = 1, .count = X_NODES};
	for (int i = 0; i < X_NODES; i++) {
		x->nodes[i].id = (uint64_t)i + 1;
		elector_testkit_member(x->nodes[i].id, &config.members[i]);
	}
	for (int i = 0; i < X_NODES; i++) {
		struct elector_options o = x_options(x->nodes[i].id);
		elector_testkit_disk_seed(&x->nodes[i].disk, &config);
		ck_assert(elector_testkit_boot(&x->nodes[i], &o));
	}
	/* Node 1 times out first and wins with every message delivered. */
	for (int round = 0; round < 12 && x_leader(x) != 0; round++) {
		elector_tick(x->nodes[0].e);
		x_drain(x, 0);
		while (x->net_count > 0)
			x_deliver(x, 0, false);
	}
	ck_assert_int_eq(x_leader(x), 0);
	uint8_t data[2] = {0xa0, 0};
	uint64_t index, term;
	const char *why;
	ck_assert_int_eq(elector_propose(x->nodes[0].e, data, sizeof(data), &index, &term, &why),
			 0);
	x_drain(x, 0);
	while (x->net_count > 0)
		x_deliver(x, 0, x->net[0]->to == 3);
	ck_assert_uint_eq(elector_commit_index(x->nodes[0].e), index);
	ck_assert_uint_lt(elector_last_index(x->nodes[2].e), index);
	ck_assert_str_eq(x->failure, "");
}

static uint64_t x_digest(const struct x_state *x)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int i = 0; i < X_NODES; i++) {
		h = (h ^ elector_digest(x->nodes[i].e)) * 0x100000001b3ull;
		h = (h ^ x->nodes[i].machine.hash) * 0x100000001b3ull;
		h = (h ^ x->nodes[i].machine.applied) * 0x100000001b3ull;
	}
	uint64_t net = 0;
	for (size_t k = 0; k < x->net_count; k++)
		net += x_msg_hash(x->net[k]) * 0xc2b2ae3d27d4eb4full;
	h = (h ^ net) * 0x100000001b3ull;
	h = (h ^ (x->restarts | (uint64_t)x->proposals << 8 | (uint64_t)x->compactions << 16)) *
	    0x100000001b3ull;
	for (int k = 0; k < X_TERMS; k++)
		h = (h ^ x->leader_of_term[k]) * 0x100000001b3ull;
	for (int k = 0; k < X_INDICES; k++)
		h = (h ^ x->committed_term[k]) * 0x100000001b3ull;
	return h;
}

/* Visited states: an open-addressing set of digests. */
struct x_set {
	uint64_t *slots;
	size_t mask;
	size_t count;
};

static bool x_set_add(struct x_set *s, uint64_t h)
{
	if (h == 0)
		h = 1;
	if (2 * (s->count + 1) > s->mask + 1) {
		struct x_set bigger = {.mask = s->mask ? 2 * s->mask + 1 : 4095};
		bigger.slots = calloc(bigger.mask + 1, sizeof(uint64_t));
		ck_assert_ptr_nonnull(bigger.slots);
		for (size_t i = 0; s->slots != NULL && i <= s->mask; i++) {
			if (s->slots[i] != 0)
				x_set_add(&bigger, s->slots[i]);
		}
		free(s->slots);
		*s = bigger;
	}
	for (size_t at = (size_t)(h * 0x9e3779b97f4a7c15ull) & s->mask;; at = (at + 1) & s->mask) {
		if (s->slots[at] == h)
			return false;
		if (s->slots[at] == 0) {
			s->slots[at] = h;
			s->count++;
			return true;
		}
	}
}

struct x_path {
	uint8_t len;
	struct x_action steps[X_PATH_MAX];
};

static void x_replay(struct x_state *x, const struct x_path *p)
{
	x_init(x);
	for (unsigned i = 0; i < p->len; i++)
		x_apply(x, p->steps[i]);
}

static void x_describe(const struct x_path *p, char *out, size_t size)
{
	static const char *const names[] = {"tick", "restart", "deliver",
					    "drop", "propose", "compact"};
	size_t at = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < p->len && at < size; i++)
		at += (size_t)snprintf(out + at, size - at, " %s(%u)", names[p->steps[i].kind],
				       p->steps[i].arg);
}

/* The actions `x` allows. */
static size_t x_actions(const struct x_state *x, struct x_action *out)
{
	size_t n = 0;
	for (uint8_t i = 0; i < X_NODES; i++) {
		out[n++] = (struct x_action){X_TICK, i};
		out[n++] = (struct x_action){X_RESTART, i};
		out[n++] = (struct x_action){X_COMPACT, i};
	}
	for (uint8_t k = 0; k < x->net_count; k++) {
		out[n++] = (struct x_action){X_DELIVER, k};
		out[n++] = (struct x_action){X_DROP, k};
	}
	out[n++] = (struct x_action){X_PROPOSE, 0};
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (x_valid(x, out[i]))
			out[kept++] = out[i];
	}
	return kept;
}

struct x_level {
	struct x_path *paths;
	size_t count;
	size_t cap;
};

static void x_level_add(struct x_level *l, const struct x_path *p)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->paths = realloc(l->paths, l->cap * sizeof(*l->paths));
		ck_assert_ptr_nonnull(l->paths);
	}
	l->paths[l->count++] = *p;
}

START_TEST(test_three_nodes_explored)
{
	const char *env = getenv("ELECTOR_EXPLORE_DEPTH");
	unsigned depth = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 6;
	ck_assert_uint_le(depth, X_PATH_MAX);
	struct x_set visited = {0};
	struct x_level frontier = {0}, next = {0};
	static struct x_state x;
	struct x_path start = {.len = 0};
	x_replay(&x, &start);
	x_set_add(&visited, x_digest(&x));
	x_free(&x);
	x_level_add(&frontier, &start);
	uint64_t transitions = 0;
	unsigned reached = 0;
	for (unsigned level = 0; level < depth && frontier.count > 0; level++) {
		next.count = 0;
		for (size_t f = 0; f < frontier.count; f++) {
			const struct x_path *from = &frontier.paths[f];
			struct x_action actions[3 * X_NODES + 2 * X_NET_MAX + 1];
			x_replay(&x, from);
			size_t n = x_actions(&x, actions);
			x_free(&x);
			for (size_t i = 0; i < n; i++) {
				x_replay(&x, from);
				x_apply(&x, actions[i]);
				transitions++;
				struct x_path p = *from;
				p.steps[p.len++] = actions[i];
				if (x.failure[0] != '\0') {
					char trail[2048];
					x_describe(&p, trail, sizeof(trail));
					ck_abort_msg("%s after:%s", x.failure, trail);
				}
				bool fresh = x_set_add(&visited, x_digest(&x));
				x_free(&x);
				if (fresh)
					x_level_add(&next, &p);
			}
		}
		struct x_level t = frontier;
		frontier = next;
		next = t;
		reached = level + 1;
	}
	printf("elector exploration: 3 nodes, depth %u, %zu distinct states, %llu transitions\n",
	       reached, visited.count, (unsigned long long)transitions);
	free(frontier.paths);
	free(next.paths);
	free(visited.slots);
}
END_TEST

Suite *elector_explore_suite(void)
{
	Suite *s = suite_create("elector_explore");
	TCase *tc = tcase_create("elector_explore");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_three_nodes_explored);
	suite_add_tcase(s, tc);
	return s;
}
