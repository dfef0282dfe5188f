/* SPDX-License-Identifier: MIT */
/*
 * The frames of protocol 4 on the electors' links (elector_wire.h): the
 * core's messages with their log (entries, snapshots), snapshot chunks,
 * and writes forwarded to the leader.  Pure: bytes in, structs out, so
 * that it can be fuzzed (tests/fuzz/fuzz_elector.c).  The protocol-3 part
 * of a message is checked by the protocol-3 decoder (elector_wire.c), so
 * both versions hold a message to the same rules.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "elector_digests.h"
#include "elector_wire.h"

static bool carries_config(uint32_t type)
{
	return type == ELECTOR_MSG_APPEND || type == ELECTOR_MSG_SNAPSHOT;
}

int elector_wire_encode_log(const struct elector_msg *m, struct buf *out)
{
	size_t head =
	    carries_config(m->type) ? ELECTOR_MSG_V3_SIZE : offsetof(struct elector_msg, config);
	struct elector_wire_log log = {.flags = m->flags,
				       .entry_count =
					   m->type == ELECTOR_MSG_APPEND ? m->entry_count : 0,
				       .prev_index = m->prev_index,
				       .prev_term = m->prev_term,
				       .hint_index = m->hint_index,
				       .hint_term = m->hint_term,
				       .applied_index = m->applied_index,
				       .vouch_id = m->vouch_id,
				       .vouch_term = m->vouch_term};
	memcpy(log.vouch_fingerprint, m->vouch_fingerprint, ELECTOR_FINGERPRINT_SIZE);
	uint8_t config[ELECTOR_CONFIG_ENCODED_MAX];
	if (m->type == ELECTOR_MSG_SNAPSHOT) {
		log.snapshot_len = m->snapshot->len;
		log.snapshot_flags =
		    m->snapshot->membership_only ? ELECTOR_WIRE_MEMBERSHIP_ONLY : 0;
		log.config_len = (uint32_t)elector_config_encode(&m->snapshot->config, config);
	}
	if (buf_append(out, m, head) == -1 || buf_append(out, &log, sizeof(log)) == -1 ||
	    buf_append(out, config, log.config_len) == -1)
		return -1;
	for (uint32_t i = 0; i < log.entry_count; i++) {
		const struct elector_entry *x = &m->entries[i];
		struct elector_wire_entry we = {
		    .index = x->index, .term = x->term, .type = x->type, .len = x->len};
		if (buf_append(out, &we, sizeof(we)) == -1 ||
		    buf_append(out, x->data, x->len) == -1)
			return -1;
	}
	return 0;
}

static int decode_log(const struct ipc_msg *msg, struct elector_wire_msg *out, const char **why)
{
	struct elector_msg head;
	if (msg->len < offsetof(struct elector_msg, config)) {
		*why = "a log message shorter than its head";
		return -1;
	}
	memcpy(&head, msg->data, offsetof(struct elector_msg, config));
	size_t v3 =
	    carries_config(head.type) ? ELECTOR_MSG_V3_SIZE : offsetof(struct elector_msg, config);
	if (msg->len < v3 + sizeof(struct elector_wire_log)) {
		*why = "a log message shorter than its head";
		return -1;
	}
	/* The protocol-3 part, by the protocol-3 rules (a snapshot's is an
	 * append's there). */
	uint8_t part[ELECTOR_MSG_V3_SIZE];
	memcpy(part, msg->data, v3);
	if (head.type == ELECTOR_MSG_SNAPSHOT) {
		uint32_t append = ELECTOR_MSG_APPEND;
		memcpy(part + offsetof(struct elector_msg, type), &append, sizeof(append));
	}
	struct ipc_msg inner = {.type = ELECTOR_WIRE_MSG, .len = v3, .data = part, .fd = -1};
	struct elector_wire_msg checked;
	if (head.type != ELECTOR_MSG_SNAPSHOT && head.type > ELECTOR_MSG_TIMEOUT_NOW) {
		*why = "an election message of an unknown type";
		return -1;
	}
	if (elector_wire_decode(&inner, &checked, why) == -1)
		return -1;
	struct elector_msg *m = &out->u.msg;
	*m = checked.u.msg;
	m->type = head.type;
	struct elector_wire_log log;
	const uint8_t *p = (const uint8_t *)msg->data + v3,
		      *end = (const uint8_t *)msg->data + msg->len;
	memcpy(&log, p, sizeof(log));
	p += sizeof(log);
	bool reply = head.type == ELECTOR_MSG_APPEND_REPLY;
	if (!(log.flags & ELECTOR_MSG_LOG) ||
	    (log.flags & ~(ELECTOR_MSG_LOG | (reply ? ELECTOR_MSG_REJECT : 0))) != 0) {
		*why = "a log message with flags it cannot carry";
		return -1;
	}
	if (log.entry_count > (head.type == ELECTOR_MSG_APPEND ? ELECTOR_APPEND_ENTRIES : 0) ||
	    (head.type != ELECTOR_MSG_SNAPSHOT &&
	     (log.snapshot_len != 0 || log.snapshot_flags != 0 || log.config_len != 0))) {
		*why = "a log message with entries or a snapshot it cannot carry";
		return -1;
	}
	static const struct elector_wire_log none;
	bool vouches =
	    head.type == ELECTOR_MSG_PRE_VOTE_REPLY || head.type == ELECTOR_MSG_VOTE_REPLY || reply;
	if ((log.vouch_id == ELECTOR_NONE || !vouches) &&
	    (log.vouch_id != 0 || log.vouch_term != 0 ||
	     memcmp(log.vouch_fingerprint, none.vouch_fingerprint, ELECTOR_FINGERPRINT_SIZE) !=
		 0)) {
		*why = "a log message that names a leader where only a reply may";
		return -1;
	}
	m->flags = log.flags;
	m->vouch_id = log.vouch_id;
	m->vouch_term = log.vouch_term;
	memcpy(m->vouch_fingerprint, log.vouch_fingerprint, ELECTOR_FINGERPRINT_SIZE);
	m->entry_count = log.entry_count;
	m->prev_index = log.prev_index;
	m->prev_term = log.prev_term;
	m->hint_index = log.hint_index;
	m->hint_term = log.hint_term;
	m->applied_index = log.applied_index;
	if (head.type == ELECTOR_MSG_SNAPSHOT) {
		struct elector_snapshot *s = &out->snapshot;
		if (log.snapshot_flags > ELECTOR_WIRE_MEMBERSHIP_ONLY ||
		    log.snapshot_len > ELECTOR_SNAPSHOT_WIRE_MAX ||
		    log.config_len > (size_t)(end - p) ||
		    elector_config_decode(p, log.config_len, &s->config) == -1 ||
		    log.prev_index == 0 || log.prev_term == 0) {
			*why = "a malformed snapshot";
			return -1;
		}
		p += log.config_len;
		s->index = log.prev_index;
		s->term = log.prev_term;
		s->membership_only = log.snapshot_flags & ELECTOR_WIRE_MEMBERSHIP_ONLY;
		s->len = (size_t)log.snapshot_len;
		s->data = NULL; /* the shell's, from the chunks */
		m->snapshot = s;
	}
	for (uint32_t i = 0; i < log.entry_count; i++) {
		struct elector_wire_entry we;
		if ((size_t)(end - p) < sizeof(we)) {
			*why = "an append cut short";
			return -1;
		}
		memcpy(&we, p, sizeof(we));
		p += sizeof(we);
		size_t max = we.type == ELECTOR_ENTRY_CONFIG ? ELECTOR_CONFIG_ENCODED_MAX
			     : we.type == ELECTOR_ENTRY_DATA ? ELECTOR_DATA_MAX
							     : 0;
		if (we.type < ELECTOR_ENTRY_NOOP || we.type > ELECTOR_ENTRY_DATA || we.len > max ||
		    (we.type == ELECTOR_ENTRY_DATA && we.len == 0) || we.len > (size_t)(end - p) ||
		    we.index != log.prev_index + 1 + i || we.term == 0 || we.term > m->term) {
			*why = "a malformed entry in an append";
			return -1;
		}
		struct elector_config config;
		if (we.type == ELECTOR_ENTRY_CONFIG &&
		    elector_config_decode(p, we.len, &config) == -1) {
			*why = "a membership entry that does not decode";
			return -1;
		}
		out->entries[i] = (struct elector_entry){
		    .index = we.index, .term = we.term, .type = we.type, .len = we.len, .data = p};
		p += we.len;
	}
	if (p != end) {
		*why = "a log message with bytes after its end";
		return -1;
	}
	m->entries = log.entry_count > 0 ? out->entries : NULL;
	return 0;
}

