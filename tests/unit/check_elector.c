/* SPDX-License-Identifier: MIT */
/*
 * The election core in simulation: 3- and 5-node clusters through thousands
 * of seeded random schedules with message loss, delay, reordering,
 * duplication, partitions and crash-restarts from the persisted state.
 *
 * Checked: at most one leader per term; persisted state never rolls back (a
 * term never decreases, a vote is never changed within its term); once a
 * majority can talk again, a leader within a bounded number of ticks that
 * every connected node follows.  An impostor (a node with a certificate of
 * its own) keeps sending messages in members' names and in its own: every
 * one is refused and changes nothing, and no honest message is refused.
 * What a follower holds of its leader's view of the members (piggybacked on
 * heartbeats) never says the leader heard from a member more recently than
 * a message of that member reached it, give or take one delivery delay.
 * In the five-node runs the leader removes one member at a random moment
 * (amid the chaos, or else once healed):
 * a node that knows it was removed never campaigns or leads again, and a
 * node that knows it never is one the leader did not remove.
 * A failing schedule prints its seed; ELECTOR_SEED=N replays that one,
 * ELECTOR_SCHEDULES=N runs more or fewer.  The shell's "link closed"
 * comes in the schedules too: every node linked to one that crashes hears
 * of it, and links also close now and then between healthy nodes (a
 * flap); leaders hand leadership over (elector_transfer) now and then, to
 * a member chosen at random or to the most up-to-date one.  Scenario tests
 * cover membership: initialize, add, remove (and telling the node
 * removed), rejoin, and what an impostor tries; a crash noticed by its
 * closed links; a link that closes while the leader is healthy; and
 * leadership transfer (to a lagging member, to one that crashes, while a
 * membership change is pending).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elector/elector_core.h"
#include "elector/elector_wire.h"
#include "unit.h"

#define SIM_NODES_MAX 5
#define HEARTBEAT     10
#define ELECTION_MIN  50
#define ELECTION_MAX  100
#define IMPOSTOR      999

/* The fingerprint of node `id`'s certificate: distinct per node. */
static const uint8_t *cert_of(uint64_t id)
{
	static uint8_t fingerprints[8][ELECTOR_FINGERPRINT_SIZE];
	static unsigned next;
	uint8_t *fp = fingerprints[next++ % 8];
	for (int i = 0; i < ELECTOR_FINGERPRINT_SIZE; i++)
		fp[i] = (uint8_t)(id >> (8 * (i % 8))) ^ (uint8_t)(0x5a + i);
	return fp;
}

struct sim_node {
	uint64_t id;
	struct elector *e;
	struct elector_persistent disk;
	bool up;
};

struct sim_msg {
	uint64_t at;
	struct elector_msg m;
};

struct sim {
	int n;
	struct sim_node nodes[SIM_NODES_MAX];
	bool link[SIM_NODES_MAX][SIM_NODES_MAX];
	struct sim_msg *queue;
	size_t queued;
	size_t cap;
	uint64_t now;
	uint64_t rng;
	unsigned loss_percent;
	unsigned max_delay;
	uint64_t leader_of_term[4096];
	uint64_t removed; /* the member the leader removed; 0: none yet */
	/* tick a message from node i was last taken by node j; 0: never */
	uint64_t delivered[SIM_NODES_MAX][SIM_NODES_MAX];
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
	};
	s->nodes[i].e = elector_new(&options, &s->nodes[i].disk);
	s->nodes[i].up = true;
}

static void sim_drain(struct sim *s, int i);

/* Its links close: every node that could hear it is told, as the shell
 * tells the core when a peer's process dies. */
static void sim_crash(struct sim *s, int i)
{
	elector_free(s->nodes[i].e);
	s->nodes[i].e = NULL;
	s->nodes[i].up = false;
	for (int k = 0; k < s->n; k++) {
		if (k != i && s->nodes[k].up && s->link[i][k]) {
			elector_link_closed(s->nodes[k].e, s->nodes[i].id);
			sim_drain(s, k);
		}
	}
}

/* A link between two healthy nodes closes and comes back (a flap): the
 * node at one end hears of it. */
static void sim_flap(struct sim *s)
{
	int i = (int)(sim_random(s) % (uint64_t)s->n), k = (int)(sim_random(s) % (uint64_t)s->n);
	if (i == k || !s->nodes[i].up)
		return;
	elector_link_closed(s->nodes[i].e, s->nodes[k].id);
	sim_drain(s, i);
}

/* The leader, if any, hands leadership to a member chosen at random, or
 * to the most up-to-date one. */
static void sim_transfer(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		if (!s->nodes[i].up || elector_role(s->nodes[i].e) != ELECTOR_LEADER)
			continue;
		const struct elector_config *c = elector_config(s->nodes[i].e);
		uint64_t to =
		    sim_random(s) % 2 ? c->members[sim_random(s) % c->count].id : ELECTOR_NONE;
		if (elector_transfer(s->nodes[i].e, to) == 0)
			sim_drain(s, i);
		return;
	}
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
		    (struct sim_msg){.at = s->now + 1 + sim_random(s) % s->max_delay, .m = *m};
	}
}

