/* SPDX-License-Identifier: MIT */
/*
 * The children of rxmppd, as the process table (supervisor_table.c) says:
 * fork+exec with the channels at fixed descriptors, the hello/config/ready
 * handshake, the listening sockets each owns, restarts and the re-wiring of
 * peers when one of them comes back.
 *
 * Restart policy (the table's struct child_restart_policy): the first death
 * after a good run is restarted at once; each further death in a row waits
 * twice as long (250 ms, 500 ms, ... up to 60 s).  A child that dies before
 * it is ready throttle_after times in a row is throttled: reported, and
 * restarted only every 60 s; one that is not ready within 30 s is killed,
 * which counts the same.  A minute of ready uptime forgives the past.  Exit
 * status PROC_EXIT_CONFIG means the configuration cannot work; restarting
 * cannot help, so the supervisor stops the node.  Exit status
 * PROC_EXIT_STORAGE means the child could not write the state directory
 * (disk full, read-only): a backoff of up to 60 s would keep the cluster
 * leaderless long after the disk is fixed, and a restart before then
 * would only fail again, so the supervisor tries a write there every
 * second (STORAGE_PROBE_MS) and restarts the child as soon as one succeeds.
 *
 * A channel to a child that sends garbage is closed (ipc logs it) and the
 * child is killed, so the ordinary restart gives it a clean start.
 *
 * Channels between children (proc_links): each end reports whether it talks
 * to its peer (PEER_STATE).  The node is ready only while every channel
 * between running children is up on both ends.  One that goes down while
 * both ends stay ready is healed: after LINK_HEAL_DELAY_MS (so that a peer
 * that is dying is reaped first, and its restart brings fresh channels)
 * both ends get a fresh socketpair, as at a restart; a channel handed out
 * less than LINK_HEAL_GRACE_MS ago is still given time to come up.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "supervisor.h"

/* How long a reload waits for the children to confirm it. */
#define RELOAD_ANSWER_MS 10000
/* How often the state directory is tried while a child waits for it. */
#define STORAGE_PROBE_MS   1000
#define STORAGE_PROBE_FILE ".rxmppd-write-test"
/* Channels between children: see above. */
#define LINK_HEAL_DELAY_MS 250
#define LINK_HEAL_GRACE_MS 2000

struct child {
	const struct child_spec *spec;
	pid_t pid;
	uint32_t generation;
	enum proto_child_state state;
	struct ipc_channel *channel;
	bool greeted;
	int64_t started_at;
	int64_t ready_at; /* 0 until ready in this generation */
	uint32_t restarts;
	uint32_t failures_in_row;
	uint32_t startup_failures_in_row;
	struct ev_timer *restart_timer;
	struct ev_timer *ready_timer;
	int64_t restart_at;
	bool restart_on_purpose;
	bool reload_pending;		    /* reconfigured; its READY is awaited */
	bool peer_up[PROC_ROLE_COUNT];	    /* its last PEER_STATE about each peer */
	int64_t handed_at[PROC_ROLE_COUNT]; /* when it last got a channel to each */
	/* Its last METRICS (common/metrics.h); none while it is not running. */
	struct metrics_entry metrics[METRICS_ENTRIES_MAX];
	size_t metrics_count;
	/* The counters of its earlier generations, added to the current ones:
	 * the node's counters only grow while rxmppd runs, whichever of its
	 * processes restarted. */
	struct metrics_entry carried[METRICS_ENTRIES_MAX];
	size_t carried_count;
};

/* Where in `set` the figure of `e` (same id, label, member) is; -1 if not. */
static ssize_t metrics_find(const struct metrics_entry *set, size_t count,
			    const struct metrics_entry *e)
{
	for (size_t i = 0; i < count; i++) {
		if (set[i].id == e->id && set[i].label == e->label && set[i].member == e->member)
			return (ssize_t)i;
	}
	return -1;
}

/* A child's last counters join what it carried; its gauges are gone with it. */
static void metrics_carry(struct child *c)
{
	for (size_t i = 0; i < c->metrics_count; i++) {
		const struct metrics_entry *e = &c->metrics[i];
		if (metrics_defs[e->id].type != METRICS_COUNTER)
			continue;
		ssize_t at = metrics_find(c->carried, c->carried_count, e);
		if (at >= 0)
			c->carried[at].value += e->value;
		else if (c->carried_count < METRICS_ENTRIES_MAX)
			c->carried[c->carried_count++] = *e;
	}
	c->metrics_count = 0;
}

static struct child children[SUPERVISOR_CHILD_COUNT];
/* The reload round: the verdicts of the children reconfigured live. */
static struct {
	struct ev_timer *timer;
	char refusals[4096];
} round;
static void (*stop_done)(void);
static struct ev_timer *stop_timer;
static struct ev_timer *link_timer;
/* The node said it was degraded (a channel down) after it was ready. */
static bool link_degraded_said;

