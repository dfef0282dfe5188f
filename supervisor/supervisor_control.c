/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket (mode 0660) on which rxmppctl
 * asks for status and reloads, speaking the IPC framing; cluster requests
 * are relayed to the elector, session lists and kicks (checked here first)
 * to the listener (this node's) and the router (the cluster's), and their
 * answers back.  A drain (CTL_DRAIN) is answered here and kept in
 * supervisor_state.drain, which the listener gets now and with every
 * configuration.  A client gets one
 * answer per request; a client that sends anything else, or frames larger
 * than a request can be, is cut off.  The number of clients at once is
 * bounded so that a stuck script cannot exhaust descriptors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor.h"

#define CONTROL_CLIENTS_MAX 16
/* The largest request: a join with its digests (a write for the
 * cluster's state, PROTO_PROPOSE, is at most PROTO_PROPOSE_MAX bytes of
 * command), with its head and the frame's. */
#define CONTROL_FRAME_MAX                                                                          \
	(16u + sizeof(struct proto_cluster_request) + PROTO_CLUSTER_JOIN_DIGESTS_MAX)
_Static_assert(CONTROL_FRAME_MAX >= 16 + sizeof(struct proto_propose) + PROTO_PROPOSE_MAX,
	       "a PROPOSE fits a control frame");
_Static_assert(CONTROL_FRAME_MAX <= IPC_FRAME_MAX, "a join's request fits an IPC frame");

static struct {
	int fd;
	struct ev_io *io;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ipc_channel *clients[CONTROL_CLIENTS_MAX];
	/* Answers relayed from children find their client by token, so one
	 * that left (and whose slot was taken) gets nobody else's answer. */
	uint64_t tokens[CONTROL_CLIENTS_MAX];
	uint64_t next_token;
	/* Clients whose reload waits for the children's answers, and what the
	 * supervisor said of it (what restarted). */
	bool reload_waiting[CONTROL_CLIENTS_MAX];
	char reload_said[CONTROL_CLIENTS_MAX][256];
} control = {.fd = -1};

static void control_client_closed(struct ipc_channel *ch, const char *reason, void *arg)
{
	(void)reason;
	(void)arg;
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		if (control.clients[i] == ch) {
			control.clients[i] = NULL;
			control.reload_waiting[i] = false;
		}
	}
	ipc_channel_free(ch);
}

static void control_send_status(struct ipc_channel *ch)
{
	struct proto_status_child kids[8];
	size_t n = supervisor_children_status(kids, sizeof(kids) / sizeof(kids[0]));
	struct proto_status status = {
	    .pid = (uint32_t)getpid(),
	    .children = (uint32_t)n,
	    .uptime_ms = (uint64_t)(ev_now(supervisor_state.loop) - supervisor_state.started_at),
	    .ready = supervisor_children_all_ready(),
	    .enabled = supervisor_state.cfg.enabled,
	    .client_port = supervisor_state.cfg.listen.client_port,
	    .component_port = supervisor_state.cfg.listen.component_port,
	    .stats = supervisor_state.stats,
	    .cert = supervisor_state.cert,
	    .channels_down = supervisor_children_channels_down(),
	    .draining = supervisor_state.drain.on,
	    .drain_rate = supervisor_state.drain.on ? supervisor_state.drain.rate : 0,
	};
	/* What is bound now, interfaces' addresses included. */
	struct proto_listen_socket *listening =
	    calloc(supervisor_state.listening.count + 1, sizeof(*listening));
	for (size_t i = 0; listening != NULL && i < supervisor_state.listening.count; i++)
		supervisor_sockets_describe(&supervisor_state.listening.sockets[i],
					    &listening[status.listening++]);
	snprintf(status.domain, sizeof(status.domain), "%s", supervisor_state.cfg.domain);
	snprintf(status.config_path, sizeof(status.config_path), "%.*s",
		 (int)sizeof(status.config_path) - 1, supervisor_state.config_path);
	struct iovec iov[3] = {
	    {.iov_base = &status, .iov_len = sizeof(status)},
	    {.iov_base = kids, .iov_len = n * sizeof(kids[0])},
	    {.iov_base = listening, .iov_len = status.listening * sizeof(*listening)},
	};
	ipc_sendv(ch, PROTO_CTL_STATUS_REPLY, 0, iov, 3, -1);
	free(listening);
}

