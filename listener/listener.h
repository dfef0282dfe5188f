/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-listener: shared state of its parts.
 *
 *   listener_main.c       the process: sockets, accept, configuration, router channel
 *   listener_conn.c       one connection: its byte stream, XML stream, timers, stream errors
 *   listener_client.c     the client stream: STARTTLS, SASL, bind, stanzas (RFC 6120)
 *   listener_component.c  the component stream of call bridges (XEP-0114)
 *   listener_route.c      sessions and stanzas to and from the router
 *   listener_index.c      connections by id, session counts
 *   listener_admit.c      the per-address limits at accept (rate, unauthenticated)
 *   listener_pace.c       log-in work per turn of the loop, bounded
 *   listener_client_sm.c  XEP-0198 acks and resumption, XEP-0352: their I/O
 *   listener_sm.c, listener_csi.c  their pure state (counters, queues, decisions)
 *   listener_accounts.c   the accounts file, re-read when it changes
 *   listener_admin.c      rxmppctl sessions and kick, relayed by the supervisor
 *   listener_drain.c      rxmppctl drain: streams and sessions sent to other nodes
 *   listener_sasl.c, common/tls.c   SASL, TLS
 *   common/xml.c, common/xml_write.c   the XML parser and writer
 */
#ifndef RXMPP_LISTENER_H
#define RXMPP_LISTENER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ev.h"
#include "common/ipc.h"
#include "common/jid.h"
#include "common/metrics.h"
#include "common/netaddr.h"
#include "common/proto.h"
#include "common/config.h"
#include "common/stream.h"
#include "listener_admit.h"
#include "listener_csi.h"
#include "listener_index.h"
#include "listener_sm.h"
#include "listener_sasl.h"
#include "common/tls.h"
#include "common/xml.h"
#include "common/xml_write.h"

enum conn_state {
	CONN_TLS_HANDSHAKE, /* direct TLS: handshake before the stream */
	CONN_STREAM_HEADER, /* waiting for <stream:stream> */
	CONN_AUTH,	    /* client: features sent, not authenticated */
	CONN_SASL,	    /* client: in a SASL exchange */
	CONN_BIND,	    /* client: authenticated, not bound */
	CONN_SESSION,	    /* client: bound; stanzas are routed */
	CONN_HANDSHAKE,	    /* component: waiting for <handshake> */
	CONN_COMPONENT,	    /* component: authenticated; stanzas are routed */
	CONN_CLOSING,	    /* flushing the last bytes before closing */
};

/* A stream-management session (listener_client_sm.c): it outlives its
 * connection while it waits to be resumed, still bound at the router. */
struct sm_session {
	struct listener_sm core;
	struct conn *conn; /* attached; NULL while detached */
	/* While detached: what the connection held. */
	uint64_t session; /* the router's id of the session */
	char *user, *jid;
	int priority;
	bool available;
	int64_t expires_at; /* while detached: when its waiting time ends */
	struct ev_timer *expiry;
	/* Kept by the cluster's leader too (router/router_sm.c): `keeping`
	 * once it was reported to the router, which then hears of every
	 * stanza numbered; `kept` once the keeper said it has it: a stanza
	 * is then written only once the keeper has it (`numbered`), and the
	 * client's stanzas are acknowledged only as far as the keeper counts
	 * them (`confirmed`). */
	bool keeping, kept;
	bool counted;	   /* the client's last stanza went with its count */
	bool ack_owed;	   /* an <a/> went out below `handled`: another follows */
	bool request_owed; /* an <r/> to send once what waits is written */
	uint32_t written;  /* stanzas written, numbered up to */
	struct listener_sm_item *last_written; /* valid while written != core.acked */
	uint32_t numbered;		       /* the keeper has the stanzas up to */
	uint32_t confirmed;		       /* the keeper counts the client's stanzas up to */
	/* A resumption from what the leader kept, being received. */
	uint32_t items_left, expected_sent;
	/* In sm_orphans, asked by a connection that went before the answer
	 * (core.id and core.acked: the id and h it asked with); the answer's
	 * time left of the session's wait, which it then waits here. */
	bool answer_due;
	uint32_t remaining_ms;
};

