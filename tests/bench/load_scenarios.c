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
 *                 on the survivors
 *
 * A message body is "SEQ SENT_NS": the receiver counts gaps and repeats
 * by sequence and latency from the time it was sent (one clock: one host).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

#define SECOND_NS	 1000000000LL
#define LOGIN_DEADLINE_S 180
#define DRAIN_MS	 5000
#define IDLE_REST_MS	 12000 /* parsers freed after 5 s idle, memory trimmed every 10 s */

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
	uint64_t sent, received, duplicated, reordered, expected;
	uint8_t *seen; /* a bit per sequence number that arrived */
	size_t seen_bytes;
	int64_t last_ns, longest_gap_ns;
	bool iq; /* alternate messages and iq (to a component) */
};

static struct flow *flows;
static unsigned flow_count;
static bool sending;
static bool closed_loop; /* chat and bridges; failover sends at a steady rate */

static void flow_send(struct flow *f)
{
	int64_t now = load_now_ns();
	uint64_t seq = f->sent++;
	if (f->iq && seq % 2 == 1)
		load_sendf(f->from,
			   "<iq type='get' to='%s' id='q%" PRIu64 "_%" PRId64 "'><query "
			   "xmlns='jabber:iq:version'/></iq>",
			   f->to->jid, seq, now);
	else
		load_sendf(f->from,
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
	if (f->last_ns != 0 && now - f->last_ns > f->longest_gap_ns)
		f->longest_gap_ns = now - f->last_ns;
	f->last_ns = now;
	sample(now - sent_ns);
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
		return;
	}
	f->seen[byte] |= bit;
	f->received++;
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

/* Messages the server sent back as errors (no route, or no leader within
 * cluster.queue_max_wait): not delivered, but not silently lost either. */
static uint64_t bounced;

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
	uint64_t sent, received, duplicated, reordered;
	int64_t longest_gap_ns;
};

static struct totals flow_totals(void)
{
	struct totals t = {0};
	for (unsigned i = 0; i < flow_count; i++) {
		t.sent += flows[i].sent;
		t.received += flows[i].received;
		t.duplicated += flows[i].duplicated;
		t.reordered += flows[i].reordered;
		if (flows[i].longest_gap_ns > t.longest_gap_ns)
			t.longest_gap_ns = flows[i].longest_gap_ns;
	}
	return t;
}

static bool all_delivered(void *arg)
{
	(void)arg;
	struct totals t = flow_totals();
	return t.received + t.duplicated >= t.sent;
}

/* Lost: sent and never seen (gaps inside the sequence included). */
static void report_flows(struct load_report *r, struct totals t, double seconds,
			 uint64_t received_in_window, double server_cpu)
{
	report_add(r, "delivered_per_s", received_in_window / seconds, "msg/s");
	if (received_in_window > 0)
		report_add(r, "server_cpu_per_1000", server_cpu * 1000.0 / received_in_window, "s");
	report_latency(r);
	report_add(r, "lost", (double)(t.sent - t.received), "msg");
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
	for (unsigned i = 0; i < O->sessions; i++)
		xmpp_session_init(&sessions[i], O, i, i % O->accounts, O->ports[0], &login_events,
				  NULL);
	long rss_before = server_rss_kib(O->server_root);
	double cpu_before = server_cpu_seconds(O->server_root), own_before = own_cpu_seconds();
	int64_t start = load_now_ns();
	if (login_all() == -1)
		return -1;
	double seconds = (double)(load_now_ns() - start) / SECOND_NS;
	double cpu = server_cpu_seconds(O->server_root) - cpu_before;
	report_add(r, "sessions", O->sessions, "");
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
	}
	close_all();
	return 0;
}

