/* SPDX-License-Identifier: MIT */
/*
 * The elector's I/O shell: everything the pure core (elector_core.c) must
 * not do.  Runs in the elector process.
 *
 * - A 10 ms tick drives the core; its output is handled in order: the
 *   state is written and flushed to disk (elector_state.c) before any
 *   message that depends on it leaves.  If it cannot be written, the
 *   process exits rather than send (the supervisor restarts it from disk).
 * - Peer links (common/peerlink.c, mutual TLS against the cluster trust
 *   bundle): one outgoing link per member, reconnected with backoff, and
 *   whatever links other members open to us.  Every frame is checked by
 *   elector_wire_decode; a malformed one, a message in the name of another
 *   node than the one that authenticated the link, or an answer nobody
 *   asked for closes the link with one warning (the peer links again).
 * - Who a peer is: the fingerprint of its certificate.  A link is heard
 *   only when that certificate is a member's or may join (elector_peers.c:
 *   the trust bundle, cluster.peer_names); the core checks that each
 *   message comes from the certificate its sender is bound to.  A join
 *   binds the joining node's id to the certificate of the link it asked
 *   on; a removal is taken only from a member on a link with its own
 *   certificate.
 * - Membership requests from rxmppctl: initialize here; join and remove go
 *   to the leader over a link of their own, following at most 4 redirects,
 *   asking again while the change is pending, for at most 30 s in all.  A
 *   node that cannot be reached (3 connections refused or failed in a
 *   row, or none made within 5 s) or that refuses TLS ends the request at
 *   once with the cause.  Each step is told to rxmppctl as it happens
 *   (PROTO_CLUSTER_PROGRESS).
 * - A member removed is told so by the leader (elector_core.h); the
 *   leader keeps a link to it until then, and a removal is answered once
 *   the removed node knows, or did not answer within two election
 *   timeouts.
 * - Health: whether each member is reachable, as this node sees it (the
 *   leader by heartbeat replies, a follower its leader by heartbeats and
 *   the others by their links) and as the leader last reported it
 *   (elector_leader_view: followers do not hear each other), and whether
 *   a quorum is.  `cluster status` shows it; losing and regaining a member
 *   or the quorum is logged once (elector_health.c), losing the leader
 *   where the leader changes.
 * - A closed link to a member (FIN or RST) is told to the core
 *   (elector_link_closed: a follower whose leader's links close campaigns
 *   at once), and that member no longer counts as heard, so a new leader
 *   does not wait for a dead node to register with its router.
 * - Leadership transfer (elector_handover.c): rxmppctl cluster leader and
 *   the supervisor's PROTO_CLUSTER_OP_YIELD (SIGTERM, drain) on the
 *   leader; on a follower, cluster leader asks the leader over a link of
 *   its own, as join and remove do (ELECTOR_CHANGE_LEADER).
 * - The router is told who leads whenever that changes (PROTO_LEADER), and
 *   the members with their certificates whenever those change
 *   (PROTO_MEMBERS): its stanza links are held only by members.
 * - A node in no cluster keeps its users' data in a store of its own
 *   (elector_local.h), open while the node is not a member: USERDATA_*
 *   PROPOSEs are applied there, those of one turn of the loop flushed to
 *   disk together before the loop sleeps and only then answered (APPLIED
 *   with `members` 0; local_hook); a read flushes first.  It closes once
 *   the node initialized or joined a cluster (rxmppctl then carries its
 *   data into the cluster's state).  A failed flush stops the elector, as
 *   a failed persist does: what memory holds may not be on disk.  Not on a
 *   node whose cluster is disabled while it holds a cluster's state
 *   (`cluster disable` on a member): its users' data is the cluster's,
 *   which an empty store of its own would hide (clients trusting the
 *   empty roster drop their contacts) and whose writes would be stranded
 *   there; it answers NO_STATE and refuses writes until enabled again.
 */
#include "elector_io.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/callbridge.h"
#include "common/child.h"
#include "common/log.h"
#include "common/peerlink.h"
#include "common/tls.h"
#include "config/config.h"
#include "elector_core.h"
#include "elector_digests.h"
#include "elector_handover.h"
#include "elector_health.h"
#include "elector_local.h"
#include "elector_peers.h"
#include "elector_replica.h"
#include "elector_userdata_read.h"
#include "elector_state.h"
#include "elector_wire.h"
#include "elector_write.h"

#define TICK_MS		    10
#define LINKS_IN_MAX	    64
#define SOCKETS_MAX	    16
#define RETRY_FIRST_MS	    200
#define RETRY_MAX_MS	    2000
#define REQUEST_DEADLINE_MS 30000
#define REQUEST_RETRY_MS    300
#define REQUEST_HOPS_MAX    4
#define CONTACT_TRIES	    3
#define CONTACT_DEADLINE_MS 5000
#define HEALTH_EVERY_TICKS  10
/* The protocol of the replicated log: the cluster keeps to memberships
 * (the core's compat mode) until every member speaks it, and never again
 * once the log holds a command (cluster_compat). */
#define PROTOCOL_LOG 4
/* A snapshot goes out in chunks while the link holds less than this. */
#define SNAPSHOT_QUEUE_MAX (4u * 1024u * 1024u)

/* A snapshot on its way to a member: chunks, then the message. */
struct snapshot_send {
	bool active;
	uint64_t index, term;
	size_t offset;
	struct elector_msg msg; /* the core's latest SNAPSHOT message to it */
};

/* A snapshot arriving from a member, put together chunk by chunk. */
struct snapshot_receive {
	uint64_t from;
	uint64_t index, term, total, received;
	uint8_t *data;
};

struct out_link {
	uint64_t id;
	char address[ELECTOR_ADDRESS_MAX];
	struct peerlink *link;
	bool up; /* the link said hello and is the member's */
	int64_t retry_at;
	int64_t backoff;
	struct snapshot_send snapshot;
};

struct heard {
	uint64_t id;
	int64_t at;
	/* The protocol versions it speaks, from the hello of the link it was
	 * heard on: what the cluster's version (cluster_protocol) goes by. */
	uint16_t version_min, version_max;
};

/* One membership request of rxmppctl under way at a time. */
struct request {
	bool active;
	uint64_t token;
	uint32_t op;
	struct elector_change change;
	char target[ELECTOR_ADDRESS_MAX];
	struct peerlink *link;
	int64_t deadline;
	int64_t retry_at;
	int hops;
	/* Reaching `target`: whether a link to it came up, the attempts that
	 * failed before one did, and by when one must have. */
	bool contacted;
	int failures;
	int64_t contact_deadline;
	char said[256]; /* the last progress line, said once */
	bool handing;	/* cluster leader: the leader began the transfer */
};

/* A write to the local store waiting for its flush. */
struct local_answer {
	uint64_t token;
	uint64_t index;
	struct elector_machine_result result;
};

static struct {
	struct ev_loop *loop;
	struct config cfg;
	bool enabled;
	uint64_t id;
	uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE]; /* of this node's certificate */
	char address[ELECTOR_ADDRESS_MAX];
	struct elector *core;
	SSL_CTX *tls;
	struct ev_timer *ticker;
	struct peerlink_listener *sockets[SOCKETS_MAX];
	size_t socket_count;
	struct out_link outs[ELECTOR_MEMBERS_MAX];
	struct peerlink *ins[LINKS_IN_MAX];
	struct heard heard[ELECTOR_MEMBERS_MAX * 2];
	struct request req;
	uint64_t told_leader;
	uint64_t told_term;
	uint32_t told_members;
	struct proto_members told_membership; /* last sent to the router */
	enum elector_role told_role;	      /* the role last logged */
	struct elector_health health;	      /* what the health lines said last */
	int64_t started_ms;
	int64_t leader_since; /* when the leader last changed, here */
	unsigned health_due;
	uint64_t elections_started; /* became candidate (metrics) */
	uint64_t elections_won;	    /* became leader */
	bool pumping;
	/* Writes came in this turn of the loop: one pump before it sleeps
	 * takes them all (one flush to disk for the batch, not one each). */
	bool pump_due;
	/* What the election file holds: a change of the commit index alone
	 * is not worth its rewrite (the log records it with the entries). */
	struct elector_persistent saved;
	struct elector_handover handover;
	struct elector_replica *replica;
	struct elector_local *local; /* while in no cluster */
	bool holds_cluster;	     /* disabled, holding a cluster's state: no local */
	/* Its writes of this turn, answered once flushed (local_hook). */
	struct local_answer *local_answers;
	size_t local_answer_count, local_answer_cap;
	struct snapshot_receive receiving[ELECTOR_MEMBERS_MAX];
	uint64_t stuck_on; /* the leader refused_leader said it refuses; 0: none */
	/* The join under way's digests of this node's accounts and bridges
	 * (rxmppctl's), sent with every JOIN of it; freed when it ends. */
	struct buf join_digests;
} shell;

static void pump(void);
static struct elector_write_env write_env(void);
static struct peerlink *in_link_of(uint64_t id);
static void request_finish(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void request_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int64_t now_ms(void)
{
	return ev_now(shell.loop);
}

static struct peerlink_hello local_hello(void)
{
	struct peerlink_hello hello = {.kind = ELECTOR_LINK_KIND, .node_id = shell.id};
	snprintf(hello.address, sizeof(hello.address), "%s", shell.address);
	return hello;
}

static const struct elector_member *member_of(uint64_t id)
{
	const struct elector_config *c = elector_config(shell.core);
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->members[i].id == id)
			return &c->members[i];
	}
	return NULL;
}

/* A member, or a removed member the leader is still telling so. */
static const struct elector_member *linked_member(uint64_t id)
{
	const struct elector_member *m = member_of(id);
	for (size_t i = 0; m == NULL && elector_departing(shell.core, i) != NULL; i++) {
		if (elector_departing(shell.core, i)->id == id)
			m = elector_departing(shell.core, i);
	}
	return m;
}

/* A member spoke on `l`, whose hello (its versions agreed with ours) says
 * who it is and which protocol versions it speaks. */
static void note_heard(const struct peerlink *l)
{
	const struct peerlink_hello *remote = peerlink_remote(l);
	struct heard now = {.id = remote->node_id,
			    .at = now_ms(),
			    .version_min =
				remote->version_min ? remote->version_min : remote->version,
			    .version_max = remote->version};
	size_t free_slot = SIZE_MAX;
	for (size_t i = 0; i < sizeof(shell.heard) / sizeof(shell.heard[0]); i++) {
		if (shell.heard[i].id == now.id) {
			shell.heard[i] = now;
			return;
		}
		if (shell.heard[i].id == 0 && free_slot == SIZE_MAX)
			free_slot = i;
	}
	if (free_slot != SIZE_MAX)
		shell.heard[free_slot] = now;
}

static const struct heard *heard_of(uint64_t id)
{
	for (size_t i = 0; i < sizeof(shell.heard) / sizeof(shell.heard[0]); i++) {
		if (shell.heard[i].id == id)
			return &shell.heard[i];
	}
	return NULL;
}

/* The protocol version every member speaks: the lowest of their highest
 * versions, 0 while a member has not been heard from.  The compatibility
 * rule (common/peerlink.h): a feature that needs version N of every node
 * switches on only when this is N; until then the cluster keeps to N-1.
 * The leader hears every member, so its answer is the cluster's. */
static unsigned cluster_protocol(void)
{
	const struct elector_config *c = elector_config(shell.core);
	unsigned version = PEERLINK_VERSION;
	/* Once the log holds a command every member speaks 4 at least (see
	 * below: a node of 3 is refused at join from then on), heard lately
	 * or not. */
	bool commands = elector_commands_seen(shell.core);
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->members[i].id == shell.id)
			continue;
		const struct heard *h = heard_of(c->members[i].id);
		if (h == NULL && commands) {
			if (version > 4)
				version = 4;
			continue;
		}
		if (h == NULL)
			return 0;
		if (h->version_max < version)
			version = h->version_max;
	}
	return c->count > 0 ? version : 0;
}

static void write_name(uint64_t id, char *out, size_t size);