struct conn {
	struct stream stream; /* first: the socket, buffers and TLS (common/stream.h) */
	uint64_t id;
	enum proto_socket_kind kind;
	enum conn_state state;
	char peer[NETADDR_PEER_TEXT_MAX];
	char peer_address[NETADDR_TEXT_MAX]; /* without the port: the per-address limits' key */
	struct xml_stream *xml;
	bool restart_pending; /* the stream restarts after the current element */
	bool starttls_pending;
	bool header_sent;
	char stream_id[40];
	struct sasl *sasl; /* during an authentication exchange only */
	unsigned auth_failures;
	bool authenticated; /* SASL or the component handshake succeeded */
	char *user;	    /* once authenticated */
	char *jid;	    /* full JID of a bound client, or a component's address */
	char bridge[64];    /* component: the call bridge's name */
	bool announced;	    /* SESSION_UP sent to the router */
	bool
	    counted; /* a session in listener_state.index's counts (listener_index_count_session) */
	/* Drained (listener_conn_redirect): told to go elsewhere, no longer
	 * a session the router knows, but what it still sends is routed
	 * until it closes its stream. */
	bool redirected;
	bool available; /* last presence broadcast was available */
	int priority;
	int64_t created;
	int64_t session_at;    /* when it was bound (client) or handshaken (bridge) */
	bool session_logged;   /* its start was logged: its end will be */
	char end_reason[160];  /* why it ends, for the log line; the first cause wins */
	struct sm_session *sm; /* XEP-0198 enabled */
	bool sm_final;	       /* ended on purpose: not kept for resumption */
	/* A resumption asked of the cluster's leader (the id and h asked),
	 * then the session being rebuilt from its answer. */
	bool sm_asked;
	bool sm_answer_due; /* asked, and the answer is not in yet */
	char sm_previd[LISTENER_SM_ID_LEN + 1];
	uint32_t sm_h;
	struct sm_session *sm_resuming;
	struct listener_csi csi; /* XEP-0352 */
	int64_t last_in;
	unsigned inputs_since_quiet; /* reads since the session was last quiet */
	int64_t last_out;
	struct ev_timer *timer;
	struct conn *next;
	struct conn **prev;
	/* Log-in pacing (listener_pace.c): the queue it waits in, if any. */
	struct pace_queue *pace_queue;
	struct conn *pace_next;
	struct conn **pace_prev;
	bool pace_resumed;   /* taken from a queue, not read since */
	bool pace_handshake; /* holds one of the slots for TLS handshakes */
};
_Static_assert(offsetof(struct conn, stream) == 0, "a connection begins with its stream");

/* What the listener counts for the metrics (common/metrics.h). */
struct listener_counters {
	uint64_t logins[METRICS_LOGIN_KIND_END];
	uint64_t login_failures[METRICS_LOGIN_FAILURE_END];
	uint64_t tls_handshakes;
	uint64_t tls_failures;
	uint64_t limit_refusals[METRICS_LIMIT_END];
	uint64_t sm_resumptions;
	size_t sm_unacked_bytes; /* in every session's queue (listener_client_sm.c) */
};

struct listener {
	struct ev_loop *loop;
	struct config cfg;
	bool configured;
	SSL_CTX *tls; /* the set from the certificate worker; NULL until it comes */
	struct conn *conns;
	struct listener_index index; /* the same connections, found without a walk */
	struct listener_admit admit; /* their counts and accept rate by peer address */
	uint64_t next_id;
	struct proto_callbridge *bridges; /* in force */
	size_t bridge_count;
	struct proto_callbridge *next_bridges; /* arriving with a configuration */
	size_t next_bridge_count;
	size_t next_bridge_cap;
	/* The channel to the router is congested: client input waits
	 * (backpressure, common/ipc.h). */
	bool input_paused;
	/* Output queued for all connections (limits.max_queued_bytes_total). */
	size_t queued_total;
	/* Stream-management sessions by resumption id, and those detached by
	 * session id (listener_client_sm.c). */
	struct table *sm_ids;
	struct table *sm_detached;
	/* Resumptions the leader granted to a connection that went before
	 * the answer was in, by session id: their SM_ITEMs still come in,
	 * then they wait here as detached sessions (listener_client_sm.c). */
	struct table *sm_orphans;
	struct listener_counters counters; /* listener_metrics.c */
};

extern struct listener listener_state;

/* listener_metrics.c: the figures for the supervisor (child_ops.metrics). */
void listener_metrics(struct metrics_set *set);
/* A SASL failure with this RFC 6120 6.5 condition. */
void listener_metrics_login_failed(const char *condition);

