/* SPDX-License-Identifier: MIT */
/*
 * The election core's log in readable scenarios, in the spirit of
 * etcd-io/raft's testdata: each file of elector_scenarios/ is a script of
 * commands, each followed by "----", the output it must give, and a blank
 * line.  Nodes run as the shell runs them (tests/unit/elector_testkit.h:
 * persist, send, apply, advance; restart from the disk); messages wait in
 * a queue until a command delivers or drops them.  Lines starting with #
 * are comments.  ELECTOR_SCENARIOS_REWRITE=1 writes what each command
 * gave in place of what it must give (to write a new scenario; read the
 * result before keeping it).
 *
 * Commands:
 *   batch N            nodes booted from now on put at most N entries in one
 *                      append (as a leader's size bound does with large entries)
 *   nodes N            members 1..N, their membership committed at index 1
 *   join I             a new node I with an empty disk (knows no membership)
 *   campaign I         tick node I until it campaigns (election timeout: 10)
 *   tick I [N]         N ticks (default 1) of node I
 *   stabilize          deliver every message, and what they cause, until none
 *   deliver [F T]      deliver what is queued now (from F to T), not what it causes
 *   drop [F T]         drop what is queued (from F to T)
 *   isolate I / heal   messages to or from I are lost / no longer
 *   link-closed I J    node I hears that its link to J closed (elector_link_closed)
 *   v3 I               node I speaks protocol 3 (0.2.0): what goes to or from it is
 *                      cut to protocol 3's layout as the shell's translation does, and
 *                      every node is put in compat mode (elector_set_compat)
 *   propose I TEXT     node I takes a command
 *   add L I / remove L I   node L proposes a membership with / without I
 *   crash I / restart I    node I stops; starts again from its disk
 *   compact I          node I snapshots its state machine at what it applied
 *   log I              node I's snapshot, log, commit and applied index
 *   status             each node's role, term, leader, last index and commit
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elector/elector_core.h"
#include "elector_testkit.h"
#include "unit.h"

#define S_NODES_MAX 6
#define S_QUEUE_MAX 512

struct scenario {
	int n;
	struct elector_testkit_node nodes[S_NODES_MAX + 1]; /* by id; [0] unused */
	bool isolated[S_NODES_MAX + 1];
	bool v3[S_NODES_MAX + 1];
	unsigned batch; /* entries per append; 0: the core's default */
	struct elector_msg *queue[S_QUEUE_MAX];
	size_t queued;
	char *out;
	size_t out_len;
	size_t out_cap;
};

static void say(struct scenario *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct scenario *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (s->out_len + len + 1 > s->out_cap) {
		s->out_cap = (s->out_cap + len + 1) * 2;
		s->out = realloc(s->out, s->out_cap);
		ck_assert_ptr_nonnull(s->out);
	}
	memcpy(s->out + s->out_len, line, len);
	s->out_len += len;
	s->out[s->out_len] = '\0';
}

static struct elector_options s_options(const struct scenario *s, uint64_t id)
{
	return (struct elector_options){.id = id,
					.heartbeat_ticks = 1,
					.election_ticks_min = 10,
					.election_ticks_max = 10,
					.seed = id,
					.append_entries_max = s->batch};
}

