/* SPDX-License-Identifier: MIT */
/*
 * rxmppd, the supervisor: shared state of its parts.
 *
 *   rxmppd.c              start-up, signals, reload, orderly shutdown
 *   supervisor_table.c    the process table: each child's executable, sockets, restarts
 *   supervisor_children.c spawn, handshake, restart and wiring, as the table says
 *   supervisor_sockets.c  the listening sockets it owns for the listener
 *   supervisor_interfaces.c  the interfaces in listen.addresses, via rtnetlink
 *   supervisor_control.c  the control socket rxmppctl talks to
 *   supervisor_handover.c before stopping, a leader hands leadership over
 *   supervisor_notify.c   readiness for systemd (sd_notify protocol)
 *   supervisor_privileges.c  started as root: become the configured user
 */
#ifndef RXMPP_SUPERVISOR_H
#define RXMPP_SUPERVISOR_H

#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ev.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proc.h"
#include "common/proto.h"
#include "config/callbridges.h"
#include "config/config.h"

struct listen_socket {
	int fd;
	uint32_t id; /* named in LISTEN_SOCKET and LISTEN_CLOSE */
	enum proto_socket_kind kind;
	uint16_t port;
	char address[CONFIG_ADDRESS_MAX];
	char interface[IF_NAMESIZE]; /* "" for an address from the configuration */
};

/* An address of an interface named in listen.addresses. */
#define INTERFACE_ADDRESSES_MAX 64
struct interface_address {
	char interface[IF_NAMESIZE];
	uint32_t ifindex;
	char plain[INET6_ADDRSTRLEN];	  /* as the kernel names it */
	char address[CONFIG_ADDRESS_MAX]; /* to bind: link-local ones carry %interface */
	bool stale;			  /* not seen again in the latest dump */
};

struct listen_set {
	struct listen_socket *sockets;
	size_t count;
};

struct supervisor {
	struct ev_loop *loop;
	struct config cfg;
	char config_path[PATH_MAX];
	char libexec_dir[1024];
	struct listen_set listening;
	struct callbridges bridges;
	struct proto_stats stats;     /* the listener's last report */
	struct proto_cert_state cert; /* from the certificate worker */
	/* rxmppctl drain: kept across reloads and listener restarts, sent to
	 * the listener with each configuration; lost when rxmppd restarts. */
	struct proto_drain drain;
	/* --log-level wins over the file, also across reloads. */
	bool log_level_forced;
	enum log_level forced_log_level;
	int64_t started_at;
	bool ready_announced;
	bool shutting_down;
	int exit_status;
};

extern struct supervisor supervisor_state;

/* supervisor_table.c */
/* Configuration changes that restart a child: what it reads only at start. */
enum child_restart_cause {
	CHILD_RESTART_DOMAIN = 1u << 0,	 /* domain */
	CHILD_RESTART_CLUSTER = 1u << 1, /* cluster.enabled, cluster.port, cluster.address */
	CHILD_RESTART_SOCKETS = 1u << 2, /* a listening socket it owns opened or closed */
};

struct child_restart_policy {
	int64_t backoff_first_ms; /* the wait before the second restart in a row */
	int64_t backoff_max_ms;	  /* the longest wait, and a throttled child's */
	uint32_t throttle_after;  /* deaths before ready in a row that throttle it */
	int64_t forgive_after_ms; /* ready uptime that clears its record */
	int64_t ready_timeout_ms; /* not ready by then: killed */
	int64_t stop_grace_ms;	  /* SIGTERM, then SIGKILL after this */
};

struct child_spec {
	enum proc_role role;
	const char *executable;	 /* in the libexec directory */
	bool needed_for_ready;	 /* the node is ready once each of these is */
	uint32_t socket_kinds;	 /* the listening sockets it owns: 1 << enum proto_socket_kind */
	uint16_t socket_message; /* the message that hands it one of them */
	/* Hears of its sockets opened and closed while it runs; without this,
	 * CHILD_RESTART_SOCKETS in restart_on gives it the new set. */
	bool sockets_live;
	bool gets_callbridges; /* CALLBRIDGE messages with its configuration */
	uint32_t restart_on;   /* enum child_restart_cause */
	const struct child_restart_policy *policy;
};

#define SUPERVISOR_CHILD_COUNT 5
/* In start order; its channels are proc_links (common/proc.c). */
extern const struct child_spec supervisor_child_specs[SUPERVISOR_CHILD_COUNT];

/* supervisor_children.c */
void supervisor_children_start_all(void);
/* Sends the configuration in supervisor_state.cfg to every running child and starts a
 * reload round: when each has answered (or RELOAD_ANSWER_MS passed),
 * supervisor_control_reload_done hears whether all took it. */
void supervisor_children_reconfigure(void);
/* A reload round is waiting for answers. */
bool supervisor_children_reload_pending(void);
/* Restarts on purpose (not counted as a failure) every child whose
 * restart_on holds one of `causes`, CHILD_RESTART_SOCKETS counting only for
 * a child that owns one of `socket_kinds` (1 << enum proto_socket_kind);
 * their names, comma-separated, in `names` ("" when none). */
void supervisor_children_restart_for(uint32_t causes, uint32_t socket_kinds, char *names,
				     size_t names_size);
/* Reaps exited children and schedules their restarts (SIGCHLD). */
void supervisor_children_reap(void);
/* Stops the children one by one in reverse start order, then calls `done`. */
void supervisor_children_stop_all(void (*done)(void));
size_t supervisor_children_status(struct proto_status_child *out, size_t max);
/* The figures the child of `role` last reported (METRICS), its counters
 * with those of its earlier generations added, in `*out` (valid until the
 * next call); only those counters while it is not running. */