/* Whether the cluster keeps to protocol 3 (the core's compat mode, which
 * refuses commands), told to the core so that both agree; `why` names the
 * members that hold it there.  Decided from what is durable first: once
 * the log or its snapshot holds a command, never again -- a leader
 * appends one only out of compat mode, i.e. having heard every member
 * speak protocol 4 (cluster initialize, join and merge write one, and
 * every node reports its settings as one when it is ready), and from then
 * on a node of protocol 3 is refused at join.  So a member powered off
 * while this elector restarted does not hold the cluster's writes back.
 * Before any command, a member not heard since this elector started is
 * taken to speak 3: it may be a 0.2.0 node the rolling upgrade has not
 * reached. */
static bool cluster_compat(char *why, size_t size)
{
	const struct elector_config *c = elector_config(shell.core);
	bool compat = !elector_commands_seen(shell.core) && cluster_protocol() < PROTOCOL_LOG;
	elector_set_compat(shell.core, compat);
	size_t at = 0;
	why[0] = '\0';
	for (uint32_t i = 0; compat && i < c->count && at < size; i++) {
		uint64_t id = c->members[i].id;
		const struct heard *h = heard_of(id);
		if (id == shell.id || (h != NULL && h->version_max >= PROTOCOL_LOG))
			continue;
		char name[200];
		write_name(id, name, sizeof(name));
		if (h == NULL)
			at += (size_t)snprintf(why + at, size - at,
					       "%s%s has not been heard since this node's elector "
					       "started (the release it runs is not known yet)",
					       at ? "; " : "", name);
		else
			at += (size_t)snprintf(why + at, size - at,
					       "%s%s speaks protocol %u (rxmpp 0.2.0): upgrade it",
					       at ? "; " : "", name, h->version_max);
	}
	return compat;
}

/* A member whose link closed is not counted as heard until it speaks
 * again (the versions it speaks are kept). */
#define HEARD_NEVER INT64_MIN
static void forget_heard(uint64_t id)
{
	for (size_t i = 0; i < sizeof(shell.heard) / sizeof(shell.heard[0]); i++) {
		if (shell.heard[i].id == id)
			shell.heard[i].at = HEARD_NEVER;
	}
}

static uint64_t heard_ago(uint64_t id)
{
	if (id == shell.id)
		return 0;
	const struct heard *h = heard_of(id);
	return h != NULL && h->at != HEARD_NEVER ? (uint64_t)(now_ms() - h->at) : UINT64_MAX;
}

/* Telling the router and the log who leads */

static void tell_router(void)
{
	struct proto_leader leader = {
	    .term = shell.core ? elector_term(shell.core) : 0,
	    .leader = shell.core ? elector_leader(shell.core) : 0,
	    .self = shell.id,
	    .members = shell.core ? elector_config(shell.core)->count : 0,
	};
	if (shell.core != NULL) {
		const struct elector_config *c = elector_config(shell.core);
		for (uint32_t i = 0; i < c->count; i++)
			leader.alive +=
			    heard_ago(c->members[i].id) < shell.cfg.cluster.election_timeout_min_ms;
	}
	const struct elector_member *m = leader.leader ? member_of(leader.leader) : NULL;
	if (m != NULL)
		snprintf(leader.address, sizeof(leader.address), "%s", m->address);
	/* A joining node hears its leader before the log gives it the
	 * membership with the leader's address: until then the router knows
	 * no leader (it links to one only when the leader or term changes). */
	if (m == NULL)
		leader.leader = ELECTOR_NONE;
	child_send(PROC_ROUTER, PROTO_LEADER, 0, &leader, sizeof(leader), -1);
}

/* A member spoke.  A new leader told its router how many members it had
 * heard lately before every follower answered it (followers do not speak
 * to each other); the router holds what it should route for all until
 * that many have registered (router_relay.h, warm), so one more heard is
 * told at once: a follower answers well before its stanza link is up,
 * and routing before it registered would bounce what is for its
 * sessions. */
static void heard_from(const struct peerlink *l)
{
	uint64_t id = peerlink_remote(l)->node_id;
	bool counted = heard_ago(id) < shell.cfg.cluster.election_timeout_min_ms;
	note_heard(l);
	if (!counted && shell.core != NULL && shell.told_role == ELECTOR_LEADER &&
	    member_of(id) != NULL)
		tell_router();
}

_Static_assert(ELECTOR_MEMBERS_MAX <= PROTO_MEMBERS_MAX, "every member fits in proto_members");
_Static_assert(ELECTOR_FINGERPRINT_SIZE == sizeof(((struct proto_member *)0)->fingerprint),
	       "a fingerprint is the same size in proto_members");

/* The members and their certificates, when they changed since the router
 * last heard them or `always` (the router came up again). */
static void tell_router_members(bool always)
{
	struct proto_members members;
	memset(&members, 0, sizeof(members));
	if (shell.core != NULL) {
		const struct elector_config *c = elector_config(shell.core);
		members.count = c->count;
		for (uint32_t i = 0; i < c->count; i++) {
			members.members[i].id = c->members[i].id;
			memcpy(members.members[i].fingerprint, c->members[i].fingerprint,
			       ELECTOR_FINGERPRINT_SIZE);
		}
	}
	if (!always && memcmp(&members, &shell.told_membership, sizeof(members)) == 0)
		return;
	shell.told_membership = members;
	child_send(PROC_ROUTER, PROTO_MEMBERS, 0, &members, sizeof(members), -1);
}

static void leader_changed(uint64_t leader)
{
	uint64_t term = elector_term(shell.core);
	if (leader == shell.id)
		log_info("this node leads the cluster in term %" PRIu64, term);
	else if (leader == ELECTOR_NONE && shell.told_leader != ELECTOR_NONE) {
		const struct elector_member *m = member_of(shell.told_leader);
		log_warnx("lost the leader %016" PRIx64 " at %s: no leader in term %" PRIu64,
			  shell.told_leader, m ? m->address : "?", term);
	} else if (leader == ELECTOR_NONE)
		log_info("no leader known in term %" PRIu64, term);
	else {
		const struct elector_member *m = member_of(leader);
		if (m == NULL && elector_config(shell.core)->count > 0)
			log_warnx("leader is %016" PRIx64 " in term %" PRIu64
				  ", which this node's membership does not list yet (it missed "
				  "its addition): followed on a member's word, catching up",
				  leader, term);
		else
			log_info("leader is %016" PRIx64 " at %s in term %" PRIu64, leader,
				 m ? m->address : "?", term);
	}
	/* A leader followed: a refusal later is said again. */
	if (leader != ELECTOR_NONE && shell.stuck_on != ELECTOR_NONE) {
		if (leader == shell.stuck_on)
			log_info("no longer stuck: following %016" PRIx64, leader);
		shell.stuck_on = ELECTOR_NONE;
	}
	shell.told_leader = leader;
	shell.leader_since = now_ms();
	shell.told_term = term;
	shell.told_members = elector_config(shell.core)->count;
	tell_router();
}

/* Links */

static struct out_link *out_for(uint64_t id)
{
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (shell.outs[i].id == id)
			return &shell.outs[i];
	}
	return NULL;
}

_Static_assert(ELECTOR_WIRE_JOIN_SETTINGS_MAX == ELECTOR_MACHINE_COMMAND_MAX &&
		   ELECTOR_WIRE_REPLY_TEXT_MAX == ELECTOR_MACHINE_TEXT_MAX &&
		   ELECTOR_DIGESTS_MAX == PROTO_CLUSTER_JOIN_DIGESTS_MAX,
	       "a join's settings and digests and an answer's text travel whole");
_Static_assert(sizeof(struct elector_change) + 2 + ELECTOR_WIRE_JOIN_SETTINGS_MAX +
		       ELECTOR_DIGESTS_MAX <=
		   PEERLINK_FRAME_MAX - 64,
	       "a join fits a peer-link frame");

/* Sends the request's change; on protocol 4 a join carries this node's
 * settings that must agree (its running configuration) and the digests
 * of its own accounts and bridges, so that the leader refuses a join
 * whose settings differ, or whose entries the cluster holds differently,
 * before the membership changes. */
static void request_send(struct peerlink *l)
{
	struct buf frame;
	buf_init(&frame, sizeof(shell.req.change) + 2 + ELECTOR_WIRE_JOIN_SETTINGS_MAX +
			     ELECTOR_DIGESTS_MAX);
	int rc = buf_append(&frame, &shell.req.change, sizeof(shell.req.change));
	if (rc == 0 && shell.req.change.op == ELECTOR_CHANGE_JOIN &&
	    peerlink_version(l) >= PROTOCOL_LOG) {
		struct config_setting wide[CONFIG_CLUSTER_WIDE_MAX];
		struct elector_machine_setting items[CONFIG_CLUSTER_WIDE_MAX];
		size_t count = config_cluster_wide(&shell.cfg, wide);
		memset(items, 0, sizeof(items));
		for (size_t i = 0; i < count; i++) {
			memcpy(items[i].key, wide[i].key, sizeof(items[i].key));
			memcpy(items[i].value, wide[i].value, sizeof(items[i].value));
		}
		struct buf command;
		rc = elector_machine_encode_settings(&command, ELECTOR_MACHINE_SETTINGS_CHECK,
						     shell.id, items, count);
		if (rc == 0) {
			uint8_t len[2] = {(uint8_t)(buf_len(&command) >> 8),
					  (uint8_t)buf_len(&command)};
			rc = buf_append(&frame, len, 2);
			rc |= buf_append(&frame, buf_head(&command), buf_len(&command));
			buf_free(&command);
		}
		if (rc == 0 && buf_len(&shell.join_digests) > 0)
			rc = buf_append(&frame, buf_head(&shell.join_digests),
					buf_len(&shell.join_digests));
	}
	if (rc == 0)
		peerlink_send(l, ELECTOR_WIRE_CHANGE, buf_head(&frame), buf_len(&frame));
	else
		request_finish(false, "this node's settings cannot be encoded");
	buf_free(&frame);
}

static void link_up(struct peerlink *l, void *arg);
static void link_message(struct peerlink *l, const struct ipc_msg *msg, void *arg);
static void link_closed(struct peerlink *l, const char *reason, void *arg);

static const struct peerlink_events link_events = {link_up, link_message, link_closed};

/* Is the certificate of `l` a member's, or one that may join?  Nothing
 * else is heard. */
static bool link_vouched(struct peerlink *l, const char **why)
{
	const uint8_t *fingerprint = peerlink_fingerprint(l);
	if (shell.core != NULL) {
		const struct elector_config *c = elector_config(shell.core);
		for (uint32_t i = 0; i < c->count; i++) {
			if (memcmp(c->members[i].fingerprint, fingerprint,
				   ELECTOR_FINGERPRINT_SIZE) == 0)
				return true;
		}
	}
	return elector_peers_may_join(shell.tls, &shell.cfg.cluster.peer_names,
				      peerlink_certificate(l), why);
}

/* The arg of a link says what it is: an out_link, the request, or NULL (in). */
static void link_up(struct peerlink *l, void *arg)
{
	const struct peerlink_hello *remote = peerlink_remote(l);
	const char *why = "";
	if (arg == &shell.req) {
		/* The node asked must be one this node would hear afterwards. */
		if (!link_vouched(l, &why)) {
			request_finish(false, "%s is not a node this one may trust: %s",
				       shell.req.target, why);
			return;
		}
		shell.req.contacted = true;
		shell.req.failures = 0;
		request_send(l);
		return;
	}
	if (arg != NULL) {
		struct out_link *out = arg;
		const struct elector_member *m = linked_member(out->id);
		static const uint8_t unbound[ELECTOR_FINGERPRINT_SIZE];
		bool bound = m != NULL && memcmp(m->fingerprint, unbound, sizeof(unbound)) != 0;
		if (remote->node_id != out->id ||
		    (bound && memcmp(m->fingerprint, peerlink_fingerprint(l),
				     ELECTOR_FINGERPRINT_SIZE) != 0) ||
		    (!bound && !link_vouched(l, &why))) {
			static struct log_limit other;
			log_warnx_limited(&other,
					  "cluster link %s: the node there is %016" PRIx64
					  " with another certificate, not member %016" PRIx64
					  "; closing it",
					  peerlink_peer(l), remote->node_id, out->id);
			out->link = NULL;
			out->retry_at = now_ms() + RETRY_MAX_MS;
			peerlink_free(l);
			return;
		}
		heard_from(l);
		out->up = true;
		out->backoff = RETRY_FIRST_MS;
		log_info("cluster link to %016" PRIx64 " at %s up", out->id, out->address);
		return;
	}
	size_t slot = 0;
	while (slot < LINKS_IN_MAX && shell.ins[slot] != NULL)
		slot++;
	if (slot == LINKS_IN_MAX) {
		static struct log_limit full;
		log_warnx_limited(&full, "cluster link %s: too many links; closing it",
				  peerlink_peer(l));
		peerlink_free(l);
		return;
	}
	shell.ins[slot] = l;
}

