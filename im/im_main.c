/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-im: the IM process of a node (im.h).
 *
 * Runs under rxmppd (common/child.c does the handshake and keeps the
 * channels).  From the router: IM_STANZA; to it: IM_OUT.  To the elector:
 * USERDATA_GET and PROPOSE; from it: USERDATA_ANSWER and PROPOSE_RESULT.
 * Nothing here must survive a crash: the router answers the iqs it
 * handed over and im had not answered (router/router_imwait.c); a write
 * under way may or may not be committed (the next get tells).
 */
#include <stdio.h>

#include "common/child.h"
#include "im.h"

static bool im_peer_message(enum proc_role peer, const struct ipc_msg *msg)
{
	if (msg->fd != -1)
		return false;
	if (peer == PROC_ROUTER)
		return msg->type == PROTO_IM_STANZA && im_work_stanza(msg);
	return peer == PROC_ELECTOR && im_work_elector_message(msg);
}

static void im_peer_down(enum proc_role peer)
{
	if (peer == PROC_ELECTOR)
		im_work_elector_down();
}

static int im_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	(void)first;
	if (im_work_configure(cfg) == -1) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	return 0;
}

static const struct child_ops im_ops = {
    .role = PROC_IM,
    .configure = im_configure,
    .peer_down = im_peer_down,
    .peer_message = im_peer_message,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &im_ops);
}
