/* SPDX-License-Identifier: MIT */
/*
 * The election core and its replicated log in simulation: 3- and 5-node
 * clusters through thousands of seeded random schedules with message loss,
 * delay, reordering, duplication, partitions and crash-restarts from what
 * each node persisted (its disk: hard state, snapshot, log), with
 * proposals, compaction into snapshots (and followers brought up to date
 * by them), leadership transfers and a membership change.
 *
 * Raft's invariants, checked after every step (thesis figure 3.2):
 * - election safety: at most one leader per term;
 * - log matching: entries of one (index, term) in any two logs are the
 *   same and follow the same term at the index before (which by induction
 *   makes the logs identical up to there; checked on each node's disk as
 *   each entry is written, in a table of every (index, term) ever seen);
 * - leader completeness: a node that becomes leader holds every entry
 *   committed before (every index known committed, with its term);
 * - state-machine safety: no two nodes apply different entries at one
 *   index, and their state machines agree at every index (a snapshot
 *   installed included);
 * and of the durable state: a term never decreases, a vote never changes
 * within its term, a commit index never decreases nor passes the log.
 * Beyond safety: once a majority can talk again, a leader within a bounded
 * number of ticks that every connected node follows, and a proposal made
 * then is committed and applied on every node.
 * An impostor (a node with a certificate of its own) keeps sending
 * messages in members' names and in its own: every one is refused and
 * changes nothing.  What a follower holds of its leader's view of the
 * members never says the leader heard from a member more recently than a
 * message of that member reached it.  In the five-node runs the leader
 * removes one member at a random moment: a node that knows it was removed
 * never campaigns or leads again, and a node that knows it never is one
 * the leader did not remove.
 *
 * A failing schedule prints its seed; ELECTOR_SEED=N replays that one,
 * ELECTOR_SCHEDULES=N runs more or fewer (the long run: 100000 and more;
 * CK_RUN_CASE=three_nodes, five_nodes or protocol3_member takes one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elector/elector_core.h"
#include "elector_testkit.h"
#include "unit.h"

#define SIM_NODES_MAX 5
#define HEARTBEAT     10
#define ELECTION_MIN  50
#define ELECTION_MAX  100
#define IMPOSTOR      999
#define TABLE_BITS    15
#define INDEX_MAX     8192 /* the indices a schedule reaches stay below */

struct sim_msg {
	uint64_t at;
	struct elector_msg *m;
};

/* Every (index, term) written to any log: what it holds, and the term of
 * the entry before it in that log. */
struct seen_entry {
	uint64_t index;
	uint64_t term;
	uint64_t content;
	uint64_t prev_term;
};

struct sim {
	int n;
	struct elector_testkit_node nodes[SIM_NODES_MAX];
	bool link[SIM_NODES_MAX][SIM_NODES_MAX];
	struct sim_msg *queue;
	size_t queued;
	size_t cap;
	uint64_t now;
	uint64_t rng;
	unsigned loss_percent;
	unsigned max_delay;
	/* Entries in one append (0: the core's default): batches cut to one
	 * or two entries let a follower hold part of a leader's tail, where
	 * the commit rules matter most (the figure-8 case of the thesis). */
	unsigned batch;
	uint64_t leader_of_term[4096];
	uint64_t removed; /* the member the leader removed; 0: none yet */
	int v3;		  /* the node that speaks protocol 3 (0.2.0); -1: none */
	/* Membership churn: the last node starts outside the membership, and
	 * leaders add and remove members at random amid the chaos (only the
	 * safety invariants are checked then). */
	bool churn;
	uint64_t cut_off;	  /* churn: members cut off during an addition */
	uint64_t unknown_leaders; /* churn: a member caught up with a leader it did not list */
	uint64_t left_stuck;	  /* churn: members no member they know could vouch for */
	uint64_t delivered[SIM_NODES_MAX][SIM_NODES_MAX];
	enum elector_role role[SIM_NODES_MAX];
	struct seen_entry seen[1u << TABLE_BITS];
	uint64_t committed_term[INDEX_MAX]; /* 0: not known committed */
	uint64_t applied_entry[INDEX_MAX];  /* content of the entry applied there */
	uint64_t machine_at[INDEX_MAX];	    /* the machine's hash after it */
	uint64_t proposals;
	uint64_t compactions;
	uint64_t snapshots_installed;
	uint64_t seed;
	char failure[256];
};

