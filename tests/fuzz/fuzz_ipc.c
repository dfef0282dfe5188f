/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the IPC framing every channel between rxmpp processes reads
 * (common/ipc.c: header, length and flag checks, frames split across reads)
 * and the payload decoders the children run on what arrives: the routing
 * header (proto_route_unpack), the peer-link messages of the elector
 * (elector_wire_decode), the relay messages of the router
 * (router_relay_wire_decode) and the administration messages (session
 * lists, proto_sessions_unpack and proto_cluster_sessions_unpack; a kick,
 * proto_admin_kick_check; reads of users' data, proto_userdata_get_unpack
 * and proto_userdata_answer_unpack) and the children's figures (metrics_unpack, as
 * from each child), each given every frame.  The input goes through a
 * real socketpair into a real channel on one event loop, as a child reads
 * it; the channel must end, by end of file or by refusing a frame, and
 * nothing may read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proto.h"
#include "elector/elector_wire.h"
#include "router/router_relay_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *fuzz_ipc_loop;

static void fuzz_ipc_session(const struct proto_session_view *s, void *arg)
{
	(void)arg;
	/* What the decoder hands over is terminated within its fields. */
	if (strlen(s->jid) >= sizeof(s->jid) || strlen(s->address) >= sizeof(s->address) ||
	    strlen(s->tls) >= sizeof(s->tls))
		abort();
}

static void fuzz_ipc_remote(const struct proto_remote_session_view *s, void *arg)
{
	(void)arg;
	if (strlen(s->jid) == 0 || strlen(s->jid) >= sizeof(s->jid))
		abort();
}

static void fuzz_ipc_on_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	(void)ch, (void)arg;
	if (msg->fd != -1)
		abort(); /* no descriptor was sent */
	static struct proto_route_view route;
	proto_route_unpack(msg->data, msg->len, &route);
	static struct elector_wire_msg elector;
	const char *why = NULL;
	if (elector_wire_decode(msg, &elector, &why) == -1 && why == NULL)
		abort();
	static struct relay_wire_msg relay;
	why = NULL;
	if (router_relay_wire_decode(msg, &relay, &why) == -1 && why == NULL)
		abort();
	struct proto_sessions head;
	proto_sessions_unpack(msg->data, msg->len, &head, fuzz_ipc_session, NULL);
	struct proto_cluster_sessions cluster;
	proto_cluster_sessions_unpack(msg->data, msg->len, &cluster, fuzz_ipc_remote, NULL);
	static struct proto_admin_kick kick;
	if (ipc_get_data(msg, &kick, sizeof(kick)) == 0)
		proto_admin_kick_check(&kick);
	static struct proto_userdata_get_view get;
	if (proto_userdata_get_unpack(msg->data, msg->len, &get) == 0 &&
	    strlen(get.user) != get.head.user_len)
		abort();
	struct proto_userdata_answer answer;
	const uint8_t *items, *key, *value;
	size_t items_len, key_len, value_len;
	if (proto_userdata_answer_unpack(msg->data, msg->len, &answer, &items, &items_len) == 0 &&
	    answer.collection != 0) {
		/* A checked answer's items walk to its end. */
		for (uint32_t i = 0; i < answer.items; i++)
			if (!proto_userdata_next_item(&items, &items_len, &key, &key_len, &value,
						      &value_len))
				abort();
		if (items_len != 0)
			abort();
	}
	static struct metrics_entry entries[METRICS_ENTRIES_MAX];
	static const enum proc_role roles[] = {PROC_LISTENER, PROC_ROUTER, PROC_ELECTOR};
	for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
		size_t count;
		if (metrics_unpack(msg->data, msg->len, roles[r], entries, &count) == -1)
			continue;
		/* What it takes, the writer can name. */
		for (size_t i = 0; i < count; i++) {
			if (entries[i].id >= METRICS_ID_END ||
			    metrics_defs[entries[i].id].source != roles[r])
				abort();
		}
	}
}

static void fuzz_ipc_on_close(struct ipc_channel *ch, const char *reason, void *arg)
{
	(void)reason, (void)arg;
	ipc_channel_free(ch);
	ev_loop_stop(fuzz_ipc_loop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The socket buffer must take the whole input at once. */
	if (size > 65536)
		return 0;
	if (fuzz_ipc_loop == NULL) {
		/* A refused frame is one warning each: too many to print. */
		log_set_level(LOG_LEVEL_ERR);
		if ((fuzz_ipc_loop = ev_loop_new()) == NULL)
			abort();
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	int buffer = 1 << 18;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	struct ipc_channel *ch =
	    ipc_channel_new(fuzz_ipc_loop, sv[0], "fuzz", fuzz_ipc_on_msg, fuzz_ipc_on_close, NULL);
	if (ch == NULL)
		abort();
	ev_loop_run(fuzz_ipc_loop);
	return 0;
}
