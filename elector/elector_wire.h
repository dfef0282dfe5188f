/* SPDX-License-Identifier: MIT */
/*
 * What electors say to each other on peer links (frame types after the
 * hello of common/peerlink.h), and the kind of link they use.
 *
 * Every frame type and layout here belongs to protocol version
 * PEERLINK_VERSION (common/peerlink.h, the compatibility rule): a new
 * message, operation or field after a release raises that version, is
 * sent only on links that agreed on the new one (peerlink_version), and
 * the frames of the previous version stay decodable for links that agreed
 * on it; tests/unit/check_wire_versions.c pins the released layouts.
 */
#ifndef RXMPP_ELECTOR_WIRE_H
#define RXMPP_ELECTOR_WIRE_H

#include <stdint.h>

#include "common/buf.h"
#include "common/ipc.h"
#include "common/proto.h"
#include "elector_core.h"
#include "elector_log_store.h"

#define ELECTOR_LINK_KIND 0x454c4543u /* "ELEC": heartbeats and votes */

enum elector_wire_type {
	/* Protocol 3 only: struct elector_msg up to ELECTOR_MSG_V3_SIZE
	 * (appends; 0.2.0's heartbeats) or up to its config (the others). */
	ELECTOR_WIRE_MSG = 2,
	ELECTOR_WIRE_CHANGE,	   /* struct elector_change: join or remove */
	ELECTOR_WIRE_CHANGE_REPLY, /* struct elector_change_reply */
	/* Protocol 4 (the replicated log): a message of the core with its
	 * log fields; see "Protocol 4" below. */
	ELECTOR_WIRE_LOG,
	/* Protocol 4: a piece of a snapshot's state machine, leader ->
	 * follower, struct elector_wire_chunk and its bytes. */
	ELECTOR_WIRE_CHUNK,
	/* Protocol 4: follower -> leader, a write for the cluster's state
	 * (PROTO_PROPOSE forwarded), struct elector_wire_propose and the
	 * command; answered once with ELECTOR_WIRE_PROPOSE_REPLY. */
	ELECTOR_WIRE_PROPOSE,
	/* Protocol 4: struct elector_wire_propose_reply and its two texts. */
	ELECTOR_WIRE_PROPOSE_REPLY,
};

enum elector_change_op {
	ELECTOR_CHANGE_JOIN,
	ELECTOR_CHANGE_REMOVE,
	/* Hand leadership to node_id (ELECTOR_NONE: the most up-to-date other
	 * member); address empty.  PENDING while it is handed over; then the
	 * old leader redirects (it no longer leads), or refuses when the
	 * target did not take over. */
	ELECTOR_CHANGE_LEADER,
};

/* The text of the PENDING answer to ELECTOR_CHANGE_LEADER of a leader that
 * began the transfer (a PENDING from a node without a leader says why). */
#define ELECTOR_CHANGE_HANDING "handing leadership over"

/* The node that asks is the one at the other end of the link: a join
 * binds node_id to that link's certificate (its fingerprint), and a
 * removal or a leadership transfer is taken only from a member on a link
 * with its own certificate. */
struct elector_change {
	uint32_t op;
	uint32_t reserved;
	uint64_t node_id;
	char address[ELECTOR_ADDRESS_MAX];
};
_Static_assert(sizeof(struct elector_change) == 144, "elector_change has a fixed size");

enum elector_change_status {
	ELECTOR_CHANGE_DONE,	 /* the membership is as asked, committed */
	ELECTOR_CHANGE_PENDING,	 /* under way; ask again shortly */
	ELECTOR_CHANGE_REDIRECT, /* not the leader: ask `leader_address` */
	ELECTOR_CHANGE_REFUSED,	 /* cannot be done; `text` says why */
};

/* Protocol 4: a JOIN's struct elector_change may be followed by what the
 * leader checks against the cluster's state before it changes the
 * membership:
 *
 *   u16 settings length | the joiner's settings that must agree, as its
 *   SETTINGS_CHECK command (elector/elector_machine.h), 1 to
 *   ELECTOR_WIRE_JOIN_SETTINGS_MAX bytes | its own accounts and call
 *   bridges as names and digests (elector/elector_digests.h), valid, or
 *   nothing when the joiner has too many to send (they are then checked
 *   when they are merged, after the join)
 *
 * A join whose settings differ, or whose accounts or bridges the cluster
 * holds differently, is refused, naming each key with both values and
 * each conflicting name, and changes nothing.  An answer's struct
 * elector_change_reply may be followed by its whole text when `text` holds
 * only its start. */
#define ELECTOR_WIRE_JOIN_SETTINGS_MAX 8192u /* ELECTOR_MACHINE_COMMAND_MAX */
#define ELECTOR_WIRE_REPLY_TEXT_MAX    1024u /* ELECTOR_MACHINE_TEXT_MAX */

struct elector_change_reply {
	uint32_t status;
	uint32_t reserved;
	char leader_address[ELECTOR_ADDRESS_MAX];
	char text[128];
};
_Static_assert(sizeof(struct elector_change_reply) == 264, "elector_change_reply is fixed");