static uint64_t sim_random(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static int sim_index(const struct sim *s, uint64_t id)
{
	for (int i = 0; i < s->n; i++) {
		if (s->nodes[i].id == id)
			return i;
	}
	return -1;
}

static void sim_fail(struct sim *s, const char *what)
{
	if (s->failure[0] == '\0')
		snprintf(s->failure, sizeof(s->failure), "seed %llu, tick %llu: %s",
			 (unsigned long long)s->seed, (unsigned long long)s->now, what);
}

static void sim_boot(struct sim *s, int i)
{
	struct elector_options options = {
	    .id = s->nodes[i].id,
	    .heartbeat_ticks = HEARTBEAT,
	    .election_ticks_min = ELECTION_MIN,
	    .election_ticks_max = ELECTION_MAX,
	    .seed = sim_random(s),
	    .append_entries_max = s->batch,
	};
	if (!elector_testkit_boot(&s->nodes[i], &options))
		sim_fail(s, "a node's disk was refused at restart");
	else if (s->v3 >= 0)
		elector_set_compat(s->nodes[i].e, true);
	s->role[i] = ELECTOR_FOLLOWER;
}

static void sim_drain(struct sim *s, int i);

/* Its links close: every node that could hear it is told, as the shell
 * tells the core when a peer's process dies. */
static void sim_crash(struct sim *s, int i)
{
	elector_testkit_crash(&s->nodes[i]);
	for (int k = 0; k < s->n; k++) {
		if (k != i && s->nodes[k].up && s->link[i][k]) {
			elector_link_closed(s->nodes[k].e, s->nodes[i].id);
			sim_drain(s, k);
		}
	}
}

static void sim_flap(struct sim *s)
{
	int i = (int)(sim_random(s) % (uint64_t)s->n), k = (int)(sim_random(s) % (uint64_t)s->n);
	if (i == k || !s->nodes[i].up)
		return;
	elector_link_closed(s->nodes[i].e, s->nodes[k].id);
	sim_drain(s, i);
}

static int sim_leader(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		if (s->nodes[i].up && elector_role(s->nodes[i].e) == ELECTOR_LEADER)
			return i;
	}
	return -1;
}

static void sim_transfer(struct sim *s)
{
	int i = sim_leader(s);
	if (i < 0)
		return;
	const struct elector_config *c = elector_config(s->nodes[i].e);
	uint64_t to = sim_random(s) % 2 ? c->members[sim_random(s) % c->count].id : ELECTOR_NONE;
	if (elector_transfer(s->nodes[i].e, to) == 0)
		sim_drain(s, i);
}

/* A leader (any: two may each believe it in different terms) is asked to
 * take a command. */
static void sim_propose(struct sim *s)
{
	int i = (int)(sim_random(s) % (uint64_t)s->n);
	if (!s->nodes[i].up)
		return;
	uint8_t data[12];
	size_t len = 1 + sim_random(s) % sizeof(data);
	for (size_t k = 0; k < len; k++)
		data[k] = (uint8_t)sim_random(s);
	uint64_t index, term;
	const char *why;
	if (elector_propose(s->nodes[i].e, data, len, &index, &term, &why) == 0) {
		if (s->v3 >= 0)
			sim_fail(s, "a command taken while a member speaks protocol 3");
		s->proposals++;
		if (term != elector_term(s->nodes[i].e) ||
		    index != elector_last_index(s->nodes[i].e))
			sim_fail(s, "a proposal's index and term are not the log's last");
		sim_drain(s, i);
	} else if (elector_role(s->nodes[i].e) == ELECTOR_LEADER && s->v3 < 0 &&
		   elector_transferee(s->nodes[i].e) == ELECTOR_NONE &&
		   strcmp(why, "too much is not committed yet") != 0) {
		sim_fail(s, "a leader refused a proposal");
	}
}

static void sim_compact(struct sim *s)
{
	int i = (int)(sim_random(s) % (uint64_t)s->n);
	if (s->nodes[i].up && elector_testkit_compact(&s->nodes[i]))
		s->compactions++;
}

static void sim_send(struct sim *s, const struct elector_msg *m)
{
	if (sim_random(s) % 100 < s->loss_percent)
		return;
	int copies = sim_random(s) % 50 == 0 ? 2 : 1; /* occasional duplicates */
	for (int c = 0; c < copies; c++) {
		if (s->queued == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 256;
			s->queue = realloc(s->queue, s->cap * sizeof(*s->queue));
		}
		/* A random delay per message also reorders them. */
		s->queue[s->queued++] =
		    (struct sim_msg){.at = s->now + 1 + sim_random(s) % s->max_delay,
				     .m = elector_testkit_msg_clone(m)};
	}
}

static uint64_t content_of(const struct elector_entry *x)
{
	return elector_testkit_chain(0, x);
}

/* Log matching, as each entry is written to a disk. */
static void sim_seen(struct sim *s, const struct elector_entry *x, uint64_t prev_term)
{
	uint64_t content = content_of(x);
	size_t mask = (1u << TABLE_BITS) - 1;
	size_t at =
	    (size_t)((x->index * 0x9e3779b97f4a7c15ull) ^ (x->term * 0xc2b2ae3d27d4eb4full)) & mask;
	for (size_t probe = 0; probe <= mask; probe++, at = (at + 1) & mask) {
		struct seen_entry *e = &s->seen[at];
		if (e->index == 0) {
			*e = (struct seen_entry){x->index, x->term, content, prev_term};
			return;
		}
		if (e->index == x->index && e->term == x->term) {
			/* Protocol 3 shows no prev_index: an entry taken from
			 * it follows what the log held, unchecked (never taken
			 * as committed on that word: elector_core.c). */
			if (e->content != content || (e->prev_term != prev_term && s->v3 < 0))
				sim_fail(s, "log matching: one (index, term), two entries or "
					    "two histories");
			return;
		}
	}
}

