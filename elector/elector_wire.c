/* SPDX-License-Identifier: MIT */
/*
 * The decoder of what electors say to each other on peer links
 * (elector_wire.h): every frame is checked here before the shell
 * (elector_io.c) or the core reads it.  Pure: bytes in, a struct out, so
 * that it can be fuzzed (tests/fuzz/fuzz_elector.c).
 */
#include "elector_wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static bool ends(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}

static int decode_msg(const struct ipc_msg *msg, struct elector_msg *m, const char **why)
{
	size_t head = offsetof(struct elector_msg, config);
	/* Protocol 3's layout: the log's fields are not on this wire yet, and
	 * the core reads what comes without them as 0.2.0 meant it. */
	if (msg->len != head && msg->len != ELECTOR_MSG_V3_SIZE) {
		*why = "an election message of the wrong size";
		return -1;
	}
	memset(m, 0, sizeof(*m));
	memcpy(m, msg->data, msg->len);
	if (m->type < ELECTOR_MSG_PRE_VOTE || m->type > ELECTOR_MSG_TIMEOUT_NOW) {
		*why = "an election message of an unknown type";
		return -1;
	}
	bool reply = m->type == ELECTOR_MSG_PRE_VOTE_REPLY || m->type == ELECTOR_MSG_VOTE_REPLY;
	uint32_t flag_max = reply ? 1 : m->type == ELECTOR_MSG_VOTE ? ELECTOR_VOTE_TRANSFER : 0;
	if (m->granted > flag_max) {
		*why = "an election message with a flag it cannot carry";
		return -1;
	}
	if ((m->type == ELECTOR_MSG_APPEND) != (msg->len == ELECTOR_MSG_V3_SIZE)) {
		*why = "only a heartbeat carries the membership, and it always does";
		return -1;
	}
	if (m->config.count > ELECTOR_MEMBERS_MAX) {
		*why = "a membership larger than a cluster can be";
		return -1;
	}
	for (uint32_t i = 0; i < m->config.count; i++) {
		const struct elector_member *member = &m->config.members[i];
		if (member->id == ELECTOR_NONE ||
		    !elector_address_valid(member->address, sizeof(member->address))) {
			*why = "a member without an id or with an address that is not host:port";
			return -1;
		}
	}
	return 0;
}

int elector_wire_decode(const struct ipc_msg *msg, struct elector_wire_msg *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	out->type = msg->type;
	switch (msg->type) {
	case ELECTOR_WIRE_MSG:
		return decode_msg(msg, &out->u.msg, why);
	case ELECTOR_WIRE_CHANGE:
		if (ipc_get_data(msg, &out->u.change, sizeof(out->u.change)) == -1) {
			*why = "a membership change of the wrong size";
			return -1;
		}
		if ((out->u.change.op != ELECTOR_CHANGE_JOIN &&
		     out->u.change.op != ELECTOR_CHANGE_REMOVE &&
		     out->u.change.op != ELECTOR_CHANGE_LEADER) ||
		    (out->u.change.op == ELECTOR_CHANGE_JOIN &&
		     !elector_address_valid(out->u.change.address,
					    sizeof(out->u.change.address))) ||
		    (out->u.change.op == ELECTOR_CHANGE_LEADER &&
		     out->u.change.address[0] != '\0') ||
		    !ends(out->u.change.address, sizeof(out->u.change.address))) {
			*why = "a malformed membership change";
			return -1;
		}
		return 0;
	case ELECTOR_WIRE_CHANGE_REPLY:
		if (ipc_get_data(msg, &out->u.reply, sizeof(out->u.reply)) == -1 ||
		    !ends(out->u.reply.leader_address, sizeof(out->u.reply.leader_address)) ||
		    (out->u.reply.leader_address[0] != '\0' &&
		     !elector_address_valid(out->u.reply.leader_address,
					    sizeof(out->u.reply.leader_address))) ||
		    !ends(out->u.reply.text, sizeof(out->u.reply.text))) {
			*why = "a malformed answer to a membership change";
			return -1;
		}
		return 0;
	default:
		*why = "unknown frame type";
		return -1;
	}
}
