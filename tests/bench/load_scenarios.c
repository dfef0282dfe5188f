/* SPDX-License-Identifier: MIT */
/*
 * The scenarios of rxmpp-load (see load.h and docs/PERFORMANCE.md):
 *
 *   idle N        N sessions logged in and held; the server's memory
 *   setup         N log-ins (TCP, TLS, SASL, bind) as fast as they go
 *   chat          P pairs, one-to-one messages with a window in flight
 *   cluster-chat  chat with senders on one node, receivers on another
 *   bridges       users and B components exchanging messages and iq
 *   failover      steady traffic across followers and a bridge while the
 *                 leader's processes are killed; its clients log in again
 *                 on the survivors; with --sm-clients, clients with stream
 *                 management on a follower killed resume on the survivors
 *
 * A message body is "SEQ SENT_NS": the receiver counts gaps and repeats
 * by sequence and latency from the time it was sent (one clock: one host).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "load.h"

#define SECOND_NS	 1000000000LL
#define LOGIN_DEADLINE_S 180
#define DRAIN_MS	 5000
#define IDLE_REST_MS	 12000 /* parsers freed after 5 s idle, memory trimmed every 10 s */
/* Delivered, but later than this after it was sent: late, not lost. */
#define LATE_MS 1000
/* Failover: a gap that begins this long after the kill is past the
 * election (timeouts of 0.5-1 s, then a vote) and is the storm's. */
#define STORM_GAP_AFTER_MS 2000

static const struct load_options *O;
static struct session *sessions;
static unsigned session_count;

/* Log-ins */

static unsigned login_next, login_ready, login_failed, login_active;
static char login_error[256];

static void login_more(void);

static void on_login_ready(struct session *s)
{
	(void)s;
	login_ready++;
	login_active--;
	login_more();
}

static void on_login_closed(struct session *s, const char *why)
{
	if (s->ready_ns == 0) {
		login_failed++;
		login_active--;
		snprintf(login_error, sizeof(login_error), "%s", why);
		login_more();
	}
}

static void login_more(void)
{
	while (login_active < O->concurrency && login_next < session_count) {
		struct session *s = &sessions[login_next++];
		login_active++;
		if (load_connect(s, s->port) == -1) {
			login_failed++;
			login_active--;
			snprintf(login_error, sizeof(login_error), "cannot connect");
		}
	}
}

static bool logins_done(void *arg)
{
	(void)arg;
	return login_ready + login_failed == session_count;
}

/* Connects every session in `sessions`, `concurrency` at a time; -1 when
 * one of them fails. */
static int login_all(void)
{
	login_next = login_ready = login_failed = login_active = 0;
	login_more();
	if (!load_run_until(logins_done, NULL, load_now_ns() + LOGIN_DEADLINE_S * SECOND_NS)) {
		fprintf(stderr, "rxmpp-load: %u of %u sessions ready after %d s\n", login_ready,
			session_count, LOGIN_DEADLINE_S);
		return -1;
	}
	if (login_failed > 0) {
		fprintf(stderr, "rxmpp-load: %u log-ins failed, the last: %s\n", login_failed,
			login_error);
		return -1;
	}
	return 0;
}

static void close_all(void)
{
	for (unsigned i = 0; i < session_count; i++) {
		if (sessions[i].state != SESSION_CLOSED && sessions[i].fd != -1)
			load_send(&sessions[i], "</stream:stream>", 16);
	}
	load_run_for(200);
	for (unsigned i = 0; i < session_count; i++)
		load_close(&sessions[i], "done");
}

/* Latency samples (microseconds) */

static uint32_t *samples;
static size_t sample_count, sample_cap;