static uint64_t disk_term_at(const struct elector_testkit_disk *d, uint64_t index)
{
	if (index == d->snapshot.index)
		return d->snapshot.term;
	if (d->count == 0 || index < d->log[0].index || index > d->log[d->count - 1].index)
		return 0;
	return d->log[index - d->log[0].index].term;
}

/* Commits agree: an index committed anywhere is of one term. */
static void sim_note_commit(struct sim *s, int i, uint64_t from, uint64_t to)
{
	struct elector *e = s->nodes[i].e;
	for (uint64_t k = from + 1; k <= to && k < INDEX_MAX; k++) {
		const struct elector_entry *x = elector_entry(e, k);
		uint64_t term =
		    x != NULL ? x->term
			      : (k == elector_snapshot(e)->index ? elector_snapshot(e)->term : 0);
		if (term == 0)
			continue; /* compacted: was checked when it was in the log */
		if (s->committed_term[k] != 0 && s->committed_term[k] != term)
			sim_fail(s, "two entries committed at one index");
		s->committed_term[k] = term;
	}
}

/* Leader completeness: a new leader holds every entry known committed. */
static void sim_check_new_leader(struct sim *s, int i)
{
	struct elector *e = s->nodes[i].e;
	uint64_t from = elector_snapshot(e)->index + 1;
	for (uint64_t k = from; k < INDEX_MAX; k++) {
		if (s->committed_term[k] == 0)
			continue;
		const struct elector_entry *x = elector_entry(e, k);
		if (x == NULL || x->term != s->committed_term[k]) {
			sim_fail(s, "leader completeness: a new leader lacks a committed entry");
			return;
		}
	}
}

/* State-machine safety: what a node applies at an index is what every
 * other applied there, and the machines agree after it. */
static void sim_apply(struct sim *s, int i, const struct elector_entry *x)
{
	struct elector_testkit_machine *m = &s->nodes[i].machine;
	if (x->index != m->applied + 1)
		sim_fail(s, "entries applied out of order");
	elector_testkit_apply(m, x);
	if (x->index >= INDEX_MAX)
		return;
	uint64_t content = content_of(x);
	if (s->applied_entry[x->index] != 0 && s->applied_entry[x->index] != content)
		sim_fail(s, "state-machine safety: two entries applied at one index");
	s->applied_entry[x->index] = content;
	if (s->machine_at[x->index] != 0 && s->machine_at[x->index] != m->hash)
		sim_fail(s, "state-machine safety: two machines differ after one index");
	s->machine_at[x->index] = m->hash;
	if (s->committed_term[x->index] != x->term)
		sim_fail(s, "an entry applied that is not known committed");
}

/* Persist before send, then apply, as the shell does; every invariant on
 * the way. */
static void sim_drain(struct sim *s, int i)
{
	struct elector_testkit_node *node = &s->nodes[i];
	while (node->up && elector_has_ready(node->e)) {
		struct elector_ready r;
		elector_ready(node->e, &r);
		struct elector_testkit_disk *d = &node->disk;
		if (r.state.term < d->term)
			sim_fail(s, "persisted term went backwards");
		if (r.state.term == d->term && d->voted_for != ELECTOR_NONE &&
		    r.state.voted_for != d->voted_for)
			sim_fail(s, "vote changed within a term");
		if (r.state.commit_index < d->commit_index)
			sim_fail(s, "commit index went backwards");
		uint64_t old_commit = d->commit_index;
		if (r.snapshot != NULL) {
			s->snapshots_installed++;
			if (r.snapshot->index < d->commit_index)
				sim_fail(s, "a snapshot installed behind the commit index");
		}
		elector_testkit_persist(node, &r);
		for (size_t k = 0; k < r.entry_count; k++) {
			const struct elector_entry *x = &r.entries[k];
			if (x->index <= old_commit)
				sim_fail(s, "a committed entry was overwritten");
			sim_seen(s, x, disk_term_at(d, x->index - 1));
		}
		if (r.snapshot != NULL && r.snapshot->index < INDEX_MAX &&
		    !r.snapshot->membership_only) {
			uint64_t at = r.snapshot->index;
			if (s->machine_at[at] != 0 && s->machine_at[at] != node->machine.hash)
				sim_fail(s, "a snapshot installed that no machine was in");
		}
		uint64_t last = d->count > 0 ? d->log[d->count - 1].index : d->snapshot.index;
		if (d->commit_index > last)
			sim_fail(s, "commit index past the log's end");
		sim_note_commit(s, i, old_commit, d->commit_index);
		if (!s->churn && elector_removed(node->e) && node->id != s->removed)
			sim_fail(s, "a node holds itself removed that no leader removed");
		if (elector_removed(node->e)) {
			if (r.role != ELECTOR_FOLLOWER)
				sim_fail(s, "a node that knows it was removed campaigns or leads");
			for (size_t k = 0; k < r.msg_count; k++) {
				if (r.msgs[k].type == ELECTOR_MSG_PRE_VOTE ||
				    r.msgs[k].type == ELECTOR_MSG_VOTE)
					sim_fail(s,
						 "a node that knows it was removed asks for votes");
			}
		}
		for (size_t k = 0; k < r.msg_count; k++)
			sim_send(s, &r.msgs[k]);
		for (size_t k = 0; k < r.committed_count; k++)
			sim_apply(s, i, &r.committed[k]);
		if (r.role == ELECTOR_LEADER) {
			uint64_t term = elector_term(node->e);
			uint64_t *slot = &s->leader_of_term[term % 4096];
			if (term < 4096) {
				if (*slot != 0 && *slot != node->id)
					sim_fail(s, "two leaders in one term");
				*slot = node->id;
			}
			if (s->role[i] != ELECTOR_LEADER)
				sim_check_new_leader(s, i);
		}
		s->role[i] = r.role;
		const struct elector_config *own = elector_config(node->e);
		bool listed = false;
		for (uint32_t k = 0; k < own->count; k++)
			listed |= own->members[k].id == r.leader;
		if (r.leader_changed && r.leader != ELECTOR_NONE && own->count > 0 && !listed)
			s->unknown_leaders++;
		elector_advance(node->e);
	}
}

