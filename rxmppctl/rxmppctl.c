/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl: administration of an rxmpp node.
 *
 * Talks to rxmppd over its control socket with the IPC framing: `status`
 * (the supervisor and each child: state, pid, generation, restarts, uptime)
 * and `reload` (re-read the configuration, as SIGHUP).  `user` edits the
 * accounts file directly (rxmppctl_user.c).  Exit codes: 0 success,
 * 1 failure, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/proto.h"
#include "config/config_yaml.h"
#include "rxmppctl/rxmppctl.h"

#define DEFAULT_CONFIG "/etc/rxmpp/rxmpp.yaml"

static const struct config *status_cfg;
/* What would fail the next start of a running node ("" when nothing). */
static char *status_next_start;

/* A running node was checked when it started; what changed since (a key
 * replaced by one its user cannot read, a state folder chowned) fails the
 * next start, so status says it now.  NULL when nothing would. */
static char *next_start_problems(const struct config *cfg, const char *config_path)
{
	char *problems = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&problems, &size);
	if (out == NULL)
		return NULL;
	int rc = rxmppctl_access_check_node(cfg, config_path, out);
	fclose(out);
	if (rc == 0) {
		free(problems);
		return NULL;
	}
	return problems;
}

struct rxmppctl_request {
	struct ev_loop *loop;
	rxmppctl_answer_fn *answer; /* NULL: the answer is printed here */
	void *answer_arg;
	uint16_t expect;
	bool json;
	int result;
	bool answered;
	int timeout_ms;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rxmppctl [-c FILE | -s SOCKET] [--json] COMMAND [ARGUMENTS]\n"
		"\n"
		"Commands:\n"
		"  status        service, ports, sessions, certificate expiry, processes, cluster\n"
		"  reload        re-read the configuration file (as SIGHUP); an invalid file\n"
		"                is refused with its errors and the running one kept\n"
		"  user add|passwd|del|list|data   client accounts and their data\n"
		"                (rxmppctl user --help)\n"
		"  sessions      the client sessions and call bridges here and in the cluster\n"
		"  stats         the node's metrics, as its Prometheus endpoint serves them\n"
		"  kick JID      end a session (full JID) or all of a user's (bare JID)\n"
		"  drain [--rate N] [--to HOST:PORT]... [--timeout SECONDS] [--no-wait]\n"
		"                send this node's clients and call bridges to the other\n"
		"                nodes for maintenance (rxmppctl drain --help)\n"
		"  undrain       accept clients and call bridges again\n"
		"  callbridge add|add-secret|del|list   call bridges (rxmppctl callbridge --help)\n"
		"  reset         forget this node's id and cluster state (rxmppd stopped)\n"
		"  cluster enable|disable|trust|initialize|join|merge|remove|leader|status\n"
		"                the cluster (rxmppctl cluster --help)\n"
		"  dns check [DOMAIN] [--server ADDRESS[:PORT]]\n"
		"                the domain's SRV records against this cluster\n"
		"Commands that edit the configuration (only the value they change) and reload:\n");
	rxmppctl_config_usage(out);
	fprintf(out,
		"\n"
		"Options:\n"
		"  -c, --config FILE   find the control socket in FILE (default %s)\n"
		"  -s, --socket PATH   talk to the control socket at PATH\n"
		"      --json          print the answer as JSON (status, reload, sessions, stats,\n"
		"                      user list and data, callbridge list, cluster, dns check)\n"
		"  -h, --help          print this help; after a command, that command's help\n"
		"  -V, --version       print the version\n"
		"Options may stand before or after the command.\n"
		"\n"
		"Exit status: 0 success, 1 failure, 2 usage error.  See rxmppctl(8).\n",
		DEFAULT_CONFIG);
}

