/* SPDX-License-Identifier: MIT */
/*
 * rxmppd: the supervisor of an rxmpp node.
 *
 * Loads and validates the configuration (and refuses to start on an invalid
 * one), opens the listening sockets and the control socket, starts the
 * children, tells systemd when every child is ready, re-reads the
 * configuration on SIGHUP (keeping the old one when the new one is
 * invalid), and on SIGTERM or SIGINT hands the cluster's leadership to
 * another member when this node leads (supervisor_handover.c, bounded),
 * then stops the children in order and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/accounts.h"
#include "common/accounts_journal.h"
#include "common/log.h"
#include "config/config_yaml.h"
#include "supervisor.h"

#ifndef RXMPP_VERSION
#define RXMPP_VERSION "0.0.0"
#endif
#ifndef RXMPP_LIBEXECDIR
#define RXMPP_LIBEXECDIR "/usr/lib/rxmpp"
#endif
#define DEFAULT_CONFIG "/etc/rxmpp/rxmpp.yaml"

struct supervisor supervisor_state;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rxmppd [-f] [-c FILE] [-l LEVEL]\n"
		"       rxmppd -n [-v] [-c FILE]\n"
		"\n"
		"The rxmpp XMPP server: supervises the listener, router, elector and\n"
		"certificate worker processes of one cluster node.\n"
		"\n"
		"  -c, --config FILE     configuration file (default %s)\n"
		"  -f, --foreground      stay in the foreground and log to stderr\n"
		"                        (for systemd and terminals), each line stamped\n"
		"                        with the UTC time unless stderr is the journal\n"
		"                        (JOURNAL_STREAM); otherwise detach and log to syslog\n"
		"  -l, --log-level LEVEL err, warning, info or debug; overrides log_level\n"
		"  -n, --check           check the configuration and exit (0 valid, 78 not)\n"
		"  -v, --verbose         with -n: print the configuration in canonical form\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"Started as root, it becomes the configuration's user: (rxmpp) once its\n"
		"sockets are bound, or refuses to start when that user does not exist.\n"
		"Signals: SIGHUP re-reads the configuration; SIGTERM and SIGINT stop the\n"
		"node in order, after handing the cluster's leadership to another member\n"
		"when this node leads.  See rxmppd(8).\n",
		DEFAULT_CONFIG);
}

/* Children live beside rxmppd in a build tree, in RXMPP_LIBEXECDIR once installed. */
/* The accounts file is read by the listener at log-in time; a damaged one
 * would leave the node "ready" while log-ins fail or a user is missing, so
 * it is checked here, before any child starts.  A file of the previous
 * format is rewritten sealed (a failed rewrite is only a warning: the
 * listener still reads that format). */