static void sample(int64_t latency_ns)
{
	if (sample_count == sample_cap) {
		size_t cap = sample_cap ? sample_cap * 2 : 1 << 16;
		uint32_t *grown = realloc(samples, cap * sizeof(*grown));
		if (grown == NULL)
			return;
		samples = grown;
		sample_cap = cap;
	}
	samples[sample_count++] = (uint32_t)(latency_ns / 1000);
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static void report_latency(struct load_report *r)
{
	if (sample_count == 0)
		return;
	qsort(samples, sample_count, sizeof(*samples), by_value);
	report_add(r, "latency_p50", samples[sample_count / 2] / 1000.0, "ms");
	report_add(r, "latency_p99", samples[sample_count * 99 / 100] / 1000.0, "ms");
	report_add(r, "latency_max", samples[sample_count - 1] / 1000.0, "ms");
}

/* Numbered traffic: `from` sends to `to`, counted at `to` */

struct flow {
	struct session *from, *to;
	uint64_t sent, received, duplicated, reordered, late, expected;
	uint8_t *seen; /* a bit per sequence number that arrived */
	size_t seen_bytes;
	int64_t last_ns, longest_gap_ns, longest_gap_from_ns;
	int64_t longest_storm_gap_ns; /* failover: begun STORM_GAP_AFTER_MS past the kill */
	bool iq;		      /* alternate messages and iq (to a component) */
	bool sm; /* failover: to or from a client that resumes; no gaps, no latency */
};

/* Messages the server sent back as errors (no route, or no leader within
 * cluster.queue_max_wait): not delivered, but not silently lost either. */
static uint64_t bounced;
/* --sm-clients: messages that reached another resource of their user. */
static uint64_t sm_redirected;

static struct flow *flows;
static unsigned flow_count;
/* Failover: when the leader was killed (0 before, and in other scenarios). */
static int64_t killed_ns;
static bool sending;
static bool closed_loop; /* chat and bridges; failover sends at a steady rate */

static void flow_send(struct flow *f)
{
	int64_t now = load_now_ns();
	uint64_t seq = f->sent++;
	if (f->iq && seq % 2 == 1)
		load_sm_stanzaf(f->from,
				"<iq type='get' to='%s' id='q%" PRIu64 "_%" PRId64 "'><query "
				"xmlns='jabber:iq:version'/></iq>",
				f->to->jid, seq, now);
	else if (f->sm)
		load_sm_stanzaf(f->from,
				"<message to='%s' type='chat'><body>%" PRIu64 " %" PRId64
				" %u</body></message>",
				f->to->jid, seq, now, (unsigned)(f - flows));
	else
		load_sm_stanzaf(f->from,
				"<message to='%s' type='chat'><body>%" PRIu64 " %" PRId64
				"</body></message>",
				f->to->jid, seq, now);
}

/* What arrived at the end of a flow, as "SEQ NS" (or an iq id "qSEQ_NS"). */
static void flow_arrived(struct flow *f, const char *text)
{
	uint64_t seq;
	int64_t sent_ns;
	if (sscanf(text, text[0] == 'q' ? "q%" SCNu64 "_%" SCNd64 : "%" SCNu64 " %" SCNd64, &seq,
		   &sent_ns) != 2)
		return;
	int64_t now = load_now_ns();
	/* A flow of a client that resumes has the outage in it: no gap, no latency. */
	if (!f->sm) {
		if (f->last_ns != 0 && now - f->last_ns > f->longest_gap_ns) {
			f->longest_gap_ns = now - f->last_ns;
			f->longest_gap_from_ns = f->last_ns;
		}
		if (killed_ns != 0 && f->last_ns >= killed_ns + STORM_GAP_AFTER_MS * 1000000LL &&
		    now - f->last_ns > f->longest_storm_gap_ns)
			f->longest_storm_gap_ns = now - f->last_ns;
		f->last_ns = now;
		sample(now - sent_ns);
	}
	if (seq >= f->sent)
		return; /* not ours */
	size_t byte = (size_t)(seq / 8);
	if (byte >= f->seen_bytes) {
		size_t size = f->seen_bytes ? f->seen_bytes : 1024;
		while (size <= byte)
			size *= 2;
		uint8_t *grown = realloc(f->seen, size);
		if (grown == NULL)
			return;
		memset(grown + f->seen_bytes, 0, size - f->seen_bytes);
		f->seen = grown;
		f->seen_bytes = size;
	}
	uint8_t bit = (uint8_t)(1u << (seq % 8));
	if (f->seen[byte] & bit) {
		f->duplicated++;
		/* The first few, with what names them in the servers' logs. */
		static unsigned told;
		if (f->sm && told++ < 10)
			fprintf(stderr,
				"rxmpp-load: message %" PRIu64
				" from %s to %s arrived twice (%.1f s "
				"after the kill)\n",
				seq, f->from->jid, f->to->jid,
				killed_ns ? (now - killed_ns) / 1e9 : -1.0);
		return;
	}
	f->seen[byte] |= bit;
	f->received++;
	if (now - sent_ns > LATE_MS * 1000000LL)
		f->late++;
	/* Arrived after a later one: late, not lost (and not a repeat). */
	if (seq < f->expected)
		f->reordered++;
	else
		f->expected = seq + 1;
}

/* Each flow's receiving session carries the flow as its arg. */
static void on_flow_stanza(struct session *s, bool iq, const char *from, const char *body)
{
	(void)from;
	struct flow *f = s->arg;
	unsigned named;
	/* The flows of --sm-clients name themselves (a peer receives several).
	 * One that reaches another resource of its user was sent on by the
	 * server when its session ended (RFC 6121 8.5.3.2): not its flow's. */
	if (sscanf(body, "%*u %*d %u", &named) == 1 && named < flow_count && flows[named].sm) {
		if (flows[named].to != s) {
			sm_redirected++;
			return;
		}
		f = &flows[named];
	}
	if (f == NULL)
		return;
	(void)iq;
	flow_arrived(f, body);
	/* Closed-loop: one arrival lets one more go (the window stays full). */
	if (sending && closed_loop && f->from->state == SESSION_READY)
		flow_send(f);
}

/* A component answers: messages come back, iq get gets a result. */
static void on_bridge_stanza(struct session *s, bool iq, const char *from, const char *body)
{
	if (iq)
		load_sendf(s, "<iq type='result' from='%s' to='%s' id='%s'/>", s->jid, from, body);
	else
		load_sendf(s, "<message from='%s' to='%s' type='chat'><body>%s</body></message>",
			   s->jid, from, body);
}

static void on_bounced(struct session *s)
{
	(void)s;
	bounced++;
}

static const struct session_events login_events = {.ready = on_login_ready,
						   .stanza = on_flow_stanza,
						   .closed = on_login_closed,
						   .bounced = on_bounced};
static const struct session_events bridge_events = {
    .ready = on_login_ready, .stanza = on_bridge_stanza, .closed = on_login_closed};

static void start_window(void)
{
	sending = true;
	closed_loop = true;
	for (unsigned i = 0; i < flow_count; i++) {
		for (unsigned w = 0; w < O->window; w++)
			flow_send(&flows[i]);
	}
}

struct totals {
	uint64_t sent, received, duplicated, reordered, late;
	int64_t longest_gap_ns, longest_gap_from_ns, longest_storm_gap_ns;
};

/* Flows first, first+step, ... below first+count. */
static struct totals flow_totals_of(unsigned first, unsigned count, unsigned step)
{
	struct totals t = {0};
	for (unsigned i = first; i < first + count; i += step) {
		t.sent += flows[i].sent;
		t.received += flows[i].received;
		t.duplicated += flows[i].duplicated;
		t.reordered += flows[i].reordered;
		t.late += flows[i].late;
		if (flows[i].longest_gap_ns > t.longest_gap_ns) {
			t.longest_gap_ns = flows[i].longest_gap_ns;
			t.longest_gap_from_ns = flows[i].longest_gap_from_ns;
		}
		if (flows[i].longest_storm_gap_ns > t.longest_storm_gap_ns)
			t.longest_storm_gap_ns = flows[i].longest_storm_gap_ns;
	}
	return t;
}

static struct totals flow_totals(void)
{
	return flow_totals_of(0, flow_count, 1);
}

static bool all_delivered(void *arg)
{
	(void)arg;
	struct totals t = flow_totals();
	return t.received + bounced >= t.sent;
}

/* Lost: sent, never seen (gaps inside the sequence included) and not
 * bounced back either. */
static uint64_t flows_lost(struct totals t)
{
	return t.sent > t.received + bounced ? t.sent - t.received - bounced : 0;
}

static void report_flows(struct load_report *r, struct totals t, double seconds,
			 uint64_t received_in_window, double server_cpu)
{
	report_add(r, "delivered_per_s", received_in_window / seconds, "msg/s");
	if (received_in_window > 0)
		report_add(r, "server_cpu_per_1000", server_cpu * 1000.0 / received_in_window, "s");
	report_latency(r);
	report_add(r, "lost", (double)flows_lost(t), "msg");
	report_add(r, "bounced", (double)bounced, "msg");
	report_add(r, "duplicated", (double)t.duplicated, "msg");
	report_add(r, "reordered", (double)t.reordered, "msg");
}

/* The measured phase of chat and bridges: every flow keeps its window
 * full for O->seconds, then what is in flight may arrive (DRAIN_MS). */
static void measure_flows(struct load_report *r)
{
	load_run_for(500); /* presence settles */
	double cpu_before = server_cpu_seconds(O->server_root), own_before = own_cpu_seconds();
	int64_t start = load_now_ns();
	start_window();
	load_run_for(O->seconds * 1000);
	sending = false;
	double seconds = (double)(load_now_ns() - start) / SECOND_NS;
	uint64_t in_window = flow_totals().received;
	double cpu = server_cpu_seconds(O->server_root) - cpu_before;
	double own = own_cpu_seconds() - own_before;
	load_run_until(all_delivered, NULL, load_now_ns() + DRAIN_MS * 1000000LL);
	report_flows(r, flow_totals(), seconds, in_window, cpu);
	report_add(r, "load_cpu_per_1000", in_window ? own * 1000.0 / in_window : 0, "s");
	close_all();
}

/* Scenarios */

static void sessions_alloc(unsigned count)
{
	session_count = count;
	sessions = calloc(count, sizeof(*sessions));
	if (sessions == NULL) {
		fprintf(stderr, "rxmpp-load: out of memory for %u sessions\n", count);
		exit(1);
	}
}

static int run_idle_or_setup(struct load_report *r, bool idle)
{
	sessions_alloc(O->sessions);
	for (unsigned i = 0; i < O->sessions; i++) {
		xmpp_session_init(&sessions[i], O, i, i % O->accounts, O->ports[0], &login_events,
				  NULL);
		if (O->sm)
			load_sm_attach(&sessions[i], O->sm_ack);
	}
	if (O->resume) {
		/* A first round only to be given tickets: the figures are the
		 * second's, each log-in offering its ticket. */
		if (login_all() == -1)
			return -1;
		close_all();
		for (unsigned i = 0; i < O->sessions; i++)
			xmpp_session_init(&sessions[i], O, i, i % O->accounts, O->ports[0],
					  &login_events, NULL);
	}
	unsigned resumed_before = load_resumed;
	long rss_before = server_rss_kib(O->server_root);
	long keeper_before = O->keeper_root ? server_rss_kib(O->keeper_root) : 0;
	double cpu_before = server_cpu_seconds(O->server_root), own_before = own_cpu_seconds();
	int64_t start = load_now_ns();
	if (login_all() == -1)
		return -1;
	double seconds = (double)(load_now_ns() - start) / SECOND_NS;
	double cpu = server_cpu_seconds(O->server_root) - cpu_before;
	report_add(r, "sessions", O->sessions, "");
	report_add(r, "resumed", load_resumed - resumed_before, "");
	report_add(r, "setup_per_s", O->sessions / seconds, "sessions/s");
	report_add(r, "server_cpu_per_setup", cpu * 1000.0 / O->sessions, "ms");
	report_add(r, "load_cpu_per_setup", (own_cpu_seconds() - own_before) * 1000.0 / O->sessions,
		   "ms");
	if (idle) {
		load_run_for(IDLE_REST_MS);
		long rss = server_rss_kib(O->server_root);
		report_add(r, "server_rss_before", (double)rss_before, "KiB");
		report_add(r, "server_rss_with_sessions", (double)rss, "KiB");
		report_add(r, "per_session", (double)(rss - rss_before) / O->sessions, "KiB");
		if (O->keeper_root) {
			/* The node that keeps them for their resumption (--sm). */
			long keeper = server_rss_kib(O->keeper_root);
			report_add(r, "keeper_rss_before", (double)keeper_before, "KiB");
			report_add(r, "keeper_rss_with_sessions", (double)keeper, "KiB");
			report_add(r, "keeper_per_session",
				   (double)(keeper - keeper_before) / O->sessions, "KiB");
		}
	}
	close_all();
	return 0;
}

static int run_chat(struct load_report *r)
{
	/* Receivers on the last port given: another node in a cluster run. */
	uint16_t receive_port = O->ports[O->port_count - 1];
	unsigned ways = O->both_ways ? 2 : 1;
	sessions_alloc(2 * O->pairs);
	flows = calloc(ways * O->pairs, sizeof(*flows));
	flow_count = ways * O->pairs;
	/* Flow i goes from session 2i to 2i+1; with both ways, flow P+i goes
	 * back.  A session's arg is the flow it receives. */
	for (unsigned i = 0; i < O->pairs; i++) {
		xmpp_session_init(&sessions[2 * i], O, 2 * i, (2 * i) % O->accounts, O->ports[0],
				  &login_events, ways == 2 ? &flows[O->pairs + i] : NULL);
		xmpp_session_init(&sessions[2 * i + 1], O, 2 * i + 1, (2 * i + 1) % O->accounts,
				  receive_port, &login_events, &flows[i]);
		if (O->sm) {
			load_sm_attach(&sessions[2 * i], O->sm_ack);
			load_sm_attach(&sessions[2 * i + 1], O->sm_ack);
		}
		flows[i].from = &sessions[2 * i];
		flows[i].to = &sessions[2 * i + 1];
		if (ways == 2) {
			flows[O->pairs + i].from = &sessions[2 * i + 1];
			flows[O->pairs + i].to = &sessions[2 * i];
		}
	}
	if (login_all() == -1)
		return -1;
	report_add(r, "pairs", O->pairs, "");
	measure_flows(r);
	return 0;
}

static int run_bridges(struct load_report *r)
{
	unsigned users = O->pairs;
	sessions_alloc(users + O->bridges);
	flows = calloc(users, sizeof(*flows));
	flow_count = users;
	for (unsigned b = 0; b < O->bridges; b++)
		xmpp_component_init(&sessions[users + b], O, b, &bridge_events, NULL);
	for (unsigned i = 0; i < users; i++) {
		/* The user is both ends of its flow: out to a bridge and back. */
		xmpp_session_init(&sessions[i], O, i, i % O->accounts, O->ports[0], &login_events,
				  &flows[i]);
		flows[i].from = &sessions[i];
		flows[i].to = &sessions[users + i % O->bridges];
		flows[i].iq = true;
	}
	if (login_all() == -1)
		return -1;
	report_add(r, "users", users, "");
	report_add(r, "bridges", O->bridges, "");
	measure_flows(r);
	return 0;
}

/* Failover: traffic at a steady rate between clients on the two followers
 * (ports[1], ports[2]) and from users on the second follower to a bridge on
 * the first, while `storm` clients sit on the leader (ports[0]).  After
 * kill_after seconds the leader's processes get SIGKILL; the storm clients
 * log in again on the followers.
 *
 * Two processes, so that the instrument does not starve what it measures:
 * this one holds the flows, kills the leader and reports; a child forked
 * here holds the storm clients and logs them in again,
 * `relogin_concurrency` at a time (on one loop,
 * 10,000 re-logins at once left the flows' sockets unread for seconds and
 * their messages were counted as lost).  The flows go on until the storm
 * is over, then every message still on its way gets FINAL_DRAIN_MS. */

/* A re-login that fails is tried again on the other survivor, as a client
 * would, up to this many times. */
#define STORM_ATTEMPTS	 5
#define STORM_DEADLINE_S 120
#define FINAL_DRAIN_MS	 30000
/* How often the survivors' memory is read during the storm. */
#define RSS_SAMPLE_MS 200

/* The storm process's word to the flows' process, over a pipe (one write
 * each, smaller than PIPE_BUF: never split). */
struct storm_word {
	bool final;    /* false: logged in on the leader (or failed); true: the storm is over */
	bool ok;       /* the first log-in of every storm client succeeded */
	unsigned back; /* logged in again on a survivor */
	unsigned retries, gave_up;
	int64_t back_ns;  /* when the last came back */
	double cpu;	  /* the storm process's CPU seconds from the kill to the end */
	unsigned resumed; /* re-log-ins that resumed their TLS session (--resume) */
};

enum storm_client { STORM_ON_LEADER, STORM_RELOGGING, STORM_QUEUED, STORM_BACK };

static unsigned storm_first, storm_count, storm_back, storm_retries, storm_gave_up, storm_relogging;
static uint8_t *storm_attempts, *storm_state;
static unsigned *storm_queue, storm_queue_head, storm_queue_len;
static bool storm_armed;
static int64_t storm_back_ns;
static pid_t storm_parent;

static void storm_relogin_more(void)
{
	while (storm_relogging < O->relogin_concurrency && storm_queue_len > 0) {
		unsigned index = storm_queue[storm_queue_head];
		storm_queue_head = (storm_queue_head + 1) % storm_count;
		storm_queue_len--;
		struct session *s = &sessions[index];
		unsigned attempt = storm_attempts[index]++;
		storm_retries += attempt > 0;
		xmpp_session_init(s, O, s->index, s->account, O->ports[1 + (index + attempt) % 2],
				  s->events, NULL);
		storm_state[index] = STORM_RELOGGING;
		storm_relogging++;
		if (load_connect(s, s->port) == -1) {
			storm_state[index] = STORM_ON_LEADER;
			storm_relogging--;
			storm_gave_up++;
		}
	}
}

static void on_storm_ready(struct session *s)
{
	if (!storm_armed) {
		on_login_ready(s);
		return;
	}
	storm_state[s->index - storm_first] = STORM_BACK;
	storm_relogging--;
	if (++storm_back == storm_count)
		storm_back_ns = load_now_ns();
	storm_relogin_more();
}

static void on_storm_closed(struct session *s, const char *why)
{
	if (!storm_armed) {
		on_login_closed(s, why);
		return;
	}
	/* Its node is gone (or the survivor refused it): it logs in again on a
	 * survivor, as a client would, when its turn comes. */
	unsigned index = s->index - storm_first;
	if (storm_state[index] == STORM_RELOGGING)
		storm_relogging--;
	else if (storm_state[index] == STORM_BACK)
		storm_back--;
	if (storm_attempts[index] == STORM_ATTEMPTS) {
		storm_state[index] = STORM_ON_LEADER;
		storm_gave_up++;
		fprintf(stderr, "rxmpp-load: a client of the dead leader gave up: %s\n", why);
	} else {
		storm_state[index] = STORM_QUEUED;
		storm_queue[(storm_queue_head + storm_queue_len++) % storm_count] = index;
	}
	storm_relogin_more();
}

static const struct session_events storm_events = {
    .ready = on_storm_ready, .stanza = NULL, .closed = on_storm_closed};

static bool storm_settled(void *arg)
{
	(void)arg;
	/* The flows' process is gone: nobody waits for this one. */
	if (getppid() != storm_parent)
		exit(1);
	return storm_back + storm_gave_up == storm_count;
}

/* The child: logs the storm clients in on the leader, says so, and after
 * the kill brings them back; says when they all are.  Never returns. */
static void storm_process(int to_flows)
{
	struct storm_word word = {0};
	if (load_loop_init(O) == -1)
		exit(1);
	sessions_alloc(storm_count);
	storm_attempts = calloc(storm_count, 1);
	storm_state = calloc(storm_count, 1);
	storm_queue = calloc(storm_count, sizeof(*storm_queue));
	if (storm_attempts == NULL || storm_state == NULL || storm_queue == NULL)
		exit(1);
	/* Numbered after the flows' sessions: resources r<index> do not clash. */
	for (unsigned i = 0, n = storm_first; i < storm_count; i++, n++)
		xmpp_session_init(&sessions[i], O, n, n % O->accounts, O->ports[0], &storm_events,
				  NULL);
	word.ok = login_all() == 0;
	storm_armed = true;
	if (write(to_flows, &word, sizeof(word)) != sizeof(word) || !word.ok)
		exit(1);
	int64_t deadline =
	    load_now_ns() + (int64_t)(O->kill_after + O->seconds + STORM_DEADLINE_S) * SECOND_NS;
	/* Until the kill it only keeps idle sessions: its CPU is the re-login's. */
	double cpu_before = own_cpu_seconds();
	unsigned resumed_before = load_resumed;
	load_run_until(storm_settled, NULL, deadline);
	word = (struct storm_word){.final = true,
				   .ok = true,
				   .back = storm_back,
				   .retries = storm_retries,
				   .gave_up = storm_count - storm_back,
				   .back_ns = storm_back_ns,
				   .cpu = own_cpu_seconds() - cpu_before,
				   .resumed = load_resumed - resumed_before};
	if (write(to_flows, &word, sizeof(word)) != sizeof(word))
		exit(1);
	close_all();
	exit(0);
}

/* The flows' process */

static unsigned lost_sessions;
static int storm_pipe = -1;
static struct storm_word storm_heard;
static bool storm_heard_first, storm_heard_final;

static bool storm_listen(void *arg)
{
	(void)arg;
	struct storm_word word;
	while (read(storm_pipe, &word, sizeof(word)) == sizeof(word)) {
		if (word.final) {
			storm_heard = word;
			storm_heard_final = true;
		} else {
			storm_heard.ok = word.ok;
			storm_heard_first = true;
		}
	}
	return storm_heard_first;
}

static void on_steady_closed(struct session *s, const char *why)
{
	if (!sending || s->ready_ns == 0) {
		on_login_closed(s, why);
		return;
	}
	lost_sessions++;
	fprintf(stderr,
		"rxmpp-load: a client of a surviving node was cut off (%s, port %u, %.1f s after "
		"the kill): %s\n",
		s->jid, s->port, killed_ns ? (load_now_ns() - killed_ns) / 1e9 : -1.0, why);
}

static void on_failover_bounced(struct session *s);
static const struct session_events steady_events = {.ready = on_login_ready,
						    .stanza = on_flow_stanza,
						    .closed = on_steady_closed,
						    .bounced = on_failover_bounced};
static const struct session_events steady_bridge_events = {
    .ready = on_login_ready, .stanza = on_bridge_stanza, .closed = on_steady_closed};

/* --sm-clients: clients with stream management on the node killed
 * (ports[0], a follower), each with a peer on a survivor, one numbered
 * message every sm_interval_ms each way.  After the kill each resumes its
 * session on a survivor (spread over both, `relogin_concurrency` at a
 * time, tried again on the other one if a connection fails).  Sessions
 * sm_first.. are theirs: the clients, then sm_peers peers (client i talks
 * with peer i % sm_peers: fewer peers than clients keep 10,000 clients and
 * their peers within one process's descriptors); flows sm_flow..: the
 * peer's to the client 2i, the client's to the peer 2i+1. */

enum sm_client { SM_AWAY, SM_QUEUED, SM_RESUMING, SM_BACK };

static unsigned sm_count, sm_peers, sm_first, sm_flow, sm_back, sm_retries, sm_gave_up,
    sm_resuming_now;
static uint8_t *sm_attempts, *sm_state;
static unsigned *sm_queue, sm_queue_head, sm_queue_len;
static bool sm_armed;
static int64_t sm_back_ns;
static uint64_t sm_bounced;
static unsigned sm_cuts; /* resumptions cut before they went through, or after */

static void sm_resume_more(void)
{
	while (sm_resuming_now < O->relogin_concurrency && sm_queue_len > 0) {
		unsigned i = sm_queue[sm_queue_head];
		sm_queue_head = (sm_queue_head + 1) % sm_count;
		sm_queue_len--;
		struct session *s = &sessions[sm_first + i];
		unsigned attempt = sm_attempts[i]++;
		sm_retries += attempt > 0;
		xmpp_session_init(s, O, s->index, s->account, O->ports[1 + (i + attempt) % 2],
				  s->events, s->arg);
		sm_state[i] = SM_RESUMING;
		sm_resuming_now++;
		if (load_connect(s, s->port) == -1) {
			sm_state[i] = SM_AWAY;
			sm_resuming_now--;
			sm_gave_up++;
		}
	}
}

static void on_sm_ready(struct session *s)
{
	if (!sm_armed) {
		on_login_ready(s);
		return;
	}
	unsigned i = s->index - sm_first;
	sm_state[i] = SM_BACK;
	sm_resuming_now--;
	if (++sm_back == sm_count)
		sm_back_ns = load_now_ns();
	sm_resume_more();
}

static void on_sm_closed(struct session *s, const char *why)
{
	if (!sm_armed) {
		on_login_closed(s, why);
		return;
	}
	unsigned i = s->index - sm_first;
	/* The first few reasons a resumption did not go through, or a resumed
	 * session ended, as seen. */
	bool back = sm_state[i] == SM_BACK;
	if ((sm_state[i] == SM_RESUMING || back) && sm_cuts++ < 10)
		fprintf(stderr, "rxmpp-load: %s (%s, attempt %u, %.1f s after the kill): %s\n",
			back ? "a resumed session was cut" : "a resumption was cut", s->jid,
			sm_attempts[i], (load_now_ns() - killed_ns) / 1e9, why);
	if (sm_state[i] == SM_RESUMING)
		sm_resuming_now--;
	else if (sm_state[i] == SM_BACK)
		sm_back--;
	if (sm_attempts[i] == STORM_ATTEMPTS) {
		sm_state[i] = SM_AWAY;
		if (sm_gave_up++ < 10)
			fprintf(stderr, "rxmpp-load: a client with stream management gave up: %s\n",
				why);
	} else {
		sm_state[i] = SM_QUEUED;
		sm_queue[(sm_queue_head + sm_queue_len++) % sm_count] = i;
	}
	sm_resume_more();
}

static bool sm_side(const struct session *s)
{
	return sm_count > 0 && s->index >= sm_first && s->index < sm_first + sm_count + sm_peers;
}

static void on_failover_bounced(struct session *s)
{
	bounced++;
	sm_bounced += sm_side(s);
}

static bool sm_settled(void)
{
	return !sm_armed || killed_ns == 0 || sm_back + sm_gave_up == sm_count;
}

/* Asks every client for an ack of what it still keeps. */
static bool sm_all_acked(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < sm_count; i++)
		if (load_sm_unacked(&sessions[sm_first + i]) > 0)
			return false;
	return true;
}