/* The leader's view as a follower holds it: when it says the leader last
 * heard from a member, a message of that member had reached the leader by
 * then (the view left the leader up to a delivery delay before it came). */
static void sim_check_views(struct sim *s)
{
	for (int f = 0; f < s->n; f++) {
		struct elector *e = s->nodes[f].e;
		if (!s->nodes[f].up || elector_role(e) == ELECTOR_LEADER)
			continue;
		int l = sim_index(s, elector_leader(e));
		const struct elector_config *c = elector_config(e);
		for (uint32_t k = 0; l >= 0 && k < c->count; k++) {
			int m = sim_index(s, c->members[k].id);
			uint64_t silence, age;
			if (m < 0 || m == l ||
			    elector_leader_view(e, c->members[k].id, &silence, &age) == -1 ||
			    silence == UINT64_MAX)
				continue;
			if (silence + age > s->now ||
			    s->now - age - silence > s->delivered[m][l] + s->max_delay)
				sim_fail(s, "the leader's view says it heard a member it did not");
		}
	}
}

static void sim_step(struct sim *s)
{
	s->now++;
	for (int i = 0; i < s->n; i++) {
		if (s->nodes[i].up) {
			elector_tick(s->nodes[i].e);
			sim_drain(s, i);
		}
	}
	size_t kept = 0, count = s->queued;
	for (size_t k = 0; k < count; k++) {
		struct sim_msg msg = s->queue[k];
		if (msg.at > s->now) {
			s->queue[kept++] = msg;
			continue;
		}
		int from = sim_index(s, msg.m->from), to = sim_index(s, msg.m->to);
		if (from >= 0 && to >= 0 && s->nodes[to].up && s->link[from][to]) {
			const char *why;
			if (s->v3 >= 0 && (from == s->v3 || to == s->v3))
				elector_testkit_msg_cut_v3(msg.m);
			/* A member removed may speak before it knows: it is no member. */
			int taken = elector_step(s->nodes[to].e, msg.m,
						 elector_testkit_cert(msg.m->from), &why);
			if (taken == -1 && msg.m->from != s->removed && !s->churn)
				sim_fail(s, "a member's own message refused");
			if (taken == 0)
				s->delivered[from][to] = s->now;
			sim_drain(s, to);
		}
		elector_testkit_msg_free(msg.m);
	}
	/* Messages sent while delivering came after `count`. */
	if (s->queued > count) /* an empty queue may have no array yet */
		memmove(s->queue + kept, s->queue + count, (s->queued - count) * sizeof(*s->queue));
	s->queued = kept + (s->queued - count);
	sim_check_views(s);
}