static int accounts_check_at_start(void)
{
	char path[PATH_MAX], why[1024];
	struct accounts accounts;
	bool unsealed = false;
	struct accounts_journal_pos pos;
	snprintf(path, sizeof(path), "%s/%s", supervisor_state.cfg.state_directory,
		 ACCOUNTS_FILE_NAME);
	if (accounts_load_following(path, &accounts, &unsealed, NULL, &pos, why, sizeof(why)) ==
	    -1) {
		log_warnx("%s; not starting", why);
		return -1;
	}
	if (pos.torn > 0) {
		/* Never answered (the elector flushes an append before it
		 * answers): cut, so that nothing is ever appended after it.
		 * In a cluster the elector writes the file whole when it
		 * starts anyway. */
		char journal[PATH_MAX + 16];
		snprintf(journal, sizeof(journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, path);
		int fd = open(journal, O_WRONLY | O_CLOEXEC);
		if (fd == -1 || ftruncate(fd, (off_t)pos.offset) == -1 || fsync(fd) == -1)
			log_warnx("%s: cannot cut the last %zu bytes from byte %zu, an append a "
				  "crash cut short: %s",
				  journal, pos.torn, pos.offset, strerror(errno));
		else
			log_warnx("%s: the last %zu bytes from byte %zu were an append a crash "
				  "cut short; cut",
				  journal, pos.torn, pos.offset);
		if (fd != -1)
			close(fd);
	}
	if (unsealed) {
		if (accounts_save(path, &accounts, why, sizeof(why)) == -1)
			log_warnx("%s was in the previous format and could not be rewritten: %s",
				  path, why);
		else
			log_info("%s was in the previous format (no header, no checksum): read "
				 "%zu accounts once and rewrote it sealed",
				 path, accounts.count);
	}
	accounts_free(&accounts);
	return 0;
}

/* The control socket's folder (/run/rxmpp), which systemd makes for the
 * unit (RuntimeDirectory=) and a reboot empties: without systemd rxmppd
 * makes it, one level, mode 0750.  Whether it did. */
static bool make_control_dir(const char *control_socket)
{
	char dir[CONFIG_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", control_socket);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return false;
	*slash = '\0';
	if (mkdir(dir, 0750) == -1) {
		if (errno != EEXIST)
			log_warn("cannot make the control socket's folder %s", dir);
		return false;
	}
	log_info("made the control socket's folder %s", dir);
	return true;
}

static void find_libexec_dir(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char probe[PATH_MAX + 32];
		const char *dir = dirname(self);
		snprintf(probe, sizeof(probe), "%s/rxmpp-listener", dir);
		if (access(probe, X_OK) == 0) {
			snprintf(supervisor_state.libexec_dir, sizeof(supervisor_state.libexec_dir),
				 "%s", dir);
			return;
		}
	}
	snprintf(supervisor_state.libexec_dir, sizeof(supervisor_state.libexec_dir), "%s",
		 RXMPP_LIBEXECDIR);
}

/* Every session is a descriptor in the listener: take all the system allows
 * (the children inherit it); a soft limit of 1024 would cap a node far below
 * what it can serve. */
static void raise_descriptor_limit(void)
{
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) == -1)
			log_warn("raising the descriptor limit");
	}
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
		log_info("descriptor limit %llu", (unsigned long long)limit.rlim_cur);
}

static void log_config_errors(const struct config_errors *errors)
{
	for (unsigned i = 0; i < errors->count; i++)
		log_warnx("%s", errors->message[i]);
	if (errors->dropped > 0)
		log_warnx("(%u more errors not shown)", errors->dropped);
}

static void errors_to_text(const struct config_errors *errors, char *why, size_t why_size)
{
	size_t used = 0;
	why[0] = '\0';
	for (unsigned i = 0; i < errors->count && used + 1 < why_size; i++)
		used += (size_t)snprintf(why + used, why_size - used, "%s\n", errors->message[i]);
}

/* An address came to or left a listened interface. */
static void on_interfaces_changed(void)
{
	char why[512];
	if (supervisor_sockets_update(&supervisor_state.cfg, &supervisor_state.listening,
				      supervisor_children_listen_changed, why, sizeof(why)) == -1)
		log_warnx("%s", why);
}

/* What a reload opened and closed, for the answer to rxmppctl. */
static struct {
	char text[1024];
	uint32_t kinds; /* 1 << enum proto_socket_kind of each socket opened or closed */
} reload_sockets;

static void on_reload_socket(const struct listen_socket *s, bool opened)
{
	size_t used = strlen(reload_sockets.text);
	bool ipv6 = strchr(s->address, ':') != NULL;
	snprintf(reload_sockets.text + used, sizeof(reload_sockets.text) - used, "; %s %s%s%s:%u",
		 opened ? "listening on" : "closed", ipv6 ? "[" : "", s->address, ipv6 ? "]" : "",
		 s->port);
	/* A child without sockets_live takes its own when it restarts. */
	reload_sockets.kinds |= 1u << s->kind;
	supervisor_children_listen_changed(s, opened);
}

/* Switches the sockets (and the interfaces followed) to `next`; on -1 both
 * stay as they were. */
static int reload_sockets_apply(const struct config *next, char *why, size_t why_size)
{
	reload_sockets.text[0] = '\0';
	reload_sockets.kinds = 0;
	if (supervisor_interfaces_watch(next, on_interfaces_changed, why, why_size) == 0 &&
	    supervisor_sockets_update(next, &supervisor_state.listening, on_reload_socket, why,
				      why_size) == 0)
		return 0;
	char again[256];
	if (supervisor_interfaces_watch(&supervisor_state.cfg, on_interfaces_changed, again,
					sizeof(again)) == -1)
		log_warnx("%s", again);
	return -1;
}