/* What a failed TLS handshake with the node asked means, in words. */
static const char *tls_refusal_cause(const char *reason)
{
	if (strstr(reason, "unknown ca") != NULL || strstr(reason, "bad certificate") != NULL ||
	    strstr(reason, "certificate unknown") != NULL ||
	    strstr(reason, "certificate required") != NULL)
		return "that node does not trust this node's certificate (is it, or its CA, in "
		       "that node's cluster.trust_bundle?)";
	if (strstr(reason, "certificate verify failed") != NULL)
		return "this node does not trust that node's certificate (is it, or its CA, in "
		       "this node's cluster.trust_bundle?)";
	if (strstr(reason, "plain text where the TLS handshake") != NULL ||
	    strstr(reason, "wrong version number") != NULL ||
	    strstr(reason, "packet length too long") != NULL ||
	    strstr(reason, "record layer failure") != NULL)
		return "what answers there does not speak the cluster's TLS: is it that node's "
		       "cluster port?";
	return "TLS failed";
}

/* A connection to the node asked failed before any came up: a node that
 * refuses a few in a row, or answers none in time, is not there. */
static void request_unreached(const char *reason)
{
	if (++shell.req.failures < CONTACT_TRIES && now_ms() < shell.req.contact_deadline)
		return;
	request_finish(false,
		       "cannot reach %s: %s (is rxmppd running there with the cluster enabled, "
		       "and is that its cluster.address?)",
		       shell.req.target, reason);
}

/* A link of member `id` that was up closed: the member may be gone (its
 * process or machine); whether that is the leader's loss is the core's
 * call.  A link torn down on purpose here (reconcile_links) says
 * nothing. */
static void link_lost(uint64_t id)
{
	if (shell.core == NULL || member_of(id) == NULL)
		return;
	forget_heard(id);
	elector_link_closed(shell.core, id);
	if (!shell.pumping)
		pump();
	/* A new leader's router waits for the members heard lately to register
	 * (router_relay.h, warm): one that just went need not be waited for. */
	if (elector_role(shell.core) == ELECTOR_LEADER)
		tell_router();
}

static void link_closed(struct peerlink *l, const char *reason, void *arg)
{
	if (arg == &shell.req) {
		shell.req.link = NULL;
		/* A node that does not trust us (or that we do not trust) will not
		 * change its mind within the deadline: say so now. */
		if (shell.req.active && reason != NULL && strncmp(reason, "TLS", 3) == 0) {
			request_finish(false, "%s refused the link: %s (%s)", shell.req.target,
				       tls_refusal_cause(reason), reason);
			peerlink_free(l);
			return;
		}
		if (shell.req.active && !shell.req.contacted)
			request_unreached(reason ? reason : "the connection closed");
		if (shell.req.active)
			shell.req.retry_at = now_ms() + REQUEST_RETRY_MS;
	} else if (arg != NULL) {
		struct out_link *out = arg;
		bool was_up = out->up;
		out->link = NULL;
		out->up = false;
		out->snapshot.active = false;
		if (shell.core != NULL) {
			struct elector_write_env env = write_env();
			elector_write_link_lost(&env, out->id);
		}
		out->retry_at = now_ms() + out->backoff;
		out->backoff = out->backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : out->backoff * 2;
		if (reason == NULL)
			log_debug("cluster link to %s closed", out->address);
		if (was_up)
			link_lost(out->id);
	} else {
		bool was_in = false;
		for (size_t i = 0; i < LINKS_IN_MAX; i++) {
			if (shell.ins[i] == l) {
				shell.ins[i] = NULL;
				was_in = true;
			}
		}
		/* Only the member's own certificate speaks for it, and only when
		 * it has no other link up: a joining node's request link closes
		 * once it joined, while its own links stay. */
		const struct elector_member *m =
		    was_in ? member_of(peerlink_remote(l)->node_id) : NULL;
		struct out_link *out = m != NULL ? out_for(m->id) : NULL;
		bool other = (out != NULL && out->up) || (m != NULL && in_link_of(m->id) != NULL);
		if (m != NULL && !other &&
		    memcmp(m->fingerprint, peerlink_fingerprint(l), ELECTOR_FINGERPRINT_SIZE) == 0)
			link_lost(m->id);
	}
	peerlink_free(l);
}

static void reconcile_links(void)
{
	const struct elector_config *c = elector_config(shell.core);
	/* Links to nodes that are no longer members (nor being told they were
	 * removed) go. */
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		struct out_link *out = &shell.outs[i];
		const struct elector_member *m = out->id ? linked_member(out->id) : NULL;
		if (out->id != 0 && (m == NULL || strcmp(m->address, out->address) != 0)) {
			peerlink_free(out->link); /* on purpose: no link_lost */
			memset(out, 0, sizeof(*out));
		}
	}
	for (uint32_t k = 0; k < c->count + ELECTOR_MEMBERS_MAX; k++) {
		const struct elector_member *m =
		    k < c->count ? &c->members[k] : elector_departing(shell.core, k - c->count);
		if (m == NULL)
			break;
		if (m->id == shell.id)
			continue;
		struct out_link *out = out_for(m->id);
		if (out == NULL) {
			out = out_for(0);
			if (out == NULL)
				continue;
			out->id = m->id;
			snprintf(out->address, sizeof(out->address), "%s", m->address);
			out->backoff = RETRY_FIRST_MS;
			out->retry_at = 0;
		}
		if (out->link != NULL || now_ms() < out->retry_at)
			continue;
		char why[256];
		struct peerlink_hello hello = local_hello();
		out->link = peerlink_connect(shell.loop, shell.tls, out->address, &hello,
					     &link_events, out, why, sizeof(why));
		if (out->link == NULL) {
			log_debug("cluster link to %s: %s", out->address, why);
			out->retry_at = now_ms() + out->backoff;
			out->backoff =
			    out->backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : out->backoff * 2;
		}
	}
}

/* Chunks of the snapshot under way to `out`, as far as the link takes
 * them this turn; then its message.  The core's snapshot moving on (a
 * new compaction) ends the transfer: the core asks again with the new
 * one. */
static void snapshot_pump(struct out_link *out)
{
	struct snapshot_send *x = &out->snapshot;
	const struct elector_snapshot *s = elector_snapshot(shell.core);
	if (!x->active)
		return;
	if (out->link == NULL || !peerlink_is_up(out->link) || s->index != x->index ||
	    s->term != x->term) {
		x->active = false;
		return;
	}
	while (x->offset < s->len && peerlink_queued(out->link) < SNAPSHOT_QUEUE_MAX) {
		size_t n = s->len - x->offset;
		struct elector_wire_chunk c = {
		    .term = x->msg.term,
		    .index = s->index,
		    .snapshot_term = s->term,
		    .total = s->len,
		    .offset = x->offset,
		    .len = (uint32_t)(n < ELECTOR_WIRE_CHUNK_MAX ? n : ELECTOR_WIRE_CHUNK_MAX)};
		struct iovec iov[2] = {{&c, sizeof(c)}, {(void *)(s->data + x->offset), c.len}};
		if (peerlink_sendv(out->link, ELECTOR_WIRE_CHUNK, iov, 2) == -1) {
			x->active = false;
			return;
		}
		x->offset += c.len;
	}
	if (x->offset < s->len)
		return;
	x->msg.snapshot = s;
	struct buf frame;
	buf_init(&frame, PEERLINK_FRAME_MAX);
	if (elector_wire_encode_log(&x->msg, &frame) == 0)
		peerlink_send(out->link, ELECTOR_WIRE_LOG, buf_head(&frame), buf_len(&frame));
	buf_free(&frame);
	x->active = false;
}

/* A link from node `id` that it opened: the way back to a leader for a
 * node that is joining, which has no link of its own to it until the
 * log gives it the membership (and it needs its replies for that). */
static struct peerlink *in_link_of(uint64_t id)
{
	for (size_t i = 0; i < LINKS_IN_MAX; i++) {
		if (shell.ins[i] != NULL && peerlink_is_up(shell.ins[i]) &&
		    peerlink_remote(shell.ins[i])->node_id == id)
			return shell.ins[i];
	}
	return NULL;
}

static void send_msg(const struct elector_msg *m)
{
	struct out_link *out = out_for(m->to);
	struct peerlink *link =
	    out != NULL && out->link != NULL && peerlink_is_up(out->link) ? out->link : NULL;
	if (link == NULL && elector_config(shell.core)->count == 0)
		link = in_link_of(m->to);
	/* A leader this node's membership does not list yet, heard on a
	 * member's word: back on the link it opened, with its certificate. */
	for (size_t i = 0; link == NULL && out == NULL && i < LINKS_IN_MAX; i++) {
		struct peerlink *in = shell.ins[i];
		if (in != NULL && peerlink_is_up(in) && peerlink_remote(in)->node_id == m->to &&
		    elector_vouched(shell.core, m->to, peerlink_fingerprint(in)))
			link = in;
	}
	if (link == NULL)
		return; /* lost, as on any network: the protocol copes */
	if (peerlink_version(link) >= PROTOCOL_LOG) {
		if (m->type == ELECTOR_MSG_SNAPSHOT && out != NULL && out->link == link) {
			struct snapshot_send *x = &out->snapshot;
			bool same = x->active && x->index == m->snapshot->index &&
				    x->term == m->snapshot->term;
			if (!same)
				*x = (struct snapshot_send){.active = true,
							    .index = m->snapshot->index,
							    .term = m->snapshot->term};
			x->msg = *m; /* the latest word goes last */
			x->msg.snapshot = NULL;
			snapshot_pump(out);
			return;
		}
		struct buf frame;
		buf_init(&frame, PEERLINK_FRAME_MAX);
		if (m->type != ELECTOR_MSG_SNAPSHOT && elector_wire_encode_log(m, &frame) == 0)
			peerlink_send(link, ELECTOR_WIRE_LOG, buf_head(&frame), buf_len(&frame));
		buf_free(&frame);
		return;
	}
	/* Protocol 3 (0.2.0): its fields are filled by the core; a snapshot
	 * is a heartbeat with the membership (what the core's compat mode
	 * keeps it to), and only heartbeats carry the membership. */
	struct elector_msg v3 = *m;
	if (v3.type == ELECTOR_MSG_SNAPSHOT)
		v3.type = ELECTOR_MSG_APPEND;
	size_t len = v3.type == ELECTOR_MSG_APPEND ? ELECTOR_MSG_V3_SIZE
						   : offsetof(struct elector_msg, config);
	peerlink_send(link, ELECTOR_WIRE_MSG, &v3, len);
}

/* Committed entries, in order, into the state machine; each answer to
 * the write path.  Then the files the other processes read. */
