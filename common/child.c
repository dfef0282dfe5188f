/* SPDX-License-Identifier: MIT */
/*
 * The child runtime; see child.h.
 *
 * Supervisor channel (fd 3): sends HELLO, then READY after each complete
 * configuration, and PEER_STATE whenever a peer channel comes up or goes
 * away; receives CONFIG, LISTEN_SOCKET, LISTEN_CLOSE, CONFIG_END,
 * PEER_CHANNEL.
 * Peer channels: PEER_HELLO first, then whatever the roles speak.  A peer
 * channel that breaks is dropped and reported (PEER_STATE): the supervisor
 * hands both sides a fresh channel, or restarts the peer if it died, and
 * does not call the node ready meanwhile.  When the supervisor channel ends,
 * the node is shutting down or the supervisor died, and the child exits.
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"

struct child_peer {
	struct ipc_channel *channel;
	uint32_t pid;
	uint32_t generation;
	bool greeted;	 /* its PEER_HELLO received */
	bool hello_sent; /* ours sent */
};

static struct {
	const struct child_ops *ops;
	struct ev_loop *loop;
	struct ipc_channel *supervisor;
	uint32_t generation;
	struct config pending;
	bool pending_valid;
	struct config current;
	bool configured;
	struct child_peer peers[PROC_ROLE_COUNT];
	struct metrics_set metrics_told; /* the last set sent */
} child;

/* Figures go to the supervisor at this pace: a scrape every few seconds
 * sees them fresh, and an idle node sends nothing (only changes go). */
#define CHILD_METRICS_MS 1000

struct ev_loop *child_loop(void)
{
	return child.loop;
}

unsigned child_generation(void)
{
	return child.generation;
}

/* A peer is up once both hellos have crossed: before that one side
 * might not be configured yet and could not handle what it receives. */
static bool child_peer_is_up(const struct child_peer *p)
{
	return p->greeted && p->hello_sent;
}

bool child_peer_connected(enum proc_role peer)
{
	return (unsigned)peer < PROC_ROLE_COUNT && child_peer_is_up(&child.peers[peer]);
}

int child_send(enum proc_role peer, uint16_t type, uint64_t id, const void *data, size_t len,
	       int fd)
{
	if (!child_peer_connected(peer)) {
		if (fd != -1)
			close(fd);
		errno = ENOTCONN;
		return -1;
	}
	return ipc_send(child.peers[peer].channel, type, id, data, len, fd);
}

int child_send_v(enum proc_role peer, uint16_t type, uint64_t id, const struct iovec *iov,
		 int iovcnt)
{
	if (!child_peer_connected(peer)) {
		errno = ENOTCONN;
		return -1;
	}
	return ipc_sendv(child.peers[peer].channel, type, id, iov, iovcnt, -1);
}

int child_send_supervisor_v(uint16_t type, uint64_t id, const struct iovec *iov, int iovcnt)
{
	return ipc_sendv(child.supervisor, type, id, iov, iovcnt, -1);
}

void child_peer_pause_input(enum proc_role peer, bool paused)
{
	if ((unsigned)peer < PROC_ROLE_COUNT && child.peers[peer].channel != NULL)
		ipc_channel_pause_input(child.peers[peer].channel, paused);
}

static bool child_is_linked(enum proc_role peer)
{
	return proc_peer_fd(child.ops->role, peer) != -1;
}

/* The supervisor keeps the node unready, and heals, while a channel is down. */
static void child_peer_report(enum proc_role peer, bool up)
{
	struct proto_peer_state state = {.role = peer, .up = up};
	ipc_send(child.supervisor, PROTO_PEER_STATE, 0, &state, sizeof(state), -1);
}

static void child_peer_drop(enum proc_role peer)
{
	struct child_peer *p = &child.peers[peer];
	bool was_up = child_peer_is_up(p);
	/* What was paused for this channel must not stay paused without it. */
	bool was_congested = p->channel != NULL && ipc_channel_congested(p->channel);
	ipc_channel_free(p->channel);
	*p = (struct child_peer){0};
	child_peer_report(peer, false);
	if (was_congested && child.ops->peer_pressure != NULL)
		child.ops->peer_pressure(peer, false);
	if (was_up && child.ops->peer_down != NULL)
		child.ops->peer_down(peer);
}

