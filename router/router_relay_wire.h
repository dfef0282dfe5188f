/* SPDX-License-Identifier: MIT */
/*
 * What routers say to each other on stanza links (frame types after the
 * hello of common/peerlink.h, kind RELAY_LINK_KIND), and the one decoder
 * that checks every frame before the router reads it.
 *
 * A follower opens one link to the leader's router and says, in order:
 * REGISTER for each of its sessions, SYNCED (all registered), then FORWARD
 * for each stanza only the leader can route, and later UNREGISTER, PRESENCE
 * and FORGET as its sessions change, and DELIVERED for each confirmation
 * asked.  The leader says DELIVER (bytes for one session of the follower),
 * ACK (a forwarded stanza is done with) and KICK.  For rxmppctl a follower
 * may send QUERY (list the cluster's sessions, or end a JID's); the leader
 * says ANSWER with the same id (router/router_admin.c).  From protocol 4,
 * the KEEP_ frames (below) carry stream management across nodes.
 *
 * Payloads are fixed structs (sizes asserted, host byte order: nodes of a
 * cluster run on one architecture) of the protocol version both ends agreed
 * on in their hellos (common/peerlink.h has the compatibility rule: a
 * change here raises PEERLINK_VERSION and keeps the previous version's
 * frames for links that agreed on it) followed, for
 * REGISTER, FORWARD and DELIVER, by variable data whose length is the rest
 * of the frame (REGISTER: jid_len bytes exactly).
 */
#ifndef RXMPP_ROUTER_RELAY_WIRE_H
#define RXMPP_ROUTER_RELAY_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipc.h"

#define RELAY_LINK_KIND 0x524f5554u /* "ROUT": stanzas between routers */

enum relay_wire_type {
	RELAY_WIRE_REGISTER = 2, /* struct relay_wire_register + jid */
	RELAY_WIRE_UNREGISTER,	 /* struct relay_wire_session */
	RELAY_WIRE_FORGET,	 /* no payload: forget every session of the sender */
	RELAY_WIRE_PRESENCE,	 /* struct relay_wire_presence */
	RELAY_WIRE_FORWARD,	 /* struct relay_wire_forward + routing header and stanza */
	RELAY_WIRE_DELIVER,	 /* struct relay_wire_deliver + stanza bytes */
	RELAY_WIRE_DELIVERED,	 /* struct relay_wire_delivered */
	RELAY_WIRE_ACK,		 /* struct relay_wire_ack */
	RELAY_WIRE_KICK,	 /* struct relay_wire_kick */
	RELAY_WIRE_SYNCED,	 /* no payload: every session of the sender is registered */
	RELAY_WIRE_QUERY,	 /* struct relay_wire_query + jid (follower -> leader) */
	RELAY_WIRE_ANSWER,	 /* struct relay_wire_answer + a CLUSTER_SESSIONS payload */
	/* Protocol 4: the leader keeps the resumable sessions of followers
	 * (router/router_keep.h says the protocol, router/router_sm.c does it).
	 * Follower -> leader, for its session `session`: */
	RELAY_WIRE_KEEP_OPEN,	 /* struct relay_wire_keep_open */
	RELAY_WIRE_KEEP_STANZA,	 /* struct relay_wire_keep_count (number) + the stanza */
	RELAY_WIRE_KEEP_ACKED,	 /* struct relay_wire_keep_count (the client's h) */
	RELAY_WIRE_KEEP_HANDLED, /* struct relay_wire_keep_count (its stanzas handled) */
	RELAY_WIRE_KEEP_END,	 /* struct relay_wire_keep_count (value 0): it ended */
	RELAY_WIRE_KEEP_RESUME,	 /* struct relay_wire_keep_resume + the user's bare JID */
	/* Leader -> follower: */
	RELAY_WIRE_KEEP_REPLY,	 /* struct relay_wire_keep_count, kind enum proto_sm_kept */
	RELAY_WIRE_KEEP_RESUMED, /* struct relay_wire_keep_resumed + the full JID */
	RELAY_WIRE_KEEP_ITEM,	 /* struct relay_wire_keep_count (session: the asker) + a stanza */
	/* The leader's own sessions are kept by a follower: the leader sends it
	 * KEEP_OPEN (with the JID), KEEP_STANZA, KEEP_ACKED, KEEP_HANDLED and
	 * KEEP_END, and for each stanza it delivers to such a session: */
	RELAY_WIRE_KEEP_FRESH, /* struct relay_wire_keep_fresh + the stanza */
	/* A follower that kept the sessions of a leader it lost, or a leader
	 * that stopped leading, hands what it kept to the next leader before
	 * it says SYNCED: */
	RELAY_WIRE_KEEP_ADOPT,	    /* struct relay_wire_keep_adopt + the JID */
	RELAY_WIRE_KEEP_ADOPT_ITEM, /* struct relay_wire_keep_fresh (of the last ADOPT) + stanza */
	/* A resumption on another node while the holder lives (a handover,
	 * router/router_keep.h): leader -> follower, give up the session: */
	RELAY_WIRE_KEEP_GIVE_UP, /* struct relay_wire_keep_count (kind 0, value 0) */
	/* follower -> leader, after its last report on the session: */
	RELAY_WIRE_KEEP_GIVEN, /* struct relay_wire_keep_count (kind 1: given up, 0: none;
				* value: its waiting time left, ms) */
};