static void format_duration(uint64_t ms, char *out, size_t size)
{
	uint64_t s = ms / 1000;
	if (s >= 86400)
		snprintf(out, size, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(out, size, "%" PRIu64 ".%01" PRIu64 "s", s, ms % 1000 / 100);
}

void rxmppctl_print_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Whole days from now to `t`, rounded down (negative once past). */
static long days_until(int64_t t)
{
	int64_t left = t - (int64_t)time(NULL);
	return (long)(left >= 0 ? left / 86400 : -((-left + 86399) / 86400));
}

static void print_certificate(const struct proto_cert_state *cert, bool json)
{
	long days = days_until(cert->not_after);
	long warn_days = status_cfg ? (long)(status_cfg->tls.expiry_warning_ms / 86400000) : 30;
	if (json) {
		printf(", \"certificate_days_left\": ");
		if (cert->not_after == 0)
			printf("null");
		else
			printf("%ld", days);
		printf(", \"certificate\": {\"subject\": ");
		rxmppctl_print_json_string(cert->subject);
		printf(", \"not_after\": %" PRId64 ", \"expiring\": ", cert->not_after);
		rxmppctl_print_json_string(cert->expiring);
		printf(", \"refused\": %s, \"problem\": ", cert->refused ? "true" : "false");
		rxmppctl_print_json_string(cert->problem);
		printf("}");
		return;
	}
	if (cert->not_after == 0) {
		printf("certificate: none in use\n");
	} else {
		char when[32] = "?";
		struct tm tm;
		time_t t = (time_t)cert->not_after;
		if (gmtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d", &tm);
		printf("certificate: %s, expires %s (in %ld days)%s\n", cert->subject, when, days,
		       days < 0		  ? ": EXPIRED"
		       : days < warn_days ? ": renew it soon"
					  : "");
	}
	if (cert->refused)
		printf("certificate files REFUSED (the set in use stays): %s\n", cert->problem);
}

/* The sockets rxmppd holds: configured addresses and those of interfaces. */
static void print_listening(const struct proto_listen_socket *sockets, uint32_t count, bool json)
{
	if (json)
		printf(", \"listening\": [");
	else if (count == 0)
		printf("listening: NOTHING (the interfaces in listen.addresses have no usable "
		       "address now)\n");
	for (uint32_t i = 0; i < count; i++) {
		struct proto_listen_socket l;
		memcpy(&l, &sockets[i], sizeof(l));
		l.address[sizeof(l.address) - 1] = '\0';
		l.interface[sizeof(l.interface) - 1] = '\0';
		if (!json) {
			printf("listening: %s port %u (%s%s%s)\n", l.address, l.port,
			       proto_socket_kind_name(l.kind), l.interface[0] ? ", interface " : "",
			       l.interface);
			continue;
		}
		printf("%s{\"kind\": \"%s\", \"address\": ", i ? ", " : "",
		       proto_socket_kind_name(l.kind));
		rxmppctl_print_json_string(l.address);
		printf(", \"port\": %u, \"interface\": ", l.port);
		if (l.interface[0])
			rxmppctl_print_json_string(l.interface);
		else
			printf("null");
		printf("}");
	}
	if (json)
		printf("]");
}

static int print_status(const struct ipc_msg *msg, bool json)
{
	struct proto_status status;
	if (msg->len < sizeof(status))
		return CTL_FAILED;
	memcpy(&status, msg->data, sizeof(status));
	rxmppctl_cluster_note_draining(status.draining != 0);
	status.domain[sizeof(status.domain) - 1] = '\0';
	status.config_path[sizeof(status.config_path) - 1] = '\0';
	if (status.children > 16 || status.listening > 4096 ||
	    msg->len != sizeof(status) + status.children * sizeof(struct proto_status_child) +
			    status.listening * sizeof(struct proto_listen_socket))
		return CTL_FAILED;
	const struct proto_status_child *kids =
	    (const void *)((const char *)msg->data + sizeof(status));
	const struct proto_listen_socket *listening = (const void *)(kids + status.children);
	char uptime[48];
	status.cert.subject[sizeof(status.cert.subject) - 1] = '\0';
	status.cert.expiring[sizeof(status.cert.expiring) - 1] = '\0';
	status.cert.problem[sizeof(status.cert.problem) - 1] = '\0';
	if (json) {
		printf("{\"pid\": %u, \"uptime_ms\": %" PRIu64 ", \"ready\": %s, \"enabled\": %s, "
		       "\"client_port\": %u, \"component_port\": %u, \"sessions\": %u, "
		       "\"callbridges_connected\": %u, \"channels_down\": %u, \"draining\": %s, "
		       "\"drain_rate\": %u",
		       status.pid, status.uptime_ms, status.ready ? "true" : "false",
		       status.enabled ? "true" : "false", status.client_port, status.component_port,
		       status.stats.clients, status.stats.components, status.channels_down,
		       status.draining ? "true" : "false", status.drain_rate);
		print_certificate(&status.cert, true);
		printf(", \"domain\": ");
		rxmppctl_print_json_string(status.domain);
		printf(", \"config\": ");
		rxmppctl_print_json_string(status.config_path);
		print_listening(listening, status.listening, true);
		printf(", \"next_start_problems\": ");
		if (status_next_start != NULL)
			rxmppctl_print_json_string(status_next_start);
		else
			printf("null");
		printf(", \"processes\": [");
	} else {
		format_duration(status.uptime_ms, uptime, sizeof(uptime));
		printf("rxmppd pid %u, up %s, %s", status.pid, uptime,
		       status.ready ? "ready" : "not ready");
		if (status.channels_down > 0)
			printf(" (%u channels between processes down)", status.channels_down);
		printf("\n");
		printf("domain: %s\nconfiguration: %s\n", status.domain, status.config_path);
		printf("XMPP service: %s; clients on port %u, call bridges on port %u\n",
		       status.enabled ? "enabled" : "DISABLED", status.client_port,
		       status.component_port);
		if (status.draining)
			printf(
			    "DRAINING: new clients and call bridges are sent to other nodes, and "
			    "the sessions here, %u a second (rxmppctl undrain)\n",
			    status.drain_rate);
		printf("sessions: %u clients, %u call bridges connected\n", status.stats.clients,
		       status.stats.components);
		print_certificate(&status.cert, false);
		print_listening(listening, status.listening, false);
		printf("\n");
		printf("%-11s %-10s %8s %5s %9s %10s\n", "PROCESS", "STATE", "PID", "GEN",
		       "RESTARTS", "UPTIME");
	}
	for (uint32_t i = 0; i < status.children; i++) {
		struct proto_status_child k;
		memcpy(&k, &kids[i], sizeof(k));
		k.name[sizeof(k.name) - 1] = '\0';
		if (json) {
			printf("%s{\"name\": ", i ? ", " : "");
			rxmppctl_print_json_string(k.name);
			printf(", \"state\": \"%s\", \"pid\": %u, \"generation\": %u, "
			       "\"restarts\": %u, \"uptime_ms\": %" PRIu64
			       ", \"next_start_ms\": %" PRIu64 "}",
			       proto_child_state_name(k.state), k.pid, k.generation, k.restarts,
			       k.uptime_ms, k.next_start_ms);
			continue;
		}
		char pid[16] = "-";
		if (k.pid != 0)
			snprintf(pid, sizeof(pid), "%u", k.pid);
		if (k.pid != 0)
			format_duration(k.uptime_ms, uptime, sizeof(uptime));
		else if (k.next_start_ms != 0) {
			char next[24];
			format_duration(k.next_start_ms, next, sizeof(next));
			snprintf(uptime, sizeof(uptime), "start in %s", next);
		} else
			snprintf(uptime, sizeof(uptime), "-");
		printf("%-11s %-10s %8s %5u %9u %10s\n", k.name, proto_child_state_name(k.state),
		       pid, k.generation, k.restarts, uptime);
	}
	if (json)
		printf("]}\n");
	return CTL_OK;
}

static int print_result(const struct ipc_msg *msg, bool json)
{
	struct proto_result result;
	if (msg->len < sizeof(result))
		return CTL_FAILED;
	memcpy(&result, msg->data, sizeof(result));
	if (result.message_len != msg->len - sizeof(result))
		return CTL_FAILED;
	char *text = strndup((const char *)msg->data + sizeof(result), result.message_len);
	if (text == NULL)
		return CTL_FAILED;
	if (json) {
		printf("{\"ok\": %s, \"message\": ", result.ok ? "true" : "false");
		rxmppctl_print_json_string(text);
		printf("}\n");
	} else {
		fprintf(result.ok ? stdout : stderr, "%s%s", text,
			text[0] != '\0' && text[strlen(text) - 1] == '\n' ? "" : "\n");
	}
	free(text);
	return result.ok ? CTL_OK : CTL_FAILED;
}

static void ctl_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	struct rxmppctl_request *req = arg;
	(void)ch;
	if (msg->fd != -1)
		close(msg->fd);
	if (req->answer != NULL) {
		req->result = req->answer(msg, req->answer_arg);
		req->answered = true;
		ev_loop_stop(req->loop);
		return;
	}
	/* A join or remove says how it goes while it waits; the answer follows.
	 * JSON output holds the answer alone. */
	if (msg->type == PROTO_CLUSTER_PROGRESS && req->expect == PROTO_CLUSTER_RESULT) {
		if (!req->json && print_result(msg, false) != CTL_OK)
			fprintf(stderr, "rxmppctl: malformed progress from rxmppd\n");
		fflush(stdout);
		return;
	}
	/* A request for the cluster may be answered that the elector is away. */
	if (msg->type == PROTO_CLUSTER_RESULT && req->expect == PROTO_CLUSTER_STATUS) {
		req->result = print_result(msg, req->json);
		if (req->result == CTL_OK)
			req->result = CTL_FAILED;
	} else if (msg->type != req->expect) {
		fprintf(stderr, "rxmppctl: unexpected answer %s from rxmppd\n",
			proto_type_name(msg->type));
		req->result = CTL_FAILED;
	} else if (msg->type == PROTO_CTL_STATUS_REPLY) {
		req->result = print_status(msg, req->json);
	} else if (msg->type == PROTO_CLUSTER_STATUS) {
		req->result = rxmppctl_print_cluster_status(msg, req->json);
	} else {
		req->result = print_result(msg, req->json);
	}
	if (req->result == CTL_FAILED &&
	    (msg->type == PROTO_CTL_STATUS_REPLY || msg->type == PROTO_CLUSTER_STATUS))
		fprintf(stderr, "rxmppctl: malformed answer from rxmppd\n");
	req->answered = true;
	ev_loop_stop(req->loop);
}

static void ctl_closed(struct ipc_channel *ch, const char *reason, void *arg)
{
	struct rxmppctl_request *req = arg;
	(void)ch;
	if (!req->answered)
		fprintf(stderr, "rxmppctl: rxmppd closed the connection%s%s\n", reason ? ": " : "",
			reason ? reason : "");
	ev_loop_stop(req->loop);
}

static int64_t ctl_timeout(struct ev_timer *timer, void *arg)
{
	struct rxmppctl_request *req = arg;
	(void)timer;
	fprintf(stderr, "rxmppctl: no answer from rxmppd within %d s\n", req->timeout_ms / 1000);
	ev_loop_stop(req->loop);
	return EV_TIMER_DONE;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "rxmppctl: socket path too long: %s\n", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "rxmppctl: cannot reach rxmppd at %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static int ctl_request(const char *socket_path, uint16_t request, const void *data, size_t len,
		       struct rxmppctl_request req)
{
	int fd = ctl_connect(socket_path);
	if (fd == -1)
		return CTL_FAILED;
	req.loop = ev_loop_new();
	if (req.loop == NULL) {
		close(fd);
		return CTL_FAILED;
	}
	struct ipc_channel *ch =
	    ipc_channel_new(req.loop, fd, "rxmppd control socket", ctl_msg, ctl_closed, &req);
	struct ev_timer *timer = ev_timer_add(req.loop, req.timeout_ms, ctl_timeout, &req);
	if (ch == NULL || timer == NULL || ipc_send(ch, request, 0, data, len, -1) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", strerror(errno));
	} else {
		ev_loop_run(req.loop);
	}
	ipc_channel_free(ch);
	ev_loop_free(req.loop);
	return req.result;
}

int rxmppctl_request(const char *socket_path, uint16_t request, const void *data, size_t len,
		     uint16_t expect, bool json, int timeout_ms)
{
	struct rxmppctl_request req = {
	    .expect = expect, .json = json, .result = CTL_FAILED, .timeout_ms = timeout_ms};
	return ctl_request(socket_path, request, data, len, req);
}

int rxmppctl_request_with(const char *socket_path, uint16_t request, const void *data, size_t len,
			  int timeout_ms, rxmppctl_answer_fn *answer, void *arg)
{
	struct rxmppctl_request req = {
	    .answer = answer, .answer_arg = arg, .result = CTL_FAILED, .timeout_ms = timeout_ms};
	return ctl_request(socket_path, request, data, len, req);
}

/* Nobody listens at the control socket: no file there, or a file left
 * by a daemon that is gone. */
bool rxmppctl_daemon_absent(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		return false;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return false;
	bool absent = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
		      (errno == ENOENT || errno == ECONNREFUSED);
	close(fd);
	return absent;
}

/* A stopped node (or one that refused to start): what keeps it from starting,
 * so that a freshly installed node tells its administrator what to set. */
static int status_not_running(const char *config_path, const char *socket_path, bool json)
{
	char *problems = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&problems, &size);
	if (out == NULL)
		return CTL_FAILED;
	bool ready = rxmppctl_config_ready(config_path, out) == 0;
	fclose(out);
	if (json) {
		printf("{\"running\": false, \"ready\": %s, \"problems\": ",
		       ready ? "true" : "false");
		rxmppctl_print_json_string(problems);
		printf("}\n");
	} else if (ready) {
		printf("rxmppd is not running (nothing at %s).\n%s is ready: start it with "
		       "`systemctl start rxmpp`.\n%s",
		       socket_path, config_path, problems);
	} else {
		printf("rxmppd is not running (nothing at %s).\nIt cannot start until this is "
		       "put right:\n%s",
		       socket_path, problems);
	}
	free(problems);
	return CTL_FAILED;
}

