/* SPDX-License-Identifier: MIT */
/*
 * The messages of every IPC channel and their payloads.  Payloads are fixed
 * structs (sizes asserted, no pointers, no padding that differs between
 * builds) optionally followed by variable data whose length the struct says.
 * A receiver checks the size of every payload before it reads it, and a type
 * it does not expect on a channel cuts the channel off (ipc_channel_fail).
 */
#ifndef RXMPP_PROTO_H
#define RXMPP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raised whenever a payload below changes, so mixed builds refuse each other. */
#define PROTO_VERSION 20

/* Session ids start at 1; 0 names the server itself (see PROTO_STANZA). */
#define PROTO_SERVER_SESSION 0

enum proto_type {
	/* child -> supervisor, first message: struct proto_hello */
	PROTO_HELLO = 1,
	/* supervisor -> child: struct config (common/config.h) */
	PROTO_CONFIG,
	/* supervisor -> listener: struct proto_listen_socket, with the socket */
	PROTO_LISTEN_SOCKET,
	/* supervisor -> child: the configuration is complete; apply it */
	PROTO_CONFIG_END,
	/* child -> supervisor: configuration applied, serving (no payload) */
	PROTO_READY,
	/* supervisor -> child: struct proto_peer_channel, with a fresh socket */
	PROTO_PEER_CHANNEL,
	/* child <-> child, first message on a peer channel: struct proto_hello */
	PROTO_PEER_HELLO,
	/* rxmppctl -> supervisor: no payload */
	PROTO_CTL_STATUS,
	/* supervisor -> rxmppctl: struct proto_status, then `children` times
	 * struct proto_status_child, then `listening` times
	 * struct proto_listen_socket */
	PROTO_CTL_STATUS_REPLY,
	/* rxmppctl -> supervisor: re-read the configuration (no payload) */
	PROTO_CTL_RELOAD,
	/* supervisor -> rxmppctl: struct proto_result, then `message_len` bytes */
	PROTO_CTL_RESULT,
	/* supervisor -> listener, between CONFIG and CONFIG_END: one call bridge,
	 * struct proto_callbridge */
	PROTO_CALLBRIDGE,
	/* listener -> router, header peer = session id: a session is bound;
	 * struct proto_session, then the JID */
	PROTO_SESSION_UP,
	/* listener -> router, header peer = session id: the session ended */
	PROTO_SESSION_DOWN,
	/* listener -> router, header peer = session id: struct proto_presence */
	PROTO_SESSION_PRESENCE,
	/* listener -> router, header peer = origin session: struct proto_route,
	 * its strings, then the serialized stanza.  Origin PROTO_SERVER_SESSION:
	 * a stanza delivered to a session that had just ended, routed again by
	 * its addresses (errors go back to the 'from' JID, not to a session). */
	PROTO_STANZA,
	/* router -> listener, header peer = destination session: stanza bytes */
	PROTO_DELIVER,
	/* router -> listener, header peer = session: end it with
	 * struct proto_kick's stream error condition */
	PROTO_SESSION_KICK,
	/* supervisor -> elector: a listening socket for peer links,
	 * struct proto_listen_socket with the socket (as LISTEN_SOCKET) */
	PROTO_CLUSTER_SOCKET,
	/* rxmppctl -> supervisor -> elector: struct proto_cluster_request,
	 * and for a JOIN optionally the node's own accounts and call bridges
	 * as names and digests (elector/elector_digests.h, at most
	 * PROTO_CLUSTER_JOIN_DIGESTS_MAX bytes), which the leader checks
	 * before the membership changes; the supervisor sets header peer to
	 * tell its clients apart */
	PROTO_CLUSTER_REQUEST,
	/* elector -> supervisor -> rxmppctl: struct proto_cluster_status, then
	 * `members` times struct proto_cluster_member */
	PROTO_CLUSTER_STATUS,
	/* elector -> supervisor -> rxmppctl: struct proto_result and its text */
	PROTO_CLUSTER_RESULT,
	/* elector -> router: struct proto_leader, whenever the leader changes */
	PROTO_LEADER,
	/* listener -> supervisor: struct proto_stats, when the counts change */
	PROTO_STATS,
	/* certworker -> listener: struct proto_tls_set, with a sealed memfd
	 * holding the checked private key and then the chain as PEM */
	PROTO_TLS_SET,
	/* certworker -> supervisor: struct proto_cert_state, whenever the set
	 * in use or the verdict on the files changes */
	PROTO_CERT_STATE,
	/* supervisor -> listener: stop accepting on the socket that
	 * struct proto_listen_socket's id names (its address left the
	 * interface, or a reload dropped it); sessions it accepted stay */
	PROTO_LISTEN_CLOSE,
	/* child -> supervisor: struct proto_peer_state, whenever the channel
	 * to a peer child comes up (both PEER_HELLOs crossed) or goes away */
	PROTO_PEER_STATE,
	/* elector -> router: struct proto_members, whenever the membership or
	 * a member's certificate changes and when the router (re)connects:
	 * who may hold a stanza link (router_members.h) */
	PROTO_MEMBERS,
	/* elector -> supervisor -> rxmppctl: struct proto_result (ok 1) and a
	 * line of progress of a join or remove under way; the
	 * PROTO_CLUSTER_RESULT that ends it follows */
	PROTO_CLUSTER_PROGRESS,
	/* rxmppctl -> supervisor -> listener (header peer: the supervisor's
	 * token for its client): list the sessions (no payload) */
	PROTO_CTL_SESSIONS,
	/* listener -> supervisor -> rxmppctl: struct proto_sessions, then
	 * `count` times struct proto_session_entry and its JID
	 * (proto_sessions_unpack) */
	PROTO_SESSIONS,
	/* rxmppctl -> supervisor -> listener: end sessions,
	 * struct proto_admin_kick; the listener answers with CTL_RESULT */
	PROTO_CTL_KICK,
	/* rxmppctl -> supervisor -> router: the sessions on the cluster's other
	 * nodes as the leader knows them (no payload); answered with
	 * PROTO_CLUSTER_SESSIONS (router/router_admin.c) */
	PROTO_CTL_CLUSTER_SESSIONS,
	/* rxmppctl -> supervisor -> router: end sessions on the other nodes,
	 * struct proto_admin_kick (reason PROTO_ADMIN_KICK_ADMIN); answered
	 * with PROTO_CLUSTER_SESSIONS whose total is how many were told to end */
	PROTO_CTL_CLUSTER_KICK,
	/* router -> supervisor -> rxmppctl: struct proto_cluster_sessions, then
	 * `count` times struct proto_remote_session and its JID
	 * (proto_cluster_sessions_unpack) */
	PROTO_CLUSTER_SESSIONS,
	/* router -> listener: struct proto_routed and its numbers: which of
	 * the STANZAs of this channel (counted from 1 on each new channel) the
	 * router is done with: routed, bounced, or acknowledged by the
	 * cluster's leader.  What is not confirmed when the router goes is
	 * answered by the listener (router_confirm.c, listener_route.c). */
	PROTO_ROUTED,
	/* rxmppctl -> supervisor: drain this node or stop draining it,
	 * struct proto_drain; answered with CTL_RESULT.  supervisor ->
	 * listener: the same, whenever it changes and with every
	 * configuration (no answer) */
	PROTO_CTL_DRAIN,
	/* child -> supervisor: struct metrics_head, then `count` times
	 * struct metrics_entry (common/metrics.h, metrics_unpack): the child's
	 * whole set of figures, about once a second while they change */
	PROTO_METRICS,
	/* rxmppctl -> supervisor: the node's metrics (no payload) */
	PROTO_CTL_STATS,
	/* supervisor -> rxmppctl: the metrics in the Prometheus text format,
	 * as the HTTP endpoint serves them (no NUL) */
	PROTO_CTL_STATS_REPLY,
	/* rxmppctl -> supervisor -> elector (header peer: the supervisor's
	 * token for its client, as CLUSTER_REQUEST): commit a command to the
	 * cluster's state (elector/elector_machine.h encodes it); struct
	 * proto_propose, then `len` bytes of command.  Answered once with
	 * PROTO_PROPOSE_RESULT (see enum proto_propose_status for when). */
	PROTO_PROPOSE,
	/* elector -> supervisor -> rxmppctl: struct proto_propose_result, then
	 * its two texts (proto_propose_result_unpack) */
	PROTO_PROPOSE_RESULT,
	/* elector -> supervisor: the cluster's call bridges changed (the
	 * elector materialised them, elector/elector_machine.h); no payload.
	 * The supervisor reads them again and hands them to the listener. */
	PROTO_CLUSTER_APPLIED,
	/*
	 * Stream management across nodes (router/router_sm.c; the listener's
	 * side is listener_client_sm.c).  The router has another node keep every
	 * resumable session of its listener (the leader, or for the leader's a
	 * follower); the listener reports, in order, for each such session:
	 */
	/* listener -> router, header peer = session: a resumable session,
	 * struct proto_sm_open (also again when the router asks, SM_REKEEP);
	 * the reports below follow it */
	PROTO_SM_OPEN,
	/* listener -> router, header peer = session: struct proto_sm_count
	 * (value: the stanza's number), then the stanza as the client gets it */
	PROTO_SM_STANZA,
	/* listener -> router, header peer = session: struct proto_sm_count,
	 * value: the client's h */
	PROTO_SM_ACKED,
	/* listener -> router, header peer = session: struct proto_sm_count,
	 * value: the client's stanzas handled, one that did not go to the
	 * router (its count travels with the others: SM_STANZA_IN) */
	PROTO_SM_HANDLED,
	/* listener -> router, header peer = session: struct proto_sm_count
	 * (value: the client's stanzas handled with this one), then a STANZA
	 * payload: routed as STANZA, and its count goes to the keeper with it */
	PROTO_SM_STANZA_IN,
	/* router -> listener, header peer = session: struct proto_sm_count,
	 * kind enum proto_sm_kept: what the keeper has */
	PROTO_SM_KEPT,
	/* router -> listener: a new keeper: report every resumable session
	 * again (no payload) */
	PROTO_SM_REKEEP,
	/* listener -> router, header peer = the resuming connection's id: a
	 * session unknown here, struct proto_sm_resume and the user's bare JID */
	PROTO_SM_RESUME,
	/* router -> listener, header peer = that id: struct proto_sm_resumed
	 * and the full JID; then `count` SM_ITEMs */
	PROTO_SM_RESUMED,
	/* router -> listener, header peer = that id: a stanza to replay */
	PROTO_SM_ITEM,
	/* router -> listener: a stanza kept for a session that ended without
	 * being resumed; its sender gets the error (bytes as the client would) */
	PROTO_SM_RETURN,
	/* rxmppctl -> supervisor -> elector (header peer: the supervisor's
	 * token for its client, as CLUSTER_REQUEST), and im -> elector
	 * (header peer: im's own request number): read a user's data from this node's copy of the
	 * cluster's state (elector/elector_userdata.h), struct proto_userdata_get and its strings
	 * (proto_userdata_get_unpack).  Answered once with PROTO_USERDATA_ANSWER, from memory,
	 * without the network. */
	PROTO_USERDATA_GET,
	/* elector -> supervisor -> rxmppctl, or elector -> im: struct
	 * proto_userdata_answer and its items (proto_userdata_answer_unpack) */
	PROTO_USERDATA_ANSWER,
	/* router -> im: a stanza for the IM process (im/im_main.c), handed
	 * over by the router that routes for the cluster (the leader's, or a
	 * lone node's): struct proto_im_origin, then the PROTO_STANZA payload
	 * (routing header, its strings, the stanza's bytes) */
	PROTO_IM_STANZA,
	/* im -> router: a stanza the IM process makes, for the router to
	 * deliver as the server's: struct proto_im_out, the bare JID, then the
	 * stanza's bytes.  The router takes it only on its channel to im. */
	PROTO_IM_OUT,
	/* router -> listener, header peer = session: the keeper asks for a
	 * resumable session of this node that a client resumes on another
	 * node while this one lives (router/router_keep.h, handover); no
	 * payload, or struct proto_sm_count with kind 1 (value 0): this node
	 * leads and keeps it from now on, report it first (SM_OPEN and its
	 * stanzas).  A live connection of it gets the stream error conflict. */
	PROTO_SM_GIVE_UP,
	/* listener -> router, header peer = that session: struct
	 * proto_sm_count, kind 1 when it was given up (ended without
	 * returning anything: the keeper has every stanza, reported before
	 * this), 0 when there was none to give; value: the milliseconds left
	 * of its waiting time */
	PROTO_SM_GIVEN,
	PROTO_TYPE_END,
};

