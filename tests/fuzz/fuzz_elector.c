/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the decoder of what electors say on peer links
 * (elector/elector_wire.c) and the election core behind it.  The input is
 * a frame: its type (2 bytes) then the payload.  A message the decoder
 * accepts goes into a follower of a three-node cluster and its output is
 * taken as the shell would, from a link with the certificate of the member
 * it names (or, when the top bit of the type is set, of an outsider; the
 * bit is cleared before decoding).  Then the link of its
 * sender closes (elector_link_closed), and a leader is asked to hand leadership to it
 * (elector_transfer).  Nothing
 * may crash or read out of bounds, every text accepted must end within its
 * field, every address accepted must be host:port, and an outsider's
 * message must be refused, and the leader's view of the members a
 * heartbeat carries is taken only from the leader followed; a leadership
 * transfer request carries no address.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elector/elector_core.h"
#include "elector/elector_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint16_t type;
	memcpy(&type, data, sizeof(type));
	bool outsider = (type & 0x8000) != 0;
	type &= 0x7fff;
	struct ipc_msg msg = {.type = type, .data = data + 2, .len = size - 2, .fd = -1};
	static struct elector_wire_msg m;
	const char *why = NULL;
	if (elector_wire_decode(&msg, &m, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (type == ELECTOR_WIRE_CHANGE &&
	    strnlen(m.u.change.address, sizeof(m.u.change.address)) == sizeof(m.u.change.address))
		abort();
	if (type == ELECTOR_WIRE_CHANGE && m.u.change.op == ELECTOR_CHANGE_JOIN &&
	    !elector_address_valid(m.u.change.address, sizeof(m.u.change.address)))
		abort();
	if (type == ELECTOR_WIRE_CHANGE && m.u.change.op == ELECTOR_CHANGE_LEADER &&
	    m.u.change.address[0] != '\0')
		abort();
	if (type == ELECTOR_WIRE_CHANGE_REPLY &&
	    (strnlen(m.u.reply.text, sizeof(m.u.reply.text)) == sizeof(m.u.reply.text) ||
	     strnlen(m.u.reply.leader_address, sizeof(m.u.reply.leader_address)) ==
		 sizeof(m.u.reply.leader_address)))
		abort();
	if (type != ELECTOR_WIRE_MSG)
		return 0;
	for (uint32_t i = 0; i < m.u.msg.config.count; i++) {
		if (!elector_address_valid(m.u.msg.config.members[i].address, ELECTOR_ADDRESS_MAX))
			abort();
	}
	static struct elector_persistent disk;
	memset(&disk, 0, sizeof(disk));
	disk.commit_index = 1;
	disk.config.index = 1;
	disk.config.count = 3;
	for (uint32_t i = 0; i < 3; i++) {
		disk.config.members[i].id = i + 1;
		memset(disk.config.members[i].fingerprint, (int)i + 1, ELECTOR_FINGERPRINT_SIZE);
		memcpy(disk.config.members[i].address, "127.0.0.1:5224", 15);
	}
	struct elector_options options = {.id = m.u.msg.to,
					  .heartbeat_ticks = 1,
					  .election_ticks_min = 5,
					  .election_ticks_max = 10,
					  .seed = 1};
	struct elector_boot boot;
	struct elector_entry entry;
	static uint8_t entry_buf[ELECTOR_CONFIG_ENCODED_MAX];
	elector_boot_from_state(&disk, &boot, &entry, entry_buf);
	struct elector *e = elector_new(&options, &boot);
	if (e == NULL)
		return 0;
	uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE];
	memset(fingerprint, outsider ? 0xee : (int)m.u.msg.from, sizeof(fingerprint));
	uint64_t term = elector_term(e);
	if (elector_step(e, &m.u.msg, fingerprint, &why) == 0 && outsider &&
	    m.u.msg.to == options.id && m.u.msg.from != options.id && m.u.msg.from != 0)
		abort();
	if (outsider && elector_term(e) != term)
		abort();
	/* The leader's view a heartbeat brought is only ever about members of
	 * the membership it carried, and only from the leader followed. */
	for (uint64_t id = 0; id <= 4; id++) {
		uint64_t silence, age;
		if (elector_leader_view(e, id, &silence, &age) == 0 &&
		    (elector_leader(e) != m.u.msg.from || age != 0))
			abort();
	}
	elector_link_closed(e, m.u.msg.from);
	for (int t = 0; t < 12; t++) {
		if (elector_role(e) == ELECTOR_LEADER)
			elector_transfer(e, m.u.msg.from);
		while (elector_has_ready(e)) {
			struct elector_ready r;
			elector_ready(e, &r);
			if (r.state.config.count > ELECTOR_MEMBERS_MAX)
				abort();
			elector_advance(e);
		}
		elector_tick(e);
	}
	elector_free(e);
	return 0;
}