/* The impostor holds a certificate of its own and writes what it likes. */
static void sim_impostor(struct sim *s)
{
	int to = (int)(sim_random(s) % (uint64_t)s->n);
	if (!s->nodes[to].up)
		return;
	struct elector *e = s->nodes[to].e;
	/* A node that knows no membership yet takes the first leader's word
	 * that lists it with its certificate: that is how it joins. */
	if (elector_config(e)->count == 0)
		return;
	static const uint32_t types[] = {ELECTOR_MSG_APPEND, ELECTOR_MSG_VOTE, ELECTOR_MSG_PRE_VOTE,
					 ELECTOR_MSG_VOTE_REPLY, ELECTOR_MSG_APPEND_REPLY};
	static struct elector_msg m;
	m = (struct elector_msg){
	    .type = types[sim_random(s) % 5],
	    .granted = 1,
	    .flags = ELECTOR_MSG_LOG,
	    .to = s->nodes[to].id,
	    .term = elector_term(e) + 1 + sim_random(s) % 3,
	    .last_index = 1000,
	    .last_term = elector_term(e) + 1,
	    .commit_index = 1000,
	    .prev_index = 1000,
	};
	bool own_name = sim_random(s) % 2 == 0;
	m.from = own_name ? IMPOSTOR : s->nodes[sim_random(s) % (uint64_t)s->n].id;
	/* A reply in a member's name vouching for the impostor as leader
	 * (which would let its appends in) is refused like the rest. */
	m.vouch_id = IMPOSTOR;
	m.vouch_term = m.term;
	memcpy(m.vouch_fingerprint, elector_testkit_cert(IMPOSTOR), ELECTOR_FINGERPRINT_SIZE);
	if (m.from == m.to)
		return; /* the node's own name: not something a link can bring */
	if (m.type == ELECTOR_MSG_APPEND) {
		m.config = *elector_config(e);
		if (own_name && m.config.count < ELECTOR_MEMBERS_MAX)
			elector_testkit_member(IMPOSTOR, &m.config.members[m.config.count++]);
	}
	uint64_t term = elector_term(e), leader = elector_leader(e);
	enum elector_role role = elector_role(e);
	uint64_t last = elector_last_index(e);
	bool ready = elector_has_ready(e);
	const char *why;
	if (elector_step(e, &m, elector_testkit_cert(IMPOSTOR), &why) != -1)
		sim_fail(s, "an impostor's message was taken");
	if (elector_term(e) != term || elector_leader(e) != leader || elector_role(e) != role ||
	    elector_last_index(e) != last || elector_has_ready(e) != ready)
		sim_fail(s, "an impostor's message changed something");
}

static void sim_remove_one(struct sim *s)
{
	int i = sim_leader(s);
	if (i < 0)
		return;
	struct elector *e = s->nodes[i].e;
	const struct elector_config *c = elector_config(e);
	uint64_t id = c->members[sim_random(s) % c->count].id;
	if (id != s->nodes[i].id && elector_propose_remove(e, id) == 0) {
		s->removed = id;
		sim_drain(s, i);
	}
}

/* Churn: the leader adds a node that is not a member, or removes a
 * member other than itself (three at least stay). */
static void sim_churn(struct sim *s)
{
	int l = sim_leader(s);
	if (l < 0)
		return;
	struct elector *e = s->nodes[l].e;
	int j = (int)(sim_random(s) % (uint64_t)s->n);
	const struct elector_config *c = elector_config(e);
	bool is_member = false;
	for (uint32_t k = 0; k < c->count; k++)
		is_member |= c->members[k].id == s->nodes[j].id;
	struct elector_member m;
	elector_testkit_member(s->nodes[j].id, &m);
	int rc = is_member ? (j != l && c->count > 3 ? elector_propose_remove(e, m.id) : -1)
			   : elector_propose_add(e, m.id, m.address, m.fingerprint);
	if (rc != 0)
		return;
	sim_drain(s, l);
	/* Often a member is cut off while a node is added: it misses the
	 * addition, and the node added may lead before it is back (it must
	 * then be taken on a member's word: review of issue 15, finding 3). */
	int k = (int)(sim_random(s) % (uint64_t)s->n);
	if (!is_member && k != l && k != j && sim_random(s) % 2 == 0) {
		for (int o = 0; o < s->n; o++)
			s->link[k][o] = s->link[o][k] = o == k;
		s->cut_off++;
	}
}

static void sim_connect_all(struct sim *s)
{
	for (int a = 0; a < s->n; a++)
		for (int b = 0; b < s->n; b++)
			s->link[a][b] = true;
}

static void sim_partition(struct sim *s)
{
	/* Two random sides; occasionally one-way breaks too. */
	int side[SIM_NODES_MAX];
	for (int i = 0; i < s->n; i++)
		side[i] = (int)(sim_random(s) % 2);
	for (int a = 0; a < s->n; a++)
		for (int b = 0; b < s->n; b++)
			s->link[a][b] = side[a] == side[b] || sim_random(s) % 10 == 0;
}

static void sim_init(struct sim *s, int n, uint64_t seed, int v3, bool churn)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->v3 = v3;
	s->churn = churn;
	s->seed = seed;
	s->rng = seed * 2654435761u + 1;
	s->max_delay = 1 + (unsigned)(sim_random(s) % 8);
	s->loss_percent = (unsigned)(sim_random(s) % 20);
	s->batch = (unsigned)(sim_random(s) % 3);
	int members = churn ? n - 1 : n;
	struct elector_config config = {.index = 1, .term = 1, .count = (uint32_t)members};
	for (int i = 0; i < n; i++) {
		s->nodes[i].id = 100 + (uint64_t)i;
		if (i < members)
			elector_testkit_member(s->nodes[i].id, &config.members[i]);
	}
	for (int i = 0; i < n; i++) {
		if (i < members)
			elector_testkit_disk_seed(&s->nodes[i].disk, &config);
		sim_boot(s, i);
	}
	sim_connect_all(s);
}