/* The first frame type of protocol 4: a link that agreed on 3 has none. */
#define RELAY_WIRE_FIRST_V4 RELAY_WIRE_KEEP_OPEN

enum relay_query_op {
	RELAY_QUERY_LIST, /* every session not on the asking node; jid_len 0 */
	RELAY_QUERY_KICK, /* end the sessions of the JID not on the asking node */
};

struct relay_wire_query {
	uint64_t id;	   /* the asker's, repeated in the answer */
	uint32_t op;	   /* enum relay_query_op */
	uint32_t reason;   /* KICK: enum proto_kick_reason; LIST: 0 */
	uint32_t jid_len;  /* KICK: the JID's bytes follow; LIST: 0 */
	uint32_t reserved; /* 0 */
};
_Static_assert(sizeof(struct relay_wire_query) == 24, "relay_wire_query is fixed");

struct relay_wire_answer {
	uint64_t id;
};
_Static_assert(sizeof(struct relay_wire_answer) == 8, "relay_wire_answer is fixed");

struct relay_wire_register {
	uint64_t session;
	uint32_t kind; /* enum proto_session_kind */
	int32_t priority;
	uint32_t available;
	uint32_t jid_len;
};
_Static_assert(sizeof(struct relay_wire_register) == 24, "relay_wire_register is fixed");

struct relay_wire_session {
	uint64_t session;
};
_Static_assert(sizeof(struct relay_wire_session) == 8, "relay_wire_session is fixed");

struct relay_wire_presence {
	uint64_t session;
	int32_t priority;
	uint32_t available;
};
_Static_assert(sizeof(struct relay_wire_presence) == 16, "relay_wire_presence is fixed");

/* A stanza is named by its origin node, the origin's epoch (drawn at its
 * start) and a sequence number the origin counts up from 1. */
struct relay_wire_forward {
	uint64_t epoch;
	uint64_t seq;
	uint64_t session; /* the sender, on the origin node */
};
_Static_assert(sizeof(struct relay_wire_forward) == 24, "relay_wire_forward is fixed");

struct relay_wire_deliver {
	uint64_t session;
	uint64_t origin_node;
	uint64_t origin_epoch;
	uint64_t origin_seq; /* 0: no deduplication asked */
	uint64_t delivery;   /* 0: no confirmation asked */
};
_Static_assert(sizeof(struct relay_wire_deliver) == 40, "relay_wire_deliver is fixed");

struct relay_wire_delivered {
	uint64_t delivery;
};
_Static_assert(sizeof(struct relay_wire_delivered) == 8, "relay_wire_delivered is fixed");

struct relay_wire_ack {
	uint64_t epoch;
	uint64_t seq;
};
_Static_assert(sizeof(struct relay_wire_ack) == 16, "relay_wire_ack is fixed");

struct relay_wire_kick {
	uint64_t session;
	uint32_t reason; /* enum proto_kick_reason */
	uint32_t reserved;
};
_Static_assert(sizeof(struct relay_wire_kick) == 16, "relay_wire_kick is fixed");

