/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-load, the benchmark load generator: many XMPP sessions over real
 * TLS on one epoll loop, driven by a scenario, reporting JSON and a table.
 *
 *   load_net.c        the loop, connections, TLS, buffered writes, reads
 *   load_xmpp.c       the XMPP side of a session: STARTTLS, SASL (SCRAM-SHA-1
 *                     or PLAIN), bind; XEP-0114 components; stanzas out
 *   load_sm.c         XEP-0198 stream management on the client side (--sm)
 *   load_scenarios.c  idle, setup, chat, cluster-chat, bridges, failover
 *   load_main.c       options, server figures from /proc, the report
 *
 * It talks only to the address it is given (the benchmarks give loopback),
 * every phase has a deadline, and the only processes it ends are those the
 * failover scenario is told to kill (by PID).
 */
#ifndef RXMPP_LOAD_H
#define RXMPP_LOAD_H

#include <expat.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOAD_PORTS_MAX 8

struct load_options {
	const char *scenario;
	const char *host;
	uint16_t ports[LOAD_PORTS_MAX]; /* client ports; [0] first, others for cluster runs */
	size_t port_count;
	uint16_t component_port;
	const char *domain;
	const char *ca;
	const char *user_prefix; /* accounts PREFIX0, PREFIX1, ... */
	const char *password;
	const char *bridge_prefix; /* components PREFIX0.domain, ... */
	const char *bridge_secret;
	bool plain;	      /* SASL PLAIN instead of SCRAM-SHA-1 */
	bool component_plain; /* components without TLS (servers that offer none) */
	bool both_ways;	      /* chat: each user of a pair sends to the other */
	unsigned sessions;
	unsigned pairs;
	unsigned bridges;
	unsigned seconds;
	unsigned window;	      /* messages in flight per sender */
	unsigned rate;		      /* failover: messages per second per sender */
	unsigned concurrency;	      /* log-ins under way at once */
	unsigned relogin_concurrency; /* failover: re-log-ins under way at once */
	unsigned accounts;	      /* distinct accounts to spread sessions over */
	int server_root;	      /* the server's top process: its tree is measured */
	int kill_pids[64];	      /* failover: the leader node's processes */
	size_t kill_count;
	unsigned kill_after; /* failover: seconds of traffic before the kill */
	bool resume;	     /* offer the TLS session of a client's last connection */
	/* --sm: clients enable stream management, ask for an ack after every
	 * sm_ack stanzas sent and give one after every sm_ack received. */
	bool sm;
	unsigned sm_ack;
	/* failover: clients with stream management on the node killed
	 * (ports[0]), each with a peer on a survivor; one message every
	 * sm_interval_ms each way. */
	unsigned sm_clients;
	unsigned sm_peers; /* 0: one per client */
	unsigned sm_interval_ms;
	int keeper_root; /* idle: a second node measured apart (the keeper) */
	bool json;
};

enum session_state {
	SESSION_CONNECTING,
	SESSION_STREAM,	   /* first stream, waiting for features with STARTTLS */
	SESSION_STARTTLS,  /* waiting for <proceed/> */
	SESSION_HANDSHAKE, /* TLS handshake */
	SESSION_AUTH,	   /* SASL exchange */
	SESSION_BIND,	   /* restarted stream, bind */
	SESSION_COMPONENT, /* XEP-0114 handshake sent */
	SESSION_READY,
	SESSION_CLOSED,
};

struct session;
struct load_sm;

/* What a scenario hears of its sessions. */
struct session_events {
	void (*ready)(struct session *s);
	/* A message or iq arrived; `body` is its body (message) or id (iq). */
	void (*stanza)(struct session *s, bool iq, const char *from, const char *body);
	void (*closed)(struct session *s, const char *why);
	/* A message came back with type='error' (the server bounced one). */
	void (*bounced)(struct session *s);
};

struct session {
	int fd;
	uint32_t watched; /* the epoll events asked for fd, so as not to ask again */
	SSL *ssl;
	XML_Parser parser;
	enum session_state state;
	bool component;
	bool tls_direct;  /* components: TLS from the first byte */
	unsigned index;	  /* the scenario's number for it */
	unsigned account; /* logs in as user_prefix + account */
	bool restart;	  /* a new stream begins after this read */
	uint16_t port;
	const struct session_events *events;
	void *arg;
	char jid[256]; /* bound full JID, or the component's JID */
	/* Output waiting for the socket, in plain text (TLS applied on flush). */
	char *out;
	size_t out_len, out_cap;
	/* Parser state: depth, the top-level element and the text kept. */
	int depth;
	char top[32];
	char from[256];
	char id[64];
	char type[16];
	char h[16]; /* XEP-0198 <a/>, <resumed/> */
	char text[1024];
	size_t text_len;
	bool in_body;
	/* SASL SCRAM. */
	char nonce[48];
	char first_bare[320];
	unsigned char server_signature[20];
	int64_t ready_ns; /* when it became ready; 0 before */
	/* --resume: the TLS session (ticket) its last connection was given,
	 * kept across xmpp_session_init and offered on the next. */
	SSL_SESSION *resume;
	/* --sm: its stream management state, kept across connections as
	 * `resume` is (and then its bound JID too). */
	struct load_sm *sm;
};