static void sim_free(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		elector_free(s->nodes[i].e);
		elector_testkit_disk_free(&s->nodes[i].disk);
	}
	for (size_t k = 0; k < s->queued; k++)
		elector_testkit_msg_free(s->queue[k].m);
	free(s->queue);
}

/* A leader every up node follows, in one term; its index or -1. */
static int sim_agreed_leader(struct sim *s)
{
	uint64_t leader = 0, term = 0;
	for (int i = 0; i < s->n; i++) {
		if (!s->nodes[i].up || s->nodes[i].id == s->removed)
			continue;
		uint64_t l = elector_leader(s->nodes[i].e);
		uint64_t t = elector_term(s->nodes[i].e);
		if (l == ELECTOR_NONE || (leader != 0 && (l != leader || t != term)))
			return -1;
		leader = l;
		term = t;
	}
	int at = sim_index(s, leader);
	return at >= 0 && s->nodes[at].up && elector_role(s->nodes[at].e) == ELECTOR_LEADER ? at
											    : -1;
}

/* Whether the entry (index, term) is gone from every log that could
 * still commit it: the leader (any) holds another there. */
static bool sim_entry_lost(struct sim *s, uint64_t index, uint64_t term)
{
	int l = sim_leader(s);
	if (l < 0)
		return false;
	const struct elector_entry *x = elector_entry(s->nodes[l].e, index);
	return elector_term(s->nodes[l].e) > term &&
	       (elector_last_index(s->nodes[l].e) < index || (x != NULL && x->term != term));
}

/* After healing: a proposal on the agreed leader reaches every member's
 * state machine within a bound (made again when a leader change dropped
 * it before it committed, as a client would). */
static void sim_check_progress(struct sim *s, int leader)
{
	uint8_t data[4] = {1, 2, 3, 4};
	uint64_t index = 0, term = 0;
	const char *why;
	uint64_t start = s->now;
	bool proposed = false;
	while (s->failure[0] == '\0') {
		if (s->now - start > 20 * ELECTION_MAX) {
			sim_fail(s, proposed ? "a proposal after healing was not applied everywhere"
					     : "no proposal taken after healing");
			return;
		}
		if (!proposed || sim_entry_lost(s, index, term)) {
			leader = sim_agreed_leader(s);
			proposed =
			    leader >= 0 && elector_propose(s->nodes[leader].e, data, sizeof(data),
							   &index, &term, &why) == 0;
			if (proposed)
				sim_drain(s, leader);
		}
		bool all = proposed;
		for (int i = 0; i < s->n && all; i++) {
			if (s->nodes[i].id != s->removed && s->nodes[i].machine.applied < index)
				all = false;
		}
		if (all)
			return;
		sim_step(s);
	}
}

struct sim_totals {
	uint64_t worst;
	uint64_t proposals;
	uint64_t compactions;
	uint64_t snapshots;
	unsigned told;
	unsigned rejoined;
	uint64_t cut_off;
	uint64_t unknown_leaders;
	uint64_t left_stuck;
};

/* The member removed is reset (its disk wiped: it knows nothing) and
 * joins again under a new id, as `rxmppctl reset` makes it: the leader
 * adds it, and it gets the log or a snapshot of it; then a proposal
 * reaches its state machine too. */
static void sim_rejoin(struct sim *s, int at, struct sim_totals *totals)
{
	elector_testkit_crash(&s->nodes[at]);
	elector_testkit_disk_free(&s->nodes[at].disk);
	s->nodes[at].id = 200 + (uint64_t)at;
	s->nodes[at].machine = (struct elector_testkit_machine){0};
	sim_boot(s, at);
	struct elector_member m;
	elector_testkit_member(s->nodes[at].id, &m);
	bool added = false;
	for (int t = 0; t < 20 * ELECTION_MAX && !added && s->failure[0] == '\0'; t++) {
		int l = sim_leader(s);
		if (l >= 0 &&
		    elector_propose_add(s->nodes[l].e, m.id, m.address, m.fingerprint) == 0) {
			added = true;
			sim_drain(s, l);
		}
		sim_step(s);
	}
	if (!added) {
		sim_fail(s, "the reset member could not be added again");
		return;
	}
	for (int t = 0; t < 40 * ELECTION_MAX && s->failure[0] == '\0'; t++) {
		int l = sim_agreed_leader(s);
		if (l >= 0 && elector_config(s->nodes[at].e)->count > 0) {
			sim_check_progress(s, l);
			if (s->failure[0] == '\0')
				totals->rejoined++;
			return;
		}
		sim_step(s);
	}
	sim_fail(s, "the reset member never learnt the membership");
}

/* Churn: whether member `i` of leader `l`'s membership can be brought up
 * to date: its membership lists the leader, or lists itself (it
 * campaigns at its timeout) and another member of the leader's, which
 * answers its pre-votes with the leader it follows (elector_core.h).  A
 * member whose known members all left the cluster cannot tell the leader
 * from an impostor: it stays stuck (it must be reset and join again). */