static const char *type_name(uint32_t type)
{
	static const char *const names[] = {
	    "?",      "PRE_VOTE",     "PRE_VOTE_REPLY", "VOTE",	   "VOTE_REPLY",
	    "APPEND", "APPEND_REPLY", "TIMEOUT_NOW",	"SNAPSHOT"};
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static void say_entry(struct scenario *s, const struct elector_entry *x)
{
	static const char *const types[] = {"?", "NOOP", "CONFIG", "DATA"};
	say(s, "%llu/%llu %s", (unsigned long long)x->term, (unsigned long long)x->index,
	    types[x->type <= 3 ? x->type : 0]);
	if (x->type == ELECTOR_ENTRY_DATA)
		say(s, " %.*s", (int)x->len, (const char *)x->data);
	if (x->type == ELECTOR_ENTRY_CONFIG) {
		struct elector_config c;
		if (elector_config_decode(x->data, x->len, &c) == 0) {
			say(s, " (");
			for (uint32_t i = 0; i < c.count; i++)
				say(s, "%s%llu", i ? " " : "", (unsigned long long)c.members[i].id);
			say(s, ")");
		}
	}
}

static void say_msg(struct scenario *s, const struct elector_msg *m)
{
	say(s, "%llu->%llu %s term %llu", (unsigned long long)m->from, (unsigned long long)m->to,
	    type_name(m->type), (unsigned long long)m->term);
	switch (m->type) {
	case ELECTOR_MSG_PRE_VOTE:
	case ELECTOR_MSG_VOTE:
		say(s, " last %llu/%llu", (unsigned long long)m->last_term,
		    (unsigned long long)m->last_index);
		break;
	case ELECTOR_MSG_PRE_VOTE_REPLY:
	case ELECTOR_MSG_VOTE_REPLY:
		say(s, m->granted ? " granted" : " refused");
		if (m->vouch_id != ELECTOR_NONE)
			say(s, " (follows %llu of term %llu)", (unsigned long long)m->vouch_id,
			    (unsigned long long)m->vouch_term);
		break;
	case ELECTOR_MSG_APPEND:
		if (!(m->flags & ELECTOR_MSG_LOG)) {
			say(s, " (protocol 3) membership %llu/%llu commit %llu\n",
			    (unsigned long long)m->last_term, (unsigned long long)m->last_index,
			    (unsigned long long)m->commit_index);
			return;
		}
		say(s, " prev %llu/%llu commit %llu", (unsigned long long)m->prev_term,
		    (unsigned long long)m->prev_index, (unsigned long long)m->commit_index);
		if (m->entry_count > 0) {
			say(s, " [");
			for (uint32_t i = 0; i < m->entry_count; i++) {
				say(s, i ? ", " : "");
				say_entry(s, &m->entries[i]);
			}
			say(s, "]");
		}
		break;
	case ELECTOR_MSG_APPEND_REPLY:
		if (!(m->flags & ELECTOR_MSG_LOG))
			say(s, " (protocol 3) membership %llu/%llu commit %llu",
			    (unsigned long long)m->last_term, (unsigned long long)m->last_index,
			    (unsigned long long)m->commit_index);
		else if (m->flags & ELECTOR_MSG_REJECT)
			say(s, " refused at %llu, hint %llu/%llu",
			    (unsigned long long)m->prev_index, (unsigned long long)m->hint_term,
			    (unsigned long long)m->hint_index);
		else
			say(s, " match %llu", (unsigned long long)m->prev_index);
		break;
	case ELECTOR_MSG_SNAPSHOT:
		say(s, " snapshot %llu/%llu", (unsigned long long)m->snapshot->term,
		    (unsigned long long)m->snapshot->index);
		break;
	default:
		break;
	}
	say(s, "\n");
}

static void s_drain(struct scenario *s, uint64_t id)
{
	struct elector_testkit_node *n = &s->nodes[id];
	while (n->up && elector_has_ready(n->e)) {
		struct elector_ready r;
		elector_ready(n->e, &r);
		elector_testkit_persist(n, &r);
		if (r.snapshot != NULL)
			say(s, "%llu installs snapshot %llu/%llu\n", (unsigned long long)id,
			    (unsigned long long)r.snapshot->term,
			    (unsigned long long)r.snapshot->index);
		for (size_t k = 0; k < r.msg_count && s->queued < S_QUEUE_MAX; k++)
			s->queue[s->queued++] = elector_testkit_msg_clone(&r.msgs[k]);
		for (size_t k = 0; k < r.committed_count; k++) {
			const struct elector_entry *x = &r.committed[k];
			elector_testkit_apply(&n->machine, x);
			if (x->type == ELECTOR_ENTRY_DATA) {
				say(s, "%llu applies ", (unsigned long long)id);
				say_entry(s, x);
				say(s, "\n");
			}
		}
		elector_advance(n->e);
	}
}

static void s_boot(struct scenario *s, uint64_t id)
{
	struct elector_options o = s_options(s, id);
	s->nodes[id].id = id;
	ck_assert(elector_testkit_boot(&s->nodes[id], &o));
	for (int k = 1; k <= S_NODES_MAX; k++) {
		if (s->v3[k])
			elector_set_compat(s->nodes[id].e, true);
	}
	s_drain(s, id);
}

static bool s_match(const struct elector_msg *m, uint64_t from, uint64_t to)
{
	return from == 0 || (m->from == from && m->to == to);
}

/* One pass over what is queued now; `drop`: lose it instead. */
static void s_deliver(struct scenario *s, uint64_t from, uint64_t to, bool drop)
{
	size_t count = s->queued;
	struct elector_msg *now[S_QUEUE_MAX];
	memcpy(now, s->queue, count * sizeof(now[0]));
	s->queued = 0;
	for (size_t k = 0; k < count; k++) {
		struct elector_msg *m = now[k];
		if (!s_match(m, from, to)) {
			s->queue[s->queued++] = m;
			continue;
		}
		bool lost = drop || m->to > (uint64_t)S_NODES_MAX || !s->nodes[m->to].up ||
			    s->isolated[m->to] || (m->from <= S_NODES_MAX && s->isolated[m->from]);
		if (!lost && (s->v3[m->to] || (m->from <= S_NODES_MAX && s->v3[m->from])))
			elector_testkit_msg_cut_v3(m);
		if (drop)
			say(s, "dropped ");
		else if (lost)
			say(s, "lost ");
		say_msg(s, m);
		if (!lost) {
			const char *why;
			if (elector_step(s->nodes[m->to].e, m, elector_testkit_cert(m->from),
					 &why) == -1)
				say(s, "%llu refuses it: %s\n", (unsigned long long)m->to, why);
			s_drain(s, m->to);
		}
		elector_testkit_msg_free(m);
	}
}

static void s_log(struct scenario *s, uint64_t id)
{
	struct elector *e = s->nodes[id].e;
	const struct elector_snapshot *snap = elector_snapshot(e);
	say(s, "snapshot %llu/%llu", (unsigned long long)snap->term,
	    (unsigned long long)snap->index);
	for (uint64_t i = snap->index + 1; i <= elector_last_index(e); i++) {
		say(s, i == snap->index + 1 ? ", log " : ", ");
		say_entry(s, elector_entry(e, i));
	}
	say(s, "; commit %llu, applied %llu\n", (unsigned long long)elector_commit_index(e),
	    (unsigned long long)elector_applied_index(e));
}

static void s_status(struct scenario *s)
{
	for (uint64_t id = 1; id <= S_NODES_MAX; id++) {
		struct elector *e = s->nodes[id].e;
		if (s->nodes[id].id == 0)
			continue;
		if (!s->nodes[id].up) {
			say(s, "%llu down\n", (unsigned long long)id);
			continue;
		}
		say(s, "%llu %s term %llu leader %llu last %llu/%llu commit %llu%s\n",
		    (unsigned long long)id, elector_role_name(elector_role(e)),
		    (unsigned long long)elector_term(e), (unsigned long long)elector_leader(e),
		    (unsigned long long)elector_last_term(e),
		    (unsigned long long)elector_last_index(e),
		    (unsigned long long)elector_commit_index(e),
		    elector_removed(e) ? " (removed)" : "");
	}
}

/* Runs one command line; its output goes to s->out. */
static void s_command(struct scenario *s, const char *line)
{
	char cmd[32] = "", text[256] = "";
	unsigned long long a = 0, b = 0;
	int got = sscanf(line, "%31s %llu %llu", cmd, &a, &b);
	bool node_ok = a >= 1 && a <= S_NODES_MAX;
	if (strcmp(cmd, "batch") == 0 && a >= 1 && a <= ELECTOR_APPEND_ENTRIES) {
		s->batch = (unsigned)a;
		say(s, "ok\n");
	} else if (strcmp(cmd, "nodes") == 0 && a >= 1 && a <= S_NODES_MAX) {
		struct elector_config c = {.index = 1, .term = 1, .count = (uint32_t)a};
		for (uint32_t i = 0; i < c.count; i++)
			elector_testkit_member(i + 1, &c.members[i]);
		s->n = (int)a;
		for (uint64_t id = 1; id <= a; id++) {
			elector_testkit_disk_seed(&s->nodes[id].disk, &c);
			s_boot(s, id);
		}
		say(s, "ok\n");
	} else if (strcmp(cmd, "join") == 0 && node_ok) {
		s_boot(s, a);
		say(s, "ok\n");
	} else if (strcmp(cmd, "campaign") == 0 && node_ok) {
		for (int t = 0; t < 100 && elector_role(s->nodes[a].e) == ELECTOR_FOLLOWER; t++) {
			elector_tick(s->nodes[a].e);
			s_drain(s, a);
		}
		say(s, "%s\n", elector_role_name(elector_role(s->nodes[a].e)));
	} else if (strcmp(cmd, "tick") == 0 && node_ok) {
		for (unsigned long long t = 0; t < (got == 3 ? b : 1); t++) {
			elector_tick(s->nodes[a].e);
			s_drain(s, a);
		}
		say(s, "ok\n");
	} else if (strcmp(cmd, "stabilize") == 0) {
		for (int round = 0; round < 100 && s->queued > 0; round++)
			s_deliver(s, 0, 0, false);
	} else if (strcmp(cmd, "deliver") == 0 || strcmp(cmd, "drop") == 0) {
		s_deliver(s, got == 3 ? a : 0, got == 3 ? b : 0, cmd[1] == 'r');
	} else if (strcmp(cmd, "isolate") == 0 && node_ok) {
		s->isolated[a] = true;
		say(s, "ok\n");
	} else if (strcmp(cmd, "link-closed") == 0 && node_ok && got == 3) {
		elector_link_closed(s->nodes[a].e, b);
		s_drain(s, a);
		say(s, "%s\n", elector_role_name(elector_role(s->nodes[a].e)));
	} else if (strcmp(cmd, "v3") == 0 && node_ok) {
		s->v3[a] = true;
		for (int id = 1; id <= S_NODES_MAX; id++) {
			if (s->nodes[id].up)
				elector_set_compat(s->nodes[id].e, true);
		}
		say(s, "ok\n");
	} else if (strcmp(cmd, "heal") == 0) {
		memset(s->isolated, 0, sizeof(s->isolated));
		say(s, "ok\n");
	} else if (strcmp(cmd, "propose") == 0 && node_ok &&
		   sscanf(line, "%*s %*u %255s", text) == 1) {
		uint64_t index, term;
		const char *why;
		if (elector_propose(s->nodes[a].e, (const uint8_t *)text, strlen(text), &index,
				    &term, &why) == 0)
			say(s, "index %llu term %llu\n", (unsigned long long)index,
			    (unsigned long long)term);
		else
			say(s, "refused: %s\n", why);
		s_drain(s, a);
	} else if ((strcmp(cmd, "add") == 0 || strcmp(cmd, "remove") == 0) && node_ok && got == 3) {
		struct elector_member m;
		elector_testkit_member(b, &m);
		int rc = cmd[0] == 'a'
			     ? elector_propose_add(s->nodes[a].e, b, m.address, m.fingerprint)
			     : elector_propose_remove(s->nodes[a].e, b);
		say(s, rc == 0 ? "ok\n" : "refused\n");
		s_drain(s, a);
	} else if (strcmp(cmd, "crash") == 0 && node_ok) {
		elector_testkit_crash(&s->nodes[a]);
		say(s, "ok\n");
	} else if (strcmp(cmd, "restart") == 0 && node_ok) {
		s_boot(s, a);
		say(s, "ok\n");
	} else if (strcmp(cmd, "compact") == 0 && node_ok) {
		say(s, elector_testkit_compact(&s->nodes[a]) ? "ok\n" : "refused\n");
	} else if (strcmp(cmd, "log") == 0 && node_ok) {
		s_log(s, a);
	} else if (strcmp(cmd, "status") == 0) {
		s_status(s);
	} else {
		ck_abort_msg("unknown command or arguments: %s", line);
	}
}

static void s_free(struct scenario *s)
{
	for (int id = 0; id <= S_NODES_MAX; id++) {
		elector_free(s->nodes[id].e);
		elector_testkit_disk_free(&s->nodes[id].disk);
	}
	for (size_t k = 0; k < s->queued; k++)
		elector_testkit_msg_free(s->queue[k]);
	free(s->out);
}

/* Runs the script at `path`; its mismatches in `failures` (one line each). */
static void s_run_file(const char *path, bool rewrite, char *failures, size_t size)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	static struct scenario s;
	memset(&s, 0, sizeof(s));
	char line[1024];
	unsigned lineno = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n') {
			fputs(line, mem);
			continue;
		}
		line[strcspn(line, "\n")] = '\0';
		unsigned cmd_line = lineno;
		fprintf(mem, "%s\n", line);
		s.out_len = 0;
		if (s.out != NULL)
			s.out[0] = '\0';
		s_command(&s, line);
		/* The expected output: after "----", up to a blank line. */
		char expected[16384] = "";
		size_t at = 0;
		bool dashes = fgets(line, sizeof(line), f) != NULL && strcmp(line, "----\n") == 0;
		lineno++;
		ck_assert_msg(dashes, "%s:%u: a command without ---- after it", path, cmd_line);
		while (fgets(line, sizeof(line), f) != NULL && line[0] != '\n') {
			lineno++;
			at += (size_t)snprintf(expected + at, sizeof(expected) - at, "%s", line);
		}
		lineno++;
		const char *got = s.out != NULL ? s.out : "";
		fprintf(mem, "----\n%s\n", rewrite ? got : expected);
		if (!rewrite && strcmp(got, expected) != 0 && strlen(failures) + 200 < size)
			snprintf(failures + strlen(failures), size - strlen(failures),
				 "%s:%u: %s\n  expected:\n%s  got:\n%s", path, cmd_line,
				 line[0] ? "" : "", expected, got);
	}
	fclose(f);
	fclose(mem);
	if (rewrite) {
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fwrite(text, 1, len, f);
		fclose(f);
	}
	free(text);
	s_free(&s);
}

START_TEST(test_scenario_scripts)
{
	const char *dir = "elector_scenarios";
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	bool rewrite = getenv("ELECTOR_SCENARIOS_REWRITE") != NULL;
	static char failures[65536];
	failures[0] = '\0';
	unsigned count = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".txt") != 0)
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		s_run_file(path, rewrite, failures, sizeof(failures));
		count++;
	}
	closedir(d);
	ck_assert_msg(count >= 4, "only %u scenario scripts", count);
	/* Check's messages are bounded: the first mismatches. */
	failures[3000] = '\0';
	ck_assert_msg(failures[0] == '\0', "%s", failures);
}
END_TEST

Suite *elector_scenarios_suite(void)
{
	Suite *s = suite_create("elector_scenarios");
	TCase *tc = tcase_create("elector_scenarios");
	tcase_add_test(tc, test_scenario_scripts);
	suite_add_tcase(s, tc);
	return s;
}