const char *proto_type_name(uint16_t type);

struct proto_hello {
	uint32_t version;
	uint32_t role; /* enum proc_role */
	uint32_t pid;
	uint32_t generation; /* how many times the supervisor started this role */
};
_Static_assert(sizeof(struct proto_hello) == 16, "proto_hello has a fixed size");

enum proto_socket_kind {
	PROTO_SOCKET_CLIENT,	 /* RFC 6120 client-to-server, STARTTLS */
	PROTO_SOCKET_CLIENT_TLS, /* XEP-0368 direct TLS for clients */
	PROTO_SOCKET_COMPONENT,	 /* XEP-0114 call bridges */
	PROTO_SOCKET_CLUSTER,	 /* peer links of the elector */
	PROTO_SOCKET_STANZAS,	 /* stanza links of the router (cluster.port + 1) */
};

struct proto_listen_socket {
	uint32_t kind; /* enum proto_socket_kind */
	uint32_t id;   /* the supervisor's number for it, named by LISTEN_CLOSE */
	uint16_t port;
	uint16_t reserved;
	char address[64];   /* the address bound, for log lines */
	char interface[16]; /* the interface it came from; "" for a configured address */
};
_Static_assert(sizeof(struct proto_listen_socket) == 92, "proto_listen_socket has a fixed size");