static enum proc_role child_peer_of(struct ipc_channel *ch)
{
	for (int role = 0; role < PROC_ROLE_COUNT; role++) {
		if (child.peers[role].channel == ch)
			return (enum proc_role)role;
	}
	return PROC_ROLE_COUNT;
}

static void child_peer_closed(struct ipc_channel *ch, const char *reason, void *arg)
{
	(void)arg;
	enum proc_role peer = child_peer_of(ch);
	if (peer == PROC_ROLE_COUNT) {
		ipc_channel_free(ch);
		return;
	}
	/* A broken channel was logged where it broke (ipc.c). */
	log_info("channel to %s %s; waiting for the supervisor to reconnect it",
		 proc_role_name(peer), reason == NULL ? "closed" : "broke");
	child_peer_drop(peer);
}

static void child_peer_pressure(struct ipc_channel *ch, bool congested, void *arg)
{
	(void)arg;
	enum proc_role peer = child_peer_of(ch);
	if (peer == PROC_ROLE_COUNT)
		return;
	log_info("channel to %s %s (%zu bytes queued)", proc_role_name(peer),
		 congested ? "congested: pausing the input that feeds it" : "drained: resuming",
		 ipc_pending_output(ch));
	if (child.ops->peer_pressure != NULL)
		child.ops->peer_pressure(peer, congested);
}

static void child_peer_came_up(enum proc_role peer)
{
	struct child_peer *p = &child.peers[peer];
	if (!child_peer_is_up(p))
		return;
	log_info("connected to %s (pid %u, generation %u)", proc_role_name(peer), p->pid,
		 p->generation);
	child_peer_report(peer, true);
	if (child.ops->peer_up != NULL)
		child.ops->peer_up(peer);
}

static void child_peer_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	enum proc_role peer = child_peer_of(ch);
	struct child_peer *p = &child.peers[peer];

	if (msg->type == PROTO_PEER_HELLO) {
		struct proto_hello hello;
		if (msg->fd != -1)
			close(msg->fd);
		if (p->greeted || ipc_get_data(msg, &hello, sizeof(hello)) == -1) {
			ipc_channel_fail(ch, "bad PEER_HELLO");
			return;
		}
		if (hello.version != PROTO_VERSION || hello.role != (uint32_t)peer) {
			ipc_channel_fail(ch,
					 "PEER_HELLO from %s version %u; expected %s version %d",
					 proc_role_name((enum proc_role)hello.role), hello.version,
					 proc_role_name(peer), PROTO_VERSION);
			return;
		}
		p->pid = hello.pid;
		p->generation = hello.generation;
		p->greeted = true;
		child_peer_came_up(peer);
		return;
	}
	/* The role owns the descriptor only of a message it takes. */
	bool taken = child_peer_is_up(p) && child.ops->peer_message != NULL &&
		     child.ops->peer_message(peer, msg);
	if (!taken) {
		if (msg->fd != -1)
			close(msg->fd);
		ipc_channel_fail(ch, "unexpected message %s%s", proto_type_name(msg->type),
				 p->greeted ? "" : " before PEER_HELLO");
	}
}

static void child_peer_greet(enum proc_role peer)
{
	struct proto_hello hello = {
	    .version = PROTO_VERSION,
	    .role = child.ops->role,
	    .pid = (uint32_t)getpid(),
	    .generation = child.generation,
	};
	struct child_peer *p = &child.peers[peer];
	if (ipc_send(p->channel, PROTO_PEER_HELLO, 0, &hello, sizeof(hello), -1) == -1)
		return;
	p->hello_sent = true;
	child_peer_came_up(peer);
}

static void child_peer_attach(enum proc_role peer, int fd)
{
	char name[32];
	if (child.peers[peer].channel != NULL)
		child_peer_drop(peer);
	snprintf(name, sizeof(name), "channel to %s", proc_role_name(peer));
	struct ipc_channel *ch =
	    ipc_channel_new(child.loop, fd, name, child_peer_msg, child_peer_closed, NULL);
	if (ch == NULL) {
		log_warn("cannot watch the channel to %s", proc_role_name(peer));
		return;
	}
	ipc_channel_set_pressure(ch, child_peer_pressure);
	child.peers[peer].channel = ch;
	/* Our hello waits until we are configured (child_apply_config sends
	 * it then), so a peer never talks to us before we can answer. */
	if (child.configured)
		child_peer_greet(peer);
}