int rxmppctl_reload_after(const char *socket_path, const char *done)
{
	printf("%s\n", done);
	/* Setting a node up before its first start is normal: the change is
	 * saved and rxmppd reads it when it starts. */
	if (rxmppctl_daemon_absent(socket_path)) {
		printf("rxmppd is not running (nothing at %s); it takes the change when it "
		       "starts\n",
		       socket_path);
		return CTL_OK;
	}
	if (rxmppctl_request(socket_path, PROTO_CTL_RELOAD, NULL, 0, PROTO_CTL_RESULT, false,
			     CTL_RELOAD_TIMEOUT_MS) != CTL_OK) {
		fprintf(stderr, "rxmppctl: the file is changed, but the running node did not "
				"take it (see above)\n");
		return CTL_FAILED;
	}
	return CTL_OK;
}

/* Takes the value of a global option that needs one: "-c FILE", "-cFILE",
 * "--config FILE" or "--config=FILE"; NULL if argv[*i] is not that option. */
static const char *global_value(int argc, char **argv, int *i, char letter, const char *name,
				bool *missing)
{
	const char *arg = argv[*i];
	size_t name_len = strlen(name);
	if (arg[0] == '-' && arg[1] == letter)
		return arg[2] != '\0'  ? arg + 2
		       : *i + 1 < argc ? argv[++*i]
				       : (*missing = true, NULL);
	if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, name, name_len) == 0) {
		if (arg[2 + name_len] == '=')
			return arg + 3 + name_len;
		if (arg[2 + name_len] == '\0')
			return *i + 1 < argc ? argv[++*i] : (*missing = true, NULL);
	}
	return NULL;
}

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static const char *const commands[] = {"status", "reload",     "user",	  "cluster",
				       "dns",	 "callbridge", "reset",	  "sessions",
				       "kick",	 "drain",      "undrain", "stats"};