/* "client", "client-tls", "component", "cluster", "stanzas". */
const char *proto_socket_kind_name(uint32_t kind);

struct proto_peer_channel {
	uint32_t role; /* enum proc_role of the peer at the other end */
};
_Static_assert(sizeof(struct proto_peer_channel) == 4, "proto_peer_channel has a fixed size");

struct proto_peer_state {
	uint32_t role; /* enum proc_role of the peer */
	uint32_t up;   /* 1: talking to it; 0: no channel, or it broke */
};
_Static_assert(sizeof(struct proto_peer_state) == 8, "proto_peer_state has a fixed size");

enum proto_child_state {
	PROTO_CHILD_STARTING,	/* spawned, not ready yet */
	PROTO_CHILD_READY,	/* serving */
	PROTO_CHILD_BACKOFF,	/* died; waiting to be restarted */
	PROTO_CHILD_THROTTLED,	/* died before ready again and again; restarted slowly */
	PROTO_CHILD_FAILED,	/* exited with a permanent error; not restarted */
	PROTO_CHILD_STOPPED,	/* stopped on purpose */
	PROTO_CHILD_NO_STORAGE, /* could not write its state; restarted once a write succeeds */
};

struct proto_stats {
	uint32_t clients;    /* bound client sessions */
	uint32_t components; /* connected call bridges */
};
_Static_assert(sizeof(struct proto_stats) == 8, "proto_stats has a fixed size");

struct proto_tls_set {
	int64_t not_after;	/* the node's certificate, seconds since 1970 */
	char subject[512];	/* the node's certificate */
	char certificate[1024]; /* the file it came from, for log lines */
};
_Static_assert(sizeof(struct proto_tls_set) == 1544, "proto_tls_set has a fixed size");

struct proto_cert_state {
	int64_t not_after; /* when the first member of the chain in use expires; 0: none in use */
	uint32_t refused;  /* the files on disk were refused (problem says why) */
	uint32_t reserved;
	char subject[512];  /* the node's certificate in use */
	char expiring[512]; /* the member that expires first, "#N (subject)" */
	char problem[1024]; /* why the files were refused, or "" */
};
_Static_assert(sizeof(struct proto_cert_state) == 2064, "proto_cert_state has a fixed size");

struct proto_status {
	uint32_t pid;
	uint32_t children;
	uint64_t uptime_ms;
	uint32_t ready;	  /* every needed child is ready, every channel up */
	uint32_t enabled; /* the XMPP service is on */
	uint32_t client_port;
	uint32_t component_port;
	struct proto_stats stats;
	char domain[256];
	char config_path[1024];
	struct proto_cert_state cert; /* from the certificate worker */
	uint32_t listening;	      /* struct proto_listen_socket after the children */
	uint32_t channels_down;	      /* channels between running children not up */
	uint32_t draining;	      /* rxmppctl drain is in force */
	uint32_t drain_rate;	      /* its sessions redirected per second */
};
_Static_assert(sizeof(struct proto_status) == 3400, "proto_status has a fixed size");

