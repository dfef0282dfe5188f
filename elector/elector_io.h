/* SPDX-License-Identifier: MIT */
/* The elector's I/O shell (elector_io.c), as its process main sees it. */
#ifndef RXMPP_ELECTOR_IO_H
#define RXMPP_ELECTOR_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ipc.h"
#include "common/metrics.h"
#include "common/proto.h"
#include "common/config.h"

int elector_io_configure(const struct config *cfg, bool first, char *why, size_t why_size);
void elector_io_socket(int fd, const struct proto_listen_socket *info);
/* A request from rxmppctl (through the supervisor); the answer goes back
 * with the same token.  A join may carry `tail`: the node's accounts and
 * bridges as names and digests (elector_digests.h), sent on to the leader. */
void elector_io_request(uint64_t token, const struct proto_cluster_request *request,
			const uint8_t *tail, size_t tail_len);
/* A token with this bit set is a request of the IM process (its own
 * number in the other bits, which never reach it): the answer goes back
 * on the channel to im rather than to the supervisor.  The supervisor's
 * tokens count from 1 and never get that far. */
#define ELECTOR_IO_FROM_IM (UINT64_C(1) << 63)
/* A write from rxmppctl or the IM process (PROTO_PROPOSE, checked): `len`
 * bytes of a command for the cluster's state; answered once with
 * PROTO_PROPOSE_RESULT and the same token. */
void elector_io_propose(uint64_t token, const uint8_t *command, size_t len);
/* A read of a user's data (PROTO_USERDATA_GET, checked): answered at once
 * from this node's copy of the cluster's state (elector_userdata_read.h)
 * with PROTO_USERDATA_ANSWER and the same token. */
void elector_io_userdata_get(uint64_t token, const struct proto_userdata_get_view *get);
/* The router (re)connected: tell it who leads. */
void elector_io_router_up(void);
void elector_io_stop(void);
/* Its figures for the supervisor (child_ops.metrics). */
void elector_io_metrics(struct metrics_set *set);

#endif