/* Persist before send, as the shell does, checking the state never rolls back. */
static void sim_drain(struct sim *s, int i)
{
	struct sim_node *node = &s->nodes[i];
	while (elector_has_ready(node->e)) {
		struct elector_ready r;
		elector_ready(node->e, &r);
		if (r.persist) {
			if (r.state.term < node->disk.term)
				sim_fail(s, "persisted term went backwards");
			if (r.state.term == node->disk.term &&
			    node->disk.voted_for != ELECTOR_NONE &&
			    r.state.voted_for != node->disk.voted_for)
				sim_fail(s, "vote changed within a term");
			if (r.state.commit_index < node->disk.commit_index)
				sim_fail(s, "commit index went backwards");
			node->disk = r.state;
		}
		/* Once a node knows it was removed it stays out: no campaign, no
		 * term of its own. */
		if (elector_removed(node->e) && node->id != s->removed)
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
		if (r.role == ELECTOR_LEADER) {
			uint64_t term = elector_term(node->e);
			uint64_t *slot = &s->leader_of_term[term % 4096];
			if (term < 4096) {
				if (*slot != 0 && *slot != node->id)
					sim_fail(s, "two leaders in one term");
				*slot = node->id;
			}
		}
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
	size_t kept = 0;
	for (size_t k = 0; k < s->queued; k++) {
		struct sim_msg msg = s->queue[k];
		if (msg.at > s->now) {
			s->queue[kept++] = msg;
			continue;
		}
		int from = sim_index(s, msg.m.from), to = sim_index(s, msg.m.to);
		if (from < 0 || to < 0 || !s->nodes[to].up || !s->link[from][to])
			continue;
		const char *why;
		/* A member removed may speak before it knows: it is no member. */
		int taken = elector_step(s->nodes[to].e, &msg.m, cert_of(msg.m.from), &why);
		if (taken == -1 && msg.m.from != s->removed)
			sim_fail(s, "a member's own message refused");
		if (taken == 0)
			s->delivered[from][to] = s->now;
		sim_drain(s, to);
	}
	s->queued = kept;
	sim_check_views(s);
}

/* The impostor holds a certificate of its own and writes what it likes:
 * a member's name with a higher term (a forged heartbeat, vote or
 * pre-vote), or its own name with a membership that lists it with its
 * certificate.  Each is refused and changes nothing on the node it
 * reaches. */
static void sim_impostor(struct sim *s)
{
	int to = (int)(sim_random(s) % (uint64_t)s->n);
	if (!s->nodes[to].up)
		return;
	struct elector *e = s->nodes[to].e;
	static const uint32_t types[] = {ELECTOR_MSG_HEARTBEAT, ELECTOR_MSG_VOTE,
					 ELECTOR_MSG_PRE_VOTE, ELECTOR_MSG_VOTE_REPLY,
					 ELECTOR_MSG_HEARTBEAT_REPLY};
	static struct elector_msg m;
	m = (struct elector_msg){
	    .type = types[sim_random(s) % 5],
	    .granted = 1,
	    .to = s->nodes[to].id,
	    .term = elector_term(e) + 1 + sim_random(s) % 3,
	    .last_index = 1000,
	    .last_term = elector_term(e) + 1,
	    .commit_index = 1000,
	};
	bool own_name = sim_random(s) % 2 == 0;
	m.from = own_name ? IMPOSTOR : s->nodes[sim_random(s) % (uint64_t)s->n].id;
	if (m.from == m.to)
		return; /* the node's own name: not something a link can bring */
	if (m.type == ELECTOR_MSG_HEARTBEAT) {
		m.config = *elector_config(e);
		if (own_name && m.config.count < ELECTOR_MEMBERS_MAX) {
			struct elector_member *me = &m.config.members[m.config.count++];
			me->id = IMPOSTOR;
			memcpy(me->fingerprint, cert_of(IMPOSTOR), ELECTOR_FINGERPRINT_SIZE);
			snprintf(me->address, sizeof(me->address), "10.6.6.6:5224");
		}
	}
	uint64_t term = elector_term(e), leader = elector_leader(e);
	enum elector_role role = elector_role(e);
	uint64_t index = elector_config(e)->index;
	bool ready = elector_has_ready(e);
	const char *why;
	if (elector_step(e, &m, cert_of(IMPOSTOR), &why) != -1)
		sim_fail(s, "an impostor's message was taken");
	if (elector_term(e) != term || elector_leader(e) != leader || elector_role(e) != role ||
	    elector_config(e)->index != index || elector_has_ready(e) != ready)
		sim_fail(s, "an impostor's message changed something");
}

/* The leader, if there is one free to change the membership, removes a
 * member other than itself. */
static void sim_remove_one(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		struct elector *e = s->nodes[i].e;
		if (!s->nodes[i].up || elector_role(e) != ELECTOR_LEADER)
			continue;
		const struct elector_config *c = elector_config(e);
		uint64_t id = c->members[sim_random(s) % c->count].id;
		if (id != s->nodes[i].id && elector_propose_remove(e, id) == 0) {
			s->removed = id;
			sim_drain(s, i);
		}
		return;
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

static void sim_init(struct sim *s, int n, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->seed = seed;
	s->rng = seed * 2654435761u + 1;
	s->max_delay = 1 + (unsigned)(sim_random(s) % 8);
	s->loss_percent = (unsigned)(sim_random(s) % 20);
	struct elector_config config = {.index = 1, .term = 0, .count = (uint32_t)n};
	for (int i = 0; i < n; i++) {
		s->nodes[i].id = 100 + (uint64_t)i;
		config.members[i].id = s->nodes[i].id;
		memcpy(config.members[i].fingerprint, cert_of(s->nodes[i].id),
		       ELECTOR_FINGERPRINT_SIZE);
		snprintf(config.members[i].address, ELECTOR_ADDRESS_MAX, "10.0.0.%d:5224", i);
	}
	for (int i = 0; i < n; i++) {
		s->nodes[i].disk.config = config;
		s->nodes[i].disk.commit_index = 1;
		sim_boot(s, i);
	}
	sim_connect_all(s);
}

static void sim_free(struct sim *s)
{
	for (int i = 0; i < s->n; i++)
		elector_free(s->nodes[i].e);
	free(s->queue);
}

/* A leader every up node follows, in one term; its id or 0. */
static uint64_t sim_agreed_leader(struct sim *s)
{
	uint64_t leader = 0, term = 0;
	for (int i = 0; i < s->n; i++) {
		/* A node removed follows no one; one that does not know it yet
		 * may still campaign in vain. */
		if (!s->nodes[i].up || s->nodes[i].id == s->removed)
			continue;
		uint64_t l = elector_leader(s->nodes[i].e);
		uint64_t t = elector_term(s->nodes[i].e);
		if (l == ELECTOR_NONE || (leader != 0 && (l != leader || t != term)))
			return 0;
		leader = l;
		term = t;
	}
	int at = sim_index(s, leader);
	return at >= 0 && s->nodes[at].up && elector_role(s->nodes[at].e) == ELECTOR_LEADER ? leader
											    : 0;
}

/* One schedule: chaos, then healing; returns the ticks a leader took. */
static uint64_t sim_run(int n, uint64_t seed, char *failure, size_t failure_size, unsigned *told)
{
	struct sim s;
	sim_init(&s, n, seed);
	for (int t = 0; t < 3000 && s.failure[0] == '\0'; t++) {
		uint64_t r = sim_random(&s) % 1000;
		if (r < 3) {
			int i = (int)(sim_random(&s) % (uint64_t)n);
			if (s.nodes[i].up)
				sim_crash(&s, i);
			else
				sim_boot(&s, i);
		} else if (r < 6) {
			sim_partition(&s);
		} else if (r < 9) {
			sim_connect_all(&s);
		} else if (r < 40) {
			sim_impostor(&s);
		} else if (r < 41) {
			sim_flap(&s);
		} else if (r < 42) {
			sim_transfer(&s);
		} else if (r < 44 && n == 5 && s.removed == 0) {
			/* Amid the chaos: the leader may die before the removal
			 * commits, and the member removed may lead next. */
			sim_remove_one(&s);
		}
		sim_step(&s);
	}
	/* A majority (here: everyone) can talk again, with the same loss. */
	sim_connect_all(&s);
	for (int i = 0; i < n; i++) {
		if (!s.nodes[i].up)
			sim_boot(&s, i);
	}
	uint64_t healed = s.now, took = 0;
	const uint64_t bound = 40 * ELECTION_MAX;
	while (s.failure[0] == '\0' && s.now - healed < bound) {
		sim_step(&s);
		if (sim_agreed_leader(&s) != 0) {
			took = s.now - healed;
			break;
		}
	}
	if (s.failure[0] == '\0' && took == 0)
		sim_fail(&s, "no leader within the bound after healing");
	/* Five nodes: then, if none was yet, the leader removes a member, as
	 * an administrator would, with the same loss; the four left agree on a
	 * leader again. */
	if (n == 5 && s.failure[0] == '\0') {
		for (int t = 0; t < 4 * ELECTION_MAX && s.removed == 0; t++) {
			sim_remove_one(&s);
			sim_step(&s);
		}
		uint64_t removed_at = s.now, agreed = 0;
		while (s.failure[0] == '\0' && s.now - removed_at < bound &&
		       (agreed == 0 || s.now - removed_at < 4 * ELECTION_MAX)) {
			sim_step(&s);
			agreed = sim_agreed_leader(&s);
		}
		if (s.failure[0] == '\0' && agreed == 0)
			sim_fail(&s, "no leader within the bound after a removal");
		int at = sim_index(&s, s.removed);
		if (at >= 0 && elector_removed(s.nodes[at].e))
			(*told)++;
	}
	snprintf(failure, failure_size, "%s", s.failure);
	sim_free(&s);
	return took;
}

static unsigned schedules(unsigned fallback)
{
	const char *env = getenv("ELECTOR_SCHEDULES");
	return env != NULL ? (unsigned)strtoul(env, NULL, 10) : fallback;
}

static void run_many(int n, unsigned count)
{
	const char *only = getenv("ELECTOR_SEED");
	uint64_t worst = 0;
	unsigned told = 0;
	char failure[256];
	for (unsigned k = 0; k < count; k++) {
		uint64_t seed =
		    only != NULL ? strtoull(only, NULL, 10) : 1000003ull * k + (uint64_t)n;
		uint64_t took = sim_run(n, seed, failure, sizeof(failure), &told);
		ck_assert_msg(failure[0] == '\0', "%d nodes: %s (replay: ELECTOR_SEED=%llu)", n,
			      failure, (unsigned long long)seed);
		if (took > worst)
			worst = took;
		if (only != NULL)
			break;
	}
	printf("elector simulation: %u schedules of %d nodes, slowest recovery %llu ticks "
	       "(election timeout %d-%d)",
	       only ? 1 : count, n, (unsigned long long)worst, ELECTION_MIN, ELECTION_MAX);
	if (n == 5)
		printf("; the member removed knew it in %u", told);
	printf("\n");
}

START_TEST(test_three_nodes_random_schedules)
{
	run_many(3, schedules(1500));
}
END_TEST

START_TEST(test_five_nodes_random_schedules)
{
	run_many(5, schedules(700));
}
END_TEST

/* Scenarios */

static struct elector *scenario_node(uint64_t id, const struct elector_persistent *disk)
{
	struct elector_options options = {.id = id,
					  .heartbeat_ticks = HEARTBEAT,
					  .election_ticks_min = ELECTION_MIN,
					  .election_ticks_max = ELECTION_MAX,
					  .seed = id};
	struct elector_persistent empty = {0};
	return elector_new(&options, disk ? disk : &empty);
}

/* Messages between these two nodes are lost (0: none). */
static uint64_t scenario_cut[2];

static bool scenario_delivers(const struct elector_msg *m)
{
	return !((m->from == scenario_cut[0] && m->to == scenario_cut[1]) ||
		 (m->from == scenario_cut[1] && m->to == scenario_cut[0]));
}

/* Delivers everything among `nodes` (no loss but scenario_cut) for
 * `ticks` ticks. */
static void scenario_run(struct elector **nodes, int n, int ticks)
{
	static struct elector_msg queue[4096]; /* about 9 MB: not on the stack */
	for (int t = 0; t < ticks; t++) {
		size_t count = 0;
		for (int i = 0; i < n; i++) {
			if (nodes[i] == NULL)
				continue;
			elector_tick(nodes[i]);
		}
		for (int round = 0; round < 4; round++) {
			count = 0;
			for (int i = 0; i < n; i++) {
				if (nodes[i] == NULL || !elector_has_ready(nodes[i]))
					continue;
				struct elector_ready r;
				elector_ready(nodes[i], &r);
				for (size_t k = 0; k < r.msg_count && count < 4096; k++)
					queue[count++] = r.msgs[k];
				elector_advance(nodes[i]);
			}
			for (size_t k = 0; k < count; k++) {
				for (int i = 0; i < n; i++) {
					const char *why;
					if (nodes[i] != NULL && scenario_delivers(&queue[k]))
						elector_step(nodes[i], &queue[k],
							     cert_of(queue[k].from), &why);
				}
			}
		}
	}
}

START_TEST(test_initialize_add_remove_rejoin)
{
	struct elector *nodes[4] = {scenario_node(1, NULL), scenario_node(2, NULL),
				    scenario_node(3, NULL), NULL};
	/* A new node knows no membership and never campaigns. */
	scenario_run(nodes, 3, 500);
	ck_assert_int_eq(elector_role(nodes[0]), ELECTOR_FOLLOWER);
	ck_assert_int_eq(elector_leader(nodes[0]), ELECTOR_NONE);

	ck_assert_int_eq(elector_initialize(nodes[0], "a:5224\nmember 6 x:1", cert_of(1)), -1);
	ck_assert_int_eq(elector_initialize(nodes[0], "a:5224", cert_of(1)), 0);
	ck_assert_int_eq(elector_role(nodes[0]), ELECTOR_LEADER);
	ck_assert_int_eq(elector_initialize(nodes[0], "a:5224", cert_of(1)), -1);
	ck_assert_int_eq(elector_propose_add(nodes[0], 2, "b:5224", cert_of(2)), 0);
	/* One change at a time: the next waits for the commit. */
	ck_assert_int_eq(elector_propose_add(nodes[0], 3, "c:5224", cert_of(3)), -1);
	scenario_run(nodes, 3, 30);
	ck_assert_uint_eq(elector_commit_index(nodes[0]), elector_config(nodes[0])->index);
	ck_assert_int_eq(elector_propose_add(nodes[0], 3, "c:5224", cert_of(3)), 0);
	scenario_run(nodes, 3, 30);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(elector_config(nodes[i])->count, 3);
		ck_assert_uint_eq(elector_leader(nodes[i]), 1);
	}
	/* The leader dies: one of the others takes over within a timeout or two. */
	elector_free(nodes[0]);
	nodes[0] = NULL;
	scenario_run(nodes, 3, 3 * ELECTION_MAX);
	uint64_t leader = elector_leader(nodes[1]);
	ck_assert(leader == 2 || leader == 3);
	ck_assert_uint_eq(elector_leader(nodes[2]), leader);
	struct elector *boss = nodes[leader == 2 ? 1 : 2];
	/* Node 1 was reset and comes back as node 4 at the same address: the old
	 * entry goes, then the new one comes, so status never shows both. */
	ck_assert_int_eq(elector_propose_remove(boss, 1), 0);
	scenario_run(nodes, 3, 30);
	ck_assert_uint_eq(elector_config(boss)->count, 2);
	nodes[3] = scenario_node(4, NULL);
	ck_assert_int_eq(elector_propose_add(boss, 4, "a:5224", cert_of(4)), 0);
	scenario_run(nodes, 4, 30);
	const struct elector_config *c = elector_config(nodes[3]);
	ck_assert_uint_eq(c->count, 3);
	for (uint32_t i = 0; i < c->count; i++)
		ck_assert_uint_ne(c->members[i].id, 1);
	ck_assert_uint_eq(elector_leader(nodes[3]), leader);
	/* Removing the leader itself: it commits the change, then steps down. */
	ck_assert_int_eq(elector_propose_remove(boss, leader), 0);
	scenario_run(nodes, 4, 4 * ELECTION_MAX);
	ck_assert_int_ne(elector_role(boss), ELECTOR_LEADER);
	uint64_t next = elector_leader(nodes[3]);
	ck_assert(next != ELECTOR_NONE && next != leader);
	for (int i = 1; i < 4; i++)
		elector_free(nodes[i]);
}
END_TEST

static void scenario_three(struct elector *nodes[3]);

/* The leader removes a member: it goes on telling it until the node knows
 * (persisted: its committed membership lacks it), the node then never
 * campaigns, and what it says after changes nothing on the leader.  A
 * member removed while down is given up on after two election timeouts. */
START_TEST(test_removed_member_is_told)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = (int)elector_leader(nodes[0]) - 1;
	struct elector *leader = nodes[li];
	int gone = (li + 1) % 3, down = (li + 2) % 3;
	uint64_t gone_id = (uint64_t)gone + 1, down_id = (uint64_t)down + 1;
	ck_assert_int_eq(elector_propose_remove(leader, gone_id), 0);
	ck_assert_int_eq(elector_departure(leader, gone_id), ELECTOR_DEPARTURE_TELLING);
	ck_assert_ptr_nonnull(elector_departing(leader, 0));
	ck_assert_uint_eq(elector_departing(leader, 0)->id, gone_id);
	ck_assert(!elector_removed(nodes[gone]));
	scenario_run(nodes, 3, 3 * HEARTBEAT);
	ck_assert_int_eq(elector_departure(leader, gone_id), ELECTOR_DEPARTURE_TOLD);
	ck_assert_ptr_null(elector_departing(leader, 0));
	ck_assert(elector_removed(nodes[gone]));
	struct elector_ready r;
	elector_ready(nodes[gone], &r);
	ck_assert(elector_state_removed(&r.state, gone_id));
	elector_advance(nodes[gone]);
	/* It stays out, and its pre-votes move nothing. */
	uint64_t term = elector_term(leader);
	scenario_run(nodes, 3, 5 * ELECTION_MAX);
	ck_assert_int_eq(elector_role(nodes[gone]), ELECTOR_FOLLOWER);
	ck_assert_int_eq(elector_role(leader), ELECTOR_LEADER);
	ck_assert_uint_eq(elector_term(leader), term);
	struct elector_msg campaign = {.type = ELECTOR_MSG_VOTE,
				       .from = gone_id,
				       .to = (uint64_t)li + 1,
				       .term = term + 5,
				       .last_index = 1000,
				       .last_term = term + 5};
	const char *why;
	ck_assert_int_eq(elector_step(leader, &campaign, cert_of(gone_id), &why), 0);
	ck_assert_uint_eq(elector_term(leader), term);
	ck_assert_int_eq(elector_role(leader), ELECTOR_LEADER);

	/* Removed while down: not told, and not waited for beyond the bound. */
	struct elector *survivors[2] = {leader, NULL};
	elector_free(nodes[down]);
	nodes[down] = NULL;
	ck_assert_int_eq(elector_propose_remove(leader, down_id), 0);
	scenario_run(survivors, 1, 2 * ELECTION_MAX - 1);
	ck_assert_int_eq(elector_departure(leader, down_id), ELECTOR_DEPARTURE_TELLING);
	scenario_run(survivors, 1, 2);
	ck_assert_int_eq(elector_departure(leader, down_id), ELECTOR_DEPARTURE_UNANSWERED);
	ck_assert_ptr_null(elector_departing(leader, 0));
	ck_assert_uint_eq(elector_config(leader)->count, 1);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* Three members 1, 2, 3 of an existing cluster, run until one leads. */
/* Members 1 to n of an existing cluster, run until one leads. */
static void scenario_members(struct elector **nodes, int n)
{
	struct elector_persistent disk = {.commit_index = 1};
	disk.config = (struct elector_config){.index = 1, .count = (uint32_t)n};
	for (int i = 0; i < n; i++) {
		disk.config.members[i].id = (uint64_t)i + 1;
		memcpy(disk.config.members[i].fingerprint, cert_of((uint64_t)i + 1),
		       ELECTOR_FINGERPRINT_SIZE);
		snprintf(disk.config.members[i].address, ELECTOR_ADDRESS_MAX, "n%d:5224", i + 1);
	}
	for (int i = 0; i < n; i++)
		nodes[i] = scenario_node((uint64_t)i + 1, &disk);
	scenario_run(nodes, n, 3 * ELECTION_MAX);
}

static void scenario_three(struct elector *nodes[3])
{
	scenario_members(nodes, 3);
}

/* Five members; the leader removes one, the entry reaches one other member
 * only, and the leader dies.  The member removed may then win the next
 * election (a majority never saw its removal); the member that holds the
 * removal, not committed, hears it as a member of its committed
 * membership and follows it.  Tried with each member removed in turn,
 * until one of them wins. */
START_TEST(test_uncommitted_removal_gives_way_to_the_removed)
{
	bool seen = false;
	for (int k = 1; k < 5 && !seen; k++) {
		struct elector *nodes[5];
		scenario_members(nodes, 5);
		int li = (int)elector_leader(nodes[0]) - 1;
		int gone = (li + k) % 5, holder = (li + k + 1) % 5;
		ck_assert_int_eq(elector_propose_remove(nodes[li], (uint64_t)gone + 1), 0);
		struct elector_ready r;
		elector_ready(nodes[li], &r);
		const char *why;
		for (size_t i = 0; i < r.msg_count; i++) {
			if (r.msgs[i].to == (uint64_t)holder + 1)
				ck_assert_int_eq(elector_step(nodes[holder], &r.msgs[i],
							      cert_of((uint64_t)li + 1), &why),
						 0);
		}
		elector_advance(nodes[li]);
		ck_assert_uint_eq(elector_config(nodes[holder])->count, 4);
		ck_assert_uint_lt(elector_commit_index(nodes[holder]),
				  elector_config(nodes[holder])->index);
		elector_free(nodes[li]);
		nodes[li] = NULL;
		/* The three that never saw the removal elect one of them. */
		struct elector *rest[3];
		for (int i = 0, n = 0; i < 5; i++)
			if (i != li && i != holder)
				rest[n++] = nodes[i];
		scenario_run(rest, 3, 4 * ELECTION_MAX);
		if (elector_role(nodes[gone]) == ELECTOR_LEADER) {
			seen = true;
			scenario_run(nodes, 5, 2 * ELECTION_MAX);
			ck_assert_int_eq(elector_role(nodes[gone]), ELECTOR_LEADER);
			ck_assert_uint_eq(elector_leader(nodes[holder]), (uint64_t)gone + 1);
			ck_assert_uint_eq(elector_config(nodes[holder])->count, 5);
			ck_assert_uint_eq(elector_commit_index(nodes[holder]),
					  elector_config(nodes[holder])->index);
		}
		for (int i = 0; i < 5; i++)
			elector_free(nodes[i]);
	}
	ck_assert_msg(seen, "the member removed never won: the case was not tried");
}
END_TEST

/* Node `cut` alone on one side, the two others on the other. */
static void scenario_split(struct elector *nodes[3], int cut, struct elector *alone[1],
			   struct elector *rest[2])
{
	alone[0] = nodes[cut];
	for (int i = 0, k = 0; i < 3; i++)
		if (i != cut)
			rest[k++] = nodes[i];
}

START_TEST(test_partitioned_node_cannot_depose_the_leader)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	uint64_t leader = elector_leader(nodes[0]);
	ck_assert_uint_ne(leader, ELECTOR_NONE);
	uint64_t term = elector_term(nodes[0]);
	/* Cut one follower off for a long time; it keeps trying (pre-vote),
	 * but its term does not grow, so on return it disturbs nobody. */
	int lonely = leader == 3 ? 0 : 2;
	struct elector *alone[1], *rest[2];
	scenario_split(nodes, lonely, alone, rest);
	for (int t = 0; t < 20; t++) {
		scenario_run(alone, 1, ELECTION_MAX);
		scenario_run(rest, 2, ELECTION_MAX);
	}
	ck_assert_uint_eq(elector_term(nodes[lonely]), term);
	scenario_run(nodes, 3, 2 * ELECTION_MAX);
	ck_assert_uint_eq(elector_leader(nodes[lonely]), leader);
	ck_assert_uint_eq(elector_term(nodes[0]), term);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* A follower learns from the leader's heartbeats how long since the leader
 * heard each member: a fellow follower it never hears itself looks
 * healthy while it answers the leader, and silent once it is cut off. */
START_TEST(test_leader_view_reaches_followers)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = (int)elector_leader(nodes[0]) - 1;
	int a = (li + 1) % 3, b = (li + 2) % 3;
	uint64_t silence, age;
	ck_assert_int_eq(elector_leader_view(nodes[a], (uint64_t)b + 1, &silence, &age), 0);
	ck_assert_uint_lt(silence, ELECTION_MIN);
	ck_assert_uint_le(age, HEARTBEAT);
	ck_assert_int_eq(elector_leader_view(nodes[a], (uint64_t)li + 1, &silence, &age), 0);
	ck_assert_uint_eq(silence, 0);
	ck_assert_int_eq(elector_leader_view(nodes[li], (uint64_t)b + 1, &silence, &age), 0);
	ck_assert_uint_lt(silence, ELECTION_MIN);
	ck_assert_uint_eq(age, 0);
	ck_assert_int_eq(elector_leader_view(nodes[a], 99, &silence, &age), -1);
	/* b is cut off: the leader's view of it, on a, grows past a timeout. */
	struct elector *pair[2] = {nodes[li], nodes[a]};
	scenario_run(pair, 2, 2 * ELECTION_MIN);
	ck_assert_int_eq(elector_leader_view(nodes[a], (uint64_t)b + 1, &silence, &age), 0);
	ck_assert_uint_ge(silence, ELECTION_MIN);
	ck_assert_uint_le(age, HEARTBEAT);
	/* No leader, no view: a's report ages, and goes with the leader. */
	struct elector *alone[1] = {nodes[a]};
	scenario_run(alone, 1, ELECTION_MAX + 1);
	ck_assert_int_eq(elector_leader_view(nodes[a], (uint64_t)b + 1, &silence, &age), -1);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

START_TEST(test_leader_cut_off_steps_down)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = (int)elector_leader(nodes[0]) - 1;
	struct elector *alone[1], *rest[2];
	scenario_split(nodes, li, alone, rest);
	for (int t = 0; t < 5; t++) {
		scenario_run(alone, 1, ELECTION_MAX);
		scenario_run(rest, 2, ELECTION_MAX);
	}
	/* Check-quorum: the old leader stopped leading; the majority elected one. */
	ck_assert_int_ne(elector_role(nodes[li]), ELECTOR_LEADER);
	ck_assert_int_eq(
	    elector_role(rest[0]) == ELECTOR_LEADER || elector_role(rest[1]) == ELECTOR_LEADER, 1);
	scenario_run(nodes, 3, 3 * ELECTION_MAX);
	int leaders = 0;
	for (int i = 0; i < 3; i++)
		leaders += elector_role(nodes[i]) == ELECTOR_LEADER;
	ck_assert_int_eq(leaders, 1);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* A node with a trusted certificate of its own, not a member, tries each
 * attack: a forged heartbeat and vote in members' names, a heartbeat in
 * its own name with a newer membership that lists it, and, through the
 * leader, taking a member's id or an address with a newline.  Nothing
 * changes. */
START_TEST(test_impostor_changes_nothing)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = (int)elector_leader(nodes[0]) - 1;
	struct elector *leader = nodes[li], *follower = nodes[(li + 1) % 3];
	uint64_t term = elector_term(leader), leader_id = (uint64_t)li + 1;
	uint64_t follower_id = (uint64_t)((li + 1) % 3) + 1;
	const char *why = NULL;
	static struct elector_msg hb;
	hb = (struct elector_msg){.type = ELECTOR_MSG_HEARTBEAT,
				  .from = follower_id,
				  .to = leader_id,
				  .term = term + 5,
				  .last_index = 99,
				  .last_term = term + 5};
	hb.config = *elector_config(leader);
	/* One forged heartbeat would have made the leader step down. */
	ck_assert_int_eq(elector_step(leader, &hb, cert_of(IMPOSTOR), &why), -1);
	ck_assert_ptr_nonnull(why);
	hb.from = leader_id;
	hb.to = follower_id;
	ck_assert_int_eq(elector_step(follower, &hb, cert_of(IMPOSTOR), &why), -1);
	struct elector_msg vote = hb;
	vote.type = ELECTOR_MSG_VOTE;
	vote.from = follower_id;
	vote.to = leader_id;
	ck_assert_int_eq(elector_step(leader, &vote, cert_of(IMPOSTOR), &why), -1);
	vote.from = IMPOSTOR;
	vote.to = follower_id;
	ck_assert_int_eq(elector_step(follower, &vote, cert_of(IMPOSTOR), &why), -1);
	/* Its own name, a newer membership listing it with its certificate. */
	hb.from = IMPOSTOR;
	hb.config.index += 10;
	struct elector_member *me = &hb.config.members[hb.config.count++];
	me->id = IMPOSTOR;
	memcpy(me->fingerprint, cert_of(IMPOSTOR), ELECTOR_FINGERPRINT_SIZE);
	snprintf(me->address, sizeof(me->address), "evil:5224");
	ck_assert_int_eq(elector_step(follower, &hb, cert_of(IMPOSTOR), &why), -1);
	/* Through the leader: a member's id with another certificate, and an
	 * address that would put a line of its own into the state file. */
	ck_assert_int_eq(elector_propose_add(leader, follower_id, "evil:5224", cert_of(IMPOSTOR)),
			 -1);
	ck_assert_int_eq(
	    elector_propose_add(leader, IMPOSTOR, "e:1\nmember 7 x:1", cert_of(IMPOSTOR)), -1);
	ck_assert_int_eq(elector_propose_add(leader, IMPOSTOR, "e:1 x", cert_of(IMPOSTOR)), -1);
	ck_assert_int_eq(elector_propose_add(leader, IMPOSTOR, "e:99999", cert_of(IMPOSTOR)), -1);
	scenario_run(nodes, 3, 2 * ELECTION_MAX);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(elector_term(nodes[i]), term);
		ck_assert_uint_eq(elector_leader(nodes[i]), leader_id);
		ck_assert_uint_eq(elector_config(nodes[i])->count, 3);
	}
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* A member bound to no certificate yet (read from a state file of before
 * fingerprints) is heard from any; the leader binds it, and from then on
 * only its certificate speaks for it. */