struct proto_status_child {
	char name[16];
	uint32_t state; /* enum proto_child_state */
	uint32_t pid;	/* 0 when not running */
	uint32_t generation;
	uint32_t restarts;
	uint64_t uptime_ms;
	uint64_t next_start_ms; /* in backoff: how long until the next start */
};
_Static_assert(sizeof(struct proto_status_child) == 48, "proto_status_child has a fixed size");

const char *proto_child_state_name(uint32_t state);

struct proto_callbridge {
	char name[64];
	char address[256]; /* the component's JID, normally name.domain */
	char secret[256];
};
_Static_assert(sizeof(struct proto_callbridge) == 576, "proto_callbridge has a fixed size");

enum proto_session_kind {
	PROTO_SESSION_CLIENT,
	PROTO_SESSION_COMPONENT,
};

struct proto_session {
	uint32_t kind; /* enum proto_session_kind */
	uint32_t jid_len;
};
_Static_assert(sizeof(struct proto_session) == 8, "proto_session has a fixed size");

struct proto_presence {
	int32_t priority;
	uint32_t available;
};
_Static_assert(sizeof(struct proto_presence) == 8, "proto_presence has a fixed size");

enum proto_stanza_kind {
	PROTO_STANZA_MESSAGE,
	PROTO_STANZA_PRESENCE,
	PROTO_STANZA_IQ,
};

/* A stanza's type attribute (RFC 6120 8.2.3, RFC 6121 4.7.1 and 5.2.2),
 * read once by the listener so that the router compares numbers. */
enum proto_stanza_type {
	PROTO_STANZA_TYPE_NONE,	 /* no type attribute */
	PROTO_STANZA_TYPE_OTHER, /* a value not below (routed as it came) */
	PROTO_STANZA_TYPE_NORMAL,
	PROTO_STANZA_TYPE_CHAT,
	PROTO_STANZA_TYPE_GROUPCHAT,
	PROTO_STANZA_TYPE_HEADLINE,
	PROTO_STANZA_TYPE_GET,
	PROTO_STANZA_TYPE_SET,
	PROTO_STANZA_TYPE_RESULT,
	PROTO_STANZA_TYPE_UNAVAILABLE,
	PROTO_STANZA_TYPE_SUBSCRIBE,
	PROTO_STANZA_TYPE_SUBSCRIBED,
	PROTO_STANZA_TYPE_UNSUBSCRIBE,
	PROTO_STANZA_TYPE_UNSUBSCRIBED,
	PROTO_STANZA_TYPE_PROBE,
	PROTO_STANZA_TYPE_ERROR,
	PROTO_STANZA_TYPE_END,
};

/* The type attribute's value (NULL: none) as enum proto_stanza_type. */
uint16_t proto_stanza_type_from_name(const char *name);

/*
 * The routing header of a stanza: what the router needs to route it and to
 * answer for the server, so that it never parses XML.  The strings follow
 * in this order, without NULs: id, from, to, and the namespace and name of
 * the first child element (what an iq is about).  Stanza links between
 * routers carry it unchanged (router_cluster.c).
 */
struct proto_route {
	uint32_t kind; /* enum proto_stanza_kind */
	uint16_t type; /* enum proto_stanza_type */
	uint16_t id_len;
	uint16_t from_len;
	uint16_t to_len;
	uint16_t payload_ns_len;
	uint16_t payload_name_len;
	uint32_t stanza_len;
};
_Static_assert(sizeof(struct proto_route) == 20, "proto_route has a fixed size");

/* A routing header unpacked, the strings NUL-terminated copies. */
#define PROTO_ROUTE_STRING_MAX 3072
struct proto_route_view {
	uint32_t kind; /* enum proto_stanza_kind */
	uint32_t type; /* enum proto_stanza_type */
	char id[256];
	char from[PROTO_ROUTE_STRING_MAX + 8];
	char to[PROTO_ROUTE_STRING_MAX + 8];
	char payload_ns[256];
	char payload_name[64];
	const char *stanza;
	size_t stanza_len;
};

/* Checks every length against the payload and copies the strings out;
 * -1 for a malformed header. */
int proto_route_unpack(const void *data, size_t len, struct proto_route_view *out);

enum proto_cluster_op {
	PROTO_CLUSTER_OP_STATUS,
	PROTO_CLUSTER_OP_INITIALIZE,
	PROTO_CLUSTER_OP_JOIN,	 /* arg: host:port of any member */
	PROTO_CLUSTER_OP_REMOVE, /* arg: node id (hex) or host:port */
	/* Leadership transfer (Raft thesis 3.10), from any member: the leader
	 * hands leadership to the member named (node id in hex, or host:port),
	 * or with an empty arg to the most up-to-date other member.  Answered
	 * once another member leads, or when the transfer fails (the target
	 * did not take over within the election timeout: the leader leads on). */
	PROTO_CLUSTER_OP_LEADER,
	/* Give up leadership, for the supervisor (SIGTERM) and rxmppctl drain:
	 * arg empty.  A node that leads hands leadership to the most
	 * up-to-date other member and answers once another leads (ok) or the
	 * transfer failed (not ok, within an election timeout); a node that
	 * does not lead, or runs alone, answers ok at once.  The answer is
	 * PROTO_CLUSTER_RESULT with the request's header peer (token). */
	PROTO_CLUSTER_OP_YIELD,
};

struct proto_cluster_request {
	uint32_t op; /* enum proto_cluster_op */
	uint32_t reserved;
	char arg[256];
};
_Static_assert(sizeof(struct proto_cluster_request) == 264, "proto_cluster_request is fixed");
/* A JOIN's digests after its request: what a peer-link frame holds after
 * the JOIN and its settings (elector/elector_wire.h). */
#define PROTO_CLUSTER_JOIN_DIGESTS_MAX (1024u * 1024u - 16u * 1024u)