/* listener_main.c: accept when configured, enabled and holding a TLS set. */
void listener_sockets_update(void);

/* listener_tls.c: a TLS_SET from the certificate worker; false if malformed. */
bool listener_tls_message(const struct ipc_msg *msg);

/* listener_conn.c */
/* Sets a copied string field (user, jid); -1 when out of memory. */
int listener_conn_set(char **field, const char *value);
/* Serves an accepted connection; takes `fd` (closed when this fails) and
 * the count listener_admit_open made for it (released when it closes, or
 * when this fails). */
struct conn *listener_conn_new(int fd, enum proto_socket_kind kind, const char *peer,
			       const char *peer_address);
/* Queues bytes for the peer (through TLS when it is on). */
void listener_conn_send(struct conn *c, const char *data, size_t len);
void listener_conn_send_str(struct conn *c, const char *text);
/* SASL or the component handshake succeeded: no longer counted against
 * limits.max_unauthenticated_per_address. */
void listener_conn_authenticated(struct conn *c);
/* Ends the stream with an RFC 6120 stream error and closes after the flush. */
void listener_conn_stream_error(struct conn *c, const char *condition, const char *text);
/* The same with an application-specific condition element `app` (markup). */
void listener_conn_stream_error_app(struct conn *c, const char *condition, const char *text,
				    const char *app);
/* Drain: tells the peer to go to `host` (host:port) with RFC 6120
 * 4.9.3.19 <see-other-host/>, or, when `host` is NULL, <system-shutdown/>.
 * The session leaves the router at once, so that what is on its way to it
 * is routed again (to its new session, or bounced); what the peer still
 * sends before it closes its stream is routed as before. */
void listener_conn_redirect(struct conn *c, const char *host);
/* Closes the stream cleanly (</stream:stream>) and the connection after. */
void listener_conn_end_stream(struct conn *c);
/* A new XML stream (after STARTTLS or SASL success). */
void listener_conn_restart_stream(struct conn *c);
void listener_conn_send_header(struct conn *c, const char *content_ns, const char *from);
/* Ends every connection with <system-shutdown/>; `why` for the log lines. */
void listener_conns_close_all(const char *why);
/* The session is bound (client) or handshaken (bridge): logs its start. */
void listener_conn_session_started(struct conn *c);
/* Why the connection ends, for its session's last log line (the first
 * cause set wins: a stream error, then the close that follows it). */
