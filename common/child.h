/* SPDX-License-Identifier: MIT */
/*
 * The runtime every child process (listener, router, elector, certworker)
 * starts with: it finds its channels at the fixed descriptors of proc.h,
 * says hello to the supervisor, receives the configuration (and, for the
 * listener, the listening sockets), answers ready and only then greets its
 * peers (so nothing arrives before it can be handled), takes fresh peer channels
 * when a peer restarts, exits when the supervisor goes away, and stops on
 * SIGTERM.  The role plugs its own work in through struct child_ops.
 */
#ifndef RXMPP_CHILD_H
#define RXMPP_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ev.h"
#include "ipc.h"
#include "metrics.h"
#include "proc.h"
#include "proto.h"

struct child_ops {
	enum proc_role role;
	/* Applies a complete configuration (`first` at start).  Returns 0, or -1
	 * with the reason in `why`: at start the child then exits with
	 * PROC_EXIT_CONFIG; on a reload it keeps the configuration it had. */
	int (*configure)(const struct config *cfg, bool first, char *why, size_t why_size);
	/* A listening socket (listener only; NULL elsewhere).  Owns `fd`. */
	void (*listen_socket)(int fd, const struct proto_listen_socket *info);
	/* LISTEN_CLOSE: stop accepting on the socket with info->id. */
	void (*listen_close)(const struct proto_listen_socket *info);
	/* A peer channel came up (both PEER_HELLOs crossed, so both sides are
	 * configured) or went away. */
	void (*peer_up)(enum proc_role peer);
	void (*peer_down)(enum proc_role peer);
	/* The channel to `peer` became congested or drained again (ipc.h,
	 * backpressure): pause or resume the input that feeds it.  Optional. */
	void (*peer_pressure)(enum proc_role peer, bool congested);
	/* A message from a peer; false for a type the role does not take, which
	 * cuts the channel off. */
	bool (*peer_message)(enum proc_role peer, const struct ipc_msg *msg);
	/* Any other message from the supervisor; false for a type the role
	 * does not take, which cuts the channel off.  Owns msg->fd if true. */
	bool (*supervisor_message)(const struct ipc_msg *msg);
	/* SIGTERM: release what must be released; the loop stops afterwards. */
	void (*stop)(void);
	/* Its figures (common/metrics.h), appended to `set`; the runtime sends
	 * the set to the supervisor once a second when it changed.  Optional. */
	void (*metrics)(struct metrics_set *set);
};

/* Parses the child's arguments, runs its loop; returns the exit status. */
int child_main(int argc, char **argv, const struct child_ops *ops);

struct ev_loop *child_loop(void);
/* How many times the supervisor has started this role, this one included. */
unsigned child_generation(void);
/* Sends to a peer child; -1 (ENOTCONN) while that peer is not up. */
int child_send(enum proc_role peer, uint16_t type, uint64_t id, const void *data, size_t len,
	       int fd);
int child_send_v(enum proc_role peer, uint16_t type, uint64_t id, const struct iovec *iov,
		 int iovcnt);
bool child_peer_connected(enum proc_role peer);
/* Stops or resumes reading the channel from `peer` (backpressure, ipc.h). */
void child_peer_pause_input(enum proc_role peer, bool paused);
/* To the supervisor (answers to requests it relayed). */
int child_send_supervisor_v(uint16_t type, uint64_t id, const struct iovec *iov, int iovcnt);

#endif