struct proto_cluster_status {
	uint32_t enabled;
	uint32_t role; /* enum elector_role */
	uint64_t term;
	uint64_t self;
	uint64_t leader;
	uint32_t members;
	uint32_t removed;	/* 1: this node was removed (elector_removed) */
	uint32_t reachable;	/* members reachable (proto_cluster_member.reachable) */
	uint32_t needed;	/* members a quorum needs */
	uint64_t report_age_ms; /* since the leader's view came; 0: this node leads;
				   UINT64_MAX: none fresh */
	/* The peer-link protocol version every member speaks (the lowest of
	 * their highest; common/peerlink.h), which features that need every
	 * member go by; 0: a member not heard from yet. */
	uint32_t protocol;
	uint32_t reserved;
};
_Static_assert(sizeof(struct proto_cluster_status) == 64, "proto_cluster_status is fixed");

/* How this node itself sees a member. */
enum proto_reach {
	PROTO_REACH_SELF,      /* the member is this node */
	PROTO_REACH_HEARD,     /* heard within an election timeout (heard_ms) */
	PROTO_REACH_SILENT,    /* not heard within one, or never (heard_ms) */
	PROTO_REACH_LINK_UP,   /* a follower's fellow follower: only the link is known */
	PROTO_REACH_LINK_DOWN, /* and it is down */
};

struct proto_cluster_member {
	uint64_t id;
	uint64_t heard_ms;	  /* since this node last heard from it; UINT64_MAX: never */
	uint64_t leader_heard_ms; /* since the leader did, as it last reported; UINT64_MAX:
				     not since it leads, or no fresh report */
	uint32_t reachable;	  /* 1: by the leader's fresh view, else by this node's own */
	uint32_t here;		  /* enum proto_reach */
	uint8_t fingerprint[32];  /* SHA-256 of the certificate it is bound to; zeros: none */
	char address[128];
	/* The protocol versions it speaks, as its link's hello said (this
	 * node's own for itself); 0: not heard from since this elector began. */
	uint16_t version_min, version_max;
	uint32_t reserved;
};
_Static_assert(sizeof(struct proto_cluster_member) == 200, "proto_cluster_member is fixed");

struct proto_leader {
	uint64_t term;
	uint64_t leader; /* 0: none known */
	uint64_t self;
	uint32_t members;  /* in the membership, this node included */
	uint32_t alive;	   /* of them, heard within an election timeout */
	char address[128]; /* the leader's cluster address */
};
_Static_assert(sizeof(struct proto_leader) == 160, "proto_leader has a fixed size");

/* The cluster's members and the certificates they are bound to, as the
 * elector knows them (elector_core.h); a zero fingerprint: not yet bound. */
#define PROTO_MEMBERS_MAX 16
struct proto_member {
	uint64_t id;
	uint8_t fingerprint[32]; /* SHA-256 of the member's certificate */
};
_Static_assert(sizeof(struct proto_member) == 40, "proto_member has a fixed size");

struct proto_members {
	uint32_t count;
	uint32_t reserved;
	struct proto_member members[PROTO_MEMBERS_MAX];
};
_Static_assert(sizeof(struct proto_members) == 648, "proto_members has a fixed size");

enum proto_kick_reason {
	PROTO_KICK_CONFLICT, /* the same full JID logged in elsewhere */
	PROTO_KICK_ADMIN,    /* rxmppctl kick on another node of the cluster */
	PROTO_KICK_END,
};

struct proto_kick {
	uint32_t reason; /* enum proto_kick_reason */
};
_Static_assert(sizeof(struct proto_kick) == 4, "proto_kick has a fixed size");

/* A node's sessions as `rxmppctl sessions` shows them.  The list is one
 * answer, bounded by PROTO_SESSIONS_BYTES_MAX: a node with more sessions
 * than fit sends the first ones and says how many there are in all. */
#define PROTO_SESSIONS_BYTES_MAX (1024u * 1024u)
struct proto_sessions {
	uint32_t count; /* entries that follow */
	uint32_t total; /* sessions on the node (count or more) */
};
_Static_assert(sizeof(struct proto_sessions) == 8, "proto_sessions has a fixed size");

struct proto_session_entry {
	uint32_t kind;	  /* enum proto_session_kind */
	uint32_t jid_len; /* the JID's bytes follow the entry, without a NUL */
	int64_t since_ms; /* when it started, milliseconds since 1970 (UTC) */
	uint64_t idle_ms; /* since the peer last sent anything */
	char address[64]; /* the peer, "[192.0.2.7]:50312" */
	char tls[16];	  /* "TLSv1.3", or "" without TLS */
};
_Static_assert(sizeof(struct proto_session_entry) == 104, "proto_session_entry is fixed");

/* One entry unpacked; the strings NUL-terminated. */
struct proto_session_view {
	uint32_t kind;
	int64_t since_ms;
	uint64_t idle_ms;
	char address[64];
	char tls[16];
	char jid[3072];
};

/* Checks a SESSIONS payload whole (the header, `count` entries filling it
 * exactly, each JID 1 to 3071 bytes without a NUL or a control character,
 * the strings terminated, the kind known) and then, if `each` is not NULL,
 * hands every entry to it.  -1, before any call of `each`, when malformed. */
int proto_sessions_unpack(const void *data, size_t len, struct proto_sessions *head,
			  void (*each)(const struct proto_session_view *s, void *arg), void *arg);

/* "client" or "callbridge". */
const char *proto_session_kind_name(uint32_t kind);

/* Why an administrator's request ends sessions: the stream error each gets
 * (RFC 6120 4.9.3). */
enum proto_admin_kick_reason {
	PROTO_ADMIN_KICK_ADMIN,	   /* rxmppctl kick: <policy-violation/> */
	PROTO_ADMIN_KICK_DELETED,  /* rxmppctl user del: <not-authorized/> */
	PROTO_ADMIN_KICK_PASSWORD, /* rxmppctl user passwd: <reset/> */
	PROTO_ADMIN_KICK_END,
};

