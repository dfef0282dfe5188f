/* SPDX-License-Identifier: MIT */
/*
 * The node's metrics: one table of every metric family (its Prometheus name,
 * type, help text, label and which process counts it), the strict decoder of
 * the METRICS message in which a child reports its figures to the
 * supervisor, and the writer of the Prometheus text exposition format
 * (version 0.0.4), which the supervisor's HTTP endpoint serves and
 * `rxmppctl stats` reads.  docs/METRICS.md explains each metric.
 *
 * A child sends its whole set each time (a snapshot, not increments), so a
 * lost or repeated message changes nothing; a child that restarts starts its
 * counters from zero, which Prometheus reads as a counter reset.
 */
#ifndef RXMPP_METRICS_H
#define RXMPP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/proc.h"

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
};

enum metrics_id {
	/* listener */
	METRICS_CLIENT_SESSIONS,
	METRICS_BRIDGE_SESSIONS,
	METRICS_CONNECTIONS,	/* label state: metrics_conn_state */
	METRICS_LOGINS,		/* label kind: client, bridge */
	METRICS_LOGIN_FAILURES, /* label reason: metrics_login_failure */
	METRICS_TLS_HANDSHAKES, /* completed */
	METRICS_TLS_FAILURES,	/* handshakes refused or TLS broken later */
	METRICS_LIMIT_REFUSALS, /* label limit: metrics_limit */
	METRICS_OUTPUT_QUEUED_BYTES /* output waiting for all connections */,
	/* router */
	METRICS_STANZAS_ROUTED,	 /* label kind: message, presence, iq */
	METRICS_STANZAS_BOUNCED, /* label kind */
	METRICS_STANZAS_QUEUED,	 /* label kind: handed to the cluster relay */
	METRICS_RELAY_QUEUE_STANZAS,
	METRICS_RELAY_QUEUE_OVERFLOWS, /* bounced at once: the relay's queue was full */
	/* elector */
	METRICS_CLUSTER_ROLE, /* label role; 1 for the current one */
	METRICS_CLUSTER_TERM,
	METRICS_CLUSTER_LEADER, /* label leader: the member (node id) */
	METRICS_CLUSTER_MEMBERS,
	METRICS_ELECTIONS_STARTED,
	METRICS_ELECTIONS_WON,
	METRICS_HEARTBEAT_AGE, /* label member; milliseconds on the wire */
	METRICS_PEER_LINK_UP,  /* label member */
	/* supervisor (its own figures; never in a METRICS message) */
	METRICS_BUILD_INFO,
	METRICS_CHILD_RESTARTS,	    /* label process */
	METRICS_CHILD_UP,	    /* label process */
	METRICS_CERTIFICATE_EXPIRY, /* labels certificate, subject */
	METRICS_PROCESS_CPU,	    /* label process; milliseconds */
	METRICS_PROCESS_MEMORY,	    /* label process */
	/* listener, added after the first release of this table: ids travel in
	 * METRICS messages (and the fuzz seeds), so new ones come last */
	METRICS_SM_WAITING,	  /* XEP-0198 sessions waiting to be resumed */
	METRICS_SM_UNACKED_BYTES, /* kept until the clients acknowledge them */
	METRICS_SM_RESUMPTIONS,
	METRICS_ID_END,
};

/* Label values of the enumerated labels, in the order of their enums. */
enum metrics_conn_state {
	METRICS_CONN_TLS_HANDSHAKE,
	METRICS_CONN_STREAM_HEADER,
	METRICS_CONN_AUTH,
	METRICS_CONN_SASL,
	METRICS_CONN_BIND,
	METRICS_CONN_SESSION,
	METRICS_CONN_BRIDGE_HANDSHAKE,
	METRICS_CONN_BRIDGE,
	METRICS_CONN_CLOSING,
	METRICS_CONN_STATE_END,
};

enum metrics_login_kind {
	METRICS_LOGIN_CLIENT,
	METRICS_LOGIN_BRIDGE,
	METRICS_LOGIN_KIND_END,
};

enum metrics_login_failure {
	METRICS_LOGIN_NOT_AUTHORIZED,
	METRICS_LOGIN_TEMPORARY_AUTH_FAILURE,
	METRICS_LOGIN_INVALID_MECHANISM,
	METRICS_LOGIN_MALFORMED_REQUEST,
	METRICS_LOGIN_ABORTED,
	METRICS_LOGIN_ENCRYPTION_REQUIRED,
	METRICS_LOGIN_OTHER, /* another RFC 6120 6.5 condition */
	METRICS_LOGIN_BRIDGE_WRONG_SECRET,
	METRICS_LOGIN_BRIDGE_UNKNOWN,
	METRICS_LOGIN_FAILURE_END,
};