static void report_sm(struct load_report *r)
{
	for (unsigned i = 0; i < sm_count; i++) {
		struct session *s = &sessions[sm_first + i];
		if (s->state == SESSION_READY && load_sm_unacked(s) > 0)
			load_sendf(s, "<r xmlns='urn:xmpp:sm:3'/>");
	}
	load_run_until(sm_all_acked, NULL, load_now_ns() + DRAIN_MS * 1000000LL);
	unsigned unacked = 0;
	for (unsigned i = 0; i < sm_count; i++)
		unacked += load_sm_unacked(&sessions[sm_first + i]);
	struct totals to = flow_totals_of(sm_flow, 2 * sm_count, 2);
	struct totals from = flow_totals_of(sm_flow + 1, 2 * sm_count, 2);
	report_add(r, "sm_clients", sm_count, "");
	report_add(r, "sm_peers", sm_peers, "");
	report_add(r, "sm_resumed", load_sm_resumes, "");
	report_add(r, "sm_resume_failed", load_sm_failures, "");
	report_add(r, "sm_gave_up", sm_gave_up, "");
	report_add(r, "sm_retries", sm_retries, "");
	report_add(r, "sm_cut", sm_cuts, "");
	if (sm_back == sm_count && killed_ns != 0)
		report_add(r, "sm_resume_all", (sm_back_ns - killed_ns) / 1e9, "s");
	report_add(r, "sm_sent", (double)(to.sent + from.sent), "msg");
	report_add(r, "sm_sent_again", (double)load_sm_sent_again, "stanzas");
	report_add(r, "sm_lost_to_clients", (double)(to.sent - to.received), "msg");
	report_add(r, "sm_lost_from_clients", (double)(from.sent - from.received), "msg");
	report_add(r, "sm_bounced", (double)sm_bounced, "msg");
	report_add(r, "sm_redirected", (double)sm_redirected, "msg");
	report_add(r, "sm_duplicated", (double)(to.duplicated + from.duplicated), "msg");
	report_add(r, "sm_reordered", (double)(to.reordered + from.reordered), "msg");
	report_add(r, "sm_unacked_at_end", unacked, "stanzas");
}