static void control_send_result(struct ipc_channel *ch, bool ok, const char *message)
{
	struct proto_result result = {.ok = ok, .message_len = (uint32_t)strlen(message)};
	struct iovec iov[2] = {
	    {.iov_base = &result, .iov_len = sizeof(result)},
	    {.iov_base = (void *)message, .iov_len = result.message_len},
	};
	ipc_sendv(ch, PROTO_CTL_RESULT, 0, iov, 2, -1);
}

/* A request a child answers: passed on with the client's token, or answered
 * at once (as `failure_type`, a struct proto_result) when the child is away. */
static void control_forward(struct ipc_channel *ch, enum proc_role role, uint16_t type,
			    const void *data, size_t len, uint16_t failure_type)
{
	size_t slot = 0;
	while (slot < CONTROL_CLIENTS_MAX && control.clients[slot] != ch)
		slot++;
	if (slot < CONTROL_CLIENTS_MAX &&
	    supervisor_children_send(role, type, control.tokens[slot], data, len) == 0)
		return;
	char text[128];
	snprintf(text, sizeof(text), "the %s is not running; see rxmppctl status",
		 proc_role_name(role));
	struct proto_result result = {.ok = 0, .message_len = (uint32_t)strlen(text)};
	struct iovec iov[2] = {{&result, sizeof(result)}, {text, result.message_len}};
	ipc_sendv(ch, failure_type, 0, iov, 2, -1);
}

/* The listener hears of it now if it runs, else with its configuration
 * when it starts; the state stays here so that reloads keep it. */
static void control_drain(struct ipc_channel *ch, const struct proto_drain *drain)
{
	bool was = supervisor_state.drain.on;
	supervisor_state.drain = *drain;
	if (!drain->on)
		memset(&supervisor_state.drain, 0, sizeof(supervisor_state.drain));
	supervisor_children_send(PROC_LISTENER, PROTO_CTL_DRAIN, 0, &supervisor_state.drain,
				 sizeof(supervisor_state.drain));
	char text[PROTO_DRAIN_TARGETS_MAX * 130 + 256];
	if (!drain->on) {
		log_info("drain %s: accepting clients and call bridges again",
			 was ? "ended" : "asked to end, but none was in force");
		snprintf(text, sizeof(text), "%s",
			 was ? "no longer draining: new clients and call bridges are accepted"
			     : "this node was not draining");
		control_send_result(ch, true, text);
		return;
	}
	size_t at = (size_t)snprintf(text, sizeof(text),
				     "draining: new streams and %u sessions a second are sent to ",
				     drain->rate);
	for (uint32_t i = 0; i < drain->count && at < sizeof(text); i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at, "%s%s", i ? ", " : "",
				       drain->targets[i]);
	if (drain->count == 0 && at < sizeof(text))
		snprintf(text + at, sizeof(text) - at,
			 "no other node (they are ended with <system-shutdown/>)");
	log_info("%s", text);
	control_send_result(ch, true, text);
}

void supervisor_control_reload_done(bool ok, const char *refusals)
{
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		if (!control.reload_waiting[i] || control.clients[i] == NULL)
			continue;
		char text[4096 + 512];
		/* A refusal comes first: "reloaded" above it would be read as
		 * success by an administrator who stops at the first line. */
		if (ok)
			snprintf(text, sizeof(text), "%s", control.reload_said[i]);
		else
			snprintf(text, sizeof(text),
				 "configuration partly refused:\n%s\nthe rest was taken (%s)",
				 refusals, control.reload_said[i]);
		control_send_result(control.clients[i], ok, text);
		control.reload_waiting[i] = false;
	}
}