/* load_net.c */
/* TLS handshakes that resumed a session (--resume), in this process. */
extern unsigned load_resumed;
int64_t load_now_ns(void);
/* Sets up the loop; called again in a forked process, it gives that
 * process a loop of its own. */
int load_loop_init(const struct load_options *options);
/* Opens a TCP connection to host:port for `s` (nonblocking); -1 on failure. */
int load_connect(struct session *s, uint16_t port);
/* Queues text for the session; flushed when the socket can take it. */
void load_send(struct session *s, const char *data, size_t len);
void load_sendf(struct session *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Starts TLS on the connection (after <proceed/>, or at once). */
int load_start_tls(struct session *s);
void load_close(struct session *s, const char *why);
/* Runs the loop until `done` returns true or the deadline (ns) passes;
 * returns false on the deadline. */
bool load_run_until(bool (*done)(void *arg), void *arg, int64_t deadline_ns);
/* Runs the loop for `ms` whatever happens. */
void load_run_for(unsigned ms);

/* load_xmpp.c */
void xmpp_session_init(struct session *s, const struct load_options *o, unsigned index,
		       unsigned account, uint16_t port, const struct session_events *events,
		       void *arg);
void xmpp_component_init(struct session *s, const struct load_options *o, unsigned index,
			 const struct session_events *events, void *arg);
/* Called by load_net.c when the TCP connection is up / TLS is up / bytes arrived. */
void xmpp_connected(struct session *s);
void xmpp_tls_ready(struct session *s);
void xmpp_received(struct session *s, const char *data, size_t len);
void xmpp_free(struct session *s);

/* load_sm.c */
enum load_sm_step {
	LOAD_SM_NONE,	 /* not a stream management element */
	LOAD_SM_HANDLED, /* taken care of */
	LOAD_SM_READY,	 /* enabled or resumed: the session is ready */
	LOAD_SM_REBIND,	 /* resumption failed: bind afresh */
};
/* Resumptions, failed resumptions, stanzas sent again after one. */
extern unsigned load_sm_resumes, load_sm_failures;
extern uint64_t load_sm_sent_again;
void load_sm_attach(struct session *s, unsigned ack_every);
/* A new connection begins: it will resume if the session was enabled. */
void load_sm_reconnecting(struct session *s);
bool load_sm_resuming(const struct session *s);
void load_sm_resume(struct session *s);
/* Bound afresh: <enable/>; the stanzas from now on are numbered. */
void load_sm_bound(struct session *s);
/* Sends a stanza (numbered and kept until acknowledged, with --sm). */
void load_sm_stanzaf(struct session *s, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* A stanza arrived and was handled. */
void load_sm_received(struct session *s);
/* A top-level element `name` arrived (its h attribute in s->h). */
enum load_sm_step load_sm_element(struct session *s, const char *name);
unsigned load_sm_unacked(const struct session *s);

/* load_scenarios.c: each returns 0 and fills the report, or -1. */
struct load_report;
int scenario_run(const struct load_options *o, struct load_report *report);

/* load_main.c */
#define REPORT_FIGURES_MAX 64
struct load_report {
	const char *names[REPORT_FIGURES_MAX];
	double values[REPORT_FIGURES_MAX];
	const char *units[REPORT_FIGURES_MAX];
	size_t count;
};
void report_add(struct load_report *r, const char *name, double value, const char *unit);
/* The server's process tree: CPU seconds used so far and resident KiB now. */
double server_cpu_seconds(int root);
long server_rss_kib(int root);
/* The same, leaving out the processes in `pids` (a node about to be killed). */
double server_cpu_seconds_except(int root, const int *pids, size_t count);
long server_rss_kib_except(int root, const int *pids, size_t count);
/* The same CPU seconds, of the processes of one command only. */
double server_cpu_seconds_named(int root, const int *pids, size_t count, const char *name);
double own_cpu_seconds(void);

#endif