static void apply_committed(const struct elector_ready *r)
{
	struct elector_write_env env = write_env();
	char why[512];
	if (r->snapshot != NULL)
		elector_write_skipped(&env, r->snapshot->index);
	for (size_t i = 0; i < r->committed_count; i++) {
		struct elector_machine_result result;
		if (elector_replica_apply(shell.replica, &r->committed[i], &result) == -1) {
			log_warnx("out of memory applying entry %" PRIu64
				  "; stopping rather than diverging from the cluster",
				  r->committed[i].index);
			exit(PROC_EXIT_STORAGE);
		}
		elector_write_applied(&env, &r->committed[i], &result);
	}
	bool bridges_changed;
	if (elector_replica_materialise(shell.replica, &bridges_changed, why, sizeof(why)) == -1) {
		static struct log_limit failed;
		log_warnx_limited(&failed,
				  "cannot write the cluster's state for this node (%s); trying "
				  "again with the next entry",
				  why);
		return;
	}
	/* rxmppd hands the bridges to the listener. */
	if (bridges_changed)
		child_send_supervisor_v(PROTO_CLUSTER_APPLIED, 0, NULL, 0);
	/* The files are there: what waited for them is answered. */
	if (r->committed_count > 0 || r->snapshot != NULL)
		elector_write_tick(&env);
}

/* Persist, then send: the order the core's contract asks for. */
static void pump(void)
{
	char why[512];
	shell.pumping = true;
	while (shell.core != NULL && elector_has_ready(shell.core)) {
		struct elector_ready r;
		elector_ready(shell.core, &r);
		/* The election file first: its term and vote are what a restart
		 * trusts (elector_replica.h); then the snapshot and the entries. */
		struct elector_persistent commit_only = shell.saved;
		commit_only.commit_index = r.state.commit_index;
		bool rewrite = r.persist && memcmp(&commit_only, &r.state, sizeof(r.state)) != 0;
		if ((rewrite && elector_state_save(shell.cfg.state_directory, &r.state, why,
						   sizeof(why)) == -1) ||
		    elector_replica_persist(shell.replica, &r, why, sizeof(why)) == -1) {
			/* The supervisor restarts us once the folder takes a write again. */
			log_warnx("cannot persist the election state (%s); stopping rather than "
				  "risking a second vote",
				  why);
			exit(PROC_EXIT_STORAGE);
		}
		if (rewrite)
			shell.saved = r.state;
		for (size_t i = 0; i < r.msg_count; i++)
			send_msg(&r.msgs[i]);
		apply_committed(&r);
		bool changed = r.leader_changed || elector_term(shell.core) != shell.told_term;
		uint64_t leader = r.leader;
		elector_advance(shell.core);
		if (elector_replica_compact(shell.replica, shell.core, why, sizeof(why)) == -1) {
			static struct log_limit compact;
			log_warnx_limited(&compact, "cannot take a snapshot (%s); the log grows on",
					  why);
		}
		if (changed && (leader != shell.told_leader || leader == shell.id))
			leader_changed(leader);
		else if (changed)
			shell.told_term = elector_term(shell.core);
		if (elector_role(shell.core) != shell.told_role) {
			shell.told_role = elector_role(shell.core);
			shell.elections_started += shell.told_role == ELECTOR_CANDIDATE;
			shell.elections_won += shell.told_role == ELECTOR_LEADER;
			log_info("%s in term %" PRIu64, elector_role_name(shell.told_role),
				 elector_term(shell.core));
		}
	}
	if (shell.core != NULL) {
		char why[PROTO_PROPOSE_TEXT_MAX];
		cluster_compat(why, sizeof(why));
		if (elector_config(shell.core)->count != shell.told_members) {
			shell.told_members = elector_config(shell.core)->count;
			tell_router();
		}
		tell_router_members(false);
		reconcile_links();
	}
	shell.pumping = false;
}

/* Membership changes asked of this node by another */

static void reply_change(struct peerlink *l, uint32_t status, const char *text)
{
	struct elector_change_reply reply = {.status = status};
	uint64_t leader = elector_leader(shell.core);
	const struct elector_member *m = leader ? member_of(leader) : NULL;
	if (m != NULL)
		snprintf(reply.leader_address, sizeof(reply.leader_address), "%s", m->address);
	snprintf(reply.text, sizeof(reply.text), "%s", text);
	size_t len = strlen(text);
	if (len < sizeof(reply.text) || peerlink_version(l) < PROTOCOL_LOG) {
		peerlink_send(l, ELECTOR_WIRE_CHANGE_REPLY, &reply, sizeof(reply));
		return;
	}
	static char frame[sizeof(reply) + ELECTOR_WIRE_REPLY_TEXT_MAX];
	len = len < ELECTOR_WIRE_REPLY_TEXT_MAX ? len : ELECTOR_WIRE_REPLY_TEXT_MAX;
	memcpy(frame, &reply, sizeof(reply));
	memcpy(frame + sizeof(reply), text, len);
	peerlink_send(l, ELECTOR_WIRE_CHANGE_REPLY, frame, sizeof(reply) + len);
}

/* The leader's check of a joiner (protocol 4) against the cluster's
 * state: its settings against the current members' reports (not those a
 * removed node left, nor the old entry of a reset node that this join
 * replaces), its accounts and bridges against the cluster's.  NULL when
 * nothing differs (or nothing came), else the refusal naming what does:
 * both when they fit one answer, else the settings (the entries are named
 * once the settings agree). */
static const char *join_refusal(const struct elector_change *change, const uint8_t *settings,
				size_t len, const uint8_t *digests, size_t digests_len)
{
	static struct elector_machine_result s, d;
	static char both[ELECTOR_MACHINE_TEXT_MAX];
	if (len == 0)
		return NULL;
	const struct elector_machine *machine = elector_replica_machine(shell.replica);
	const struct elector_config *c = elector_config(shell.core);
	uint64_t members[ELECTOR_MEMBERS_MAX];
	size_t count = 0;
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->members[i].id != change->node_id &&
		    strcmp(c->members[i].address, change->address) != 0)
			members[count++] = c->members[i].id;
	}
	elector_machine_check_settings(machine, settings, len, members, count, &s);
	bool settings_refused = s.status == ELECTOR_MACHINE_REFUSED;
	bool entries_refused = false;
	if (digests_len > 0) {
		elector_digests_compare(machine, digests, digests_len, &d);
		entries_refused = d.status == ELECTOR_MACHINE_REFUSED;
	}
	size_t sl = strlen(s.text), dl = strlen(d.text);
	if (settings_refused && entries_refused && sl + dl + 7 < sizeof(both)) {
		memcpy(both, s.text, sl);
		memcpy(both + sl, "; and ", 6);
		memcpy(both + sl + 6, d.text, dl + 1);
		return both;
	}
	return settings_refused ? s.text : entries_refused ? d.text : NULL;
}

/* The leader's answer to a join or remove; applies what it can now.  A
 * join binds the node to `fingerprint`, its link's certificate. */
static uint32_t apply_change(const struct elector_change *change, const uint8_t *fingerprint,
			     const char **text)
{
	const struct elector_config *c = elector_config(shell.core);
	/* Entries of the state machine may follow the membership's. */
	bool committed = elector_commit_index(shell.core) >= c->index;
	/* A change may start once an entry of this leader's term commits too. */
	bool can_change = elector_change_allowed(shell.core);
	const struct elector_member *m = member_of(change->node_id);
	*text = "";
	if (change->op == ELECTOR_CHANGE_LEADER) {
		if (change->node_id != ELECTOR_NONE && m == NULL) {
			*text = "no such member";
			return ELECTOR_CHANGE_REFUSED;
		}
		switch (elector_handover_remote(&shell.handover, shell.core, shell.id,
						change->node_id, now_ms(), text)) {
		case 0:
			return ELECTOR_CHANGE_DONE;
		case 1:
			*text = ELECTOR_CHANGE_HANDING;
			return ELECTOR_CHANGE_PENDING;
		default:
			return ELECTOR_CHANGE_REFUSED;
		}
	}
	if (change->op == ELECTOR_CHANGE_JOIN) {
		bool same_cert =
		    m != NULL && memcmp(m->fingerprint, fingerprint, ELECTOR_FINGERPRINT_SIZE) == 0;
		if (same_cert && strcmp(m->address, change->address) == 0)
			return committed ? ELECTOR_CHANGE_DONE : ELECTOR_CHANGE_PENDING;
		if (!can_change)
			return ELECTOR_CHANGE_PENDING;
		/* A node that was reset comes back with a new id at its old address
		 * (and with its certificate): its old entry goes first, so the
		 * membership never lists it twice.  With another certificate the
		 * address is someone else's. */
		for (uint32_t i = 0; i < c->count; i++) {
			if (c->members[i].id != change->node_id &&
			    strcmp(c->members[i].address, change->address) == 0) {
				if (memcmp(c->members[i].fingerprint, fingerprint,
					   ELECTOR_FINGERPRINT_SIZE) != 0) {
					*text = "that address is a member's, with another "
						"certificate";
					return ELECTOR_CHANGE_REFUSED;
				}
				log_info("replacing member %016" PRIx64 " at %s by %016" PRIx64,
					 c->members[i].id, change->address, change->node_id);
				elector_propose_remove(shell.core, c->members[i].id);
				return ELECTOR_CHANGE_PENDING;
			}
		}
		if (elector_propose_add(shell.core, change->node_id, change->address,
					fingerprint) == -1) {
			*text = m != NULL ? "that node id is a member's, with another certificate"
					  : "the cluster is full";
			return ELECTOR_CHANGE_REFUSED;
		}
		log_info("adding member %016" PRIx64 " at %s", change->node_id, change->address);
		return ELECTOR_CHANGE_PENDING;
	}
	if (m == NULL) {
		if (!committed)
			return ELECTOR_CHANGE_PENDING;
		/* Answered once the node removed knows it (its rxmppctl reset then
		 * needs no --force), or could not be told. */
		switch (elector_departure(shell.core, change->node_id)) {
		case ELECTOR_DEPARTURE_TELLING:
			*text = "telling the node it was removed";
			return ELECTOR_CHANGE_PENDING;
		case ELECTOR_DEPARTURE_TOLD:
			*text = "the node knows it was removed";
			return ELECTOR_CHANGE_DONE;
		case ELECTOR_DEPARTURE_UNANSWERED:
			*text = "the node did not answer and does not know it was removed: "
				"reset it with rxmppctl reset --force";
			return ELECTOR_CHANGE_DONE;
		default:
			return ELECTOR_CHANGE_DONE;
		}
	}
	if (!can_change)
		return ELECTOR_CHANGE_PENDING;
	if (elector_propose_remove(shell.core, change->node_id) == -1) {
		*text = "the last member cannot be removed; disable the cluster instead";
		return ELECTOR_CHANGE_REFUSED;
	}
	log_info("removing member %016" PRIx64 " at %s", change->node_id, m->address);
	return ELECTOR_CHANGE_PENDING;
}