int supervisor_reload(char *why, size_t why_size)
{
	static struct config next;
	struct config_errors errors;

	log_info("reloading %s", supervisor_state.config_path);
	if (config_load(supervisor_state.config_path, &next, &errors) == -1) {
		log_warnx("the new configuration is invalid; keeping the running one:");
		log_config_errors(&errors);
		errors_to_text(&errors, why, why_size);
		return -1;
	}
	const char *unready = config_unready(&next);
	if (unready != NULL) {
		log_warnx("%s: %s; keeping the running configuration", supervisor_state.config_path,
			  unready);
		snprintf(why, why_size, "%s: %s\n", supervisor_state.config_path, unready);
		return -1;
	}
	struct sockaddr_storage metrics_at;
	socklen_t metrics_len;
	if (next.metrics.listen[0] != '\0' &&
	    supervisor_http_parse(next.metrics.listen, &metrics_at, &metrics_len, why, why_size) ==
		-1) {
		log_warnx("%s; keeping the running configuration", why);
		return -1;
	}
	struct callbridges bridges;
	char bridges_why[512];
	if (supervisor_bridges_load(&next, &bridges, &errors, bridges_why, sizeof(bridges_why)) ==
	    -1) {
		if (bridges_why[0] != '\0') {
			log_warnx("%s; keeping the running configuration", bridges_why);
			snprintf(why, why_size, "%s\n", bridges_why);
			return -1;
		}
		log_warnx("the call-bridges file is invalid; keeping the running configuration:");
		log_config_errors(&errors);
		errors_to_text(&errors, why, why_size);
		return -1;
	}
	/* New sockets reach the running listener, closed ones leave it: the
	 * sessions it holds stay. */
	bool listen_changed =
	    memcmp(&supervisor_state.cfg.listen, &next.listen, sizeof(next.listen)) != 0;
	/* Who restarts for which of these: restart_on in the process table. */
	bool domain_changed = strcmp(supervisor_state.cfg.domain, next.domain) != 0;
	bool cluster_changed =
	    supervisor_state.cfg.cluster.enabled != next.cluster.enabled ||
	    supervisor_state.cfg.cluster.port != next.cluster.port ||
	    strcmp(supervisor_state.cfg.cluster.address, next.cluster.address) != 0;
	if ((listen_changed || cluster_changed) &&
	    reload_sockets_apply(&next, why, why_size) == -1) {
		log_warnx("cannot apply the new listen settings (%s); keeping the running "
			  "configuration",
			  why);
		callbridges_free(&bridges);
		return -1;
	}
	callbridges_free(&supervisor_state.bridges);
	supervisor_state.bridges = bridges;
	if (strcmp(next.control_socket, supervisor_state.cfg.control_socket) != 0)
		log_warnx("control_socket changes when rxmppd restarts; still using %s",
			  supervisor_state.cfg.control_socket);
	if (strcmp(next.state_directory, supervisor_state.cfg.state_directory) != 0)
		log_warnx("state_directory changes when rxmppd restarts; still using %s",
			  supervisor_state.cfg.state_directory);
	if (strcmp(next.user, supervisor_state.cfg.user) != 0)
		log_warnx("user changes when rxmppd restarts (as root); still running as before");
	snprintf(next.user, sizeof(next.user), "%s", supervisor_state.cfg.user);
	snprintf(next.control_socket, sizeof(next.control_socket), "%s",
		 supervisor_state.cfg.control_socket);
	snprintf(next.state_directory, sizeof(next.state_directory), "%s",
		 supervisor_state.cfg.state_directory);
	if (supervisor_state.log_level_forced)
		next.log_level = supervisor_state.forced_log_level;
	supervisor_state.cfg = next;
	log_set_level((enum log_level)supervisor_state.cfg.log_level);
	supervisor_children_reconfigure();
	/* The process table says who reads what only at start. */
	char restarted[128];
	supervisor_children_restart_for(
	    (domain_changed ? CHILD_RESTART_DOMAIN : 0) |
		(cluster_changed ? CHILD_RESTART_CLUSTER : 0) | CHILD_RESTART_SOCKETS,
	    listen_changed || cluster_changed ? reload_sockets.kinds : 0, restarted,
	    sizeof(restarted));
	char metrics_why[256] = "";
	if (supervisor_http_reload(supervisor_state.cfg.metrics.listen, metrics_why,
				   sizeof(metrics_why)) == -1)
		log_warnx("%s; the metrics endpoint is off", metrics_why);
	log_info("configuration reloaded");
	supervisor_settings_report();
	const char *sockets = listen_changed || cluster_changed ? reload_sockets.text : "";
	if (restarted[0] != '\0')
		snprintf(why, why_size, "configuration reloaded; restarted: %s%s", restarted,
			 sockets);
	else
		snprintf(why, why_size, "configuration reloaded; nothing restarted%s", sockets);
	if (metrics_why[0] != '\0')
		snprintf(why + strlen(why), why_size - strlen(why),
			 "\n%s; the metrics endpoint is off", metrics_why);
	return 0;
}