void listener_conn_end_reason(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "TLSv1.3", or "no TLS". */
const char *listener_conn_tls_version(const struct conn *c);
/* Pauses or resumes reading every connection (listener_state.input_paused). */
void listener_conns_pause_input(bool paused);
/* Over limits.max_queued_bytes_total: closes the connections with the
 * largest queues until it is not; true when it closed one. */
bool listener_conns_shed(void);

/* listener_pace.c: log-in work (accept, TLS handshake, SASL) bounded per
 * turn of the loop, so that established sessions are never starved, and
 * TLS handshakes in progress bounded in number (their memory). */
/* Measures a piece of log-in work against this turn's budget, to its end. */
void listener_pace_measure(void);
void listener_pace_end(void);
/* A connection's socket is about to be read: true to go on; false when it
 * is still logging in and the budget is spent (it is paused and queued). */
bool listener_pace_may_read(struct conn *c);
bool listener_pace_queued(const struct conn *c);
/* Its TLS handshake is over: the slot goes to the next that waits. */
void listener_pace_handshake_over(struct conn *c);
/* The connection is closing: out of the queues, its slot given back. */
void listener_pace_forget(struct conn *c);
/* Before the loop sleeps: a new budget, and the queue's first read again. */
bool listener_pace_turn(struct ev_loop *loop, void *arg);

/* listener_client.c */
void listener_client_open(struct conn *c, const char *content_ns, const struct xml_attr *attrs);
void listener_client_element(struct conn *c, struct xml_node *element);

/* listener_client_sm.c: XEP-0198 and XEP-0352 for client sessions. */
int listener_client_sm_init(void);
/* The <sm/> and <csi/> stream features, after authentication. */
void listener_client_sm_features(struct buf *features);
/* An element of urn:xmpp:sm:3 or urn:xmpp:csi:0: true when it was one. */
bool listener_client_sm_element(struct conn *c, struct xml_node *element);
/* A stanza came from the client (its handled count). */
void listener_client_sm_received(struct conn *c);
/* Sends a stanza to a session: counted and kept until acknowledged with
 * stream management, held back while a client is inactive (CSI). */
void listener_client_sm_send(struct conn *c, const char *bytes, size_t len);
/* The connection ends: true when its session was kept for resumption
 * (still bound at the router); otherwise the caller ends the session and
 * then calls listener_client_sm_end, which returns what was not
 * acknowledged or held back to its senders. */
bool listener_client_sm_detach(struct conn *c);
void listener_client_sm_end(struct conn *c);
/* A delivery or a kick for a session with no connection: true when a
 * detached session took it. */
bool listener_client_sm_deliver_detached(uint64_t session, const char *bytes, size_t len);
/* A delivery for a connection that is closing: kept, unsent, when its
 * session may still be resumed (true); false otherwise. */
bool listener_client_sm_keep(struct conn *c, const char *bytes, size_t len);
bool listener_client_sm_kick_detached(uint64_t session);
/* Ends every session waiting to be resumed (the node drains: their
 * clients are sent elsewhere when they come back). */
void listener_client_sm_end_detached(const char *why);
/* The router came (back): the detached sessions are announced again. */
void listener_client_sm_announce_detached(void);
/* The keepalive is due: an <r/> instead when stanzas wait for an ack;
 * true when it sent one. */
bool listener_client_sm_keepalive(struct conn *c);
/* After a stanza from the client: its count to the keeper, if it did not
 * go with the stanza (listener_client_sm_count). */
void listener_client_sm_after_stanza(struct conn *c);
/* The handled count to send with the stanza of `c` being routed, if the
 * leader keeps its session (NULL otherwise); marks it sent so. */
const uint32_t *listener_client_sm_count(struct conn *c);
/* SM_KEPT, SM_REKEEP, SM_RESUMED, SM_ITEM, SM_RETURN from the router;
 * false when malformed. */
bool listener_client_sm_message(const struct ipc_msg *msg);

/* listener_component.c */
void listener_component_open(struct conn *c, const char *content_ns, const struct xml_attr *attrs);
void listener_component_element(struct conn *c, struct xml_node *element);

/* listener_route.c */
/* Sends a stanza to the router, `from` and `to` already checked. */
void listener_route_stanza(struct conn *c, struct xml_node *stanza, const char *from,
			   const char *to);
/* The error reply of RFC 6120 8.3 for a stanza that was not routed, with
 * an optional human-readable text; none for errors, results and presence. */
void listener_route_bounce(struct conn *c, const struct xml_node *stanza, const char *to,
			   const char *error_type, const char *condition, const char *text);
void listener_route_session_up(struct conn *c);
void listener_route_session_down(struct conn *c);
/* The same for a session without a connection (detached, listener_client_sm.c). */
void listener_route_session_up_id(uint64_t session, const char *jid);
void listener_route_session_down_id(uint64_t session);
void listener_route_presence_id(uint64_t session, int priority, bool available);
/* A stanza for a session that has ended (SESSION_DOWN sent before):
 * routed again as the server, which answers its sender (RFC 6121 8.5.3.2). */
void listener_route_undeliverable(const char *bytes, size_t len);
void listener_route_presence(struct conn *c, int priority, bool available);
/* The channel to the router went, or a new one came: every stanza the
 * router had not confirmed is answered (internal-server-error, wait). */
void listener_route_router_gone(void);
/* The router came (back): announce every session again. */
void listener_route_announce_all(void);
bool listener_route_message(const struct ipc_msg *msg);

/* listener_admin.c: CTL_SESSIONS and CTL_KICK from the supervisor; false
 * for another type or a malformed request. */
bool listener_admin_message(const struct ipc_msg *msg);

/* listener_drain.c: rxmppctl drain, relayed by the supervisor (CTL_DRAIN):
 * new streams and, at a bounded rate, the sessions held are redirected. */
bool listener_drain_message(const struct ipc_msg *msg);
/* Draining: a stream that opens is redirected at once (true). */
bool listener_drain_stream_open(struct conn *c);

/* listener_accounts.c */
const struct scram_keys *listener_accounts_lookup(const char *user, enum scram_hash hash,
						  void *arg);

#endif