static void on_change(struct peerlink *l, const struct elector_change *change,
		      const uint8_t *settings, size_t settings_len, const uint8_t *digests,
		      size_t digests_len)
{
	if (shell.core == NULL) {
		reply_change(l, ELECTOR_CHANGE_REFUSED, "the cluster is disabled on that node");
		return;
	}
	/* Who may ask: anyone allowed to join may join (as itself: checked by
	 * the caller); only a member, by its own certificate, may remove. */
	const char *why = "";
	const struct elector_member *asker = member_of(peerlink_remote(l)->node_id);
	bool refused = change->op == ELECTOR_CHANGE_JOIN
			   ? !link_vouched(l, &why)
			   : (asker == NULL || memcmp(asker->fingerprint, peerlink_fingerprint(l),
						      ELECTOR_FINGERPRINT_SIZE) != 0);
	if (refused) {
		char text[128];
		if (change->op == ELECTOR_CHANGE_JOIN)
			snprintf(text, sizeof(text),
				 "the joining node's certificate is not accepted: %s", why);
		else
			snprintf(
			    text, sizeof(text), "only a member, with its own certificate, may %s",
			    change->op == ELECTOR_CHANGE_REMOVE ? "remove one" : "move leadership");
		static struct log_limit refusals;
		log_warnx_limited(&refusals,
				  "cluster link %s (node %016" PRIx64 "): %s refused: %s",
				  peerlink_peer(l), peerlink_remote(l)->node_id,
				  change->op == ELECTOR_CHANGE_JOIN	? "a join"
				  : change->op == ELECTOR_CHANGE_REMOVE ? "a removal"
									: "a leadership transfer",
				  text);
		reply_change(l, ELECTOR_CHANGE_REFUSED, text);
		return;
	}
	if (elector_role(shell.core) != ELECTOR_LEADER) {
		bool known = elector_leader(shell.core) != ELECTOR_NONE;
		reply_change(l, known ? ELECTOR_CHANGE_REDIRECT : ELECTOR_CHANGE_PENDING,
			     known ? "" : "no leader at the moment");
		return;
	}
	/* Once the log holds commands the cluster never goes back to
	 * protocol 3 (cluster_compat): a node that speaks only 3 could not
	 * follow it. */
	if (change->op == ELECTOR_CHANGE_JOIN && elector_commands_seen(shell.core) &&
	    peerlink_version(l) < PROTOCOL_LOG) {
		reply_change(l, ELECTOR_CHANGE_REFUSED,
			     "the cluster's state needs protocol 4; this node speaks 3 (rxmpp "
			     "0.2.0): upgrade it, then join");
		return;
	}
	const char *text = change->op == ELECTOR_CHANGE_JOIN
			       ? join_refusal(change, settings, settings_len, digests, digests_len)
			       : NULL;
	if (text != NULL) {
		log_info("join of %016" PRIx64 " at %s refused: %s", change->node_id,
			 change->address, text);
		reply_change(l, ELECTOR_CHANGE_REFUSED, text);
		return;
	}
	uint32_t status = apply_change(change, peerlink_fingerprint(l), &text);
	pump();
	reply_change(l, status, text);
}

/* Bad input from a peer: one warning, and the link closes. */
static void link_drop(struct peerlink *l, void *arg, const char *why)
{
	static struct log_limit dropped;
	log_warnx_limited(&dropped, "cluster link %s (node %016" PRIx64 "): %s; closing it",
			  peerlink_peer(l), peerlink_remote(l)->node_id, why);
	link_closed(l, why, arg);
}

/* Ask `target` from now on, on a link of its own. */
static void request_retarget(const char *target)
{
	snprintf(shell.req.target, sizeof(shell.req.target), "%s", target);
	/* Freed later: this may run inside the old link's own callback. */
	struct peerlink *old = shell.req.link;
	shell.req.link = NULL;
	shell.req.contacted = false;
	shell.req.failures = 0;
	shell.req.contact_deadline = now_ms() + CONTACT_DEADLINE_MS;
	shell.req.retry_at = now_ms();
	peerlink_free(old);
}

static void on_reply(const struct elector_change_reply *reply, const char *whole, size_t whole_len)
{
	const char *what = shell.req.op == PROTO_CLUSTER_OP_JOIN     ? "joined"
			   : shell.req.op == PROTO_CLUSTER_OP_REMOVE ? "removed"
								     : "leadership is in place";
	bool leader_op = shell.req.op == PROTO_CLUSTER_OP_LEADER;
	/* The leader that began the transfer redirects once it no longer
	 * leads: to the member asked for, or (none named) to whoever won. */
	if (leader_op && shell.req.handing && reply->status == ELECTOR_CHANGE_REDIRECT &&
	    reply->leader_address[0] != '\0' &&
	    (shell.req.change.node_id == ELECTOR_NONE ||
	     (member_of(shell.req.change.node_id) != NULL &&
	      strcmp(member_of(shell.req.change.node_id)->address, reply->leader_address) == 0))) {
		request_finish(true, "leadership handed over; the leader is at %s",
			       reply->leader_address);
		return;
	}
	if (leader_op && reply->status == ELECTOR_CHANGE_PENDING &&
	    strcmp(reply->text, ELECTOR_CHANGE_HANDING) == 0)
		shell.req.handing = true;
	switch (reply->status) {
	case ELECTOR_CHANGE_DONE:
		request_finish(true, "%s; the leader is at %s%s%s", what,
			       reply->leader_address[0] ? reply->leader_address : shell.req.target,
			       reply->text[0] ? "; " : "", reply->text);
		return;
	case ELECTOR_CHANGE_REDIRECT:
		if (++shell.req.hops > REQUEST_HOPS_MAX || reply->leader_address[0] == '\0') {
			request_finish(false, "no leader answered after %d redirects (last: %s)",
				       REQUEST_HOPS_MAX, shell.req.target);
			return;
		}
		request_progress("%s is not the leader; redirected to the leader at %s ...",
				 shell.req.target, reply->leader_address);
		request_retarget(reply->leader_address);
		return;
	case ELECTOR_CHANGE_PENDING:
		if (reply->text[0] != '\0')
			request_progress("%s ...", reply->text);
		else
			request_progress("waiting for the membership change to commit ...");
		shell.req.retry_at = now_ms() + REQUEST_RETRY_MS;
		return;
	default:
		if (whole_len > 0)
			request_finish(false, "refused by %s: %.*s", shell.req.target,
				       (int)whole_len, whole);
		else
			request_finish(false, "refused by %s: %s", shell.req.target, reply->text);
		return;
	}
}

/* A member read from an old state file (no fingerprint yet) is bound to
 * the certificate it speaks with when the leader first hears from it: a
 * membership change like any other. */
static void maybe_bind(uint64_t id, const uint8_t *fingerprint)
{
	static const uint8_t unbound[ELECTOR_FINGERPRINT_SIZE];
	const struct elector_member *m = member_of(id);
	if (m == NULL || memcmp(m->fingerprint, unbound, sizeof(unbound)) != 0 ||
	    elector_role(shell.core) != ELECTOR_LEADER)
		return;
	char address[ELECTOR_ADDRESS_MAX];
	snprintf(address, sizeof(address), "%s", m->address);
	if (elector_propose_add(shell.core, id, address, fingerprint) == 0)
		log_info("member %016" PRIx64 " at %s bound to its certificate", id, address);
}

/* Only a member, on a link with its own certificate, writes to the
 * cluster's state or sends a piece of a snapshot. */
static bool link_is_member(struct peerlink *l)
{
	const struct elector_member *m = member_of(peerlink_remote(l)->node_id);
	return m != NULL &&
	       memcmp(m->fingerprint, peerlink_fingerprint(l), ELECTOR_FINGERPRINT_SIZE) == 0;
}

static struct snapshot_receive *receiving_from(uint64_t id)
{
	struct snapshot_receive *free_slot = NULL;
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++) {
		if (shell.receiving[i].from == id)
			return &shell.receiving[i];
		if (shell.receiving[i].from == 0 && free_slot == NULL)
			free_slot = &shell.receiving[i];
	}
	return free_slot;
}

static void receiving_end(struct snapshot_receive *x)
{
	if (x->data != NULL) {
		/* It holds the accounts' keys. */
		OPENSSL_cleanse(x->data, x->total);
		free(x->data);
	}
	*x = (struct snapshot_receive){0};
}

/* A chunk of a snapshot: in order, or the snapshot starts over. */
static void on_chunk(uint64_t from, const struct elector_wire_chunk *c, const uint8_t *bytes)
{
	struct snapshot_receive *x = receiving_from(from);
	if (x == NULL)
		return;
	if (c->offset == 0) {
		receiving_end(x);
		x->data = malloc(c->total);
		if (x->data == NULL)
			return;
		*x = (struct snapshot_receive){.from = from,
					       .index = c->index,
					       .term = c->snapshot_term,
					       .total = c->total,
					       .data = x->data};
	} else if (x->data == NULL || x->index != c->index || x->term != c->snapshot_term ||
		   x->total != c->total || x->received != c->offset) {
		receiving_end(x);
		return;
	}
	memcpy(x->data + c->offset, bytes, c->len);
	x->received += c->len;
}

/* A node leads that this node's membership does not list yet (this node
 * missed its addition) and no member vouched for it yet: this node is cut
 * off from the cluster's state until one does (elector_core.h).  Said
 * once per such leader, loudly, not once per link it opens again. */
static void refused_leader(uint64_t id, uint64_t term)
{
	if (shell.stuck_on == id)
		return;
	shell.stuck_on = id;
	/* Ids are the sender's own claim: a peer that names a new one each
	 * time is not given a line each time. */
	static struct log_limit refused;
	log_warnx_limited(
	    &refused,
	    "refusing node %016" PRIx64 " as the leader of term %" PRIu64
	    ": it is not in this node's membership (this node missed its addition) and no "
	    "member this node knows has vouched for it yet; this node is stuck: it does not "
	    "follow the cluster's state, and the cluster runs one member short (one more "
	    "failure may cost it its quorum), until a member it knows answers it (it asks "
	    "at its next election timeout). If this lasts, remove this node (rxmppctl "
	    "cluster remove) and join it again",
	    id, term);
}

/* A message of the core from a member; a snapshot only with all its
 * bytes (the leader sends it again when this one is not taken). */
static void on_core_msg(struct peerlink *l, void *arg, struct elector_wire_msg *m)
{
	const struct peerlink_hello *remote = peerlink_remote(l);
	const char *why;
	if (m->u.msg.from != remote->node_id) {
		link_drop(l, arg, "a message in another node's name");
		return;
	}
	if (shell.core == NULL)
		return; /* the cluster is disabled here */
	struct snapshot_receive *x = NULL;
	if (m->u.msg.type == ELECTOR_MSG_SNAPSHOT && m->snapshot.len > 0) {
		x = receiving_from(remote->node_id);
		if (x == NULL || x->data == NULL || x->index != m->snapshot.index ||
		    x->term != m->snapshot.term || x->total != m->snapshot.len ||
		    x->received != x->total)
			return;
		m->snapshot.data = x->data;
	}
	if (!link_vouched(l, &why)) {
		link_drop(l, arg, why);
		return;
	}
	if (elector_step(shell.core, &m->u.msg, peerlink_fingerprint(l), &why) == -1) {
		uint64_t term;
		if (elector_unverified_leader(shell.core, &term) == remote->node_id) {
			refused_leader(remote->node_id, term);
			link_closed(l, why, arg);
		} else {
			link_drop(l, arg, why);
		}
		return;
	}
	heard_from(l);
	maybe_bind(remote->node_id, peerlink_fingerprint(l));
	if (x == NULL) {
		/* The messages of this turn share one pump (one flush to disk). */
		shell.pump_due = true;
		return;
	}
	/* The snapshot's bytes are ours until the core took them. */
	pump();
	receiving_end(x);
}