static struct child *child_by_role(enum proc_role role)
{
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		if (children[i].spec->role == role)
			return &children[i];
	}
	return NULL;
}

static const char *child_name(const struct child *c)
{
	return proc_role_name(c->spec->role);
}

static bool children_needed_ready(void)
{
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		if (children[i].spec->needed_for_ready && children[i].state != PROTO_CHILD_READY)
			return false;
	}
	return true;
}

/* Channels */

static bool link_up(const struct child *a, const struct child *b)
{
	return a->peer_up[b->spec->role] && b->peer_up[a->spec->role];
}

unsigned supervisor_children_channels_down(void)
{
	unsigned down = 0;
	for (unsigned l = 0; l < proc_link_count; l++) {
		const struct child *a = child_by_role(proc_links[l].a);
		const struct child *b = child_by_role(proc_links[l].b);
		if (a->pid > 0 && b->pid > 0 && !link_up(a, b))
			down++;
	}
	return down;
}

bool supervisor_children_all_ready(void)
{
	return children_needed_ready() && supervisor_children_channels_down() == 0;
}

/* Both ends serve, so neither is about to be restarted with fresh channels. */
static bool link_ends_ready(const struct child *a, const struct child *b)
{
	return a->state == PROTO_CHILD_READY && b->state == PROTO_CHILD_READY &&
	       a->channel != NULL && b->channel != NULL && a->pid > 0 && b->pid > 0 &&
	       !a->restart_on_purpose && !b->restart_on_purpose && !supervisor_state.shutting_down;
}

/* A fresh socketpair for the channel between `a` and `b`, one end each. */
static void link_heal(struct child *a, struct child *b)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("socketpair %s-%s", child_name(a), child_name(b));
		return;
	}
	log_warnx("the channel between %s and %s is down; handing both a fresh one", child_name(a),
		  child_name(b));
	struct proto_peer_channel to_a = {.role = b->spec->role};
	struct proto_peer_channel to_b = {.role = a->spec->role};
	ipc_send(a->channel, PROTO_PEER_CHANNEL, 0, &to_a, sizeof(to_a), pair[0]);
	ipc_send(b->channel, PROTO_PEER_CHANNEL, 0, &to_b, sizeof(to_b), pair[1]);
	a->handed_at[b->spec->role] = b->handed_at[a->spec->role] = ev_now(supervisor_state.loop);
}

/* Heals what is down past its grace; runs again while something waits. */
static int64_t link_check(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	int64_t now = ev_now(supervisor_state.loop), next = EV_TIMER_DONE;
	for (unsigned l = 0; l < proc_link_count; l++) {
		struct child *a = child_by_role(proc_links[l].a);
		struct child *b = child_by_role(proc_links[l].b);
		if (!link_ends_ready(a, b) || link_up(a, b))
			continue;
		int64_t wait = a->handed_at[b->spec->role] + LINK_HEAL_GRACE_MS - now;
		if (wait <= 0) {
			link_heal(a, b);
			wait = LINK_HEAL_GRACE_MS;
		}
		if (next == EV_TIMER_DONE || wait < next)
			next = wait;
	}
	if (next == EV_TIMER_DONE)
		link_timer = NULL;
	return next;
}

static void link_check_soon(void)
{
	if (link_timer == NULL)
		link_timer =
		    ev_timer_add(supervisor_state.loop, LINK_HEAL_DELAY_MS, link_check, NULL);
}

/* The node's readiness after a change of a child or a channel: announced
 * the first time; later, systemd's status says when it is degraded. */
static void children_ready_changed(void)
{
	if (supervisor_state.shutting_down)
		return; /* channels end in the order of the shutdown */
	bool ready = supervisor_children_all_ready();
	if (ready && !supervisor_state.ready_announced) {
		supervisor_ready();
		return;
	}
	if (!supervisor_state.ready_announced || ready == !link_degraded_said)
		return;
	char state[CONFIG_DOMAIN_MAX + 96];
	if (ready) {
		log_info("every channel between the processes is up again");
		snprintf(state, sizeof(state), "STATUS=serving %s", supervisor_state.cfg.domain);
	} else {
		snprintf(state, sizeof(state),
			 "STATUS=degraded: %u channels between processes down",
			 supervisor_children_channels_down());
	}
	link_degraded_said = !ready;
	supervisor_notify_send(state);
}