void supervisor_ready(void)
{
	char state[CONFIG_DOMAIN_MAX + 64];
	supervisor_state.ready_announced = true;
	log_info("ready: domain %s, client port %u, component port %u, control socket %s",
		 supervisor_state.cfg.domain, supervisor_state.cfg.listen.client_port,
		 supervisor_state.cfg.listen.component_port, supervisor_state.cfg.control_socket);
	snprintf(state, sizeof(state), "READY=1\nSTATUS=serving %s\nMAINPID=%d",
		 supervisor_state.cfg.domain, (int)getpid());
	supervisor_notify_send(state);
	supervisor_settings_report();
}

static void supervisor_stopped(void)
{
	supervisor_http_close();
	supervisor_control_close();
	supervisor_interfaces_stop();
	supervisor_sockets_close(&supervisor_state.listening);
	log_info("stopped");
	ev_loop_stop(supervisor_state.loop);
}

static void supervisor_stop_children(void)
{
	supervisor_children_stop_all(supervisor_stopped);
}

static void supervisor_shutdown(void)
{
	if (supervisor_state.shutting_down)
		return;
	supervisor_state.shutting_down = true;
	supervisor_notify_send("STOPPING=1");
	log_info("shutting down");
	supervisor_handover_start(supervisor_stop_children);
}

void supervisor_fail(int status)
{
	supervisor_state.exit_status = status;
	supervisor_shutdown();
}

static void on_terminate(struct ev_loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)arg;
	log_info("received %s", strsignal(signo));
	supervisor_shutdown();
}

static void on_hangup(struct ev_loop *loop, int signo, void *arg)
{
	char why[4096];
	(void)loop;
	(void)signo;
	(void)arg;
	if (!supervisor_state.shutting_down)
		supervisor_reload(why, sizeof(why));
}

static void on_child(struct ev_loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	(void)arg;
	supervisor_children_reap();
}

