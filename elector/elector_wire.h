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

#include "common/ipc.h"
#include "elector_core.h"

#define ELECTOR_LINK_KIND 0x454c4543u /* "ELEC": heartbeats and votes */

enum elector_wire_type {
	ELECTOR_WIRE_MSG = 2,	  /* struct elector_msg */
	ELECTOR_WIRE_CHANGE,	  /* struct elector_change: join or remove */
	ELECTOR_WIRE_CHANGE_REPLY /* struct elector_change_reply */
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

struct elector_change_reply {
	uint32_t status;
	uint32_t reserved;
	char leader_address[ELECTOR_ADDRESS_MAX];
	char text[128];
};
_Static_assert(sizeof(struct elector_change_reply) == 264, "elector_change_reply is fixed");

/* One decoded frame.  Only heartbeats carry the membership (`config`);
 * the other messages end before it, and it is zero in what is decoded. */
struct elector_wire_msg {
	uint16_t type;
	union {
		struct elector_msg msg;
		struct elector_change change;
		struct elector_change_reply reply;
	} u;
};

/* Checks the frame's type, size and contents (message types and flags,
 * counts, text ends, member and leader addresses: elector_address_valid)
 * and decodes it; -1 with `*why` set when it is malformed or of an unknown
 * type (the link is then closed). */
int elector_wire_decode(const struct ipc_msg *msg, struct elector_wire_msg *out, const char **why);

#endif
