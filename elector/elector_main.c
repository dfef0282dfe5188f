/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-elector: cluster membership and leader election for a node.
 *
 * Runs under rxmppd (common/child.c does the handshake).  The pure election
 * core is elector_core.c; its I/O shell (peer links, persistence, requests
 * from rxmppctl, reads and writes of the users' data from the IM process)
 * is elector_io.c.  If this process dies, it comes back as a
 * follower from the persisted term and vote, so it can never vote twice in
 * one term; a persisted state it cannot read stops it (PROC_EXIT_CONFIG).
 */
#include <string.h>

#include "common/child.h"
#include "common/log.h"
#include "elector_io.h"
#include "elector_local.h"

/* Reads and writes of the users' data, from rxmppctl through the
 * supervisor or from the IM process (`from_im`: ELECTOR_IO_FROM_IM, so
 * that the answer goes back to it). */
static bool elector_user_data_message(const struct ipc_msg *msg, uint64_t from_im)
{
	if ((msg->peer & ELECTOR_IO_FROM_IM) != 0)
		return false;
	static struct proto_userdata_get_view get;
	if (msg->type == PROTO_USERDATA_GET && msg->fd == -1 &&
	    proto_userdata_get_unpack(msg->data, msg->len, &get) == 0) {
		elector_io_userdata_get(msg->peer | from_im, &get);
		return true;
	}
	if (msg->type == PROTO_PROPOSE && msg->fd == -1 &&
	    proto_propose_check(msg->data, msg->len) == 0) {
		const uint8_t *command = (const uint8_t *)msg->data + sizeof(struct proto_propose);
		size_t len = msg->len - sizeof(struct proto_propose);
		/* Privilege separation: im parses clients' XML, so it may
		 * write users' data and nothing else (no accounts, bridges or
		 * settings); anything more is bad peer input: warn and close. */
		if (from_im != 0 && !elector_local_takes(command, len)) {
			log_warnx("im proposed a command that is not users' data (operation %u): "
				  "refused, its channel is closed",
				  len >= 2 ? command[1] : 0);
			return false;
		}
		elector_io_propose(msg->peer | from_im, command, len);
		return true;
	}
	return false;
}

static bool elector_supervisor_message(const struct ipc_msg *msg)
{
	struct proto_listen_socket info;
	if (msg->type == PROTO_CLUSTER_SOCKET && msg->fd != -1 &&
	    ipc_get_data(msg, &info, sizeof(info)) == 0) {
		info.address[sizeof(info.address) - 1] = '\0';
		elector_io_socket(msg->fd, &info);
		return true;
	}
	struct proto_cluster_request request;
	if (msg->type == PROTO_CLUSTER_REQUEST && msg->fd == -1 && msg->len >= sizeof(request)) {
		memcpy(&request, msg->data, sizeof(request));
		request.arg[sizeof(request.arg) - 1] = '\0';
		elector_io_request(msg->peer, &request,
				   (const uint8_t *)msg->data + sizeof(request),
				   msg->len - sizeof(request));
		return true;
	}
	return elector_user_data_message(msg, 0);
}

static bool elector_peer_message(enum proc_role peer, const struct ipc_msg *msg)
{
	return peer == PROC_IM && elector_user_data_message(msg, ELECTOR_IO_FROM_IM);
}

static void elector_peer_up(enum proc_role peer)
{
	if (peer == PROC_ROUTER)
		elector_io_router_up();
}

static const struct child_ops elector_ops = {
    .role = PROC_ELECTOR,
    .configure = elector_io_configure,
    .peer_up = elector_peer_up,
    .peer_message = elector_peer_message,
    .supervisor_message = elector_supervisor_message,
    .stop = elector_io_stop,
    .metrics = elector_io_metrics,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &elector_ops);
}