START_TEST(test_unbound_member_is_bound_once)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = (int)elector_leader(nodes[0]) - 1;
	uint64_t other = (uint64_t)((li + 1) % 3) + 1;
	struct elector_persistent disk = {.commit_index = 1};
	disk.config = *elector_config(nodes[li]);
	for (int i = 0; i < 3; i++) {
		memset(disk.config.members[i].fingerprint, 0, ELECTOR_FINGERPRINT_SIZE);
		elector_free(nodes[i]);
	}
	disk.config.index = 1;
	disk.config.term = 0;
	for (int i = 0; i < 3; i++)
		nodes[i] = scenario_node((uint64_t)i + 1, &disk);
	scenario_run(nodes, 3, 3 * ELECTION_MAX);
	struct elector *leader = nodes[elector_leader(nodes[0]) - 1];
	ck_assert_uint_ne(elector_leader(nodes[0]), ELECTOR_NONE);
	if (elector_leader(nodes[0]) == other)
		other = other % 3 + 1;
	char address[ELECTOR_ADDRESS_MAX];
	snprintf(address, sizeof(address), "n%d:5224", (int)other);
	ck_assert_int_eq(elector_propose_add(leader, other, address, cert_of(other)), 0);
	scenario_run(nodes, 3, 30);
	for (int i = 0; i < 3; i++) {
		const struct elector_config *c = elector_config(nodes[i]);
		for (uint32_t k = 0; k < c->count; k++) {
			if (c->members[k].id == other)
				ck_assert_mem_eq(c->members[k].fingerprint, cert_of(other),
						 ELECTOR_FINGERPRINT_SIZE);
		}
	}
	ck_assert_int_eq(elector_propose_add(leader, other, address, cert_of(IMPOSTOR)), -1);
	static struct elector_msg vote;
	vote = (struct elector_msg){.type = ELECTOR_MSG_VOTE,
				    .from = other,
				    .to = elector_leader(nodes[0]),
				    .term = elector_term(leader) + 1};
	const char *why;
	ck_assert_int_eq(elector_step(leader, &vote, cert_of(IMPOSTOR), &why), -1);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* What a peer link brings is checked before the core sees it. */