static bool known_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i], name) == 0)
			return true;
	}
	return rxmppctl_is_config_verb(name);
}

static void status_usage(FILE *out, const char *command)
{
	if (strcmp(command, "status") == 0)
		fprintf(out,
			"usage: rxmppctl status [--json]\n"
			"The service, ports, sessions, certificate expiry, each process and the\n"
			"cluster; when rxmppd is not running, what keeps it from starting (exit\n"
			"status 1).\n");
	else
		fprintf(out,
			"usage: rxmppctl reload [--json]\n"
			"Re-read the configuration and the call-bridges file, as SIGHUP does;\n"
			"an invalid file is refused with its errors and the running one kept.\n");
}

int main(int argc, char **argv)
{
	const char *config_path = DEFAULT_CONFIG;
	const char *socket_path = NULL;
	bool json = false, wants_help = false;

	log_init("rxmppctl", LOG_LEVEL_WARNING, LOG_TARGET_STDERR_PLAIN);
	/* The global options may stand anywhere, before or after the command
	 * (`rxmppctl status --json -c FILE`): they are taken out here and the
	 * command sees only its own words.  `--` ends that. */
	int kept = 1, command_at = 0;
	bool options_end = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value;
		bool missing = false;
		if (options_end || arg[0] != '-' || arg[1] == '\0') {
			if (command_at == 0)
				command_at = kept;
			argv[kept++] = argv[i];
		} else if (strcmp(arg, "--") == 0) {
			options_end = true;
		} else if (strcmp(arg, "--json") == 0) {
			json = true;
		} else if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
			printf("rxmppctl %s\n", RXMPP_VERSION);
			return CTL_OK;
		} else if ((value = global_value(argc, argv, &i, 'c', "config", &missing)) !=
			   NULL) {
			config_path = value;
		} else if ((value = global_value(argc, argv, &i, 's', "socket", &missing)) !=
			   NULL) {
			socket_path = value;
		} else if (missing) {
			fprintf(stderr, "rxmppctl: %s needs a value\n", arg);
			usage(stderr);
			return CTL_USAGE;
		} else if (is_help(arg)) {
			if (command_at == 0) {
				usage(stdout);
				return CTL_OK;
			}
			wants_help = true;
		} else if (command_at == 0) {
			fprintf(stderr, "rxmppctl: unknown option '%s'\n", arg);
			usage(stderr);
			return CTL_USAGE;
		} else {
			argv[kept++] = argv[i];
		}
	}
	argv[kept] = NULL;
	if (command_at == 0) {
		usage(stderr);
		return CTL_USAGE;
	}
	/* From here on the command's words start at argv[0]. */
	argc = kept - command_at;
	argv += command_at;
	const char *command = argv[0];
	if (!known_command(command)) {
		fprintf(stderr, "rxmppctl: unknown command '%s'\n", command);
		usage(stderr);
		return CTL_USAGE;
	}
	/* Help, wherever it stands, is the command's own help: each command
	 * prints it when it is its only argument. */
	char *help_argv[] = {argv[0], "--help", NULL};
	if (wants_help) {
		argc = 2;
		argv = help_argv;
	}
	bool is_status = strcmp(command, "status") == 0;
	if (is_status || strcmp(command, "reload") == 0) {
		if (wants_help || argc != 1) {
			status_usage(wants_help ? stdout : stderr, command);
			return wants_help ? CTL_OK : CTL_USAGE;
		}
	}

	static struct config cfg;
	static struct config_errors errors;
	/* A broken file must not stop `status` or `reload`: the daemon runs on
	 * its last good configuration, and the socket is rarely what broke.
	 * Help needs no configuration at all. */
	bool config_broken = config_load(config_path, &cfg, &errors) == -1;
	if (socket_path == NULL)
		socket_path = cfg.control_socket;
	if (strcmp(command, "cluster") == 0)
		return rxmppctl_cluster(argc, argv, config_path, socket_path, &cfg, json);
	/* They read and check the file themselves. */
	if (rxmppctl_is_config_verb(command))
		return rxmppctl_config_verb(argc, argv, config_path, socket_path);
	if (!is_status && strcmp(command, "reload") != 0 && config_broken && !wants_help) {
		config_errors_print(&errors, stderr);
		return CTL_FAILED;
	}
	if (strcmp(command, "reset") == 0)
		return rxmppctl_reset(argc, argv, &cfg, socket_path);
	if (strcmp(command, "dns") == 0)
		return rxmppctl_dns(argc, argv, &cfg, json);
	if (strcmp(command, "callbridge") == 0)
		return rxmppctl_callbridge(argc, argv, &cfg, socket_path, json);
	if (strcmp(command, "user") == 0)
		return rxmppctl_user(argc, argv, &cfg, socket_path, json);
	if (strcmp(command, "sessions") == 0)
		return rxmppctl_sessions(argc, argv, socket_path, json);
	if (strcmp(command, "kick") == 0)
		return rxmppctl_kick(argc, argv, socket_path);
	if (strcmp(command, "drain") == 0 || strcmp(command, "undrain") == 0)
		return rxmppctl_drain(argc, argv, socket_path);
	if (strcmp(command, "stats") == 0)
		return rxmppctl_stats(argc, argv, socket_path, json);
	uint16_t request = is_status ? PROTO_CTL_STATUS : PROTO_CTL_RELOAD;
	uint16_t expect = is_status ? PROTO_CTL_STATUS_REPLY : PROTO_CTL_RESULT;
	if (is_status && rxmppctl_daemon_absent(socket_path))
		return status_not_running(config_path, socket_path, json);
	status_cfg = config_broken ? NULL : &cfg;
	if (is_status && !config_broken)
		status_next_start = next_start_problems(&cfg, config_path);
	int rc = rxmppctl_request(socket_path, request, NULL, 0, expect, json,
				  is_status ? 5000 : CTL_RELOAD_TIMEOUT_MS);
	/* The cluster role belongs in a node's status too. */
	if (rc == CTL_OK && is_status && !json) {
		struct proto_cluster_request cluster = {.op = PROTO_CLUSTER_OP_STATUS};
		printf("\n");
		rxmppctl_request(socket_path, PROTO_CLUSTER_REQUEST, &cluster, sizeof(cluster),
				 PROTO_CLUSTER_STATUS, false, 5000);
		if (status_next_start != NULL)
			printf("\nThe next start would fail until this is put right:\n%s",
			       status_next_start);
	}
	free(status_next_start);
	if (rc != CTL_OK && config_broken && access(socket_path, F_OK) == -1) {
		fprintf(stderr,
			"rxmppctl: %s has errors, so the control socket may be elsewhere:\n",
			config_path);
		config_errors_print(&errors, stderr);
	}
	return rc;
}