static void control_client_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	if (msg->fd != -1) {
		close(msg->fd);
		ipc_channel_fail(ch, "control clients may not send descriptors");
		return;
	}
	switch (msg->type) {
	case PROTO_CTL_STATUS:
		control_send_status(ch);
		break;
	case PROTO_CTL_STATS: {
		if (msg->len != 0) {
			ipc_channel_fail(ch, "CTL_STATS with a payload");
			break;
		}
		struct buf out;
		buf_init(&out, IPC_FRAME_MAX - 64);
		if (supervisor_metrics_render(&out) == 0)
			ipc_send(ch, PROTO_CTL_STATS_REPLY, 0, buf_head(&out), buf_len(&out), -1);
		else
			control_send_result(ch, false, "the metrics do not fit in one answer");
		buf_free(&out);
		break;
	}
	case PROTO_CLUSTER_REQUEST: {
		/* Only a join carries more: its digests, which the elector
		 * checks before it sends them on. */
		struct proto_cluster_request request;
		if (msg->len < sizeof(request)) {
			ipc_channel_fail(ch, "bad CLUSTER_REQUEST");
			break;
		}
		memcpy(&request, msg->data, sizeof(request));
		if (msg->len > sizeof(request) && request.op != PROTO_CLUSTER_OP_JOIN) {
			ipc_channel_fail(ch, "bad CLUSTER_REQUEST: only a join carries digests");
			break;
		}
		control_forward(ch, PROC_ELECTOR, msg->type, msg->data, msg->len,
				PROTO_CLUSTER_RESULT);
		break;
	}
	case PROTO_PROPOSE: {
		/* Checked here too, so that a malformed write from a client
		 * ends that client, not the elector's channel. */
		if (proto_propose_check(msg->data, msg->len) == -1) {
			ipc_channel_fail(ch, "bad PROPOSE of %zu bytes", msg->len);
			break;
		}
		control_forward(ch, PROC_ELECTOR, msg->type, msg->data, msg->len, PROTO_CTL_RESULT);
		break;
	}
	case PROTO_USERDATA_GET: {
		/* Checked here too, so that a malformed read from a client ends
		 * that client, not the elector's channel. */
		static struct proto_userdata_get_view get;
		if (proto_userdata_get_unpack(msg->data, msg->len, &get) == -1) {
			ipc_channel_fail(ch, "bad USERDATA_GET of %zu bytes", msg->len);
			break;
		}
		control_forward(ch, PROC_ELECTOR, msg->type, msg->data, msg->len, PROTO_CTL_RESULT);
		break;
	}
	case PROTO_CTL_SESSIONS:
		if (msg->len != 0) {
			ipc_channel_fail(ch, "CTL_SESSIONS with a payload");
			break;
		}
		control_forward(ch, PROC_LISTENER, msg->type, NULL, 0, PROTO_CTL_RESULT);
		break;
	case PROTO_CTL_KICK:
	case PROTO_CTL_CLUSTER_KICK: {
		static struct proto_admin_kick kick;
		bool cluster = msg->type == PROTO_CTL_CLUSTER_KICK;
		if (ipc_get_data(msg, &kick, sizeof(kick)) == -1 ||
		    proto_admin_kick_check(&kick) == -1 ||
		    (cluster && kick.reason != PROTO_ADMIN_KICK_ADMIN)) {
			ipc_channel_fail(ch, "bad %s", proto_type_name(msg->type));
			break;
		}
		control_forward(ch, cluster ? PROC_ROUTER : PROC_LISTENER, msg->type, &kick,
				sizeof(kick), PROTO_CTL_RESULT);
		break;
	}
	case PROTO_CTL_CLUSTER_SESSIONS:
		if (msg->len != 0) {
			ipc_channel_fail(ch, "CTL_CLUSTER_SESSIONS with a payload");
			break;
		}
		control_forward(ch, PROC_ROUTER, msg->type, NULL, 0, PROTO_CTL_RESULT);
		break;
	case PROTO_CTL_DRAIN: {
		struct proto_drain drain;
		if (ipc_get_data(msg, &drain, sizeof(drain)) == -1 ||
		    proto_drain_check(&drain) == -1) {
			ipc_channel_fail(ch, "bad CTL_DRAIN");
			break;
		}
		control_drain(ch, &drain);
		break;
	}
	case PROTO_CTL_RELOAD: {
		char why[4096];
		size_t slot = 0;
		while (slot < CONTROL_CLIENTS_MAX && control.clients[slot] != ch)
			slot++;
		int rc = supervisor_reload(why, sizeof(why));
		if (rc == -1 || slot == CONTROL_CLIENTS_MAX ||
		    !supervisor_children_reload_pending()) {
			control_send_result(ch, rc == 0, why);
			break;
		}
		/* The answer waits until the children have confirmed or refused. */
		control.reload_waiting[slot] = true;
		snprintf(control.reload_said[slot], sizeof(control.reload_said[slot]), "%.*s",
			 (int)sizeof(control.reload_said[slot]) - 1, why);
		break;
	}
	default:
		ipc_channel_fail(ch, "unexpected message %s", proto_type_name(msg->type));
		break;
	}
}