START_TEST(test_wire_frames_are_checked)
{
	static struct elector_msg hb;
	hb = (struct elector_msg){.type = ELECTOR_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 3};
	hb.config.count = 1;
	hb.config.members[0].id = 1;
	snprintf(hb.config.members[0].address, ELECTOR_ADDRESS_MAX, "a:5224");
	static struct elector_wire_msg m;
	const char *why;
	struct ipc_msg msg = {.type = ELECTOR_WIRE_MSG, .data = &hb, .len = sizeof(hb), .fd = -1};
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), 0);
	ck_assert_uint_eq(m.u.msg.config.count, 1);
	/* A heartbeat without the leader's view of the members (as before
	 * it carried one), without its membership; a vote with one. */
	msg.len = offsetof(struct elector_msg, silence);
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	msg.len = offsetof(struct elector_msg, config);
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	hb.type = ELECTOR_MSG_VOTE;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), 0);
	msg.len = sizeof(hb);
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	hb.type = ELECTOR_MSG_HEARTBEAT;
	memset(hb.config.members[0].address, 'x', ELECTOR_ADDRESS_MAX);
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	/* Addresses reach the state file and the log: host:port, nothing else. */
	static const char *const bad[] = {"a:5224\nmember 1 b:1",
					  "a:0",
					  "a",
					  ":5224",
					  "a b:1",
					  "1::2:5224",
					  "[::1]x:1",
					  "a:1\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(hb.config.members[0].address, 0, ELECTOR_ADDRESS_MAX);
		snprintf(hb.config.members[0].address, ELECTOR_ADDRESS_MAX, "%s", bad[i]);
		ck_assert_msg(elector_wire_decode(&msg, &m, &why) == -1, "%s", bad[i]);
	}
	static const char *const good[] = {"a:5224", "[::1]:5224", "192.0.2.1:1", "n-1.x.y:65535"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(hb.config.members[0].address, 0, ELECTOR_ADDRESS_MAX);
		snprintf(hb.config.members[0].address, ELECTOR_ADDRESS_MAX, "%s", good[i]);
		ck_assert_msg(elector_wire_decode(&msg, &m, &why) == 0, "%s", good[i]);
	}
	hb.config.members[0].address[0] = '\0';
	hb.config.count = ELECTOR_MEMBERS_MAX + 1;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	hb.type = 0;
	hb.config.count = 0;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	/* Flags: a reply's grant, a vote's transfer mark, nothing else. */
	msg.len = offsetof(struct elector_msg, config);
	hb.type = ELECTOR_MSG_TIMEOUT_NOW;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), 0);
	hb.type = ELECTOR_MSG_TIMEOUT_NOW + 1;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	hb.type = ELECTOR_MSG_VOTE;
	hb.granted = ELECTOR_VOTE_TRANSFER;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), 0);
	hb.granted = ELECTOR_VOTE_TRANSFER + 1;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	hb.type = ELECTOR_MSG_VOTE_REPLY;
	hb.granted = 1;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), 0);
	hb.granted = 2;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	hb.type = ELECTOR_MSG_PRE_VOTE;
	hb.granted = 1;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	hb.granted = 0;
	msg.len = sizeof(hb);
	struct elector_change change = {.op = ELECTOR_CHANGE_JOIN, .node_id = 4};
	snprintf(change.address, sizeof(change.address), "d:5224\nmember 5 e:1");
	msg = (struct ipc_msg){
	    .type = ELECTOR_WIRE_CHANGE, .data = &change, .len = sizeof(change), .fd = -1};
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	snprintf(change.address, sizeof(change.address), "d:5224");
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), 0);
	change = (struct elector_change){.op = ELECTOR_CHANGE_LEADER, .node_id = 4};
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), 0);
	snprintf(change.address, sizeof(change.address), "d:5224");
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	change.op = 7;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
	msg.type = 99;
	ck_assert_int_eq(elector_wire_decode(&msg, &m, &why), -1);
}
END_TEST