static bool printable(const char *text, size_t len)
{
	return memchr(text, '\0', len) == NULL;
}

/* A join's settings and digests (elector_wire.h), on `out` decoded from
 * the fixed layout. */
static int decode_join_tail(const uint8_t *tail, size_t len, struct elector_wire_msg *out,
			    const char **why)
{
	size_t settings = len >= 2 ? (size_t)tail[0] << 8 | tail[1] : 0;
	if (out->u.change.op != ELECTOR_CHANGE_JOIN || len < 2 || settings == 0 ||
	    settings > ELECTOR_WIRE_JOIN_SETTINGS_MAX || settings > len - 2) {
		*why = "a membership change with bytes only a join's settings may have";
		return -1;
	}
	size_t digests = len - 2 - settings;
	if (digests > 0 && !elector_digests_valid(tail + 2 + settings, digests)) {
		*why = "a join with a malformed list of accounts and call bridges";
		return -1;
	}
	out->type = ELECTOR_WIRE_CHANGE;
	out->bytes = tail + 2;
	out->tail_len = settings;
	out->digests = digests > 0 ? tail + 2 + settings : NULL;
	out->digests_len = digests;
	return 0;
}

/* Protocol 4: a join may carry the joiner's settings, an answer its whole
 * text, after protocol 3's fixed layout. */