static bool sim_reachable(struct sim *s, int i, int l)
{
	const struct elector_config *own = elector_config(s->nodes[i].e);
	const struct elector_config *lc = elector_config(s->nodes[l].e);
	bool self = false, other = false;
	for (uint32_t k = 0; k < own->count; k++) {
		uint64_t id = own->members[k].id;
		if (id == s->nodes[l].id)
			return true;
		self |= id == s->nodes[i].id;
		for (uint32_t q = 0; q < lc->count; q++)
			other |= id != s->nodes[i].id && lc->members[q].id == id;
	}
	return self && other;
}

/* Churn, once healed: a proposal on the leader is applied by every member
 * of its membership that can be brought up to date, those that missed the
 * leader's addition included (review of issue 15, finding 3). */
static void sim_check_caught_up(struct sim *s)
{
	uint8_t data[4] = {5, 6, 7, 8};
	uint64_t index = 0, term = 0, start = s->now;
	bool proposed = false;
	while (s->failure[0] == '\0') {
		if (s->now - start > 40 * ELECTION_MAX) {
			sim_fail(s, proposed ? "churn: a member of the leader's membership never "
					       "caught up"
					     : "churn: no proposal taken after healing");
			return;
		}
		int l = sim_leader(s);
		if (!proposed || sim_entry_lost(s, index, term)) {
			const char *why;
			proposed = l >= 0 && elector_propose(s->nodes[l].e, data, sizeof(data),
							     &index, &term, &why) == 0;
			if (proposed)
				sim_drain(s, l);
		}
		bool all = proposed && l >= 0;
		uint64_t stuck = 0;
		const struct elector_config *c = l >= 0 ? elector_config(s->nodes[l].e) : NULL;
		for (uint32_t k = 0; all && k < c->count; k++) {
			int i = sim_index(s, c->members[k].id);
			if (i < 0 || i == l)
				continue;
			if (!sim_reachable(s, i, l))
				stuck++;
			else if (s->nodes[i].machine.applied < index)
				all = false;
		}
		if (all) {
			s->left_stuck += stuck;
			return;
		}
		sim_step(s);
	}
}

/* One schedule: chaos, then healing. */
static void sim_run(int n, int v3, bool churn, uint64_t seed, char *failure, size_t failure_size,
		    struct sim_totals *totals)
{
	struct sim *s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	sim_init(s, n, seed, v3, churn);
	for (int t = 0; t < 3000 && s->failure[0] == '\0'; t++) {
		uint64_t r = sim_random(s) % 1000;
		if (r < 3) {
			int i = (int)(sim_random(s) % (uint64_t)n);
			if (s->nodes[i].up)
				sim_crash(s, i);
			else
				sim_boot(s, i);
		} else if (r < 6) {
			sim_partition(s);
		} else if (r < 9) {
			sim_connect_all(s);
		} else if (r < 40) {
			sim_impostor(s);
		} else if (r < 41) {
			sim_flap(s);
		} else if (r < 42) {
			sim_transfer(s);
		} else if (r < 44 && churn) {
			sim_churn(s);
		} else if (r < 44 && n == 5 && s->removed == 0) {
			sim_remove_one(s);
		} else if (r < 90) {
			sim_propose(s);
		} else if (r < 95) {
			sim_compact(s);
		}
		sim_step(s);
	}
	sim_connect_all(s);
	for (int i = 0; i < n; i++) {
		if (!s->nodes[i].up)
			sim_boot(s, i);
	}
	/* Churn: safety through a healed stretch too, then every member that
	 * can be brought up to date is. */
	for (int t = 0; churn && t < 10 * ELECTION_MAX && s->failure[0] == '\0'; t++)
		sim_step(s);
	if (churn && s->failure[0] == '\0')
		sim_check_caught_up(s);
	if (churn) {
		totals->cut_off += s->cut_off;
		totals->unknown_leaders += s->unknown_leaders;
		totals->left_stuck += s->left_stuck;
		totals->proposals += s->proposals;
		totals->compactions += s->compactions;
		totals->snapshots += s->snapshots_installed;
		snprintf(failure, failure_size, "%s", s->failure);
		sim_free(s);
		free(s);
		return;
	}
	uint64_t healed = s->now, took = 0;
	const uint64_t bound = 40 * ELECTION_MAX;
	int leader = -1;
	while (s->failure[0] == '\0' && s->now - healed < bound) {
		sim_step(s);
		leader = sim_agreed_leader(s);
		if (leader >= 0) {
			took = s->now - healed;
			break;
		}
	}
	if (s->failure[0] == '\0' && leader < 0)
		sim_fail(s, "no leader within the bound after healing");
	/* Commands wait for every member to speak protocol 4. */
	if (s->failure[0] == '\0' && v3 < 0)
		sim_check_progress(s, leader);
	if (n == 5 && s->failure[0] == '\0') {
		for (int t = 0; t < 4 * ELECTION_MAX && s->removed == 0; t++) {
			sim_remove_one(s);
			sim_step(s);
		}
		uint64_t removed_at = s->now;
		int agreed = -1;
		while (s->failure[0] == '\0' && s->now - removed_at < bound &&
		       (agreed < 0 || s->now - removed_at < 4 * ELECTION_MAX)) {
			sim_step(s);
			agreed = sim_agreed_leader(s);
		}
		if (s->failure[0] == '\0' && agreed < 0)
			sim_fail(s, "no leader within the bound after a removal");
		int at = sim_index(s, s->removed);
		if (at >= 0 && elector_removed(s->nodes[at].e))
			totals->told++;
		if (at >= 0 && s->failure[0] == '\0')
			sim_rejoin(s, at, totals);
	}
	if (took > totals->worst)
		totals->worst = took;
	totals->proposals += s->proposals;
	totals->compactions += s->compactions;
	totals->snapshots += s->snapshots_installed;
	snprintf(failure, failure_size, "%s", s->failure);
	sim_free(s);
	free(s);
}