static void child_on_peer_state(struct child *c, const struct ipc_msg *msg)
{
	struct proto_peer_state state;
	if (!c->greeted || ipc_get_data(msg, &state, sizeof(state)) == -1 ||
	    state.role >= PROC_ROLE_COUNT ||
	    proc_peer_fd(c->spec->role, (enum proc_role)state.role) == -1) {
		ipc_channel_fail(c->channel, "bad PEER_STATE");
		return;
	}
	c->peer_up[state.role] = state.up != 0;
	struct child *peer = child_by_role((enum proc_role)state.role);
	if (!state.up && peer != NULL && peer->pid > 0) {
		log_info("%s reports its channel to %s down", child_name(c), child_name(peer));
		link_check_soon();
	}
	children_ready_changed();
}

/* Handshake and messages from a child */

static bool child_owns(const struct child_spec *spec, const struct listen_socket *s)
{
	return (spec->socket_kinds & (1u << s->kind)) != 0;
}

/* The child that the table gives sockets of this kind, or NULL. */
static struct child *socket_owner(const struct listen_socket *s)
{
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		if (child_owns(children[i].spec, s))
			return &children[i];
	}
	return NULL;
}

/* The child's socket_message (LISTEN_SOCKET, CLUSTER_SOCKET) with a
 * duplicate of `s`, or, when it is no longer `open`, LISTEN_CLOSE naming it. */
static void child_send_socket(struct child *c, const struct listen_socket *s, bool open)
{
	struct proto_listen_socket info;
	supervisor_sockets_describe(s, &info);
	if (!open) {
		ipc_send(c->channel, PROTO_LISTEN_CLOSE, 0, &info, sizeof(info), -1);
		return;
	}
	/* The supervisor keeps its own copy across listener restarts. */
	int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("dup of the listening socket %s:%u", s->address, s->port);
		return;
	}
	ipc_send(c->channel, c->spec->socket_message, 0, &info, sizeof(info), fd);
}

/* A child gets its listening sockets at its start; afterwards only one
 * with sockets_live hears of sockets opened and closed
 * (supervisor_children_listen_changed): the others restart when theirs change. */
static void child_send_config(struct child *c, bool with_sockets)
{
	ipc_send(c->channel, PROTO_CONFIG, 0, &supervisor_state.cfg, sizeof(supervisor_state.cfg),
		 -1);
	for (size_t i = 0; with_sockets && i < supervisor_state.listening.count; i++) {
		if (child_owns(c->spec, &supervisor_state.listening.sockets[i]))
			child_send_socket(c, &supervisor_state.listening.sockets[i], true);
	}
	if (c->spec->gets_callbridges) {
		for (size_t i = 0; i < supervisor_state.bridges.count; i++)
			ipc_send(c->channel, PROTO_CALLBRIDGE, 0,
				 &supervisor_state.bridges.items[i],
				 sizeof(supervisor_state.bridges.items[i]), -1);
	}
	/* A restarted listener drains on as its predecessor did. */
	if (c->spec->role == PROC_LISTENER)
		ipc_send(c->channel, PROTO_CTL_DRAIN, 0, &supervisor_state.drain,
			 sizeof(supervisor_state.drain), -1);
	ipc_send(c->channel, PROTO_CONFIG_END, 0, NULL, 0, -1);
}

static void child_on_hello(struct child *c, const struct ipc_msg *msg)
{
	struct proto_hello hello;
	if (c->greeted || ipc_get_data(msg, &hello, sizeof(hello)) == -1) {
		ipc_channel_fail(c->channel, "bad HELLO");
		return;
	}
	if (hello.version != PROTO_VERSION || hello.role != (uint32_t)c->spec->role ||
	    hello.pid != (uint32_t)c->pid || hello.generation != c->generation) {
		ipc_channel_fail(
		    c->channel,
		    "HELLO says %s pid %u generation %u version %u; expected %s pid %d "
		    "generation %u version %d",
		    proc_role_name((enum proc_role)hello.role), hello.pid, hello.generation,
		    hello.version, child_name(c), (int)c->pid, c->generation, PROTO_VERSION);
		return;
	}
	c->greeted = true;
	child_send_config(c, true);
}

static void reload_round_check(void)
{
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		if (children[i].reload_pending)
			return;
	}
	ev_timer_del(round.timer);
	round.timer = NULL;
	supervisor_control_reload_done(round.refusals[0] == '\0', round.refusals);
}

static int64_t reload_round_overdue(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	round.timer = NULL;
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		struct child *c = &children[i];
		size_t used = strlen(round.refusals);
		if (c->reload_pending && used < sizeof(round.refusals))
			snprintf(round.refusals + used, sizeof(round.refusals) - used,
				 "%s%s did not confirm the new configuration", used ? "\n" : "",
				 child_name(c));
		c->reload_pending = false;
	}
	supervisor_control_reload_done(false, round.refusals);
	return EV_TIMER_DONE;
}

/* A child that goes away during a round is not waited for: its successor
 * starts with the new configuration. */