/* The leader of three crashes; its links close on both followers at once.
 * A leader follows within a few ticks, not an election timeout: without
 * the closed links nobody would even have started by then. */
START_TEST(test_crash_noticed_by_closed_links)
{
	for (int told = 0; told < 2; told++) {
		struct elector *nodes[3];
		scenario_three(nodes);
		int li = (int)elector_leader(nodes[0]) - 1;
		uint64_t leader = (uint64_t)li + 1, term = elector_term(nodes[(li + 1) % 3]);
		elector_free(nodes[li]);
		nodes[li] = NULL;
		for (int i = 0; told && i < 3; i++) {
			if (nodes[i] != NULL)
				elector_link_closed(nodes[i], leader);
		}
		scenario_run(nodes, 3, HEARTBEAT);
		int leaders = 0;
		for (int i = 0; i < 3; i++)
			leaders += nodes[i] != NULL && elector_role(nodes[i]) == ELECTOR_LEADER;
		ck_assert_int_eq(leaders, told ? 1 : 0);
		if (told)
			ck_assert_uint_eq(elector_term(nodes[(li + 1) % 3]), term + 1);
		for (int i = 0; i < 3; i++)
			elector_free(nodes[i]);
	}
}
END_TEST

/* A link to a healthy leader closes (a flap) on one follower: its
 * pre-vote fails (the other follower and the leader heard the leader),
 * no term moves, and it follows the same leader again. */