static void control_accept(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	(void)io;
	(void)events;
	(void)arg;
	for (;;) {
		int client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (client == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("control socket accept");
			return;
		}
		size_t slot = 0;
		while (slot < CONTROL_CLIENTS_MAX && control.clients[slot] != NULL)
			slot++;
		if (slot == CONTROL_CLIENTS_MAX) {
			log_warnx("control socket: %d clients already connected; refusing another",
				  CONTROL_CLIENTS_MAX);
			close(client);
			continue;
		}
		struct ipc_channel *ch =
		    ipc_channel_new(supervisor_state.loop, client, "control client",
				    control_client_msg, control_client_closed, NULL);
		if (ch == NULL) {
			log_warn("control client");
			continue;
		}
		ipc_channel_set_max_frame(ch, CONTROL_FRAME_MAX);
		control.clients[slot] = ch;
		control.tokens[slot] = ++control.next_token;
	}
}

void supervisor_control_relay(uint64_t token, uint16_t type, const void *data, size_t len)
{
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		if (control.clients[i] != NULL && control.tokens[i] == token) {
			ipc_send(control.clients[i], type, 0, data, len, -1);
			return;
		}
	}
}

int supervisor_control_open(const char *path, char *why, size_t why_size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, why_size, "control socket path %s is longer than %zu bytes", path,
			 sizeof(sun.sun_path) - 1);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(why, why_size, "control socket: %s", strerror(errno));
		return -1;
	}
	/* A socket file left by a daemon that died is removed; one that still
	 * answers belongs to a running rxmppd, which must not be hijacked. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(why, why_size, "%s exists and is not a socket", path);
			close(fd);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool alive =
		    probe != -1 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		if (probe != -1)
			close(probe);
		if (alive) {
			snprintf(why, why_size, "another rxmppd answers on %s", path);
			close(fd);
			return -1;
		}
		unlink(path);
	}
	mode_t old_umask = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc == -1 || listen(fd, 16) == -1) {
		snprintf(why, why_size, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	control.io = ev_io_add(supervisor_state.loop, fd, EV_READ, control_accept, NULL);
	if (control.io == NULL) {
		snprintf(why, why_size, "control socket: %s", strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	control.fd = fd;
	snprintf(control.path, sizeof(control.path), "%s", path);
	return 0;
}

void supervisor_control_close(void)
{
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		if (control.clients[i] != NULL) {
			ipc_flush(control.clients[i]);
			if (control.clients[i] != NULL)
				ipc_channel_free(control.clients[i]);
			control.clients[i] = NULL;
		}
	}
	if (control.fd == -1)
		return;
	ev_io_del(control.io);
	close(control.fd);
	unlink(control.path);
	control.fd = -1;
}