static void reload_round_forget(struct child *c)
{
	if (c->reload_pending) {
		c->reload_pending = false;
		reload_round_check();
	}
}

static void child_on_ready(struct child *c, const struct ipc_msg *msg)
{
	struct proto_result result;
	if (msg->len < sizeof(result) || !c->greeted) {
		ipc_channel_fail(c->channel, "bad READY");
		return;
	}
	memcpy(&result, msg->data, sizeof(result));
	if (result.message_len != msg->len - sizeof(result)) {
		ipc_channel_fail(c->channel, "READY with a bad message length");
		return;
	}
	if (!result.ok) {
		log_warnx("%s refused the new configuration: %.*s", child_name(c),
			  (int)result.message_len, (const char *)msg->data + sizeof(result));
		size_t used = strlen(round.refusals);
		if (c->reload_pending && used < sizeof(round.refusals))
			snprintf(round.refusals + used, sizeof(round.refusals) - used,
				 "%s%s refused it: %.*s", used ? "\n" : "", child_name(c),
				 (int)result.message_len, (const char *)msg->data + sizeof(result));
	}
	if (c->reload_pending) {
		c->reload_pending = false;
		reload_round_check();
	}
	if (!result.ok)
		return;
	if (c->state == PROTO_CHILD_READY)
		return; /* a reload confirmed */
	c->state = PROTO_CHILD_READY;
	c->ready_at = ev_now(supervisor_state.loop);
	ev_timer_del(c->ready_timer);
	c->ready_timer = NULL;
	c->startup_failures_in_row = 0;
	log_info("%s ready (pid %d, generation %u)", child_name(c), (int)c->pid, c->generation);
	link_check_soon();
	children_ready_changed();
}

static void child_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	struct child *c = arg;
	(void)ch;
	if (msg->fd != -1)
		close(msg->fd);
	if (msg->type == PROTO_HELLO)
		child_on_hello(c, msg);
	else if (msg->type == PROTO_READY)
		child_on_ready(c, msg);
	else if (msg->type == PROTO_PEER_STATE)
		child_on_peer_state(c, msg);
	else if (c->greeted && msg->type == PROTO_METRICS) {
		static struct metrics_entry entries[METRICS_ENTRIES_MAX];
		size_t count;
		if (metrics_unpack(msg->data, msg->len, c->spec->role, entries, &count) == -1) {
			ipc_channel_fail(c->channel, "malformed METRICS of %zu bytes", msg->len);
		} else {
			memcpy(c->metrics, entries, count * sizeof(entries[0]));
			c->metrics_count = count;
		}
	} else if (c->spec->role == PROC_LISTENER && c->greeted && msg->type == PROTO_STATS) {
		if (ipc_get_data(msg, &supervisor_state.stats, sizeof(supervisor_state.stats)) ==
		    -1)
			ipc_channel_fail(c->channel, "STATS of %zu bytes", msg->len);
	} else if (c->spec->role == PROC_CERTWORKER && c->greeted &&
		   msg->type == PROTO_CERT_STATE) {
		if (ipc_get_data(msg, &supervisor_state.cert, sizeof(supervisor_state.cert)) == -1)
			ipc_channel_fail(c->channel, "CERT_STATE of %zu bytes", msg->len);
	} else if (c->spec->role == PROC_ELECTOR && c->greeted &&
		   msg->type == PROTO_PROPOSE_RESULT && msg->peer == 0) {
		supervisor_settings_answer(msg->data, msg->len);
	} else if (c->spec->role == PROC_ELECTOR && c->greeted &&
		   (msg->type == PROTO_CLUSTER_STATUS || msg->type == PROTO_CLUSTER_RESULT ||
		    msg->type == PROTO_CLUSTER_PROGRESS || msg->type == PROTO_PROPOSE_RESULT ||
		    msg->type == PROTO_USERDATA_ANSWER)) {
		if (!supervisor_handover_answer(msg->peer, msg->type, msg->data, msg->len))
			supervisor_control_relay(msg->peer, msg->type, msg->data, msg->len);
	} else if (c->spec->role == PROC_ELECTOR && c->greeted &&
		   msg->type == PROTO_CLUSTER_APPLIED) {
		supervisor_bridges_applied();
	} else if (c->spec->role == PROC_LISTENER && c->greeted &&
		   (msg->type == PROTO_SESSIONS || msg->type == PROTO_CTL_RESULT))
		supervisor_control_relay(msg->peer, msg->type, msg->data, msg->len);
	else if (c->spec->role == PROC_ROUTER && c->greeted && msg->type == PROTO_CLUSTER_SESSIONS)
		supervisor_control_relay(msg->peer, msg->type, msg->data, msg->len);
	else
		ipc_channel_fail(c->channel, "unexpected message %s", proto_type_name(msg->type));
}