struct proto_admin_kick {
	uint32_t reason;   /* enum proto_admin_kick_reason */
	uint32_t reserved; /* 0 */
	/* A full JID (that session), a bare JID (every session of the account)
	 * or a call bridge's address; prepared (jidprep), NUL-terminated. */
	char jid[3072];
};
_Static_assert(sizeof(struct proto_admin_kick) == 3080, "proto_admin_kick has a fixed size");

/* 0 when a received kick is well formed (the reason known, reserved zero,
 * the JID terminated, not empty and a JID by jid_split); -1 if not.  The
 * sender prepares the JID (jidprep): one in another form matches nothing. */
int proto_admin_kick_check(const struct proto_admin_kick *kick);
/* Followed by `kept` uint64 numbers, ascending: the STANZAs up to `through`
 * that the relay took since the previous ROUTED.  Every other STANZA up to
 * `through` is done with; one the relay took is done with once its number
 * is below `oldest`, the oldest the relay still keeps (0: none). */
struct proto_routed {
	uint64_t through; /* STANZAs of the channel read, counted from 1 */
	uint64_t oldest;
	uint32_t kept;
	uint32_t reserved;
};
_Static_assert(sizeof(struct proto_routed) == 24, "proto_routed has a fixed size");

/* The sessions of the cluster's other nodes, as its leader's routing table
 * holds them: the node and the JID, nothing of the connection (address,
 * TLS, times live in each node's listener).  Bounded like a node's list. */
enum proto_cluster_sessions_state {
	PROTO_CLUSTER_SESSIONS_OFF,	  /* no cluster: nothing to add */
	PROTO_CLUSTER_SESSIONS_OK,	  /* the leader answered (or this node leads) */
	PROTO_CLUSTER_SESSIONS_NO_LEADER, /* no leader known, or no link to it */
	PROTO_CLUSTER_SESSIONS_NO_ANSWER, /* the leader did not answer in time */
	PROTO_CLUSTER_SESSIONS_STATE_END,
};

struct proto_cluster_sessions {
	uint64_t self;	 /* this node's id */
	uint64_t leader; /* the leader's id; 0: none known */
	uint32_t state;	 /* enum proto_cluster_sessions_state */
	uint32_t count;	 /* entries that follow */
	uint32_t total;	 /* sessions there are (a kick: how many were told to end) */
	uint32_t reserved;
};
_Static_assert(sizeof(struct proto_cluster_sessions) == 32, "proto_cluster_sessions is fixed");

struct proto_remote_session {
	uint64_t node;	  /* the node that holds it */
	uint32_t kind;	  /* enum proto_session_kind */
	uint32_t jid_len; /* the JID's bytes follow, without a NUL */
};
_Static_assert(sizeof(struct proto_remote_session) == 16, "proto_remote_session is fixed");

struct proto_remote_session_view {
	uint64_t node;
	uint32_t kind;
	char jid[3072];
};

/* As proto_sessions_unpack, for a CLUSTER_SESSIONS payload (the state
 * known, reserved zero, count <= total, entries filling it exactly). */
int proto_cluster_sessions_unpack(const void *data, size_t len, struct proto_cluster_sessions *head,
				  void (*each)(const struct proto_remote_session_view *s,
					       void *arg),
				  void *arg);

/* A node drained for maintenance (rxmppctl drain): new client and
 * component streams are told to go elsewhere at once, and the sessions
 * it holds are, `rate` a second, each with <see-other-host/> naming the
 * next of `targets` in turn (host:port, another member's client address;
 * none: <system-shutdown/>).  Kept by the supervisor across reloads and
 * listener restarts, not across a restart of rxmppd. */
#define PROTO_DRAIN_TARGETS_MAX 8
#define PROTO_DRAIN_RATE_MAX	10000
struct proto_drain {
	uint32_t on;	   /* 1: drain; 0: accept again */
	uint32_t rate;	   /* sessions redirected per second, 1..PROTO_DRAIN_RATE_MAX */
	uint32_t count;	   /* targets that follow, at most PROTO_DRAIN_TARGETS_MAX */
	uint32_t reserved; /* 0 */
	char targets[PROTO_DRAIN_TARGETS_MAX][128];
};
_Static_assert(sizeof(struct proto_drain) == 1040, "proto_drain has a fixed size");

/* 0 when a received drain is well formed: `on` 0 or 1, the rate in range
 * when on, reserved zero, each target a terminated, non-empty host:port
 * of printable characters that need no escaping in XML; -1 if not. */
int proto_drain_check(const struct proto_drain *drain);

/* Stream management across nodes (PROTO_SM_*, above). */
#define PROTO_SM_ID_MAX 64
struct proto_sm_open {
	uint32_t max_seconds;	  /* how long it may wait for a resumption */
	uint32_t handled;	  /* the client's stanzas handled */
	uint32_t acked;		  /* the client's h: the SM_STANZAs that follow are acked+1.. */
	uint32_t sent;		  /* stanzas numbered (acked when the keeper is new to it) */
	char id[PROTO_SM_ID_MAX]; /* its resumption id, NUL-terminated */
};
_Static_assert(sizeof(struct proto_sm_open) == 80, "proto_sm_open has a fixed size");

enum proto_sm_kept {
	PROTO_SM_KEEPER,    /* value 1: another node keeps it; 0: none does (any more) */
	PROTO_SM_NUMBERED,  /* the keeper has the stanzas up to `value` */
	PROTO_SM_CONFIRMED, /* the keeper counts `value` of the client's stanzas handled */
	PROTO_SM_KEPT_END,
};