static void child_peer_greet_all(void)
{
	for (int peer = 0; peer < PROC_ROLE_COUNT; peer++) {
		if (child.peers[peer].channel != NULL)
			child_peer_greet((enum proc_role)peer);
	}
}

static void child_send_ready(bool ok, const char *message)
{
	struct proto_result result = {.ok = ok, .message_len = (uint32_t)strlen(message)};
	struct iovec iov[2] = {
	    {.iov_base = &result, .iov_len = sizeof(result)},
	    {.iov_base = (void *)message, .iov_len = result.message_len},
	};
	ipc_sendv(child.supervisor, PROTO_READY, 0, iov, 2, -1);
}

static int64_t child_metrics_send(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	static struct metrics_set now;
	now.head = (struct metrics_head){0};
	child.ops->metrics(&now);
	size_t len = sizeof(now.head) + now.head.count * sizeof(now.entries[0]);
	if (memcmp(&now, &child.metrics_told, len) != 0 || child.metrics_told.head.count == 0) {
		struct iovec iov = {.iov_base = &now, .iov_len = len};
		if (ipc_sendv(child.supervisor, PROTO_METRICS, 0, &iov, 1, -1) == 0)
			memcpy(&child.metrics_told, &now, len);
	}
	return CHILD_METRICS_MS;
}

static void child_apply_config(void)
{
	char why[4096] = "";
	bool first = !child.configured;

	if (!child.pending_valid) {
		ipc_channel_fail(child.supervisor, "CONFIG_END without CONFIG");
		return;
	}
	log_set_level((enum log_level)child.pending.log_level);
	if (child.ops->configure(&child.pending, first, why, sizeof(why)) == -1) {
		if (first) {
			log_warnx("cannot start with this configuration: %s", why);
			exit(PROC_EXIT_CONFIG);
		}
		log_warnx("keeping the previous configuration: %s", why);
		log_set_level((enum log_level)child.current.log_level);
		child_send_ready(false, why);
	} else {
		child.current = child.pending;
		child.configured = true;
		if (first)
			child_peer_greet_all();
		child_send_ready(true, "");
		/* After READY: the supervisor takes figures from ready children. */
		if (first && child.ops->metrics != NULL &&
		    ev_timer_add(child.loop, 0, child_metrics_send, NULL) == NULL)
			log_warn("metrics timer");
	}
	child.pending_valid = false;
}

static void child_supervisor_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	int fd = msg->fd;

	switch (msg->type) {
	case PROTO_CONFIG:
		if (ipc_get_data(msg, &child.pending, sizeof(child.pending)) == -1) {
			ipc_channel_fail(ch, "CONFIG of %zu bytes, expected %zu", msg->len,
					 sizeof(struct config));
			break;
		}
		child.pending_valid = true;
		break;
	case PROTO_LISTEN_SOCKET: {
		struct proto_listen_socket info;
		if (child.ops->listen_socket == NULL || fd == -1 ||
		    ipc_get_data(msg, &info, sizeof(info)) == -1) {
			ipc_channel_fail(ch, "unexpected LISTEN_SOCKET");
			break;
		}
		info.address[sizeof(info.address) - 1] = '\0';
		info.interface[sizeof(info.interface) - 1] = '\0';
		child.ops->listen_socket(fd, &info);
		fd = -1;
		break;
	}
	case PROTO_LISTEN_CLOSE: {
		struct proto_listen_socket info;
		if (child.ops->listen_close == NULL ||
		    ipc_get_data(msg, &info, sizeof(info)) == -1) {
			ipc_channel_fail(ch, "unexpected LISTEN_CLOSE");
			break;
		}
		info.address[sizeof(info.address) - 1] = '\0';
		info.interface[sizeof(info.interface) - 1] = '\0';
		child.ops->listen_close(&info);
		break;
	}
	case PROTO_CONFIG_END:
		child_apply_config();
		break;
	case PROTO_PEER_CHANNEL: {
		struct proto_peer_channel info;
		if (fd == -1 || ipc_get_data(msg, &info, sizeof(info)) == -1) {
			ipc_channel_fail(ch, "bad PEER_CHANNEL");
			break;
		}
		if (info.role >= PROC_ROLE_COUNT || !child_is_linked((enum proc_role)info.role)) {
			ipc_channel_fail(ch, "PEER_CHANNEL to %u, which is not a peer of ours",
					 info.role);
			break;
		}
		child_peer_attach((enum proc_role)info.role, fd);
		fd = -1;
		break;
	}
	default:
		if (child.ops->supervisor_message != NULL && child.ops->supervisor_message(msg)) {
			fd = -1;
			break;
		}
		ipc_channel_fail(ch, "unexpected message %s", proto_type_name(msg->type));
		break;
	}
	if (fd != -1)
		close(fd);
}