static void child_channel_closed(struct ipc_channel *ch, const char *reason, void *arg)
{
	struct child *c = arg;
	ipc_channel_free(ch);
	c->channel = NULL;
	/* A child that broke the protocol is restarted; one that closed the
	 * channel is exiting and is reaped through SIGCHLD. */
	bool leaving = c->restart_on_purpose || c->state == PROTO_CHILD_STOPPED;
	if (reason != NULL && c->pid > 0 && !leaving) {
		log_warnx("killing %s (pid %d) after a protocol error", child_name(c), (int)c->pid);
		kill(c->pid, SIGKILL);
	}
}

/* Spawning */

static int64_t child_ready_overdue(struct ev_timer *timer, void *arg)
{
	struct child *c = arg;
	(void)timer;
	c->ready_timer = NULL;
	if (c->pid > 0 && c->ready_at == 0) {
		log_warnx("%s (pid %d) is not ready after %d s; killing it", child_name(c),
			  (int)c->pid, (int)(c->spec->policy->ready_timeout_ms / 1000));
		kill(c->pid, SIGKILL);
	}
	return EV_TIMER_DONE;
}

static void child_exec(const struct child *c, int supervisor_fd, const int peer_fds[])
{
	/* Move every inherited end above the fixed numbers first, so that
	 * dup2 onto 3, 4, ... never overwrites one that is still needed. */
	int high_supervisor = fcntl(supervisor_fd, F_DUPFD, 64);
	int high_peers[PROC_ROLE_COUNT];
	for (int r = 0; r < PROC_ROLE_COUNT; r++)
		high_peers[r] = peer_fds[r] == -1 ? -1 : fcntl(peer_fds[r], F_DUPFD, 64);
	if (high_supervisor == -1 || dup2(high_supervisor, PROC_FD_SUPERVISOR) == -1)
		_exit(PROC_EXIT_FAILURE);
	int last = PROC_FD_SUPERVISOR;
	for (int r = 0; r < PROC_ROLE_COUNT; r++) {
		int target = proc_peer_fd(c->spec->role, (enum proc_role)r);
		if (target == -1)
			continue;
		if (target > last)
			last = target;
		if (high_peers[r] != -1 && dup2(high_peers[r], target) == -1)
			_exit(PROC_EXIT_FAILURE);
		if (high_peers[r] == -1)
			close(target);
	}
	close_range((unsigned)last + 1, ~0u, 0);

	char path[1200], generation[16];
	snprintf(path, sizeof(path), "%s/%s", supervisor_state.libexec_dir, c->spec->executable);
	snprintf(generation, sizeof(generation), "%u", c->generation);
	const char *argv[] = {
	    path,
	    "--generation",
	    generation,
	    "--log-level",
	    log_level_name(log_get_level()),
	    log_get_target() == LOG_TARGET_SYSLOG ? "--syslog" : NULL,
	    NULL,
	};
	execv(path, (char **)argv);
	log_warn("cannot run %s", path);
	_exit(127);
}

/* Starts `c`.  peer_fds[role] is this child's end of the channel to that
 * peer, or -1; the caller keeps ownership of its descriptors. */
static int child_spawn(struct child *c, const int peer_fds[])
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("socketpair for %s", child_name(c));
		return -1;
	}
	c->generation++;
	pid_t pid = fork();
	if (pid == -1) {
		log_warn("fork for %s", child_name(c));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		/* A process group of its own keeps a terminal's Ctrl-C away from
		 * the children: rxmppd alone decides the order of shutdown. */
		setpgid(0, 0);
		ev_signals_unblock();
		close(pair[0]);
		child_exec(c, pair[1], peer_fds);
	}
	close(pair[1]);
	c->pid = pid;
	c->state = PROTO_CHILD_STARTING;
	c->greeted = false;
	/* Its channels are the ones handed to it now (peer_fds). */
	for (int r = 0; r < PROC_ROLE_COUNT; r++) {
		c->peer_up[r] = false;
		c->handed_at[r] = ev_now(supervisor_state.loop);
	}
	c->started_at = ev_now(supervisor_state.loop);
	c->ready_at = 0;
	c->ready_timer = ev_timer_add(supervisor_state.loop, c->spec->policy->ready_timeout_ms,
				      child_ready_overdue, c);
	c->channel = ipc_channel_new(supervisor_state.loop, pair[0], child_name(c), child_msg,
				     child_channel_closed, c);
	if (c->channel == NULL) {
		log_warn("channel to %s", child_name(c));
		kill(pid, SIGKILL);
		return -1;
	}
	log_info("started %s (pid %d, generation %u)", child_name(c), (int)pid, c->generation);
	return 0;
}

static bool child_running(const struct child *c)
{
	return c->pid > 0;
}