struct proto_sm_count {
	uint32_t kind; /* SM_KEPT: enum proto_sm_kept; otherwise 0 */
	uint32_t value;
};
_Static_assert(sizeof(struct proto_sm_count) == 8, "proto_sm_count has a fixed size");

struct proto_sm_resume {
	uint32_t h;	   /* the client's h */
	uint32_t user_len; /* the bare JID's bytes follow */
	char id[PROTO_SM_ID_MAX];
};
_Static_assert(sizeof(struct proto_sm_resume) == 72, "proto_sm_resume has a fixed size");

struct proto_sm_resumed {
	uint32_t ok; /* 0: unknown, expired, another user's or an impossible h */
	uint32_t handled;
	uint32_t sent; /* the number of the last SM_ITEM that follows (h if none) */
	uint32_t count;
	uint32_t max_seconds;
	int32_t priority;
	uint32_t available;
	uint32_t jid_len;      /* the full JID's bytes follow */
	uint32_t remaining_ms; /* what is left of its waiting time */
	uint32_t reserved;     /* 0 */
};
_Static_assert(sizeof(struct proto_sm_resumed) == 40, "proto_sm_resumed has a fixed size");

struct proto_result {
	uint32_t ok;
	uint32_t message_len;
};
_Static_assert(sizeof(struct proto_result) == 8, "proto_result has a fixed size");

/*
 * The write path of the cluster's state (README "Cluster state").  The
 * elector that gets a PROTO_PROPOSE proposes the command itself when it
 * leads, or forwards it to the leader's elector over the peer link; the
 * command is committed by a majority, applied by every member in log
 * order, and answered only after that, with the state machine's own
 * outcome of it (the same on every node: applying is deterministic).
 *
 * Nothing is proposed unless the leader heard a majority of the members
 * within an election timeout (check-quorum), so a write refused for want
 * of a quorum is refused before it is in any log, and changes nothing
 * anywhere.  What remains is a leader that loses its quorum after the
 * entry went into its log: the answer is then PROTO_PROPOSE_UNKNOWN
 * (Raft cannot take a proposal back; the entry commits later or is
 * replaced by the next leader), never "failed".
 */
#define PROTO_PROPOSE_MAX 8192 /* bytes of one command (the log's DATA entry limit) */

struct proto_propose {
	uint32_t len; /* the command's bytes that follow, 1..PROTO_PROPOSE_MAX */
	uint32_t reserved;
};
_Static_assert(sizeof(struct proto_propose) == 8, "proto_propose has a fixed size");
/* A PROPOSE payload of `len` bytes: 0 when its head is right and the
 * command's length is the rest, within PROTO_PROPOSE_MAX; else -1. */
int proto_propose_check(const void *data, size_t len);

enum proto_propose_status {
	/* Committed, and applied on this node and on every member the leader
	 * hears; `outcome` and the first text are the state machine's. */
	PROTO_PROPOSE_APPLIED,
	/* Committed and applied on this node, but within the wait (about 2 s)
	 * not yet on the members the second text names. */
	PROTO_PROPOSE_COMMITTED,
	/* Not in any log: nothing changed anywhere.  The second text says why
	 * (no leader, no quorum and which members cannot be reached, a member
	 * of an older release, a command too large or malformed). */
	PROTO_PROPOSE_REFUSED,
	/* In the leader's log, but the leader lost its quorum or its
	 * leadership before the commit: it may still commit (see above). */
	PROTO_PROPOSE_UNKNOWN,
	PROTO_PROPOSE_STATUS_END,
};

/* The answer; `outcome_len` bytes of the state machine's text (empty
 * unless committed: "already known, identical", why it refused the
 * command) then `text_len` bytes of the elector's (which members, why).
 * Neither has a NUL; both are printable UTF-8 for the administrator. */
#define PROTO_PROPOSE_TEXT_MAX 1024
struct proto_propose_result {
	uint32_t status;  /* enum proto_propose_status */
	uint32_t outcome; /* the state machine's result code when committed, else 0 */
	uint64_t index;	  /* where it is in the log; 0 when refused */
	uint64_t term;
	uint32_t applied; /* members known to have applied it, this node included */
	uint32_t members; /* in the membership it was committed in; 0: written to
			   * the store of a node in no cluster (elector_local.h),
			   * index 0 when nothing needed writing */
	uint32_t outcome_len;
	uint32_t text_len;
};
_Static_assert(sizeof(struct proto_propose_result) == 40, "proto_propose_result is fixed");

struct proto_propose_result_view {
	struct proto_propose_result head;
	char outcome[PROTO_PROPOSE_TEXT_MAX + 1]; /* NUL-terminated copies */
	char text[PROTO_PROPOSE_TEXT_MAX + 1];
};
/* Checks the status, every length against the payload and the texts
 * (no NUL, at most PROTO_PROPOSE_TEXT_MAX each) and copies them out; -1
 * for a malformed answer. */
int proto_propose_result_unpack(const void *data, size_t len,
				struct proto_propose_result_view *out);

/*
 * Reads of the users' data (README "Cluster state"; the writes are
 * PROPOSEs of elector_machine.h's USERDATA_* commands).  A GET names a user
 * and a collection (elector_userdata.h's numbers) and asks for one item
 * (PROTO_USERDATA_ONE, by its key) or for the items after a key (none:
 * from the first); the ANSWER carries the collection's version, count and
 * bytes, and as many items as fit PROTO_USERDATA_ANSWER_MAX bytes, with
 * `more` set when items remain: the reader asks again after the last key
 * it got, and starts over if the version changed meanwhile.  Collection 0
 * asks for a summary: one struct proto_userdata_summary per collection,
 * the head's count and bytes their sums and its version the latest.
 */