enum metrics_limit {
	METRICS_LIMIT_CONNECTION_RATE, /* limits.connection_rate_per_address */
	METRICS_LIMIT_UNAUTHENTICATED, /* limits.max_unauthenticated_per_address */
	METRICS_LIMIT_CONNECTIONS,     /* limits.max_connections_per_address */
	METRICS_LIMIT_SESSIONS,	       /* limits.max_sessions */
	METRICS_LIMIT_RESOURCES,       /* limits.max_resources_per_user */
	METRICS_LIMIT_STANZA_SIZE,     /* limits.max_stanza_size */
	METRICS_LIMIT_QUEUED_BYTES,    /* limits.max_queued_bytes_total */
	METRICS_LIMIT_AUTH_ATTEMPTS,   /* too many failed authentications */
	METRICS_LIMIT_END,
};

/* enum proto_stanza_kind's names: message, presence, iq. */
#define METRICS_STANZA_KIND_END 3
/* enum elector_role's names: follower, pre_candidate, candidate, leader. */
#define METRICS_ROLE_END 4

struct metrics_def {
	const char *name;
	enum metrics_type type;
	enum proc_role source;	   /* the process that counts it */
	const char *label;	   /* its label's name; NULL: none */
	const char *const *values; /* an enumerated label's values; NULL: see below */
	uint32_t value_count;	   /* of `values` */
	bool per_member;	   /* the label's value is a node id (in hex) */
	bool milli;		   /* the figure is in thousandths (ms for seconds) */
	const char *help;
};

extern const struct metrics_def metrics_defs[METRICS_ID_END];

/* One figure as a METRICS message carries it (common/proto.h). */
struct metrics_entry {
	uint16_t id;	/* enum metrics_id */
	uint16_t label; /* index into the def's values; 0 without an enumerated label */
	uint32_t reserved;
	uint64_t member; /* a per_member def's node id; 0 otherwise */
	uint64_t value;
};
_Static_assert(sizeof(struct metrics_entry) == 24, "metrics_entry has a fixed size");

struct metrics_head {
	uint32_t count; /* entries that follow */
	uint32_t reserved;
};
_Static_assert(sizeof(struct metrics_head) == 8, "metrics_head has a fixed size");

/* More than any child has: a bound on what the supervisor keeps. */
#define METRICS_ENTRIES_MAX 256

/* Checks a METRICS payload from `from` whole: the head, `count` (at most
 * METRICS_ENTRIES_MAX) entries filling it exactly, reserved fields zero,
 * each id one that `from` counts, its label in range, a member only (and
 * never 0) where the def is per member, no (id, label, member) twice.  0
 * with the entries copied to `out` (room for METRICS_ENTRIES_MAX) and their
 * number in `*count`; -1 with nothing copied when malformed. */
int metrics_unpack(const void *data, size_t len, enum proc_role from, struct metrics_entry *out,
		   size_t *count);

/* A child's collection: it appends entries; metrics_add drops nothing
 * silently (the array has room for METRICS_ENTRIES_MAX, asserted by the
 * caller's tests). */
struct metrics_set {
	struct metrics_head head;
	struct metrics_entry entries[METRICS_ENTRIES_MAX];
};
void metrics_add(struct metrics_set *set, enum metrics_id id, uint16_t label, uint64_t member,
		 uint64_t value);

/* The Prometheus text format: the # HELP and # TYPE lines of a family, then
 * its samples.  Label values are escaped as the format says (backslash,
 * double quote and line feed); `names`/`values` hold `labels` pairs.  A
 * milli def's value is written as value / 1000 with three decimals. */
void metrics_write_family(struct buf *out, const struct metrics_def *def);
void metrics_write_sample(struct buf *out, const struct metrics_def *def, const char *const *names,
			  const char *const *values, size_t labels, int64_t value);
/* An entry of a child, with its label as the def says. */
void metrics_write_entry(struct buf *out, const struct metrics_entry *e);
/* Appends `value` escaped for a label value (without the quotes). */
void metrics_escape_label(struct buf *out, const char *value);

/* The content type of the format. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
