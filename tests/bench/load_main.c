/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-load: options, the server's figures from /proc, and the report
 * (a table, or JSON with --json).  See load.h for the parts and
 * docs/PERFORMANCE.md for how the benchmarks use it.
 */
#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "load.h"

static const char usage[] =
    "usage: rxmpp-load SCENARIO [options]\n"
    "scenarios: idle, setup, chat, cluster-chat, bridges, failover\n"
    "  --host ADDR            the server's address (default 127.0.0.1)\n"
    "  --port P[,P2]          client port; chat takes receivers on the last one\n"
    "  --component-port P     call bridges (XEP-0114, TLS from the first byte)\n"
    "  --component-plain      call bridges without TLS\n"
    "  --domain D --ca FILE   the XMPP domain and the CA its certificate chains to\n"
    "  --user-prefix U        accounts U0, U1, ... (default bench)\n"
    "  --accounts N           how many of them to use (default 1)\n"
    "  --password P           every account's password (default bench-password)\n"
    "  --plain                SASL PLAIN instead of SCRAM-SHA-1\n"
    "  --bridge-prefix B      components B0.D, B1.D, ... (default cb)\n"
    "  --bridge-secret S      their shared secret\n"
    "  --sessions N --pairs P --bridges B --seconds T --window W --concurrency C\n"
    "  --both-ways            chat: both users of a pair send, each with W in flight\n"
    "  --server-root PID      measure this process and its descendants\n"
    "  --rate R               failover: messages per second per sender (default 20)\n"
    "  --kill-pids P,P...     failover: the leader node's processes, killed with SIGKILL\n"
    "  --kill-after S         failover: seconds of traffic before the kill (default 3)\n"
    "  (failover: --port LEADER,FOLLOWER1,FOLLOWER2; --sessions clients on the leader,\n"
    "   held by a second process that logs them in again on the followers;\n"
    "   the traffic runs at least --seconds and until they are all back)\n"
    "  --relogin-concurrency C  failover: re-log-ins under way at once (default:\n"
    "                         --concurrency; --sessions for a crowd all at once)\n"
    "  --resume               a client offers the TLS session (ticket) of its last\n"
    "                         connection on its next (failover: the clients of the\n"
    "                         killed leader offer the leader's tickets to the survivors;\n"
    "                         idle, setup: a first round fetches the tickets, the\n"
    "                         figures are the second's)\n"
    "  --sm                   idle, setup, chat: clients enable stream management\n"
    "                         (XEP-0198) and acknowledge as --sm-ack says\n"
    "  --sm-ack K             with stream management: <r/> after every K stanzas\n"
    "                         sent, <a/> after every K received (default 10)\n"
    "  --keeper-root PID      idle: also the memory of this node (the keeper of\n"
    "                         the sessions of another, --sm)\n"
    "  --sm-clients N         failover: N clients with stream management on the\n"
    "                         node killed (--port KILLED,SURVIVOR1,SURVIVOR2), each\n"
    "                         with a peer on a survivor; they resume on the survivors\n"
    "  --sm-interval MS       failover: one message every MS each way (default 1000)\n"
    "  --sm-peers P           failover: P peers, each talking with every P-th client\n"
    "                         (default: one per client)\n"
    "  --json                 JSON instead of a table\n";

void report_add(struct load_report *r, const char *name, double value, const char *unit)
{
	if (r->count == REPORT_FIGURES_MAX)
		return;
	r->names[r->count] = name;
	r->values[r->count] = value;
	r->units[r->count] = unit;
	r->count++;
}

struct proc_entry {
	int pid, ppid;
	double cpu;
	long rss_kib;
	bool counted;
	char name[16]; /* the command, as the kernel keeps it */
};

/* Every process, with parent, CPU seconds and resident memory. */
static size_t proc_scan(struct proc_entry **out)
{
	DIR *dir = opendir("/proc");
	size_t count = 0, cap = 0;
	*out = NULL;
	if (dir == NULL)
		return 0;
	long tick = sysconf(_SC_CLK_TCK), page_kib = sysconf(_SC_PAGESIZE) / 1024;
	struct dirent *d;
	while ((d = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		char path[300], buf[1024];
		snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* The command may hold spaces and parentheses: read after the last ')'. */
		char *p = strrchr(buf, ')');
		int ppid;
		unsigned long utime, stime;
		long rss;
		if (p == NULL ||
		    sscanf(p + 2,
			   "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d "
			   "%*d %*d %*d %*d %*u %*u %ld",
			   &ppid, &utime, &stime, &rss) != 4)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 512;
			struct proc_entry *grown = realloc(*out, cap * sizeof(**out));
			if (grown == NULL)
				break;
			*out = grown;
		}
		struct proc_entry *e = &(*out)[count++];
		*e = (struct proc_entry){atoi(d->d_name), ppid,	 (double)(utime + stime) / tick,
					 rss * page_kib,  false, ""};
		char *open = strchr(buf, '(');
		if (open != NULL && p > open)
			snprintf(e->name, sizeof(e->name), "%.*s", (int)(p - open - 1), open + 1);
	}
	closedir(dir);
	return count;
}