static void link_message(struct peerlink *l, const struct ipc_msg *msg, void *arg)
{
	const struct peerlink_hello *remote = peerlink_remote(l);
	static struct elector_wire_msg m;
	const char *why;
	bool v4 = peerlink_version(l) >= PROTOCOL_LOG;
	if ((v4 ? elector_wire_decode_v4(msg, &m, &why) : elector_wire_decode(msg, &m, &why)) ==
	    -1) {
		link_drop(l, arg, why);
		return;
	}
	switch (m.type) {
	case ELECTOR_WIRE_MSG:
	case ELECTOR_WIRE_LOG:
		on_core_msg(l, arg, &m);
		return;
	case ELECTOR_WIRE_CHUNK:
		/* A node that is joining hears its leader's snapshot before it
		 * knows the membership; the core checks the message that ends it. */
		if (shell.core == NULL ||
		    !(link_is_member(l) ||
		      (elector_config(shell.core)->count == 0 && link_vouched(l, &why)) ||
		      elector_vouched(shell.core, remote->node_id, peerlink_fingerprint(l)))) {
			link_drop(l, arg, "a snapshot from a node that is not a member");
			return;
		}
		on_chunk(remote->node_id, &m.u.chunk, m.bytes);
		return;
	case ELECTOR_WIRE_PROPOSE: {
		if (shell.core == NULL || !link_is_member(l)) {
			link_drop(l, arg, "a write from a node that is not a member");
			return;
		}
		struct elector_write_env env = write_env();
		elector_write_propose(&env, remote->node_id, m.u.propose.request, m.bytes,
				      m.u.propose.len);
		shell.pump_due = true;
		return;
	}
	case ELECTOR_WIRE_PROPOSE_REPLY: {
		if (shell.core == NULL || !link_is_member(l)) {
			link_drop(l, arg, "an answer to a write from a node that is not a member");
			return;
		}
		struct elector_write_env env = write_env();
		char outcome[PROTO_PROPOSE_TEXT_MAX + 1], text[PROTO_PROPOSE_TEXT_MAX + 1];
		const struct proto_propose_result *r = &m.u.propose_reply.result;
		snprintf(outcome, sizeof(outcome), "%.*s", (int)r->outcome_len, m.outcome);
		snprintf(text, sizeof(text), "%.*s", (int)r->text_len, m.text);
		elector_write_reply(&env, remote->node_id, m.u.propose_reply.request, r, outcome,
				    text);
		return;
	}
	case ELECTOR_WIRE_CHANGE:
		/* A node speaks for itself when it joins. */
		if (m.u.change.op == ELECTOR_CHANGE_JOIN && m.u.change.node_id != remote->node_id) {
			link_drop(l, arg, "a join in another node's name");
			return;
		}
		on_change(l, &m.u.change, m.bytes, m.tail_len, m.digests, m.digests_len);
		return;
	default:
		if (arg != &shell.req) {
			link_drop(l, arg, "an answer to a change it was not asked");
			return;
		}
		/* One that comes after the request ended (its deadline) is late,
		 * not wrong. */
		if (shell.req.active)
			on_reply(&m.u.reply, m.text, m.tail_len);
		return;
	}
}

/* Requests from rxmppctl */

static void send_result(uint64_t token, bool ok, const char *text)
{
	struct proto_result result = {.ok = ok, .message_len = (uint32_t)strlen(text)};
	struct iovec iov[2] = {{&result, sizeof(result)}, {(void *)text, result.message_len}};
	child_send_supervisor_v(PROTO_CLUSTER_RESULT, token, iov, 2);
}

/* An answer to a request of rxmppctl (through the supervisor) or of the
 * IM process (ELECTOR_IO_FROM_IM). */
static void answer_request(uint64_t token, uint16_t type, const struct iovec *iov, int count)
{
	if (token & ELECTOR_IO_FROM_IM)
		child_send_v(PROC_IM, type, token & ~ELECTOR_IO_FROM_IM, iov, count);
	else
		child_send_supervisor_v(type, token, iov, count);
}

/* The one answer to a PROPOSE; the texts are cut to what the answer
 * carries. */
static void propose_answer(uint64_t token, const struct proto_propose_result *result,
			   const char *outcome, const char *text)
{
	struct proto_propose_result head = *result;
	size_t outcome_len = strlen(outcome), text_len = strlen(text);
	head.outcome_len =
	    (uint32_t)(outcome_len < PROTO_PROPOSE_TEXT_MAX ? outcome_len : PROTO_PROPOSE_TEXT_MAX);
	head.text_len =
	    (uint32_t)(text_len < PROTO_PROPOSE_TEXT_MAX ? text_len : PROTO_PROPOSE_TEXT_MAX);
	struct iovec iov[3] = {{&head, sizeof(head)},
			       {(void *)outcome, head.outcome_len},
			       {(void *)text, head.text_len}};
	answer_request(token, PROTO_PROPOSE_RESULT, iov, 3);
}

/* A frame of the write path to member `id`, on a protocol-4 link. */
static int write_send(uint64_t id, uint16_t type, const struct iovec *iov, size_t count)
{
	struct out_link *out = out_for(id);
	if (out == NULL || out->link == NULL || !peerlink_is_up(out->link) ||
	    peerlink_version(out->link) < PROTOCOL_LOG)
		return -1;
	return peerlink_sendv(out->link, type, iov, count);
}

static void write_name(uint64_t id, char *out, size_t size)
{
	const struct elector_member *m = member_of(id);
	snprintf(out, size, "%016" PRIx64 " at %s", id, m != NULL ? m->address : "?");
}

/* A member counts for a write when a link to it is up and it was heard
 * within an election timeout: on the leader by the core's count of ticks
 * (a loop that stalled on its own work, writing a large snapshot or
 * accounts file, has not stopped hearing its followers: their messages
 * wait in the sockets), elsewhere by the clock. */
static bool write_heard(uint64_t id)
{
	struct out_link *out = out_for(id);
	if ((out == NULL || !out->up) && in_link_of(id) == NULL)
		return false;
	if (elector_role(shell.core) == ELECTOR_LEADER)
		return elector_silence(shell.core, id) <
		       shell.cfg.cluster.election_timeout_min_ms / TICK_MS;
	return heard_ago(id) < shell.cfg.cluster.election_timeout_min_ms;
}

static struct elector_write_env write_env(void)
{
	return (struct elector_write_env){
	    .core = shell.core,
	    .self = shell.id,
	    .now_ms = now_ms(),
	    .heard = write_heard,
	    .answer = propose_answer,
	    .send = write_send,
	    .name = write_name,
	    .compat = cluster_compat,
	};
}

/* Memory may hold what the disk does not: a restart reads the disk. */
static void local_flush(void)
{
	char why[1024];
	if (elector_local_flush(shell.local, why, sizeof(why)) == -1) {
		log_warnx("cannot write the users' data to %s/%s (%s); stopping rather than "
			  "answering what is not on disk",
			  shell.cfg.state_directory, ELECTOR_LOCAL_DIR, why);
		exit(PROC_EXIT_STORAGE);
	}
}

/* The node's own store while it is in no cluster; closed once it is a
 * member (its data then is the cluster's, or refused a join). */
static struct elector_local *local_store(void)
{
	if (shell.local != NULL && shell.core != NULL && elector_config(shell.core)->count > 0) {
		/* What this turn staged is on disk before the store goes (its
		 * answers leave from local_hook as always). */
		local_flush();
		elector_local_free(shell.local);
		shell.local = NULL;
		log_info("this node is in a cluster: its local user data (%s/%s) is no longer "
			 "served",
			 shell.cfg.state_directory, ELECTOR_LOCAL_DIR);
	}
	return shell.local;
}

/* Before the loop sleeps: the turn's writes flushed together, then
 * answered in the order they came. */
static bool local_hook(struct ev_loop *loop, void *arg)
{
	(void)loop, (void)arg;
	if (shell.local_answer_count == 0)
		return false;
	if (shell.local != NULL)
		local_flush();
	for (size_t i = 0; i < shell.local_answer_count; i++) {
		struct local_answer *a = &shell.local_answers[i];
		struct proto_propose_result head = {.status = PROTO_PROPOSE_APPLIED,
						    .outcome = a->result.status,
						    .index = a->index,
						    .term = a->index > 0 ? 1 : 0,
						    .applied = 1};
		propose_answer(a->token, &head, a->result.text,
			       a->index > 0
				   ? "written to this node's local store (it is in no cluster)"
				   : "nothing written (it changes nothing)");
	}
	shell.local_answer_count = 0;
	return true;
}

static void local_propose(uint64_t token, const uint8_t *command, size_t len)
{
	char why[PROTO_PROPOSE_TEXT_MAX];
	struct proto_propose_result refused = {.status = PROTO_PROPOSE_REFUSED};
	if (shell.local_answer_count == shell.local_answer_cap) {
		size_t cap = shell.local_answer_cap ? 2 * shell.local_answer_cap : 16;
		struct local_answer *grown =
		    realloc(shell.local_answers, cap * sizeof(*shell.local_answers));
		if (grown == NULL) {
			propose_answer(token, &refused, "", "out of memory: nothing changed");
			return;
		}
		shell.local_answers = grown;
		shell.local_answer_cap = cap;
	}
	struct local_answer *a = &shell.local_answers[shell.local_answer_count];
	if (elector_local_stage(shell.local, command, len, &a->result, &a->index, why,
				sizeof(why)) == -1) {
		log_warnx("a write of user data to %s/%s failed: %s", shell.cfg.state_directory,
			  ELECTOR_LOCAL_DIR, why);
		propose_answer(token, &refused, "", why);
		return;
	}
	a->token = token;
	shell.local_answer_count++;
}

void elector_io_propose(uint64_t token, const uint8_t *command, size_t len)
{
	if (local_store() != NULL && elector_local_takes(command, len)) {
		local_propose(token, command, len);
		return;
	}
	if (shell.core == NULL || elector_config(shell.core)->count == 0) {
		struct proto_propose_result refused = {.status = PROTO_PROPOSE_REFUSED};
		propose_answer(token, &refused, "",
			       shell.enabled ? "this node is in no cluster yet (cluster initialize "
					       "or join): nothing changed"
			       : shell.holds_cluster
				   ? "this node holds a cluster's state and its "
				     "cluster is disabled (cluster.enabled is false): "
				     "the users' data is written through the cluster "
				     "only; nothing changed"
				   : "this node is not in a cluster (cluster.enabled is "
				     "false): nothing changed");
		return;
	}
	struct elector_write_env env = write_env();
	elector_write_propose(&env, 0, token, command, len);
	shell.pump_due = true;
}

void elector_io_userdata_get(uint64_t token, const struct proto_userdata_get_view *get)
{
	/* In no cluster, the node's own store; in a cluster whose state holds
	 * nothing yet, no user data to read (and no account to find). */
	const struct elector_machine *m =
	    local_store() != NULL ? elector_local_machine(shell.local)
	    : shell.replica != NULL && elector_replica_has_state(shell.replica)
		? elector_replica_machine(shell.replica)
		: NULL;
	/* Nothing is read before it is on disk (writes of this turn
	 * included). */
	if (shell.local != NULL)
		local_flush();
	struct buf out;
	if (elector_userdata_read(m, get, &out) == -1)
		log_warnx("out of memory answering a read of %s's data; it goes unanswered",
			  get->user);
	else
		answer_request(token, PROTO_USERDATA_ANSWER,
			       &(struct iovec){(void *)buf_head(&out), buf_len(&out)}, 1);
	buf_free(&out);
}

/* Before the loop sleeps, in the first phase: the messages a pump queues
 * on peer links leave with that phase's flush. */
static bool pump_hook(struct ev_loop *loop, void *arg)
{
	(void)loop, (void)arg;
	if (!shell.pump_due)
		return false;
	shell.pump_due = false;
	pump();
	return true;
}

static const char *request_name(void)
{
	return shell.req.op == PROTO_CLUSTER_OP_JOIN	 ? "join"
	       : shell.req.op == PROTO_CLUSTER_OP_REMOVE ? "remove"
							 : "leader";
}

/* A line for rxmppctl while it waits: each step once. */
static void request_progress(const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!shell.req.active || strcmp(text, shell.req.said) == 0)
		return;
	snprintf(shell.req.said, sizeof(shell.req.said), "%s", text);
	struct proto_result result = {.ok = 1, .message_len = (uint32_t)strlen(text)};
	struct iovec iov[2] = {{&result, sizeof(result)}, {text, result.message_len}};
	child_send_supervisor_v(PROTO_CLUSTER_PROGRESS, shell.req.token, iov, 2);
	log_debug("cluster %s: %s", request_name(), text);
}

static void request_finish(bool ok, const char *fmt, ...)
{
	char text[512 + ELECTOR_WIRE_REPLY_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!shell.req.active)
		return;
	send_result(shell.req.token, ok, text);
	(ok ? log_info : log_warnx)("cluster %s: %s", request_name(), text);
	peerlink_free(shell.req.link);
	shell.req = (struct request){0};
	buf_free(&shell.join_digests);
}