static const struct session_events sm_events = {.ready = on_sm_ready,
						.stanza = on_flow_stanza,
						.closed = on_sm_closed,
						.bounced = on_failover_bounced};

static pid_t storm_start(void)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	fflush(NULL);
	storm_parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		close(fds[0]);
		storm_process(fds[1]);
	}
	close(fds[1]);
	if (child == -1) {
		close(fds[0]);
		return -1;
	}
	storm_pipe = fds[0];
	fcntl(storm_pipe, F_SETFL, O_NONBLOCK);
	return child;
}

static void storm_stop(pid_t child)
{
	int status;
	/* Our own child, by its PID; it ends by itself once it reported. */
	if (!storm_heard_final)
		kill(child, SIGTERM);
	waitpid(child, &status, 0);
	close(storm_pipe);
}

static int run_failover(struct load_report *r)
{
	if (O->port_count < 3 || O->kill_count == 0) {
		fprintf(stderr, "rxmpp-load: failover needs --port LEADER,F1,F2 and --kill-pids\n");
		return -1;
	}
	unsigned pairs = O->pairs, users = O->pairs;
	sm_count = O->sm_clients;
	sm_first = 2 * pairs + users + 1;
	sm_flow = pairs + users;
	storm_count = O->sessions;
	sm_peers = O->sm_peers == 0 || O->sm_peers > sm_count ? sm_count : O->sm_peers;
	storm_first = sm_first + sm_count + sm_peers;
	pid_t storm = storm_count > 0 ? storm_start() : 0;
	if (storm == -1) {
		fprintf(stderr, "rxmpp-load: cannot start the storm's process\n");
		return -1;
	}
	sessions_alloc(storm_first);
	flow_count = pairs + users + 2 * sm_count;
	flows = calloc(flow_count, sizeof(*flows));
	unsigned n = 0;
	for (unsigned i = 0; i < pairs; i++, n += 2) {
		uint16_t a = O->ports[1 + i % 2], b = O->ports[2 - i % 2];
		xmpp_session_init(&sessions[n], O, n, n % O->accounts, a, &steady_events, NULL);
		xmpp_session_init(&sessions[n + 1], O, n + 1, (n + 1) % O->accounts, b,
				  &steady_events, &flows[i]);
		flows[i].from = &sessions[n];
		flows[i].to = &sessions[n + 1];
	}
	struct session *bridge = &sessions[n++];
	xmpp_component_init(bridge, O, 0, &steady_bridge_events, NULL);
	for (unsigned i = 0; i < users; i++, n++) {
		struct flow *f = &flows[pairs + i];
		xmpp_session_init(&sessions[n], O, n, n % O->accounts, O->ports[2], &steady_events,
				  f);
		f->from = &sessions[n];
		f->to = bridge;
		f->iq = true;
	}
	sm_attempts = calloc(sm_count + 1, 1);
	sm_state = calloc(sm_count + 1, 1);
	sm_queue = calloc(sm_count + 1, sizeof(*sm_queue));
	if (sm_attempts == NULL || sm_state == NULL || sm_queue == NULL)
		return -1;
	for (unsigned j = 0; j < sm_peers; j++) {
		unsigned k = sm_first + sm_count + j;
		/* A peer receives several flows: each message names its own. */
		xmpp_session_init(&sessions[k], O, k, k % O->accounts, O->ports[1 + j % 2],
				  &steady_events, NULL);
	}
	for (unsigned i = 0; i < sm_count; i++, n++) {
		struct flow *to = &flows[sm_flow + 2 * i], *from = &flows[sm_flow + 2 * i + 1];
		struct session *peer = &sessions[sm_first + sm_count + i % sm_peers];
		xmpp_session_init(&sessions[n], O, n, n % O->accounts, O->ports[0], &sm_events, to);
		load_sm_attach(&sessions[n], O->sm_ack);
		to->from = from->to = peer;
		to->to = from->from = &sessions[n];
		to->sm = from->sm = true;
	}

	if (login_all() == -1 ||
	    (storm > 0 &&
	     (!load_run_until(storm_listen, NULL, load_now_ns() + LOGIN_DEADLINE_S * SECOND_NS) ||
	      !storm_heard.ok))) {
		if (storm > 0) {
			fprintf(stderr, "rxmpp-load: the storm clients did not log in\n");
			storm_stop(storm);
		}
		return -1;
	}
	if (storm == 0)
		storm_heard_final = true;
	sm_armed = true;
	load_run_for(500);
	long rss_before = server_rss_kib_except(O->server_root, O->kill_pids, O->kill_count);
	long rss_peak = rss_before;
	double own_before = own_cpu_seconds(), server_cpu_before = 0, listeners_cpu_before = 0;
	int64_t sampled_ns = 0;
	sending = true;
	int64_t start = load_now_ns(), end = start + (int64_t)O->seconds * SECOND_NS;
	int64_t kill_at = start + (int64_t)O->kill_after * SECOND_NS;
	int64_t give_up = end + (int64_t)STORM_DEADLINE_S * SECOND_NS;
	for (int64_t now = start;
	     (now < end || !storm_heard_final || !sm_settled()) && now < give_up;
	     now = load_now_ns()) {
		if (killed_ns == 0 && now >= kill_at) {
			server_cpu_before =
			    server_cpu_seconds_except(O->server_root, O->kill_pids, O->kill_count);
			listeners_cpu_before = server_cpu_seconds_named(
			    O->server_root, O->kill_pids, O->kill_count, "rxmpp-listener");
			for (size_t k = 0; k < O->kill_count; k++)
				kill(O->kill_pids[k], SIGKILL);
			killed_ns = load_now_ns();
		}
		if (killed_ns != 0 && (!storm_heard_final || !sm_settled()) &&
		    now - sampled_ns >= RSS_SAMPLE_MS * 1000000LL) {
			long rss =
			    server_rss_kib_except(O->server_root, O->kill_pids, O->kill_count);
			rss_peak = rss > rss_peak ? rss : rss_peak;
			sampled_ns = now;
		}
		/* Steady rate: each flow catches up with rate * elapsed. */
		uint64_t due = (uint64_t)((now - start) / 1000000) * O->rate / 1000;
		for (unsigned i = 0; i < flow_count; i++) {
			uint64_t owed = i < sm_flow
					    ? due
					    : (uint64_t)((now - start) / 1000000) /
						  (O->sm_interval_ms ? O->sm_interval_ms : 1);
			while (flows[i].sent < owed && flows[i].from->state == SESSION_READY)
				flow_send(&flows[i]);
		}
		load_run_for(5);
		if (storm > 0)
			storm_listen(NULL);
	}
	double server_cpu = server_cpu_seconds_except(O->server_root, O->kill_pids, O->kill_count) -
			    server_cpu_before;
	double listeners_cpu = server_cpu_seconds_named(O->server_root, O->kill_pids, O->kill_count,
							"rxmpp-listener") -
			       listeners_cpu_before;
	sending = false;
	/* The final pass: what is still on its way may arrive (late, if so). */
	load_run_until(all_delivered, NULL, load_now_ns() + FINAL_DRAIN_MS * 1000000LL);
	double own = own_cpu_seconds() - own_before;
	if (storm > 0)
		storm_stop(storm);
	/* The flows of the survivors' own clients (--sm-clients: theirs apart). */
	struct totals t = flow_totals_of(0, sm_flow, 1);
	uint64_t steady_bounced = bounced - sm_bounced;
	report_add(r, "pairs", pairs, "");
	report_add(r, "bridge_users", users, "");
	report_add(r, "rate_per_sender", O->rate, "msg/s");
	report_add(r, "sent", (double)t.sent, "msg");
	report_add(r, "longest_gap", t.longest_gap_ns / 1e6, "ms");
	/* Where it began, from the kill: the election's gap comes at once, the
	 * storm's (if any) later. */
	if (killed_ns != 0 && t.longest_gap_ns > 0)
		report_add(r, "longest_gap_began", (t.longest_gap_from_ns - killed_ns) / 1e6, "ms");
	report_add(r, "longest_gap_in_storm", t.longest_storm_gap_ns / 1e6, "ms");
	report_latency(r);
	report_add(r, "lost",
		   (double)(t.sent > t.received + steady_bounced
				? t.sent - t.received - steady_bounced
				: 0),
		   "msg");
	report_add(r, "late", (double)t.late, "msg");
	report_add(r, "bounced", (double)steady_bounced, "msg");
	report_add(r, "duplicated", (double)t.duplicated, "msg");
	report_add(r, "reordered", (double)t.reordered, "msg");
	report_add(r, "cut_off_survivors", lost_sessions, "sessions");
	report_add(r, "storm_clients", storm_count, "");
	report_add(r, "relogin_concurrency", O->relogin_concurrency, "");
	report_add(r, "storm_back", storm_heard.back, "");
	report_add(r, "storm_retries", storm_heard.retries, "");
	report_add(r, "storm_gave_up", storm_heard.gave_up, "");
	report_add(r, "storm_resumed", storm_heard.resumed, "");
	if (storm_count > 0 && storm_heard.back == storm_count && killed_ns != 0)
		report_add(r, "relogin_all", (storm_heard.back_ns - killed_ns) / 1e9, "s");
	report_add(r, "survivors_rss_before", (double)rss_before, "KiB");
	report_add(r, "survivors_rss_peak", (double)rss_peak, "KiB");
	report_add(r, "survivors_cpu", server_cpu, "s");
	/* Of which their listeners' (TLS, SASL, XML): the rest is routers,
	 * electors and the supervisors. */
	report_add(r, "survivors_cpu_listeners", listeners_cpu, "s");
	report_add(r, "load_cpu_flows", own, "s");
	report_add(r, "load_cpu_storm", storm_heard.cpu, "s");
	if (sm_count > 0)
		report_sm(r);
	sm_armed = false; /* closed now by the generator, not cut */
	close_all();
	return 0;
}

int scenario_run(const struct load_options *o, struct load_report *report)
{
	O = o;
	if (strcmp(o->scenario, "idle") == 0 || strcmp(o->scenario, "setup") == 0)
		return run_idle_or_setup(report, strcmp(o->scenario, "idle") == 0);
	if (strcmp(o->scenario, "chat") == 0 || strcmp(o->scenario, "cluster-chat") == 0)
		return run_chat(report);
	if (strcmp(o->scenario, "bridges") == 0)
		return run_bridges(report);
	if (strcmp(o->scenario, "failover") == 0)
		return run_failover(report);
	fprintf(stderr, "rxmpp-load: unknown scenario %s\n", o->scenario);
	return -1;
}