#define PROTO_USERDATA_KEY_MAX	  3071u
#define PROTO_USERDATA_USER_MAX	  1023u
#define PROTO_USERDATA_ANSWER_MAX (64u * 1024u) /* bytes of items in one answer */
#define PROTO_USERDATA_ONE	  1u

struct proto_userdata_get {
	uint32_t collection; /* 1 to 5, or 0: a summary */
	uint32_t flags;	     /* PROTO_USERDATA_ONE or 0 */
	uint16_t user_len;   /* 1..PROTO_USERDATA_USER_MAX bytes of the user's name */
	uint16_t key_len;    /* 0..PROTO_USERDATA_KEY_MAX bytes; ONE needs 1 or more */
	uint32_t reserved;
};
_Static_assert(sizeof(struct proto_userdata_get) == 16, "proto_userdata_get has a fixed size");

struct proto_userdata_get_view {
	struct proto_userdata_get head;
	char user[PROTO_USERDATA_USER_MAX + 1]; /* NUL-terminated */
	const uint8_t *key;			/* into the payload */
};
/* Checks a GET (sizes, flags, a user without NUL) and points into it; -1
 * for a malformed one. */
int proto_userdata_get_unpack(const void *data, size_t len, struct proto_userdata_get_view *out);

enum proto_userdata_status {
	PROTO_USERDATA_OK,
	PROTO_USERDATA_NO_USER,	 /* no account of that name in the cluster's state */
	PROTO_USERDATA_NO_ITEM,	 /* ONE: no item of that key (the head still counts) */
	PROTO_USERDATA_NO_STATE, /* this node holds no cluster state (not in a cluster) */
	PROTO_USERDATA_STATUS_END,
};

struct proto_userdata_answer {
	uint32_t status;     /* enum proto_userdata_status */
	uint32_t collection; /* as asked */
	uint64_t version;    /* the log index of the collection's last change; 0: never */
	uint64_t bytes;	     /* of the whole collection's keys and values */
	uint32_t count;	     /* items in the whole collection */
	uint32_t items;	     /* in this answer */
	uint32_t more;	     /* 1: items remain after the last one here */
	uint32_t reserved;
};
_Static_assert(sizeof(struct proto_userdata_answer) == 40, "proto_userdata_answer is fixed");

/* Each item: this, then the key and the value. */
struct proto_userdata_item {
	uint32_t key_len; /* 1..PROTO_USERDATA_KEY_MAX */
	uint32_t value_len;
};
_Static_assert(sizeof(struct proto_userdata_item) == 8, "proto_userdata_item is fixed");

struct proto_userdata_summary {
	uint32_t collection;
	uint32_t count;
	uint64_t bytes;
	uint64_t version;
};
_Static_assert(sizeof(struct proto_userdata_summary) == 24, "proto_userdata_summary is fixed");

/* Checks an ANSWER (status, every item's lengths against the payload, at
 * most PROTO_USERDATA_ANSWER_MAX bytes of items; a summary's collections
 * 1 to 5 in order) and points *items at them (`items_len` bytes); -1 for
 * a malformed one. */
int proto_userdata_answer_unpack(const void *data, size_t len, struct proto_userdata_answer *head,
				 const uint8_t **items, size_t *items_len);
/* The next item of a checked answer's items, advancing the cursor; false
 * at the end. */
bool proto_userdata_next_item(const uint8_t **cursor, size_t *left, const uint8_t **key,
			      size_t *key_len, const uint8_t **value, size_t *value_len);

/* Where an IM stanza came from: the session (rref of the router: its node,
 * ROUTER_LOCAL or another node's id, and its session id) that answers go
 * to. */
struct proto_im_origin {
	uint64_t node;
	uint64_t session;
	/* For an iq, the router's number of the hand-off, which im sends back
	 * with every stanza of the job: the answer (TO_ORIGIN) tells the
	 * router it need not answer the iq itself if im goes away
	 * (router/router_imwait.c).  0 for other stanzas. */
	uint64_t handoff;
};
_Static_assert(sizeof(struct proto_im_origin) == 24, "proto_im_origin has a fixed size");

enum proto_im_target {
	/* The session of `origin` (an iq's result or error); dropped if it
	 * ended meanwhile, as the router's own answers are. */
	PROTO_IM_TO_ORIGIN,
	/* Every client session bound to the bare JID that follows (a roster
	 * push: RFC 6121 2.1.6), wherever it lives.  At `to_at` in the
	 * stanza's bytes the router writes ` to="FULL JID"` of each session. */
	PROTO_IM_TO_RESOURCES,
	/* The same, only the sessions that are available (presence:
	 * RFC 6121 4.4.2, 3.1.3). */
	PROTO_IM_TO_AVAILABLE,
	PROTO_IM_TARGET_END,
};

#define PROTO_IM_NO_TO UINT32_MAX /* to_at: no 'to' written */
struct proto_im_out {
	uint32_t target; /* enum proto_im_target */
	uint32_t to_at;	 /* an offset in the stanza, or PROTO_IM_NO_TO */
	struct proto_im_origin origin;
	uint32_t bare_len; /* 0 for TO_ORIGIN; 1..PROTO_ROUTE_STRING_MAX for TO_RESOURCES */
	uint32_t stanza_len;
};
_Static_assert(sizeof(struct proto_im_out) == 40, "proto_im_out has a fixed size");

struct proto_im_out_view {
	struct proto_im_out head;
	char bare[PROTO_ROUTE_STRING_MAX + 1]; /* NUL-terminated */
	const char *stanza;		       /* into the payload */
};
/* Checks an IM_OUT (target, lengths against the payload, to_at within the
 * stanza, a bare JID without NUL where the target wants one) and copies
 * the bare JID out; -1 for a malformed one. */
int proto_im_out_unpack(const void *data, size_t len, struct proto_im_out_view *out);

#endif