static void request_drive(void)
{
	if (!shell.req.active)
		return;
	if (now_ms() >= shell.req.deadline) {
		request_finish(false, "no answer from %s within %d s", shell.req.target,
			       REQUEST_DEADLINE_MS / 1000);
		return;
	}
	if (!shell.req.contacted && now_ms() >= shell.req.contact_deadline) {
		request_finish(false, "cannot reach %s: no connection within %d s",
			       shell.req.target, CONTACT_DEADLINE_MS / 1000);
		return;
	}
	if (shell.req.retry_at == 0 || now_ms() < shell.req.retry_at)
		return;
	shell.req.retry_at = 0;
	if (shell.req.link != NULL && peerlink_is_up(shell.req.link)) {
		request_send(shell.req.link);
		return;
	}
	if (shell.req.link != NULL)
		return; /* still connecting */
	char why[256];
	struct peerlink_hello hello = local_hello();
	request_progress("contacting %s ...", shell.req.target);
	shell.req.link = peerlink_connect(shell.loop, shell.tls, shell.req.target, &hello,
					  &link_events, &shell.req, why, sizeof(why));
	if (shell.req.link == NULL) {
		log_debug("cluster request to %s: %s", shell.req.target, why);
		request_unreached(why);
		if (shell.req.active)
			shell.req.retry_at = now_ms() + REQUEST_RETRY_MS;
	}
}

/* One member's health: how this node sees it and how the leader last
 * reported it; reachable at a glance by the leader's view while it is
 * fresh (the leader hears every member), else by this node's own. */
struct member_health {
	uint32_t here; /* enum proto_reach */
	uint64_t heard_ms;
	uint64_t leader_heard_ms; /* UINT64_MAX: not heard, or no fresh view */
	bool fresh_view;
	bool reachable;
};

static void member_health(const struct elector_member *m, struct member_health *h)
{
	uint64_t timeout = shell.cfg.cluster.election_timeout_min_ms;
	uint64_t silence = elector_silence(shell.core, m->id);
	/* A new leader has not heard anyone yet: for an election timeout,
	 * "not since it leads" says nothing, and the links say more. */
	bool new_leader = now_ms() - shell.leader_since < (int64_t)timeout;
	*h = (struct member_health){.heard_ms = silence != UINT64_MAX ? silence * TICK_MS
								      : heard_ago(m->id),
				    .leader_heard_ms = UINT64_MAX};
	bool leads = elector_role(shell.core) == ELECTOR_LEADER;
	if (m->id == shell.id) {
		h->here = PROTO_REACH_SELF;
	} else if ((leads && !(new_leader && silence == UINT64_MAX)) ||
		   m->id == elector_leader(shell.core)) {
		if (leads)
			h->heard_ms = silence != UINT64_MAX ? silence * TICK_MS : UINT64_MAX;
		h->here = h->heard_ms < timeout ? PROTO_REACH_HEARD : PROTO_REACH_SILENT;
	} else {
		const struct out_link *out = out_for(m->id);
		h->here = out != NULL && out->link != NULL && peerlink_is_up(out->link)
			      ? PROTO_REACH_LINK_UP
			      : PROTO_REACH_LINK_DOWN;
	}
	/* The leader's verdict is the one it could give when it sent its view:
	 * a view aging because the leader is gone says nothing of the others. */
	uint64_t age;
	bool leader_heard = false;
	if (elector_leader_view(shell.core, m->id, &silence, &age) == 0 &&
	    age * TICK_MS < timeout && !(new_leader && silence == UINT64_MAX)) {
		h->fresh_view = true;
		leader_heard = silence != UINT64_MAX && silence * TICK_MS < timeout;
		if (silence != UINT64_MAX)
			h->leader_heard_ms = (silence + age) * TICK_MS;
	}
	h->reachable =
	    h->here == PROTO_REACH_SELF ||
	    (h->fresh_view ? leader_heard
			   : h->here == PROTO_REACH_HEARD || h->here == PROTO_REACH_LINK_UP);
}

static uint32_t quorum_needed(void)
{
	return elector_config(shell.core)->count / 2 + 1;
}

/* Every HEALTH_EVERY_TICKS, once links had time to come up: what changed
 * goes to the log. */
static void health_watch(void)
{
	const struct elector_config *c = elector_config(shell.core);
	if (++shell.health_due < HEALTH_EVERY_TICKS || c->count == 0 ||
	    elector_removed(shell.core) ||
	    now_ms() - shell.started_ms < 2 * (int64_t)shell.cfg.cluster.election_timeout_max_ms)
		return;
	shell.health_due = 0;
	struct elector_health_member members[ELECTOR_MEMBERS_MAX];
	char why[ELECTOR_MEMBERS_MAX][96];
	uint32_t reachable = 0;
	for (uint32_t i = 0; i < c->count; i++) {
		struct member_health h;
		member_health(&c->members[i], &h);
		reachable += h.reachable;
		bool leads = elector_role(shell.core) == ELECTOR_LEADER;
		uint64_t ms = h.fresh_view ? h.leader_heard_ms : h.heard_ms;
		if (h.here == PROTO_REACH_LINK_DOWN && !h.fresh_view)
			snprintf(why[i], sizeof(why[i]), "its cluster link is down");
		else if (ms == UINT64_MAX)
			snprintf(why[i], sizeof(why[i]), "%s not heard from it since %s",
				 leads || !h.fresh_view ? "this node has" : "the leader has",
				 leads || h.fresh_view ? "it leads" : "this node started");
		else
			snprintf(why[i], sizeof(why[i]),
				 "%s last heard from it %" PRIu64 ".%01" PRIu64 " s ago",
				 leads || !h.fresh_view ? "this node" : "the leader", ms / 1000,
				 ms % 1000 / 100);
		members[i] = (struct elector_health_member){.id = c->members[i].id,
							    .address = c->members[i].address,
							    .reachable = h.reachable,
							    .why = why[i]};
	}
	elector_health_watch(&shell.health, members, c->count, reachable, quorum_needed());
}

static void send_status(uint64_t token)
{
	struct proto_cluster_status status = {.enabled = shell.core != NULL, .self = shell.id};
	struct proto_cluster_member members[ELECTOR_MEMBERS_MAX];
	if (shell.core != NULL) {
		const struct elector_config *c = elector_config(shell.core);
		status.role = elector_role(shell.core);
		status.term = elector_term(shell.core);
		status.leader = elector_leader(shell.core);
		status.members = c->count;
		status.removed = elector_removed(shell.core);
		status.needed = quorum_needed();
		status.report_age_ms = UINT64_MAX;
		status.protocol = cluster_protocol();
		for (uint32_t i = 0; i < c->count; i++) {
			struct member_health h;
			member_health(&c->members[i], &h);
			members[i] =
			    (struct proto_cluster_member){.id = c->members[i].id,
							  .heard_ms = h.heard_ms,
							  .leader_heard_ms = h.leader_heard_ms,
							  .reachable = h.reachable,
							  .here = h.here};
			memcpy(members[i].fingerprint, c->members[i].fingerprint,
			       sizeof(members[i].fingerprint));
			const struct heard *heard = heard_of(c->members[i].id);
			if (c->members[i].id == shell.id) {
				members[i].version_min = PEERLINK_VERSION_MIN;
				members[i].version_max = PEERLINK_VERSION;
			} else if (heard != NULL) {
				members[i].version_min = heard->version_min;
				members[i].version_max = heard->version_max;
			}
			snprintf(members[i].address, sizeof(members[i].address), "%s",
				 c->members[i].address);
			status.reachable += h.reachable;
			uint64_t silence, age;
			if (elector_leader_view(shell.core, c->members[i].id, &silence, &age) ==
				0 &&
			    h.fresh_view)
				status.report_age_ms = age * TICK_MS;
		}
	}
	struct iovec iov[2] = {{&status, sizeof(status)},
			       {members, status.members * sizeof(members[0])}};
	child_send_supervisor_v(PROTO_CLUSTER_STATUS, token, iov, 2);
}

void elector_io_metrics(struct metrics_set *set)
{
	metrics_add(set, METRICS_ELECTIONS_STARTED, 0, 0, shell.elections_started);
	metrics_add(set, METRICS_ELECTIONS_WON, 0, 0, shell.elections_won);
	if (shell.core == NULL)
		return;
	const struct elector_config *c = elector_config(shell.core);
	for (uint16_t role = 0; role < METRICS_ROLE_END; role++)
		metrics_add(set, METRICS_CLUSTER_ROLE, role, 0, elector_role(shell.core) == role);
	metrics_add(set, METRICS_CLUSTER_TERM, 0, 0, elector_term(shell.core));
	if (elector_leader(shell.core) != 0)
		metrics_add(set, METRICS_CLUSTER_LEADER, 0, elector_leader(shell.core), 1);
	metrics_add(set, METRICS_CLUSTER_MEMBERS, 0, 0, c->count);
	for (uint32_t i = 0; i < c->count; i++) {
		const struct elector_member *m = &c->members[i];
		if (m->id == shell.id || m->id == 0)
			continue;
		struct member_health h;
		member_health(m, &h);
		/* Never heard: no age to give (absent rather than a made-up one). */
		if (h.heard_ms != UINT64_MAX)
			metrics_add(set, METRICS_HEARTBEAT_AGE, 0, m->id, h.heard_ms);
		const struct out_link *out = out_for(m->id);
		metrics_add(set, METRICS_PEER_LINK_UP, 0, m->id,
			    out != NULL && out->link != NULL && peerlink_is_up(out->link));
	}
}

/* A node id in hex, or the address of a member. */
static uint64_t resolve_node(const char *arg)
{
	char *end;
	uint64_t id = strtoull(arg, &end, 16);
	if (*end == '\0' && member_of(id) != NULL)
		return id;
	const struct elector_config *c = elector_config(shell.core);
	for (uint32_t i = 0; i < c->count; i++) {
		if (strcmp(c->members[i].address, arg) == 0)
			return c->members[i].id;
	}
	return 0;
}

static void handover_said(const struct elector_handover_news *news)
{
	if (news->answer)
		send_result(news->token, news->ok, news->text);
}

/* cluster leader on the leader, or a yield: the transfer starts here. */
static void handover_local(uint64_t token, uint64_t target, bool yield)
{
	struct elector_handover_news news;
	elector_handover_start(&shell.handover, shell.core, shell.id, token, target, yield,
			       now_ms(), shell.cfg.cluster.election_timeout_max_ms, &news);
	pump();
	handover_said(&news);
}