static void child_supervisor_closed(struct ipc_channel *ch, const char *reason, void *arg)
{
	(void)ch;
	(void)arg;
	/* Without the supervisor nobody restarts our peers or hands out sockets. */
	if (reason == NULL)
		log_info("the supervisor closed our channel; exiting");
	else
		log_warnx("lost the supervisor (%s); exiting", reason);
	exit(reason == NULL ? PROC_EXIT_OK : PROC_EXIT_FAILURE);
}

static void child_on_sigterm(struct ev_loop *loop, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	log_debug("stopping");
	if (child.ops->stop != NULL)
		child.ops->stop();
	ev_loop_stop(loop);
}

static void child_usage(const char *role)
{
	fprintf(stderr,
		"usage: rxmpp-%s [--generation N] [--log-level LEVEL] [--syslog]\n"
		"This program is started by rxmppd, which hands it its channels at descriptors "
		"%d and up.\n",
		role, PROC_FD_SUPERVISOR);
}

int child_main(int argc, char **argv, const struct child_ops *ops)
{
	static const struct option options[] = {
	    {"generation", required_argument, NULL, 'g'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"syslog", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level level = LOG_LEVEL_INFO;
	enum log_target target = LOG_TARGET_STDERR;
	const char *role = proc_role_name(ops->role);
	int opt;

	child.ops = ops;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'g':
			child.generation = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			if (log_level_parse(optarg, &level) == -1) {
				child_usage(role);
				return 2;
			}
			break;
		case 's':
			target = LOG_TARGET_SYSLOG;
			break;
		case 'h':
			child_usage(role);
			return 0;
		default:
			child_usage(role);
			return 2;
		}
	}
	log_init(role, level, target);

	if (fcntl(PROC_FD_SUPERVISOR, F_GETFD) == -1) {
		child_usage(role);
		return PROC_EXIT_CONFIG;
	}
	/* Die with the supervisor; it may already be gone by now. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatal("prctl(PR_SET_PDEATHSIG)");
	if (getppid() == 1)
		fatalx("the supervisor exited before we started");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);

	child.loop = ev_loop_new();
	if (child.loop == NULL)
		fatal("event loop");
	if (ev_signal_add(child.loop, SIGTERM, child_on_sigterm, NULL) == -1)
		fatal("signalfd");
	child.supervisor = ipc_channel_new(child.loop, PROC_FD_SUPERVISOR, "channel to supervisor",
					   child_supervisor_msg, child_supervisor_closed, NULL);
	if (child.supervisor == NULL)
		fatal("supervisor channel");
	for (int peer = 0; peer < PROC_ROLE_COUNT; peer++) {
		int fd = proc_peer_fd(ops->role, (enum proc_role)peer);
		if (fd != -1 && fcntl(fd, F_GETFD) != -1) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			child_peer_attach((enum proc_role)peer, fd);
		}
	}
	struct proto_hello hello = {
	    .version = PROTO_VERSION,
	    .role = ops->role,
	    .pid = (uint32_t)getpid(),
	    .generation = child.generation,
	};
	ipc_send(child.supervisor, PROTO_HELLO, 0, &hello, sizeof(hello), -1);
	if (ev_loop_run(child.loop) == -1)
		fatal("event loop");
	return PROC_EXIT_OK;
}