static unsigned schedules(unsigned fallback)
{
	const char *env = getenv("ELECTOR_SCHEDULES");
	return env != NULL ? (unsigned)strtoul(env, NULL, 10) : fallback;
}

static void run_many(int n, int v3, bool churn, unsigned count)
{
	const char *only = getenv("ELECTOR_SEED");
	struct sim_totals totals = {0};
	char failure[256];
	for (unsigned k = 0; k < count; k++) {
		uint64_t seed = only != NULL ? strtoull(only, NULL, 10)
					     : 1000003ull * k + (uint64_t)n + (v3 >= 0 ? 7 : 0) +
						   (churn ? 11 : 0);
		sim_run(n, v3, churn, seed, failure, sizeof(failure), &totals);
		ck_assert_msg(failure[0] == '\0', "%d nodes%s: %s (replay: ELECTOR_SEED=%llu)", n,
			      v3 >= 0 ? " with a protocol-3 member"
			      : churn ? " with churn"
				      : "",
			      failure, (unsigned long long)seed);
		if (only != NULL)
			break;
	}
	printf("elector simulation: %u schedules of %d nodes%s, slowest recovery %llu ticks "
	       "(election timeout %d-%d); %llu entries proposed, %llu compactions, %llu "
	       "snapshots installed",
	       only ? 1 : count, n,
	       v3 >= 0 ? " (one speaks protocol 3)"
	       : churn ? " (membership churn)"
		       : "",
	       (unsigned long long)totals.worst, ELECTION_MIN, ELECTION_MAX,
	       (unsigned long long)totals.proposals, (unsigned long long)totals.compactions,
	       (unsigned long long)totals.snapshots);
	if (n == 5 && !churn)
		printf("; the member removed knew it in %u, was reset and joined again in %u",
		       totals.told, totals.rejoined);
	if (churn)
		printf("; %llu members cut off during an addition, %llu times a leader followed "
		       "that the follower's membership did not list, %llu members left behind "
		       "that no member they know could vouch for",
		       (unsigned long long)totals.cut_off,
		       (unsigned long long)totals.unknown_leaders,
		       (unsigned long long)totals.left_stuck);
	printf("\n");
}

START_TEST(test_three_nodes_random_schedules)
{
	run_many(3, -1, false, schedules(1500));
}
END_TEST

START_TEST(test_five_nodes_random_schedules)
{
	run_many(5, -1, false, schedules(700));
}
END_TEST

/* A rolling upgrade from 0.2.0 half done: node 3 speaks protocol 3, what
 * crosses its links is cut to that layout (the shell's translation) and
 * every node is in compat mode (memberships only, commands refused). */
START_TEST(test_three_nodes_with_a_protocol3_member)
{
	run_many(3, 2, false, schedules(500));
}
END_TEST

/* One case each, so that a long run can take one (CK_RUN_CASE). */
/* Membership churn: five nodes, four members at first; leaders add and
 * remove members at random amid the chaos (Ongaro's single-server change
 * bug lives there: review of issue 15). */
START_TEST(test_five_nodes_membership_churn)
{
	run_many(5, -1, true, schedules(500));
}
END_TEST

Suite *elector_sim_suite(void)
{
	Suite *s = suite_create("elector_sim");
	TCase *three = tcase_create("three_nodes");
	TCase *five = tcase_create("five_nodes");
	TCase *protocol3 = tcase_create("protocol3_member");
	TCase *churn = tcase_create("membership_churn");
	tcase_set_timeout(churn, 0);
	tcase_add_test(churn, test_five_nodes_membership_churn);
	tcase_set_timeout(three, 0);
	tcase_set_timeout(five, 0);
	tcase_set_timeout(protocol3, 0);
	tcase_add_test(three, test_three_nodes_random_schedules);
	tcase_add_test(five, test_five_nodes_random_schedules);
	tcase_add_test(protocol3, test_three_nodes_with_a_protocol3_member);
	suite_add_tcase(s, three);
	suite_add_tcase(s, five);
	suite_add_tcase(s, protocol3);
	suite_add_tcase(s, churn);
	return s;
}