/* Restarts one child: fresh channels to each of its peers; a running peer
 * gets the other end by SCM_RIGHTS, a dead one will make its own when it
 * comes back. */
static void child_restart(struct child *c)
{
	int own_ends[PROC_ROLE_COUNT], peer_ends[PROC_ROLE_COUNT];
	for (int r = 0; r < PROC_ROLE_COUNT; r++) {
		own_ends[r] = peer_ends[r] = -1;
		struct child *peer = child_by_role((enum proc_role)r);
		if (peer == NULL || proc_peer_fd(c->spec->role, (enum proc_role)r) == -1 ||
		    !child_running(peer) || peer->channel == NULL)
			continue;
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
			log_warn("socketpair %s-%s", child_name(c), child_name(peer));
			continue;
		}
		own_ends[r] = pair[0];
		peer_ends[r] = pair[1];
	}
	int rc = child_spawn(c, own_ends);
	for (int r = 0; r < PROC_ROLE_COUNT; r++) {
		if (own_ends[r] != -1)
			close(own_ends[r]);
		if (peer_ends[r] == -1)
			continue;
		if (rc == -1) {
			close(peer_ends[r]);
			continue;
		}
		struct child *peer = child_by_role((enum proc_role)r);
		struct proto_peer_channel info = {.role = c->spec->role};
		peer->handed_at[c->spec->role] = ev_now(supervisor_state.loop);
		ipc_send(peer->channel, PROTO_PEER_CHANNEL, 0, &info, sizeof(info), peer_ends[r]);
	}
	if (rc == -1)
		c->state = PROTO_CHILD_BACKOFF;
}

void supervisor_children_start_all(void)
{
	int ends[SUPERVISOR_CHILD_COUNT][PROC_ROLE_COUNT];

	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		children[i].spec = &supervisor_child_specs[i];
		for (int r = 0; r < PROC_ROLE_COUNT; r++)
			ends[i][r] = -1;
	}
	/* At the first start every channel exists before anyone runs. */
	for (unsigned l = 0; l < proc_link_count; l++) {
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1)
			fatal("socketpair");
		size_t a = (size_t)(child_by_role(proc_links[l].a) - children);
		size_t b = (size_t)(child_by_role(proc_links[l].b) - children);
		ends[a][proc_links[l].b] = pair[0];
		ends[b][proc_links[l].a] = pair[1];
	}
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		if (child_spawn(&children[i], ends[i]) == -1)
			fatalx("cannot start %s", child_name(&children[i]));
	}
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		for (int r = 0; r < PROC_ROLE_COUNT; r++) {
			if (ends[i][r] != -1)
				close(ends[i][r]);
		}
	}
}

static int64_t child_restart_due(struct ev_timer *timer, void *arg)
{
	struct child *c = arg;
	(void)timer;
	c->restart_timer = NULL;
	if (!supervisor_state.shutting_down && !child_running(c))
		child_restart(c);
	return EV_TIMER_DONE;
}

static void child_schedule_restart(struct child *c, int64_t delay_ms)
{
	c->restart_at = ev_now(supervisor_state.loop) + delay_ms;
	c->restart_timer = ev_timer_add(supervisor_state.loop, delay_ms, child_restart_due, c);
	if (c->restart_timer == NULL)
		fatal("restart timer");
}

/* A real write, flushed: what the child needs to work again. */
static bool storage_writable(char *why, size_t why_size)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", supervisor_state.cfg.state_directory,
		 STORAGE_PROBE_FILE);
	if (fileio_write_atomic(path, "rxmppd\n", 7, 0600, why, why_size) == -1)
		return false;
	unlink(path);
	return true;
}

static int64_t child_storage_probe(struct ev_timer *timer, void *arg)
{
	struct child *c = arg;
	char why[512];
	(void)timer;
	if (supervisor_state.shutting_down || child_running(c)) {
		c->restart_timer = NULL;
		return EV_TIMER_DONE;
	}
	if (!storage_writable(why, sizeof(why))) {
		c->restart_at = ev_now(supervisor_state.loop) + STORAGE_PROBE_MS;
		return STORAGE_PROBE_MS;
	}
	c->restart_timer = NULL;
	log_info("%s takes writes again; restarting %s", supervisor_state.cfg.state_directory,
		 child_name(c));
	child_restart(c);
	return EV_TIMER_DONE;
}

/* The child could not write its state: restart it when the folder can be
 * written, checked every STORAGE_PROBE_MS.  False when the folder takes a
 * test write already: then what failed is not the disk, and the ordinary
 * backoff applies (a restart every second would be a loop). */