/*
 * Protocol 4.  ELECTOR_WIRE_LOG: the message's protocol-3 layout (up to
 * ELECTOR_MSG_V3_SIZE for appends and snapshots, which carry the
 * leader's membership; up to `config` for the others), then struct
 * elector_wire_log, then for a snapshot its membership
 * (elector_config_encode, config_len bytes), for an append its entries,
 * each struct elector_wire_entry and its bytes.
 *
 * A snapshot's state machine travels ahead of its ELECTOR_WIRE_LOG
 * message in ELECTOR_WIRE_CHUNKs, in order, on the same link; the
 * follower's shell puts them together and hands the message to its core
 * only when it holds every byte of that snapshot (index, term), so the
 * core sees a snapshot whole or not at all.
 */
struct elector_wire_log {
	uint32_t flags;	      /* ELECTOR_MSG_LOG, ELECTOR_MSG_REJECT */
	uint32_t entry_count; /* appends: at most ELECTOR_APPEND_ENTRIES */
	uint64_t prev_index;
	uint64_t prev_term;
	uint64_t hint_index;
	uint64_t hint_term;
	uint64_t applied_index;
	uint64_t snapshot_len;	 /* snapshots: the state machine's bytes (in chunks) */
	uint32_t snapshot_flags; /* ELECTOR_WIRE_MEMBERSHIP_ONLY */
	uint32_t config_len;	 /* snapshots: the membership's bytes that follow */
	/* Replies: the leader the sender follows, its term and certificate
	 * (elector_msg's vouch_*); all zero in other messages. */
	uint64_t vouch_id;
	uint64_t vouch_term;
	uint8_t vouch_fingerprint[ELECTOR_FINGERPRINT_SIZE];
};
_Static_assert(sizeof(struct elector_wire_log) == 112, "elector_wire_log has a fixed size");
#define ELECTOR_WIRE_MEMBERSHIP_ONLY 1u

struct elector_wire_entry {
	uint64_t index;
	uint64_t term;
	uint32_t type; /* enum elector_entry_type */
	uint32_t len;  /* the bytes that follow */
};
_Static_assert(sizeof(struct elector_wire_entry) == 24, "elector_wire_entry has a fixed size");

#define ELECTOR_WIRE_CHUNK_MAX	  (256u * 1024u) /* bytes of a snapshot in one chunk */
#define ELECTOR_SNAPSHOT_WIRE_MAX ELECTOR_SNAPSHOT_DATA_MAX
struct elector_wire_chunk {
	uint64_t term;	/* the leader's */
	uint64_t index; /* the snapshot's */
	uint64_t snapshot_term;
	uint64_t total;	 /* bytes of its state machine */
	uint64_t offset; /* of this chunk's first byte; chunks come in order */
	uint32_t len;	 /* this chunk's bytes, which follow */
	uint32_t reserved;
};
_Static_assert(sizeof(struct elector_wire_chunk) == 48, "elector_wire_chunk has a fixed size");

struct elector_wire_propose {
	uint64_t request; /* the asker's number for it, in the reply */
	uint32_t len;	  /* the command's bytes that follow, 1..PROTO_PROPOSE_MAX */
	uint32_t reserved;
};
_Static_assert(sizeof(struct elector_wire_propose) == 16, "elector_wire_propose is fixed");

/* `result` as PROTO_PROPOSE_RESULT's, its texts after it. */
struct elector_wire_propose_reply {
	uint64_t request;
	struct proto_propose_result result;
};
_Static_assert(sizeof(struct elector_wire_propose_reply) == 48,
	       "elector_wire_propose_reply is fixed");

/* One decoded frame.  Only appends and snapshots carry the membership
 * (`config`); the other messages end before it, and it is zero in what
 * is decoded.  Pointers (u.msg.entries, u.msg.snapshot, bytes, texts)
 * point into the frame or into this struct: valid while both are. */
struct elector_wire_msg {
	uint16_t type;
	union {
		struct elector_msg msg;
		struct elector_change change;
		struct elector_change_reply reply;
		struct elector_wire_chunk chunk;
		struct elector_wire_propose propose;
		struct elector_wire_propose_reply propose_reply;
	} u;
	struct elector_entry entries[ELECTOR_APPEND_ENTRIES];
	struct elector_snapshot snapshot; /* a snapshot's meta; data: see above */
	const uint8_t *bytes;		  /* a chunk's, a proposal's command */
	const char *outcome, *text;	  /* a proposal's reply (lengths in the result) */
	/* Protocol 4, after a change's fixed layout: a join's settings (in
	 * bytes) and its accounts' and bridges' digests (length 0 when it
	 * sent none), an answer's whole text (in text, not NUL-terminated). */
	size_t tail_len;
	const uint8_t *digests;
	size_t digests_len;
};

/* Checks the frame's type, size and contents (message types and flags,
 * counts, text ends, member and leader addresses: elector_address_valid)
 * and decodes it, for a link that agreed on protocol `version`; -1 with
 * `*why` set when it is malformed or of an unknown type, or of the other
 * version (the link is then closed). */
int elector_wire_decode(const struct ipc_msg *msg, struct elector_wire_msg *out, const char **why);
int elector_wire_decode_v4(const struct ipc_msg *msg, struct elector_wire_msg *out,
			   const char **why);

/* Encodes a message of the core for a protocol-4 link into `out` (a
 * snapshot without its state machine: that goes in chunks); -1 when it
 * does not fit. */
int elector_wire_encode_log(const struct elector_msg *m, struct buf *out);

#endif