static int run_chat(struct load_report *r)
{
	/* Receivers on the last port given: another node in a cluster run. */
	uint16_t receive_port = O->ports[O->port_count - 1];
	sessions_alloc(2 * O->pairs);
	flows = calloc(O->pairs, sizeof(*flows));
	flow_count = O->pairs;
	for (unsigned i = 0; i < O->pairs; i++) {
		xmpp_session_init(&sessions[2 * i], O, 2 * i, (2 * i) % O->accounts, O->ports[0],
				  &login_events, NULL);
		xmpp_session_init(&sessions[2 * i + 1], O, 2 * i + 1, (2 * i + 1) % O->accounts,
				  receive_port, &login_events, &flows[i]);
		flows[i].from = &sessions[2 * i];
		flows[i].to = &sessions[2 * i + 1];
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
 * log in again on the followers. */

/* A re-login that fails is tried again on the other survivor, as a client
 * would, up to this many times. */
#define STORM_ATTEMPTS	 5
#define STORM_DEADLINE_S 120

static unsigned storm_first, storm_count, storm_back, storm_retries, storm_gave_up;
static unsigned lost_sessions;
static uint8_t *storm_attempts;
static int64_t killed_ns, storm_back_ns;

static void on_storm_ready(struct session *s)
{
	if (killed_ns == 0)
		on_login_ready(s);
	else if (++storm_back == storm_count)
		storm_back_ns = load_now_ns();
}

static void on_storm_closed(struct session *s, const char *why);
static const struct session_events storm_events = {
    .ready = on_storm_ready, .stanza = NULL, .closed = on_storm_closed};

static void on_storm_closed(struct session *s, const char *why)
{
	if (killed_ns == 0) {
		on_login_closed(s, why);
		return;
	}
	/* Its node is gone (or the survivor refused it): log in again on a
	 * survivor, as a client would. */
	unsigned index = s->index, account = s->account;
	unsigned attempt = storm_attempts[index - storm_first]++;
	if (attempt == STORM_ATTEMPTS) {
		storm_gave_up++;
		fprintf(stderr, "rxmpp-load: a client of the dead leader gave up: %s\n", why);
		return;
	}
	storm_retries += attempt > 0;
	xmpp_session_init(s, O, index, account, O->ports[1 + (index + attempt) % 2], &storm_events,
			  NULL);
	if (load_connect(s, s->port) == -1)
		storm_gave_up++;
}

static bool storm_settled(void *arg)
{
	(void)arg;
	return storm_back + storm_gave_up == storm_count;
}

static void on_steady_closed(struct session *s, const char *why)
{
	if (killed_ns == 0 || s->ready_ns == 0) {
		on_login_closed(s, why);
		return;
	}
	lost_sessions++;
	fprintf(stderr, "rxmpp-load: a client of a surviving node was cut off: %s\n", why);
}

static const struct session_events steady_events = {.ready = on_login_ready,
						    .stanza = on_flow_stanza,
						    .closed = on_steady_closed,
						    .bounced = on_bounced};
static const struct session_events steady_bridge_events = {
    .ready = on_login_ready, .stanza = on_bridge_stanza, .closed = on_steady_closed};

static int run_failover(struct load_report *r)
{
	if (O->port_count < 3 || O->kill_count == 0) {
		fprintf(stderr, "rxmpp-load: failover needs --port LEADER,F1,F2 and --kill-pids\n");
		return -1;
	}
	unsigned pairs = O->pairs, users = O->pairs;
	storm_count = O->sessions;
	sessions_alloc(2 * pairs + users + 1 + storm_count);
	flow_count = pairs + users;
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
	storm_first = n;
	storm_attempts = calloc(storm_count + 1, 1);
	for (unsigned i = 0; i < storm_count; i++, n++)
		xmpp_session_init(&sessions[n], O, n, n % O->accounts, O->ports[0], &storm_events,
				  NULL);
	if (login_all() == -1)
		return -1;
	load_run_for(500);
	sending = true;
	int64_t start = load_now_ns(), end = start + (int64_t)O->seconds * SECOND_NS;
	int64_t kill_at = start + (int64_t)O->kill_after * SECOND_NS;
	for (int64_t now = start; now < end; now = load_now_ns()) {
		if (killed_ns == 0 && now >= kill_at) {
			for (size_t k = 0; k < O->kill_count; k++)
				kill(O->kill_pids[k], SIGKILL);
			killed_ns = load_now_ns();
		}
		/* Steady rate: each flow catches up with rate * elapsed. */
		uint64_t due = (uint64_t)((now - start) / 1000000) * O->rate / 1000;
		for (unsigned i = 0; i < flow_count; i++) {
			while (flows[i].sent < due && flows[i].from->state == SESSION_READY)
				flow_send(&flows[i]);
		}
		load_run_for(5);
	}
	sending = false;
	load_run_until(all_delivered, NULL, load_now_ns() + DRAIN_MS * 1000000LL);
	/* The storm may outlast the traffic. */
	load_run_until(storm_settled, NULL, load_now_ns() + STORM_DEADLINE_S * SECOND_NS);
	struct totals t = flow_totals();
	report_add(r, "pairs", pairs, "");
	report_add(r, "bridge_users", users, "");
	report_add(r, "rate_per_sender", O->rate, "msg/s");
	report_add(r, "longest_gap", t.longest_gap_ns / 1e6, "ms");
	report_add(r, "lost", (double)(t.sent - t.received), "msg");
	report_add(r, "bounced", (double)bounced, "msg");
	report_add(r, "duplicated", (double)t.duplicated, "msg");
	report_add(r, "reordered", (double)t.reordered, "msg");
	report_add(r, "cut_off_survivors", lost_sessions, "sessions");
	report_add(r, "storm_clients", storm_count, "");
	report_add(r, "storm_back", storm_back, "");
	report_add(r, "storm_retries", storm_retries, "");
	report_add(r, "storm_gave_up", storm_gave_up, "");
	if (storm_back == storm_count && killed_ns != 0)
		report_add(r, "relogin_all", (storm_back_ns - killed_ns) / 1e9, "s");
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