static int decode_change(const struct ipc_msg *msg, struct elector_wire_msg *out, const char **why)
{
	bool change = msg->type == ELECTOR_WIRE_CHANGE;
	size_t head = change ? sizeof(out->u.change) : sizeof(out->u.reply);
	if (msg->len <= head)
		return elector_wire_decode(msg, out, why);
	size_t tail = msg->len - head;
	struct ipc_msg fixed = *msg;
	fixed.len = head;
	if (elector_wire_decode(&fixed, out, why) == -1)
		return -1;
	const uint8_t *data = msg->data;
	if (change)
		return decode_join_tail(data + head, tail, out, why);
	if (tail > ELECTOR_WIRE_REPLY_TEXT_MAX || !printable((const char *)data + head, tail)) {
		*why = "an answer to a membership change with a malformed text";
		return -1;
	}
	out->type = msg->type;
	out->text = (const char *)data + head;
	out->tail_len = tail;
	return 0;
}

int elector_wire_decode_v4(const struct ipc_msg *msg, struct elector_wire_msg *out,
			   const char **why)
{
	memset(out, 0, sizeof(*out));
	out->type = msg->type;
	const uint8_t *data = msg->data;
	switch (msg->type) {
	case ELECTOR_WIRE_CHANGE:
	case ELECTOR_WIRE_CHANGE_REPLY:
		return decode_change(msg, out, why);
	case ELECTOR_WIRE_LOG:
		return decode_log(msg, out, why);
	case ELECTOR_WIRE_CHUNK: {
		struct elector_wire_chunk *c = &out->u.chunk;
		if (msg->len < sizeof(*c)) {
			*why = "a snapshot chunk shorter than its head";
			return -1;
		}
		memcpy(c, data, sizeof(*c));
		if (c->len == 0 || c->len > ELECTOR_WIRE_CHUNK_MAX || c->reserved != 0 ||
		    msg->len != sizeof(*c) + c->len || c->total > ELECTOR_SNAPSHOT_WIRE_MAX ||
		    c->offset > c->total || c->len > c->total - c->offset || c->index == 0 ||
		    c->snapshot_term == 0) {
			*why = "a malformed snapshot chunk";
			return -1;
		}
		out->bytes = data + sizeof(*c);
		return 0;
	}
	case ELECTOR_WIRE_PROPOSE: {
		struct elector_wire_propose *p = &out->u.propose;
		if (msg->len < sizeof(*p)) {
			*why = "a write shorter than its head";
			return -1;
		}
		memcpy(p, data, sizeof(*p));
		if (p->len == 0 || p->len > PROTO_PROPOSE_MAX || p->reserved != 0 ||
		    msg->len != sizeof(*p) + p->len) {
			*why = "a malformed write";
			return -1;
		}
		out->bytes = data + sizeof(*p);
		return 0;
	}
	case ELECTOR_WIRE_PROPOSE_REPLY: {
		struct elector_wire_propose_reply *r = &out->u.propose_reply;
		if (msg->len < sizeof(*r)) {
			*why = "an answer to a write shorter than its head";
			return -1;
		}
		memcpy(r, data, sizeof(*r));
		const struct proto_propose_result *h = &r->result;
		if (h->status >= PROTO_PROPOSE_STATUS_END ||
		    h->outcome_len > PROTO_PROPOSE_TEXT_MAX ||
		    h->text_len > PROTO_PROPOSE_TEXT_MAX ||
		    msg->len != sizeof(*r) + (size_t)h->outcome_len + h->text_len ||
		    !printable((const char *)data + sizeof(*r), h->outcome_len) ||
		    !printable((const char *)data + sizeof(*r) + h->outcome_len, h->text_len)) {
			*why = "a malformed answer to a write";
			return -1;
		}
		out->outcome = (const char *)data + sizeof(*r);
		out->text = out->outcome + h->outcome_len;
		return 0;
	}
	default:
		*why = "a frame of no type of protocol 4";
		return -1;
	}
}