static bool child_wait_for_storage(struct child *c, pid_t pid, const char *how)
{
	char why[512];
	if (storage_writable(why, sizeof(why))) {
		log_warnx("%s (pid %d) could not write its state, but %s takes a test write",
			  child_name(c), (int)pid, supervisor_state.cfg.state_directory);
		return false;
	}
	c->restarts++;
	c->state = PROTO_CHILD_NO_STORAGE;
	log_warnx("%s (pid %d) %s: it cannot write its state (%s); restarting it as soon as "
		  "a test write there succeeds (tried every %d s)",
		  child_name(c), (int)pid, how, why, STORAGE_PROBE_MS / 1000);
	c->restart_at = ev_now(supervisor_state.loop) + STORAGE_PROBE_MS;
	c->restart_timer =
	    ev_timer_add(supervisor_state.loop, STORAGE_PROBE_MS, child_storage_probe, c);
	if (c->restart_timer == NULL)
		fatal("storage probe timer");
	return true;
}

static void child_describe_exit(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "ended with wait status %d", status);
}

static void child_exited(struct child *c, int status)
{
	char how[96];
	int64_t now = ev_now(supervisor_state.loop);
	bool was_ready = c->ready_at != 0;

	child_describe_exit(status, how, sizeof(how));
	ev_timer_del(c->ready_timer);
	c->ready_timer = NULL;
	if (c->channel != NULL) {
		ipc_channel_free(c->channel);
		c->channel = NULL;
	}
	pid_t pid = c->pid;
	c->pid = 0;
	c->greeted = false;
	memset(c->peer_up, 0, sizeof(c->peer_up));
	reload_round_forget(c);
	metrics_carry(c);
	if (c->spec->role == PROC_LISTENER)
		memset(&supervisor_state.stats, 0, sizeof(supervisor_state.stats));

	if (supervisor_state.shutting_down) {
		log_info("%s (pid %d) %s", child_name(c), (int)pid, how);
		c->state = PROTO_CHILD_STOPPED;
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_EXIT_CONFIG) {
		log_warnx("%s (pid %d) %s: it cannot run with this configuration; stopping rxmppd",
			  child_name(c), (int)pid, how);
		c->state = PROTO_CHILD_FAILED;
		supervisor_fail(PROC_EXIT_CONFIG);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_EXIT_STORAGE &&
	    child_wait_for_storage(c, pid, how)) {
		c->restart_on_purpose = false;
		return;
	}
	if (c->restart_on_purpose) {
		c->restart_on_purpose = false;
		c->state = PROTO_CHILD_BACKOFF;
		child_restart(c);
		return;
	}

	const struct child_restart_policy *policy = c->spec->policy;
	c->restarts++;
	if (was_ready && now - c->ready_at >= policy->forgive_after_ms)
		c->failures_in_row = 0;
	c->failures_in_row++;
	c->startup_failures_in_row = was_ready ? 0 : c->startup_failures_in_row + 1;

	int64_t delay = 0;
	if (c->failures_in_row > 1) {
		delay = policy->backoff_first_ms;
		for (uint32_t i = 2; i < c->failures_in_row && delay < policy->backoff_max_ms; i++)
			delay *= 2;
		if (delay > policy->backoff_max_ms)
			delay = policy->backoff_max_ms;
	}
	if (c->startup_failures_in_row >= policy->throttle_after) {
		if (c->state != PROTO_CHILD_THROTTLED)
			log_warnx("%s died before it was ready %u times in a row; throttling: one "
				  "start every %d s until it stays up",
				  child_name(c), c->startup_failures_in_row,
				  (int)(policy->backoff_max_ms / 1000));
		c->state = PROTO_CHILD_THROTTLED;
		delay = policy->backoff_max_ms;
	} else {
		c->state = PROTO_CHILD_BACKOFF;
	}
	log_warnx("%s (pid %d) %s%s; restarting in %lld ms", child_name(c), (int)pid, how,
		  was_ready ? "" : " before it was ready", (long long)delay);
	child_schedule_restart(c, delay);
}

void supervisor_children_reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
			if (children[i].pid == pid) {
				child_exited(&children[i], status);
				break;
			}
		}
	}
	if (supervisor_state.shutting_down && stop_done != NULL) {
		/* The next child in the shutdown order may go now. */
		supervisor_children_stop_all(stop_done);
	}
}

void supervisor_children_reconfigure(void)
{
	round.refusals[0] = '\0';
	ev_timer_del(round.timer);
	round.timer =
	    ev_timer_add(supervisor_state.loop, RELOAD_ANSWER_MS, reload_round_overdue, NULL);
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		struct child *c = &children[i];
		c->reload_pending = c->channel != NULL && c->greeted;
		if (c->reload_pending)
			child_send_config(c, false);
	}
	reload_round_check();
}

bool supervisor_children_reload_pending(void)
{
	return round.timer != NULL;
}