void elector_io_request(uint64_t token, const struct proto_cluster_request *request,
			const uint8_t *tail, size_t tail_len)
{
	if (tail_len > 0 &&
	    (request->op != PROTO_CLUSTER_OP_JOIN || !elector_digests_valid(tail, tail_len))) {
		send_result(token, false,
			    "malformed list of this node's accounts and call bridges (rxmppctl "
			    "and rxmppd of different versions?)");
		return;
	}
	if (request->op == PROTO_CLUSTER_OP_STATUS) {
		send_status(token);
		return;
	}
	if (request->op == PROTO_CLUSTER_OP_YIELD) {
		if (shell.core == NULL)
			send_result(token, true, "the cluster is disabled: nothing to hand over");
		else
			handover_local(token, ELECTOR_NONE, true);
		return;
	}
	if (shell.core == NULL) {
		send_result(token, false,
			    "the cluster is disabled: set cluster.enabled: true and reload first");
		return;
	}
	if (shell.req.active) {
		send_result(token, false, "another cluster change is under way; try again shortly");
		return;
	}
	const struct elector_config *c = elector_config(shell.core);
	char text[512];
	switch (request->op) {
	case PROTO_CLUSTER_OP_INITIALIZE:
		if (c->count != 0) {
			send_result(
			    token, false,
			    "this node is already in a cluster; remove it or reset it first");
			return;
		}
		if (elector_initialize(shell.core, shell.address, shell.fingerprint) == -1) {
			send_result(token, false, "cluster.address is not a valid host:port");
			return;
		}
		pump();
		/* Closed before the answer: rxmppctl reads it next, to carry its
		 * data into the cluster's state (after a join, the first request
		 * that finds the node a member closes it). */
		local_store();
		snprintf(text, sizeof(text),
			 "initialized a one-node cluster: node %016" PRIx64 " at %s", shell.id,
			 shell.address);
		log_info("%s", text);
		send_result(token, true, text);
		return;
	case PROTO_CLUSTER_OP_JOIN:
		if (elector_removed(shell.core)) {
			send_result(token, false,
				    "this node was removed from its cluster: stop rxmppd, rxmppctl "
				    "reset, start it and join again");
			return;
		}
		if (c->count > 1 || (c->count == 1 && c->members[0].id != shell.id)) {
			send_result(
			    token, false,
			    "this node is already in a cluster; remove it or reset it first");
			return;
		}
		shell.req = (struct request){.active = true, .token = token, .op = request->op};
		shell.req.change =
		    (struct elector_change){.op = ELECTOR_CHANGE_JOIN, .node_id = shell.id};
		snprintf(shell.req.change.address, sizeof(shell.req.change.address), "%s",
			 shell.address);
		if (strlen(request->arg) >= sizeof(shell.req.target)) {
			send_result(token, false, "the address is too long");
			shell.req = (struct request){0};
			return;
		}
		snprintf(shell.req.target, sizeof(shell.req.target), "%.*s",
			 (int)sizeof(shell.req.target) - 1, request->arg);
		buf_init(&shell.join_digests, ELECTOR_DIGESTS_MAX);
		if (tail_len > 0 && buf_append(&shell.join_digests, tail, tail_len) == -1) {
			request_finish(false, "out of memory");
			return;
		}
		break;
	case PROTO_CLUSTER_OP_LEADER: {
		uint64_t id = request->arg[0] != '\0' ? resolve_node(request->arg) : ELECTOR_NONE;
		uint64_t leader = elector_leader(shell.core);
		const struct elector_member *lm = leader ? member_of(leader) : NULL;
		if (request->arg[0] != '\0' && id == 0) {
			snprintf(text, sizeof(text), "no member %s", request->arg);
			send_result(token, false, text);
			return;
		}
		if (elector_role(shell.core) == ELECTOR_LEADER) {
			handover_local(token, id, false);
			return;
		}
		if (lm == NULL) {
			send_result(token, false, "no leader at the moment; try again shortly");
			return;
		}
		if (id == leader) {
			snprintf(text, sizeof(text), "%016" PRIx64 " at %s leads already", leader,
				 lm->address);
			send_result(token, true, text);
			return;
		}
		shell.req = (struct request){.active = true, .token = token, .op = request->op};
		shell.req.change =
		    (struct elector_change){.op = ELECTOR_CHANGE_LEADER, .node_id = id};
		snprintf(shell.req.target, sizeof(shell.req.target), "%s", lm->address);
		break;
	}
	case PROTO_CLUSTER_OP_REMOVE: {
		uint64_t id = resolve_node(request->arg);
		uint64_t leader = elector_leader(shell.core);
		const struct elector_member *lm = leader ? member_of(leader) : NULL;
		if (id == 0) {
			snprintf(text, sizeof(text), "no member %s", request->arg);
			send_result(token, false, text);
			return;
		}
		if (lm == NULL) {
			send_result(token, false, "no leader at the moment; try again shortly");
			return;
		}
		shell.req = (struct request){.active = true, .token = token, .op = request->op};
		shell.req.change =
		    (struct elector_change){.op = ELECTOR_CHANGE_REMOVE, .node_id = id};
		snprintf(shell.req.target, sizeof(shell.req.target), "%s", lm->address);
		break;
	}
	default:
		send_result(token, false, "unknown cluster request");
		return;
	}
	shell.req.deadline = now_ms() + REQUEST_DEADLINE_MS;
	shell.req.contact_deadline = now_ms() + CONTACT_DEADLINE_MS;
	shell.req.retry_at = now_ms();
	request_drive();
}

/* Listening and ticking */

/* A link from another node; it gets a slot in shell.ins once it said hello. */
static int admit_link(struct peerlink_admission *a, const char **refusal, void *arg)
{
	(void)arg;
	if (shell.tls == NULL) {
		*refusal = "the cluster is disabled";
		return -1;
	}
	*a = (struct peerlink_admission){
	    .ctx = shell.tls, .hello = local_hello(), .events = &link_events};
	return 0;
}

void elector_io_socket(int fd, const struct proto_listen_socket *info)
{
	if (shell.socket_count == SOCKETS_MAX) {
		close(fd);
		return;
	}
	shell.sockets[shell.socket_count] =
	    peerlink_listen(child_loop(), fd, "cluster link", admit_link, NULL);
	if (shell.sockets[shell.socket_count] == NULL) {
		log_warnx("cluster links on %s port %u: out of memory", info->address, info->port);
		return;
	}
	shell.socket_count++;
	log_info("accepting cluster links on %s port %u", info->address, info->port);
}

/* A member whose own users' data was not all carried into the cluster's
 * state (rxmppctl stopped, or its carry failed): nothing reads local/ any
 * more, so say so at every start until it is carried. */
static void local_left_warn(const struct config *cfg)
{
	char why[1024];
	size_t items;
	if (elector_local_left(cfg->state_directory, &items, why, sizeof(why)) == -1)
		log_warnx("%s/%s cannot be read: %s", cfg->state_directory, ELECTOR_LOCAL_DIR, why);
	else if (items > 0)
		log_warnx(
		    "%s/%s holds %zu item%s of this node's users' data (rosters, offline "
		    "messages...) not carried into the cluster's state: run `rxmppctl cluster "
		    "merge`",
		    cfg->state_directory, ELECTOR_LOCAL_DIR, items, items == 1 ? "" : "s");
}

static struct elector_local *local_open(const struct config *cfg, char *why, size_t why_size)
{
	char accounts[sizeof(cfg->state_directory) + sizeof(ACCOUNTS_FILE_NAME) + 1];
	snprintf(accounts, sizeof(accounts), "%s/%s", cfg->state_directory, ACCOUNTS_FILE_NAME);
	struct elector_local *l = elector_local_open(cfg->state_directory, accounts,
						     cfg->cluster.snapshot_entries, why, why_size);
	if (l != NULL && ev_hook_add(shell.loop, EV_PHASE_STREAMS, local_hook, NULL) == -1) {
		elector_local_free(l);
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	return l;
}

static int64_t on_tick(struct ev_timer *timer, void *arg)
{
	(void)timer, (void)arg;
	if (shell.core != NULL) {
		local_store();
		elector_tick(shell.core);
		/* A leader read from an old state file binds itself too. */
		maybe_bind(shell.id, shell.fingerprint);
		pump();
		struct elector_write_env env = write_env();
		elector_write_tick(&env);
		for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++)
			snapshot_pump(&shell.outs[i]);
		struct elector_handover_news news;
		elector_handover_watch(&shell.handover, shell.core, now_ms(), &news);
		handover_said(&news);
		health_watch();
	}
	request_drive();
	return TICK_MS;
}

int elector_io_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	if (!first) {
		/* A new trust bundle or certificate serves the links made from now
		 * on (rxmppd restarts this process when the cluster itself changes). */
		if (shell.tls != NULL) {
			SSL_CTX *tls = tls_peer_context_new(&cfg->tls, cfg->cluster.trust_bundle,
							    why, why_size);
			if (tls == NULL)
				return -1;
			uint8_t fingerprint[ELECTOR_FINGERPRINT_SIZE];
			if (elector_peers_own_fingerprint(tls, fingerprint, sizeof(fingerprint)) ==
				0 &&
			    memcmp(fingerprint, shell.fingerprint, sizeof(fingerprint)) != 0) {
				log_warnx("this node's certificate changed: the members know it by "
					  "the old one, and will not hear it with the new one; "
					  "remove it from the cluster and join again (see "
					  "README, The cluster)");
				memcpy(shell.fingerprint, fingerprint, sizeof(fingerprint));
			}
			SSL_CTX_free(shell.tls);
			shell.tls = tls;
		}
		shell.cfg = *cfg;
		return 0;
	}
	shell.loop = child_loop();
	shell.cfg = *cfg;
	shell.enabled = cfg->cluster.enabled;
	if (!shell.enabled) {
		log_info("cluster disabled: this node runs alone");
		shell.holds_cluster = callbridge_state_in_use(cfg->state_directory, true);
		if (shell.holds_cluster)
			log_warnx("this node holds a cluster's state: its users' data (rosters, "
				  "offline messages...) stays the cluster's, neither read nor "
				  "written here until cluster.enabled is true again");
		else if ((shell.local = local_open(cfg, why, why_size)) == NULL)
			return -1;
		shell.ticker = ev_timer_add(shell.loop, TICK_MS, on_tick, NULL);
		return 0;
	}
	if (config_cluster_address(cfg, shell.address, sizeof(shell.address)) == -1) {
		snprintf(why, why_size, "cluster.address is needed when listening on any address");
		return -1;
	}
	struct elector_persistent state;
	int opened = elector_state_open(cfg->state_directory, &shell.id, &state, why, why_size);
	if (opened == -2) {
		/* Not the configuration's fault: wait for the disk, not for an admin. */
		log_warnx("%s", why);
		exit(PROC_EXIT_STORAGE);
	}
	if (opened == -1)
		return -1;
	shell.tls = tls_peer_context_new(&cfg->tls, cfg->cluster.trust_bundle, why, why_size);
	if (shell.tls == NULL)
		return -1;
	if (elector_peers_own_fingerprint(shell.tls, shell.fingerprint,
					  sizeof(shell.fingerprint)) == -1) {
		snprintf(why, why_size, "cannot read this node's certificate");
		return -1;
	}
	unsigned hb = cfg->cluster.heartbeat_interval_ms / TICK_MS;
	struct elector_options options = {
	    .id = shell.id,
	    .heartbeat_ticks = hb > 0 ? hb : 1,
	    .election_ticks_min = cfg->cluster.election_timeout_min_ms / TICK_MS,
	    .election_ticks_max = cfg->cluster.election_timeout_max_ms / TICK_MS,
	    .seed = shell.id ^ (uint64_t)getpid() ^ (uint64_t)now_ms(),
	};
	shell.saved = state;
	struct elector_boot boot;
	shell.replica = elector_replica_open(cfg->state_directory, cfg->cluster.snapshot_entries,
					     &state, &boot, why, why_size);
	if (shell.replica == NULL)
		return -1;
	shell.core = elector_new(&options, &boot);
	if (shell.core == NULL) {
		snprintf(why, why_size,
			 "%s: the log does not fit its snapshot and hard state; restore the state "
			 "directory from a backup, or run `rxmppctl reset` and join the cluster "
			 "again",
			 cfg->state_directory);
		return -1;
	}
	if (elector_config(shell.core)->count == 0) {
		shell.local = local_open(cfg, why, why_size);
		if (shell.local == NULL)
			return -1;
	} else {
		local_left_warn(cfg);
	}
	/* Until every member is heard speaking the log's protocol, unless
	 * the log says the cluster left protocol 3 already. */
	char held[PROTO_PROPOSE_TEXT_MAX];
	cluster_compat(held, sizeof(held));
	log_info("node %016" PRIx64 " at %s, term %" PRIu64 ", %u members", shell.id, shell.address,
		 state.term, state.config.count);
	shell.started_ms = now_ms();
	shell.ticker = ev_timer_add(shell.loop, TICK_MS, on_tick, NULL);
	if (ev_hook_add(shell.loop, EV_PHASE_STREAMS, pump_hook, NULL) == -1) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	return 0;
}

void elector_io_router_up(void)
{
	tell_router_members(true);
	tell_router();
}

void elector_io_stop(void)
{
	for (size_t i = 0; i < ELECTOR_MEMBERS_MAX; i++)
		peerlink_free(shell.outs[i].link);
	for (size_t i = 0; i < LINKS_IN_MAX; i++)
		peerlink_free(shell.ins[i]);
	peerlink_free(shell.req.link);
	for (size_t i = 0; i < shell.socket_count; i++)
		peerlink_listener_free(shell.sockets[i]);
	elector_free(shell.core);
	elector_replica_free(shell.replica);
	elector_local_free(shell.local);
	free(shell.local_answers);
	SSL_CTX_free(shell.tls);
	buf_free(&shell.join_digests);
	memset(&shell, 0, sizeof(shell));
}