static void daemonize(void)
{
	pid_t pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null == -1)
		fatal("/dev/null");
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	close(null);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"check", no_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = DEFAULT_CONFIG;
	bool foreground = false, check_only = false, verbose = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:fl:nvVh", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &supervisor_state.forced_log_level) == -1) {
				fprintf(stderr, "rxmppd: unknown log level '%s'\n", optarg);
				usage(stderr);
				return 2;
			}
			supervisor_state.log_level_forced = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("rxmppd %s\n", RXMPP_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct config_errors errors;
	if (config_load(config_path, &supervisor_state.cfg, &errors) == -1) {
		config_errors_print(&errors, stderr);
		fprintf(stderr, "rxmppd: %s is invalid; not starting\n", config_path);
		return PROC_EXIT_CONFIG;
	}
	char bridges_why[512];
	if (supervisor_bridges_load(&supervisor_state.cfg, &supervisor_state.bridges, &errors,
				    bridges_why, sizeof(bridges_why)) == -1) {
		if (bridges_why[0] != '\0') {
			fprintf(stderr, "rxmppd: %s; not starting\n", bridges_why);
			return PROC_EXIT_CONFIG;
		}
		config_errors_print(&errors, stderr);
		fprintf(stderr, "rxmppd: %s is invalid; not starting\n",
			supervisor_state.cfg.callbridges_file);
		return PROC_EXIT_CONFIG;
	}
	if (check_only && verbose)
		config_print(&supervisor_state.cfg, stdout);
	const char *unready = config_unready(&supervisor_state.cfg);
	if (unready != NULL) {
		fprintf(stderr, "%s: %s\nrxmppd: %s is not complete; not starting\n", config_path,
			unready, config_path);
		return PROC_EXIT_CONFIG;
	}
	char why[512];
	struct sockaddr_storage metrics_at;
	socklen_t metrics_len;
	if (supervisor_state.cfg.metrics.listen[0] != '\0' &&
	    supervisor_http_parse(supervisor_state.cfg.metrics.listen, &metrics_at, &metrics_len,
				  why, sizeof(why)) == -1) {
		fprintf(stderr, "%s: %s\nrxmppd: not starting\n", config_path, why);
		return PROC_EXIT_CONFIG;
	}
	if (check_only) {
		fprintf(stderr, "%s: configuration OK\n", config_path);
		return 0;
	}
	if (realpath(config_path, supervisor_state.config_path) == NULL)
		snprintf(supervisor_state.config_path, sizeof(supervisor_state.config_path), "%s",
			 config_path);
	if (supervisor_state.log_level_forced)
		supervisor_state.cfg.log_level = supervisor_state.forced_log_level;
	if (supervisor_privileges_check(&supervisor_state.cfg, supervisor_state.config_path, why,
					sizeof(why)) == -1) {
		fprintf(stderr, "rxmppd: %s; not starting\n", why);
		return PROC_EXIT_CONFIG;
	}

	if (!foreground)
		daemonize();
	log_init("rxmppd", (enum log_level)supervisor_state.cfg.log_level,
		 foreground ? LOG_TARGET_STDERR : LOG_TARGET_SYSLOG);
	find_libexec_dir();
	signal(SIGPIPE, SIG_IGN);
	raise_descriptor_limit();

	supervisor_state.loop = ev_loop_new();
	if (supervisor_state.loop == NULL)
		fatal("event loop");
	supervisor_state.started_at = ev_now(supervisor_state.loop);
	if (ev_signal_add(supervisor_state.loop, SIGTERM, on_terminate, NULL) == -1 ||
	    ev_signal_add(supervisor_state.loop, SIGINT, on_terminate, NULL) == -1 ||
	    ev_signal_add(supervisor_state.loop, SIGHUP, on_hangup, NULL) == -1 ||
	    ev_signal_add(supervisor_state.loop, SIGCHLD, on_child, NULL) == -1)
		fatal("signalfd");

	if (supervisor_interfaces_watch(&supervisor_state.cfg, on_interfaces_changed, why,
					sizeof(why)) == -1 ||
	    supervisor_sockets_update(&supervisor_state.cfg, &supervisor_state.listening, NULL, why,
				      sizeof(why)) == -1)
		fatalx("%s", why);
	bool made_control_dir = make_control_dir(supervisor_state.cfg.control_socket);
	if (supervisor_control_open(supervisor_state.cfg.control_socket, why, sizeof(why)) == -1)
		fatalx("%s", why);
	/* Bound before root is given up, like the client ports. */
	if (supervisor_http_open(supervisor_state.cfg.metrics.listen, why, sizeof(why)) == -1) {
		log_warnx("%s; not starting", why);
		supervisor_control_close();
		return PROC_EXIT_CONFIG;
	}
	/* Everything that needs root is bound: from here on no process of the
	 * node keeps it.  The state files are read after, as that user, so a
	 * file the node could not use later is found now. */
	if (supervisor_privileges_drop(&supervisor_state.cfg, supervisor_state.config_path,
				       made_control_dir, why, sizeof(why)) == -1) {
		log_warnx("%s; not starting", why);
		supervisor_http_close();
		supervisor_control_close();
		return PROC_EXIT_CONFIG;
	}
	if (accounts_check_at_start() == -1) {
		supervisor_http_close();
		supervisor_control_close();
		return PROC_EXIT_CONFIG;
	}
	log_info("rxmppd %s starting for %s (configuration %s, children from %s)", RXMPP_VERSION,
		 supervisor_state.cfg.domain, supervisor_state.config_path,
		 supervisor_state.libexec_dir);
	supervisor_children_start_all();

	if (ev_loop_run(supervisor_state.loop) == -1)
		fatal("event loop");
	return supervisor_state.exit_status;
}
