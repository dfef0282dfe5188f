/* SPDX-License-Identifier: MIT */
/*
 * The processes of an rxmpp node, the channels between them, the fixed
 * descriptors those channels arrive on, and exit codes with a meaning for
 * the supervisor.  Shared by the supervisor (which wires the channels) and
 * every child (which finds them).
 */
#ifndef RXMPP_PROC_H
#define RXMPP_PROC_H

enum proc_role {
	PROC_SUPERVISOR,
	PROC_LISTENER,
	PROC_ROUTER,
	PROC_ELECTOR,
	PROC_CERTWORKER,
	PROC_IM,
	PROC_ROLE_COUNT,
};

/* Every child talks to the supervisor on this descriptor. */
#define PROC_FD_SUPERVISOR 3
/* Channels to other children follow, in the order of proc_links. */
#define PROC_FD_FIRST_PEER 4

/* Exit codes.  PROC_EXIT_CONFIG is permanent: restarting cannot help.
 * PROC_EXIT_STORAGE: the state directory could not be written (disk full,
 * read-only); the supervisor restarts the child as soon as a test write
 * there succeeds, not after a backoff. */
#define PROC_EXIT_OK	  0
#define PROC_EXIT_FAILURE 1
#define PROC_EXIT_STORAGE 74 /* EX_IOERR from sysexits.h */
#define PROC_EXIT_CONFIG  78 /* EX_CONFIG from sysexits.h */

struct proc_link {
	enum proc_role a;
	enum proc_role b;
};

/* The channels between children: listener <-> router <-> elector,
 * certworker -> listener for TLS sets, and router <-> im <-> elector for
 * the IM work (rosters: the router hands stanzas over, the elector holds
 * the users' data).  New channels go at the end, so that the descriptors
 * of the older ones stay where they were. */
extern const struct proc_link proc_links[];
extern const unsigned proc_link_count;

const char *proc_role_name(enum proc_role role);
/* The descriptor on which `self` finds its channel to `peer` at start, or -1. */
int proc_peer_fd(enum proc_role self, enum proc_role peer);

#endif
