/* SPDX-License-Identifier: MIT */
/* Process roles and the channel map; see proc.h. */
#include "proc.h"

const struct proc_link proc_links[] = {
    {PROC_LISTENER, PROC_ROUTER}, {PROC_ROUTER, PROC_ELECTOR}, {PROC_CERTWORKER, PROC_LISTENER},
    {PROC_ROUTER, PROC_IM},	  {PROC_IM, PROC_ELECTOR},
};
const unsigned proc_link_count = sizeof(proc_links) / sizeof(proc_links[0]);

static const char *const proc_role_names[PROC_ROLE_COUNT] = {
    [PROC_SUPERVISOR] = "supervisor", [PROC_LISTENER] = "listener",	[PROC_ROUTER] = "router",
    [PROC_ELECTOR] = "elector",	      [PROC_CERTWORKER] = "certworker", [PROC_IM] = "im",
};

const char *proc_role_name(enum proc_role role)
{
	if ((unsigned)role < PROC_ROLE_COUNT)
		return proc_role_names[role];
	return "unknown";
}

int proc_peer_fd(enum proc_role self, enum proc_role peer)
{
	int fd = PROC_FD_FIRST_PEER;
	for (unsigned i = 0; i < proc_link_count; i++) {
		const struct proc_link *link = &proc_links[i];
		if (link->a != self && link->b != self)
			continue;
		if ((link->a == self && link->b == peer) || (link->b == self && link->a == peer))
			return fd;
		fd++;
	}
	return -1;
}