size_t supervisor_children_metrics(enum proc_role role, const struct metrics_entry **out);
/* A message to a running child; -1 when it is not there. */
int supervisor_children_send(enum proc_role role, uint16_t type, uint64_t peer, const void *data,
			     size_t len);
/* Tells the listener, if it has had its configuration, of a listening socket
 * opened or closed since (its restart brings the whole set anyway); the
 * elector's and the router's sockets are not its business. */
void supervisor_children_listen_changed(const struct listen_socket *s, bool opened);
/* Every needed child is ready and every channel between running children
 * is up: what rxmppctl status and systemd hear as ready. */
bool supervisor_children_all_ready(void);
/* Channels between running children that are not up on both ends. */
unsigned supervisor_children_channels_down(void);

/* supervisor_sockets.c */
/* Told of each socket supervisor_sockets_update opened (`opened`) or is about to close. */
typedef void sockets_changed_fn(const struct listen_socket *s, bool opened);
/* Makes `set` the sockets the configuration and the current addresses of
 * its interfaces (supervisor_interfaces_addresses: follow cfg's interfaces first)
 * ask for: keeps those that stay, opens the new ones, closes the rest,
 * telling `changed` (may be NULL) of each.  A configured address that
 * cannot be bound fails the whole update: on -1 (the reason in `why`)
 * `set` is as it was; an interface's address that cannot be bound is a
 * warning. */
int supervisor_sockets_update(const struct config *cfg, struct listen_set *set,
			      sockets_changed_fn *changed, char *why, size_t why_size);
void supervisor_sockets_close(struct listen_set *set);
/* The socket as the listener and rxmppctl status see it. */
void supervisor_sockets_describe(const struct listen_socket *s, struct proto_listen_socket *out);

/* supervisor_interfaces.c */
/* Follows the interfaces named in cfg's listen.addresses (none: stops
 * following); `changed` runs when their usable addresses change.  -1 with
 * the reason when rtnetlink cannot be used. */
int supervisor_interfaces_watch(const struct config *cfg, void (*changed)(void), char *why,
				size_t why_size);
/* The usable addresses of the followed interfaces, in `*out`. */
size_t supervisor_interfaces_addresses(const struct interface_address **out);
void supervisor_interfaces_stop(void);

/* supervisor_handover.c: before the children stop, a node that leads hands
 * leadership over (bounded wait); `then` runs once that is done, or was
 * not needed, or took too long. */
void supervisor_handover_start(void (*then)(void));
/* An answer from the elector: true when it was the handover's. */
bool supervisor_handover_answer(uint64_t token, uint16_t type, const void *data, size_t len);

/* supervisor_control.c */
int supervisor_control_open(const char *path, char *why, size_t why_size);
void supervisor_control_close(void);
/* The end of a reload round: `refusals` says which child kept what and why. */
void supervisor_control_reload_done(bool ok, const char *refusals);
/* An answer from a child to the control client whose token is `token`. */
void supervisor_control_relay(uint64_t token, uint16_t type, const void *data, size_t len);

/* supervisor_metrics.c: the node's metrics in the Prometheus text format
 * appended to `out`; -1 when it did not fit. */
int supervisor_metrics_render(struct buf *out);

/* supervisor_http.c: the metrics endpoint on metrics.listen ("": off). */
/* `text` (address:port, an IPv6 address in brackets) as a socket address;
 * -1 with the reason when it is not one. */
int supervisor_http_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *why,
			  size_t why_size);
int supervisor_http_open(const char *address, char *why, size_t why_size);
/* A reload: reopens on a changed address; -1 with the reason (it is off then). */
int supervisor_http_reload(const char *address, char *why, size_t why_size);
void supervisor_http_close(void);

/* supervisor_privileges.c: whether, started as root, rxmppd has a user to
 * become (checked before it detaches, so that the reason reaches the
 * terminal); then, once it has bound its sockets, becomes cfg->user for good (the
 * control socket, and its folder when `made_control_dir`, go to that user);
 * -1 with the reason when it cannot.  Not root: nothing to do. */
int supervisor_privileges_drop(const struct config *cfg, const char *config_path,
			       bool made_control_dir, char *why, size_t why_size);
int supervisor_privileges_check(const struct config *cfg, const char *config_path, char *why,
				size_t why_size);

/* supervisor_notify.c: no-ops when NOTIFY_SOCKET is not set. */
void supervisor_notify_send(const char *state);

/* rxmppd.c */
/* Re-reads the configuration file; 0 with what was restarted in `why`, or
 * -1 with the errors in `why`. */
int supervisor_reload(char *why, size_t why_size);
/* Called when the last needed child becomes ready. */
void supervisor_ready(void);
/* A child cannot run with this configuration: stop everything. */
void supervisor_fail(int status);

/* supervisor_bridges.c: the call bridges in force come from the cluster's
 * state when this node holds it, else from callbridges_file.  On -1 the
 * problems are in `errors` (the YAML file) or `why` (the cluster's file,
 * when why[0] is set). */
bool supervisor_bridges_clustered(const struct config *cfg);
int supervisor_bridges_load(const struct config *cfg, struct callbridges *out,
			    struct config_errors *errors, char *why, size_t why_size);
/* PROTO_CLUSTER_APPLIED from the elector: read them again, reconfigure. */
void supervisor_bridges_applied(void);

/* supervisor_settings.c: this node's settings that must agree, reported
 * to the cluster's state (when it is ready, after each reload); the
 * elector's answer (PROPOSE_RESULT with token 0). */
void supervisor_settings_report(void);
void supervisor_settings_answer(const void *data, size_t len);

#endif