START_TEST(test_link_flap_deposes_nobody)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = (int)elector_leader(nodes[0]) - 1, f = (li + 1) % 3;
	uint64_t leader = (uint64_t)li + 1, term = elector_term(nodes[li]);
	for (int k = 0; k < 5; k++) {
		elector_link_closed(nodes[f], leader);
		scenario_run(nodes, 3, HEARTBEAT + 1);
	}
	scenario_run(nodes, 3, 2 * ELECTION_MAX);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(elector_term(nodes[i]), term);
		ck_assert_uint_eq(elector_leader(nodes[i]), leader);
	}
	ck_assert_int_eq(elector_role(nodes[li]), ELECTOR_LEADER);
	/* Closed links to a member that does not lead, or on the leader,
	 * start nothing. */
	elector_link_closed(nodes[f], (uint64_t)(li + 2) % 3 + 1);
	elector_link_closed(nodes[li], (uint64_t)f + 1);
	ck_assert_int_eq(elector_role(nodes[f]), ELECTOR_FOLLOWER);
	ck_assert_int_eq(elector_role(nodes[li]), ELECTOR_LEADER);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* A follower loses only its own link to the leader, for long: it keeps
 * asking for pre-votes, which the other follower (hearing the leader)
 * refuses; no term moves, and once the link is back it follows again. */
