/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the protocol-4 frames of the electors' links
 * (elector/elector_wire_log.c): the input is a frame, its type (2 bytes)
 * then the payload.  Nothing may crash or read out of bounds; a refusal
 * says why; a message with the log that is taken encodes again
 * (elector_wire_encode_log) into the very bytes it came from, its entries
 * follow each other from prev_index + 1 within their bounds, the texts
 * of an answer to a write hold no NUL, and a join's settings and digests
 * are within the frame, bounded and valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elector/elector_digests.h"
#include "elector/elector_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint16_t type;
	memcpy(&type, data, sizeof(type));
	struct ipc_msg msg = {.type = type, .data = data + 2, .len = size - 2, .fd = -1};
	static struct elector_wire_msg m;
	const char *why = NULL;
	if (elector_wire_decode_v4(&msg, &m, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (type == ELECTOR_WIRE_LOG) {
		const struct elector_msg *x = &m.u.msg;
		if (x->entry_count > ELECTOR_APPEND_ENTRIES)
			abort();
		for (uint32_t i = 0; i < x->entry_count; i++) {
			if (x->entries[i].index != x->prev_index + 1 + i ||
			    x->entries[i].len > ELECTOR_DATA_MAX + ELECTOR_CONFIG_ENCODED_MAX)
				abort();
		}
		/* The decoder normalises nothing it does not refuse. */
		struct buf again;
		buf_init(&again, IPC_FRAME_MAX);
		if (elector_wire_encode_log(x, &again) == -1 || buf_len(&again) != msg.len ||
		    memcmp(buf_head(&again), msg.data, msg.len) != 0)
			abort();
		buf_free(&again);
	}
	/* A join's tail: its settings within the frame and their bound, and
	 * a list of digests only when it is one (elector_digests.h). */
	if (type == ELECTOR_WIRE_CHANGE && m.tail_len > 0 &&
	    (m.u.change.op != ELECTOR_CHANGE_JOIN || m.tail_len > ELECTOR_WIRE_JOIN_SETTINGS_MAX ||
	     m.bytes < (const uint8_t *)msg.data ||
	     m.bytes + m.tail_len > (const uint8_t *)msg.data + msg.len ||
	     (m.digests_len > 0 && !elector_digests_valid(m.digests, m.digests_len))))
		abort();
	if (type == ELECTOR_WIRE_PROPOSE_REPLY) {
		const struct proto_propose_result *r = &m.u.propose_reply.result;
		if (memchr(m.outcome, '\0', r->outcome_len) != NULL ||
		    memchr(m.text, '\0', r->text_len) != NULL)
			abort();
	}
	return 0;
}