/* Why a child restarts, for its log line. */
static const char *restart_cause_text(uint32_t causes)
{
	if (causes & CHILD_RESTART_DOMAIN)
		return "the domain changed";
	if (causes & CHILD_RESTART_CLUSTER)
		return "cluster settings changed";
	return "its listening sockets changed";
}

void supervisor_children_restart_for(uint32_t causes, uint32_t socket_kinds, char *names,
				     size_t names_size)
{
	names[0] = '\0';
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		struct child *c = &children[i];
		uint32_t mine = c->spec->restart_on & causes;
		if ((c->spec->socket_kinds & socket_kinds) == 0)
			mine &= ~(uint32_t)CHILD_RESTART_SOCKETS;
		if (mine == 0)
			continue;
		size_t used = strlen(names);
		snprintf(names + used, names_size - used, "%s%s", used ? ", " : "", child_name(c));
		log_info("%s; restarting the %s", restart_cause_text(mine), child_name(c));
		if (!child_running(c))
			continue;
		c->restart_on_purpose = true;
		kill(c->pid, SIGTERM);
	}
}

/* Shutdown */

static int64_t child_stop_overdue(struct ev_timer *timer, void *arg)
{
	struct child *c = arg;
	(void)timer;
	stop_timer = NULL;
	if (child_running(c)) {
		log_warnx("%s (pid %d) did not stop within %d s; killing it", child_name(c),
			  (int)c->pid, (int)(c->spec->policy->stop_grace_ms / 1000));
		kill(c->pid, SIGKILL);
	}
	return EV_TIMER_DONE;
}

void supervisor_children_stop_all(void (*done)(void))
{
	stop_done = done;
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		if (children[i].restart_timer != NULL) {
			ev_timer_del(children[i].restart_timer);
			children[i].restart_timer = NULL;
		}
	}
	for (size_t i = SUPERVISOR_CHILD_COUNT; i-- > 0;) {
		struct child *c = &children[i];
		if (!child_running(c))
			continue;
		if (stop_timer != NULL && c->state == PROTO_CHILD_STOPPED)
			return; /* already asked; waiting for it */
		if (stop_timer != NULL)
			ev_timer_del(stop_timer);
		c->state = PROTO_CHILD_STOPPED;
		log_info("stopping %s (pid %d)", child_name(c), (int)c->pid);
		kill(c->pid, SIGTERM);
		stop_timer = ev_timer_add(supervisor_state.loop, c->spec->policy->stop_grace_ms,
					  child_stop_overdue, c);
		return;
	}
	if (stop_timer != NULL) {
		ev_timer_del(stop_timer);
		stop_timer = NULL;
	}
	stop_done = NULL;
	done();
}

int supervisor_children_send(enum proc_role role, uint16_t type, uint64_t peer, const void *data,
			     size_t len)
{
	struct child *c = child_by_role(role);
	if (c == NULL || c->channel == NULL || !c->greeted)
		return -1;
	return ipc_send(c->channel, type, peer, data, len, -1);
}

void supervisor_children_listen_changed(const struct listen_socket *s, bool opened)
{
	struct child *c = socket_owner(s);
	/* A child that has not said hello yet gets the whole set then. */
	if (c == NULL || !c->spec->sockets_live || c->channel == NULL || !c->greeted)
		return;
	child_send_socket(c, s, opened);
}

size_t supervisor_children_metrics(enum proc_role role, const struct metrics_entry **out)
{
	const struct child *c = child_by_role(role);
	if (c == NULL)
		return 0;
	/* The current figures with the earlier generations' counters added;
	 * a counter the running one has not reported yet keeps its total. */
	static struct metrics_entry merged[METRICS_ENTRIES_MAX];
	size_t count = c->metrics_count;
	memcpy(merged, c->metrics, count * sizeof(merged[0]));
	for (size_t i = 0; i < c->carried_count; i++) {
		ssize_t at = metrics_find(merged, count, &c->carried[i]);
		if (at >= 0)
			merged[at].value += c->carried[i].value;
		else if (count < METRICS_ENTRIES_MAX)
			merged[count++] = c->carried[i];
	}
	*out = merged;
	return count;
}

size_t supervisor_children_status(struct proto_status_child *out, size_t max)
{
	int64_t now = ev_now(supervisor_state.loop);
	size_t n = 0;
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT && n < max; i++, n++) {
		const struct child *c = &children[i];
		struct proto_status_child *s = &out[n];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", child_name(c));
		s->state = c->state;
		s->pid = c->pid > 0 ? (uint32_t)c->pid : 0;
		s->generation = c->generation;
		s->restarts = c->restarts;
		s->uptime_ms = c->pid > 0 ? (uint64_t)(now - c->started_at) : 0;
		s->next_start_ms = c->restart_timer != NULL && c->restart_at > now
				       ? (uint64_t)(c->restart_at - now)
				       : 0;
	}
	return n;
}