/* Marks `root` and its descendants, leaving out this program, its
 * ancestors (the driver that started both may be the root) and its own
 * children (the failover scenario's second process). */
static size_t proc_tree(int root, struct proc_entry **out)
{
	size_t n = proc_scan(out);
	struct proc_entry *p = *out;
	int self = getpid();
	int self_line[64];
	size_t self_count = 0;
	for (int pid = getpid(); pid > 1 && self_count < 64;) {
		self_line[self_count++] = pid;
		int parent = 0;
		for (size_t i = 0; i < n; i++)
			if (p[i].pid == pid)
				parent = p[i].ppid;
		pid = parent;
	}
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (p[i].counted)
				continue;
			bool in = p[i].pid == root;
			for (size_t j = 0; j < n && !in; j++)
				in = p[j].counted && p[j].pid == p[i].ppid && p[j].pid != self;
			if (in) {
				p[i].counted = true;
				grew = true;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < self_count; k++)
			if (p[i].pid == self_line[k])
				p[i].counted = false;
	return n;
}

/* CPU seconds and resident KiB of the tree, leaving out `pids`; with
 * `name`, only the processes of that command. */
static void server_sum(int root, const int *pids, size_t count, const char *name, double *cpu,
		       long *rss_kib)
{
	struct proc_entry *p;
	size_t n = root > 0 ? proc_tree(root, &p) : 0;
	*cpu = 0;
	*rss_kib = 0;
	for (size_t i = 0; i < n; i++) {
		bool left_out = !p[i].counted || (name != NULL && strcmp(p[i].name, name) != 0);
		for (size_t k = 0; k < count && !left_out; k++)
			left_out = p[i].pid == pids[k];
		if (!left_out) {
			*cpu += p[i].cpu;
			*rss_kib += p[i].rss_kib;
		}
	}
	if (root > 0)
		free(p);
}

double server_cpu_seconds(int root)
{
	return server_cpu_seconds_except(root, NULL, 0);
}

long server_rss_kib(int root)
{
	return server_rss_kib_except(root, NULL, 0);
}

double server_cpu_seconds_except(int root, const int *pids, size_t count)
{
	double cpu;
	long rss;
	server_sum(root, pids, count, NULL, &cpu, &rss);
	return cpu;
}

long server_rss_kib_except(int root, const int *pids, size_t count)
{
	double cpu;
	long rss;
	server_sum(root, pids, count, NULL, &cpu, &rss);
	return rss;
}

double server_cpu_seconds_named(int root, const int *pids, size_t count, const char *name)
{
	double cpu;
	long rss;
	server_sum(root, pids, count, name, &cpu, &rss);
	return cpu;
}

double own_cpu_seconds(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       u.ru_stime.tv_usec / 1e6;
}

static void print_report(const struct load_options *o, const struct load_report *r)
{
	if (o->json) {
		printf("{\"scenario\": \"%s\"", o->scenario);
		for (size_t i = 0; i < r->count; i++)
			printf(", \"%s\": %.4g", r->names[i], r->values[i]);
		printf("}\n");
		return;
	}
	printf("%s\n", o->scenario);
	for (size_t i = 0; i < r->count; i++)
		printf("  %-26s %14.3f %s\n", r->names[i], r->values[i], r->units[i]);
}