#define RELAY_KEEP_ID_MAX 64

struct relay_wire_keep_open {
	uint64_t session;
	uint32_t max_seconds;
	uint32_t handled;
	uint32_t acked;		    /* the KEEP_STANZAs that follow are numbered acked+1.. */
	uint32_t sent;		    /* as the holder numbers them: a resumption brought it */
	char id[RELAY_KEEP_ID_MAX]; /* NUL-terminated */
};
_Static_assert(sizeof(struct relay_wire_keep_open) == 88, "relay_wire_keep_open is fixed");

struct relay_wire_keep_count {
	uint64_t session;
	uint32_t kind; /* KEEP_REPLY: enum proto_sm_kept; otherwise 0 */
	uint32_t value;
};
_Static_assert(sizeof(struct relay_wire_keep_count) == 16, "relay_wire_keep_count is fixed");

struct relay_wire_keep_resume {
	uint64_t asker; /* the connection resuming, on the asking node */
	uint32_t h;
	uint32_t user_len;
	char id[RELAY_KEEP_ID_MAX]; /* NUL-terminated */
};
_Static_assert(sizeof(struct relay_wire_keep_resume) == 80, "relay_wire_keep_resume is fixed");

struct relay_wire_keep_resumed {
	uint64_t asker;
	uint32_t ok;
	uint32_t handled;
	uint32_t sent;
	uint32_t count; /* KEEP_ITEMs that follow */
	uint32_t max_seconds;
	int32_t priority;
	uint32_t available;
	uint32_t jid_len;
	uint32_t remaining_ms; /* what is left of its waiting time */
	uint32_t reserved;     /* 0 */
};
_Static_assert(sizeof(struct relay_wire_keep_resumed) == 48, "relay_wire_keep_resumed is fixed");

struct relay_wire_keep_fresh {
	uint64_t session; /* KEEP_FRESH: the leader's session; ADOPT_ITEM: 0 */
	uint64_t origin_node, origin_epoch, origin_seq; /* its relay key */
	uint32_t unsure;   /* ADOPT_ITEM: 1 if its holder may not have had it */
	uint32_t reserved; /* 0 */
};
_Static_assert(sizeof(struct relay_wire_keep_fresh) == 40, "relay_wire_keep_fresh is fixed");

struct relay_wire_keep_adopt {
	uint64_t lost;	      /* the node that held it */
	int64_t remaining_ms; /* how much longer it waits */
	uint32_t max_seconds;
	uint32_t handled;
	uint32_t acked;
	uint32_t count; /* KEEP_ADOPT_ITEMs that follow */
	int32_t priority;
	uint32_t available;
	uint32_t jid_len;
	uint32_t held;		    /* 1: held by `lost`, which may link to the new leader */
	char id[RELAY_KEEP_ID_MAX]; /* NUL-terminated */
};
_Static_assert(sizeof(struct relay_wire_keep_adopt) == 112, "relay_wire_keep_adopt is fixed");

/* One decoded frame: the fixed part, and the variable data after it
 * (pointing into the frame). */
struct relay_wire_msg {
	uint16_t type;
	union {
		struct relay_wire_register reg;
		struct relay_wire_session session;
		struct relay_wire_presence presence;
		struct relay_wire_forward forward;
		struct relay_wire_deliver deliver;
		struct relay_wire_delivered delivered;
		struct relay_wire_ack ack;
		struct relay_wire_kick kick;
		struct relay_wire_query query;
		struct relay_wire_answer answer;
		struct relay_wire_keep_open keep_open;
		struct relay_wire_keep_count keep;
		struct relay_wire_keep_resume keep_resume;
		struct relay_wire_keep_resumed keep_resumed;
		struct relay_wire_keep_fresh keep_fresh;
		struct relay_wire_keep_adopt keep_adopt;
	} u;
	const char *data;
	size_t data_len;
};

/* Checks the frame's type and sizes and decodes it; -1 with `*why` set
 * when it is malformed or of an unknown type (the link is then closed). */
int router_relay_wire_decode(const struct ipc_msg *msg, struct relay_wire_msg *out,
			     const char **why);

#endif