START_TEST(test_follower_losing_its_own_link_deposes_nobody)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = (int)elector_leader(nodes[0]) - 1, f = (li + 1) % 3;
	uint64_t leader = (uint64_t)li + 1, term = elector_term(nodes[li]);
	scenario_cut[0] = leader;
	scenario_cut[1] = (uint64_t)f + 1;
	elector_link_closed(nodes[f], leader);
	scenario_run(nodes, 3, 10 * ELECTION_MAX);
	scenario_cut[0] = scenario_cut[1] = 0;
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(elector_term(nodes[i]), term);
	ck_assert_int_eq(elector_role(nodes[li]), ELECTOR_LEADER);
	ck_assert_uint_eq(elector_leader(nodes[(li + 2) % 3]), leader);
	scenario_run(nodes, 3, 2 * HEARTBEAT);
	ck_assert_uint_eq(elector_leader(nodes[f]), leader);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

static int scenario_leader_index(struct elector **nodes, int n)
{
	int at = -1;
	for (int i = 0; i < n; i++) {
		if (nodes[i] != NULL && elector_role(nodes[i]) == ELECTOR_LEADER) {
			ck_assert_int_eq(at, -1);
			at = i;
		}
	}
	return at;
}

/* Leadership moves to the member named, within a few ticks, in the next
 * term; with none named, to another member; never to a non-member or to
 * the leader itself, and only from a leader. */
