/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the stanza-link decoder and the relay core behind it
 * (router/router_relay.c), as a router runs them on frames from another
 * node.  The input is a frame: its type (2 bytes), one byte whose low bit
 * says whether it came on the link to the leader, then the payload.  What
 * the decoder accepts goes into a warm leader and a linked follower; their
 * outputs are taken as the shell would.  Nothing may crash, leak or read
 * out of bounds, and what is accepted must be consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/router_relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_relay_drain(struct relay *r)
{
	struct relay_out o;
	while (router_relay_next(r, &o)) {
		if (o.kind != RELAY_OUT_ROUTE)
			continue;
		router_relay_route_begin(r, &o);
		struct relay_wire_deliver d;
		router_relay_deliver_remote(r, 2, o.session, o.data, o.len, &d);
		router_relay_route_end(r);
	}
}

static struct relay *fuzz_relay_node(uint64_t self, uint64_t leader)
{
	struct relay_options options = {.epoch = 1,
					.queue_max_stanzas = 16,
					.queue_max_bytes = 1 << 20,
					.queue_max_wait_ms = 100,
					.warmup_ms = 100,
					.relink_ms = 100};
	struct relay *r = router_relay_new(&options);
	if (r == NULL)
		abort();
	router_relay_tick(r, 0);
	router_relay_leader(r, self, leader, 1, 2);
	if (leader == self) {
		router_relay_peer_link(r, 2, true);
	} else {
		router_relay_forward(r, 5, "x", 1);
		router_relay_up_link(r, true);
	}
	fuzz_relay_drain(r);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint16_t type;
	memcpy(&type, data, sizeof(type));
	bool from_leader = data[2] & 1;
	struct ipc_msg msg = {.type = type, .data = data + 3, .len = size - 3, .fd = -1};
	struct relay_wire_msg m;
	const char *why = NULL;
	if (router_relay_wire_decode(&msg, &m, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (m.data_len > msg.len ||
	    (m.data_len > 0 && m.data + m.data_len != (const char *)msg.data + msg.len))
		abort();
	if (type == RELAY_WIRE_REGISTER && (m.u.reg.jid_len != m.data_len || m.data_len == 0))
		abort();
	struct relay *leader = fuzz_relay_node(1, 1);
	struct relay *follower = fuzz_relay_node(2, 1);
	struct relay *r = from_leader ? follower : leader;
	if (router_relay_step(r, from_leader ? 1 : 2, from_leader, &m, &why) == -1 && why == NULL)
		abort();
	fuzz_relay_drain(r);
	/* What was accepted survives the links going and time passing. */
	router_relay_peer_link(leader, 2, false);
	router_relay_up_link(follower, false);
	router_relay_tick(leader, 1000);
	router_relay_tick(follower, 1000);
	fuzz_relay_drain(leader);
	fuzz_relay_drain(follower);
	router_relay_free(leader);
	router_relay_free(follower);
	return 0;
}