static unsigned number(const char *text, const char *what)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (*text == '\0' || *end != '\0' || v > 10000000) {
		fprintf(stderr, "rxmpp-load: %s: not a number: %s\n", what, text);
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	struct load_options o = {
	    .host = "127.0.0.1",
	    .domain = "test.example",
	    .user_prefix = "bench",
	    .password = "bench-password",
	    .bridge_prefix = "cb",
	    .bridge_secret = "",
	    .sessions = 100,
	    .pairs = 10,
	    .bridges = 2,
	    .seconds = 10,
	    .window = 16,
	    .concurrency = 50,
	    .accounts = 1,
	    .rate = 20,
	    .kill_after = 3,
	    .sm_ack = 10,
	    .sm_interval_ms = 1000,
	};
	static const struct option long_options[] = {
	    {"host", 1, 0, 'h'},
	    {"port", 1, 0, 'p'},
	    {"component-port", 1, 0, 'm'},
	    {"domain", 1, 0, 'd'},
	    {"ca", 1, 0, 'a'},
	    {"user-prefix", 1, 0, 'u'},
	    {"accounts", 1, 0, 'A'},
	    {"password", 1, 0, 'w'},
	    {"plain", 0, 0, 'P'},
	    {"bridge-prefix", 1, 0, 'b'},
	    {"bridge-secret", 1, 0, 's'},
	    {"sessions", 1, 0, 'n'},
	    {"pairs", 1, 0, 'r'},
	    {"bridges", 1, 0, 'B'},
	    {"seconds", 1, 0, 't'},
	    {"window", 1, 0, 'W'},
	    {"concurrency", 1, 0, 'c'},
	    {"server-root", 1, 0, 'R'},
	    {"json", 0, 0, 'j'},
	    {"help", 0, 0, 'H'},
	    {"rate", 1, 0, 'T'},
	    {"kill-pids", 1, 0, 'K'},
	    {"kill-after", 1, 0, 'k'},
	    {"component-plain", 0, 0, 'C'},
	    {"relogin-concurrency", 1, 0, 'L'},
	    {"resume", 0, 0, 'U'},
	    {"both-ways", 0, 0, 'X'},
	    {"sm", 0, 0, 'S'},
	    {"sm-ack", 1, 0, 'Q'},
	    {"keeper-root", 1, 0, 'E'},
	    {"sm-clients", 1, 0, 'Z'},
	    {"sm-interval", 1, 0, 'I'},
	    {"sm-peers", 1, 0, 'G'},
	    {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			o.host = optarg;
			break;
		case 'p':
			for (char *part = strtok(optarg, ",");
			     part && o.port_count < LOAD_PORTS_MAX; part = strtok(NULL, ","))
				o.ports[o.port_count++] = (uint16_t)number(part, "--port");
			break;
		case 'm':
			o.component_port = (uint16_t)number(optarg, "--component-port");
			break;
		case 'd':
			o.domain = optarg;
			break;
		case 'a':
			o.ca = optarg;
			break;
		case 'u':
			o.user_prefix = optarg;
			break;
		case 'A':
			o.accounts = number(optarg, "--accounts");
			break;
		case 'w':
			o.password = optarg;
			break;
		case 'P':
			o.plain = true;
			break;
		case 'b':
			o.bridge_prefix = optarg;
			break;
		case 's':
			o.bridge_secret = optarg;
			break;
		case 'n':
			o.sessions = number(optarg, "--sessions");
			break;
		case 'r':
			o.pairs = number(optarg, "--pairs");
			break;
		case 'B':
			o.bridges = number(optarg, "--bridges");
			break;
		case 't':
			o.seconds = number(optarg, "--seconds");
			break;
		case 'W':
			o.window = number(optarg, "--window");
			break;
		case 'c':
			o.concurrency = number(optarg, "--concurrency");
			break;
		case 'L':
			o.relogin_concurrency = number(optarg, "--relogin-concurrency");
			break;
		case 'U':
			o.resume = true;
			break;
		case 'R':
			o.server_root = (int)number(optarg, "--server-root");
			break;
		case 'j':
			o.json = true;
			break;
		case 'C':
			o.component_plain = true;
			break;
		case 'X':
			o.both_ways = true;
			break;
		case 'S':
			o.sm = true;
			break;
		case 'Q':
			o.sm_ack = number(optarg, "--sm-ack");
			break;
		case 'E':
			o.keeper_root = (int)number(optarg, "--keeper-root");
			break;
		case 'Z':
			o.sm_clients = number(optarg, "--sm-clients");
			break;
		case 'G':
			o.sm_peers = number(optarg, "--sm-peers");
			break;
		case 'I':
			o.sm_interval_ms = number(optarg, "--sm-interval");
			break;
		case 'T':
			o.rate = number(optarg, "--rate");
			break;
		case 'k':
			o.kill_after = number(optarg, "--kill-after");
			break;
		case 'K':
			for (char *part = strtok(optarg, ","); part && o.kill_count < 64;
			     part = strtok(NULL, ","))
				o.kill_pids[o.kill_count++] = (int)number(part, "--kill-pids");
			break;
		case 'H':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || o.port_count == 0 || o.ca == NULL || o.accounts == 0 ||
	    o.concurrency == 0 || (o.bridges == 0 && strcmp(argv[optind], "bridges") == 0)) {
		fputs(usage, stderr);
		return 2;
	}
	o.scenario = argv[optind];
	if (o.relogin_concurrency == 0)
		o.relogin_concurrency = o.concurrency;
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
	/* A client writing to a connection its node's death just cut gets
	 * EPIPE and sees the close on its next read, as a client would; the
	 * signal would end the generator. */
	signal(SIGPIPE, SIG_IGN);
	if (load_loop_init(&o) == -1)
		return 1;
	struct load_report report = {0};
	double own_before = own_cpu_seconds();
	if (scenario_run(&o, &report) == -1)
		return 1;
	report_add(&report, "load_cpu_total", own_cpu_seconds() - own_before, "s");
	print_report(&o, &report);
	return 0;
}