START_TEST(test_transfer_moves_leadership)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = scenario_leader_index(nodes, 3), to = (li + 2) % 3;
	uint64_t term = elector_term(nodes[li]);
	ck_assert_int_eq(elector_transfer(nodes[li], (uint64_t)li + 1), -1);
	ck_assert_int_eq(elector_transfer(nodes[li], 42), -1);
	ck_assert_int_eq(elector_transfer(nodes[to], ELECTOR_NONE), -1);
	ck_assert_int_eq(elector_transfer(nodes[li], (uint64_t)to + 1), 0);
	ck_assert_uint_eq(elector_transferee(nodes[li]), (uint64_t)to + 1);
	/* No membership change while it is handed over. */
	ck_assert_int_eq(elector_propose_remove(nodes[li], (uint64_t)to + 1), -1);
	scenario_run(nodes, 3, 3);
	ck_assert_int_eq(scenario_leader_index(nodes, 3), to);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(elector_term(nodes[i]), term + 1);
		ck_assert_uint_eq(elector_leader(nodes[i]), (uint64_t)to + 1);
	}
	ck_assert_uint_eq(elector_transferee(nodes[li]), ELECTOR_NONE);
	ck_assert_int_eq(elector_transfer(nodes[to], ELECTOR_NONE), 0);
	scenario_run(nodes, 3, 3);
	int next = scenario_leader_index(nodes, 3);
	ck_assert_int_ne(next, to);
	ck_assert_int_ne(next, -1);
	ck_assert_uint_eq(elector_term(nodes[next]), term + 2);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* The target crashes before it takes over: the leader gives the transfer
 * up after an election timeout and leads on in the same term, taking
 * membership changes again. */
START_TEST(test_transfer_to_a_crashed_target_is_given_up)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = scenario_leader_index(nodes, 3), to = (li + 1) % 3;
	uint64_t term = elector_term(nodes[li]);
	elector_free(nodes[to]);
	nodes[to] = NULL;
	ck_assert_int_eq(elector_transfer(nodes[li], (uint64_t)to + 1), 0);
	/* Asked again for another member meanwhile: refused, not restarted. */
	ck_assert_int_eq(elector_transfer(nodes[li], (uint64_t)(li + 2) % 3 + 1), -1);
	scenario_run(nodes, 3, ELECTION_MIN - 1);
	ck_assert_uint_eq(elector_transferee(nodes[li]), (uint64_t)to + 1);
	ck_assert_int_eq(elector_propose_remove(nodes[li], (uint64_t)to + 1), -1);
	scenario_run(nodes, 3, 2);
	ck_assert_uint_eq(elector_transferee(nodes[li]), ELECTOR_NONE);
	ck_assert_int_eq(elector_role(nodes[li]), ELECTOR_LEADER);
	ck_assert_uint_eq(elector_term(nodes[li]), term);
	ck_assert_int_eq(elector_propose_remove(nodes[li], (uint64_t)to + 1), 0);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* A member that missed a membership change (cut off while it committed)
 * is named: the leader brings it up to date first, and it wins with the
 * latest membership. */
START_TEST(test_transfer_to_a_lagging_member)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = scenario_leader_index(nodes, 3), lag = (li + 1) % 3, other = (li + 2) % 3;
	scenario_cut[0] = (uint64_t)li + 1;
	scenario_cut[1] = (uint64_t)lag + 1;
	/* The other follower moves to a new address: committed by two of three. */
	ck_assert_int_eq(elector_propose_add(nodes[li], (uint64_t)other + 1, "moved:5224",
					     cert_of((uint64_t)other + 1)),
			 0);
	scenario_run(nodes, 3, 2 * HEARTBEAT);
	uint64_t index = elector_config(nodes[li])->index;
	ck_assert_uint_eq(elector_commit_index(nodes[li]), index);
	ck_assert_uint_lt(elector_config(nodes[lag])->index, index);
	scenario_cut[0] = scenario_cut[1] = 0;
	ck_assert_int_eq(elector_transfer(nodes[li], (uint64_t)lag + 1), 0);
	scenario_run(nodes, 3, 4);
	ck_assert_int_eq(scenario_leader_index(nodes, 3), lag);
	ck_assert_uint_ge(elector_config(nodes[lag])->index, index);
	ck_assert_str_eq(elector_config(nodes[lag])->members[other].address, "moved:5224");
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

/* A change is pending (not committed) when the leader hands over: the
 * target gets the entry before it campaigns, and, leading, commits it. */
START_TEST(test_transfer_while_a_change_is_pending)
{
	struct elector *nodes[3];
	scenario_three(nodes);
	int li = scenario_leader_index(nodes, 3), to = (li + 1) % 3;
	static const uint8_t fourth[ELECTOR_FINGERPRINT_SIZE] = {4};
	ck_assert_int_eq(elector_propose_add(nodes[li], 4, "n4:5224", fourth), 0);
	ck_assert_uint_lt(elector_commit_index(nodes[li]), elector_config(nodes[li])->index);
	ck_assert_int_eq(elector_transfer(nodes[li], (uint64_t)to + 1), 0);
	scenario_run(nodes, 3, 2 * HEARTBEAT);
	ck_assert_int_eq(scenario_leader_index(nodes, 3), to);
	const struct elector_config *c = elector_config(nodes[to]);
	ck_assert_uint_eq(c->count, 4);
	ck_assert_uint_eq(elector_commit_index(nodes[to]), c->index);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(elector_config(nodes[i])->count, 4);
	for (int i = 0; i < 3; i++)
		elector_free(nodes[i]);
}
END_TEST

Suite *elector_suite(void)
{
	Suite *s = suite_create("elector");
	TCase *tc = tcase_create("elector");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_wire_frames_are_checked);
	tcase_add_test(tc, test_initialize_add_remove_rejoin);
	tcase_add_test(tc, test_removed_member_is_told);
	tcase_add_test(tc, test_uncommitted_removal_gives_way_to_the_removed);
	tcase_add_test(tc, test_leader_view_reaches_followers);
	tcase_add_test(tc, test_partitioned_node_cannot_depose_the_leader);
	tcase_add_test(tc, test_leader_cut_off_steps_down);
	tcase_add_test(tc, test_impostor_changes_nothing);
	tcase_add_test(tc, test_unbound_member_is_bound_once);
	tcase_add_test(tc, test_crash_noticed_by_closed_links);
	tcase_add_test(tc, test_link_flap_deposes_nobody);
	tcase_add_test(tc, test_follower_losing_its_own_link_deposes_nobody);
	tcase_add_test(tc, test_transfer_moves_leadership);
	tcase_add_test(tc, test_transfer_to_a_crashed_target_is_given_up);
	tcase_add_test(tc, test_transfer_to_a_lagging_member);
	tcase_add_test(tc, test_transfer_while_a_change_is_pending);
	tcase_add_test(tc, test_three_nodes_random_schedules);
	tcase_add_test(tc, test_five_nodes_random_schedules);
	suite_add_tcase(s, tc);
	return s;
}
