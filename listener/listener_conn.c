/* SPDX-License-Identifier: MIT */
/*
 * One connection of the listener: its byte stream (common/stream.c: the
 * socket, TLS over the connection's own buffers, output flushed once per
 * loop round), the XML stream, the timers (TLS handshake, authentication,
 * idle with whitespace keepalives) and stream errors.  The stream logic is
 * in listener_client.c and listener_component.c.
 *
 * Failure: a peer that misbehaves gets an RFC 6120 stream error and one
 * warning with its address; nothing a peer sends can end the process.
 *
 * A session's start (bound, or a bridge's handshake accepted) and its end
 * are logged at info, with the JID, the peer's address, the TLS version,
 * how long it lasted and why it ended (end_reason: the first cause, so a
 * stream error is not reported as the close that follows it).
 */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "listener.h"

/* A peer that does not read its output is dropped past this much. */
#define CONN_OUTPUT_MAX (8u * 1024u * 1024u)
/* A session silent this long gives its parser's and its buffers' memory
 * back. */
#define CONN_PARSER_IDLE_MS 5000
/* Reads after which a session counts as busy (stream_set_busy). */
#define CONN_BUSY_INPUTS 16
/* Time to flush the last bytes of a closing connection. */
#define CONN_LINGER_MS 2000
/* Buffers of an idle connection are given back whole. */
#define CONN_IDLE_BUFFER 0

static const struct stream_events conn_stream_events;
static int64_t conn_timer(struct ev_timer *timer, void *arg);
static void listener_conn_close(struct conn *c, const char *why);

static void xml_open(void *arg, const char *content_ns, const struct xml_attr *attrs)
{
	struct conn *c = arg;
	if (c->kind == PROTO_SOCKET_COMPONENT)
		listener_component_open(c, content_ns, attrs);
	else
		listener_client_open(c, content_ns, attrs);
}

static void xml_element(void *arg, struct xml_node *element)
{
	struct conn *c = arg;
	if (c->state == CONN_CLOSING)
		return;
	if (c->kind == PROTO_SOCKET_COMPONENT)
		listener_component_element(c, element);
	else
		listener_client_element(c, element);
}

static void xml_close(void *arg)
{
	struct conn *c = arg;
	log_debug("%s closed its stream", c->peer);
	listener_conn_end_reason(c, "closed by the %s",
				 c->kind == PROTO_SOCKET_COMPONENT ? "call bridge" : "client");
	listener_conn_end_stream(c);
}

static const struct xml_stream_events xml_events = {
    .open = xml_open,
    .element = xml_element,
    .close = xml_close,
};

static struct xml_stream *conn_new_stream(struct conn *c)
{
	struct xml_limits limits = {
	    .max_stanza_size = listener_state.cfg.limits.max_stanza_size,
	    .max_depth = listener_state.cfg.limits.max_depth,
	    .max_attributes = listener_state.cfg.limits.max_attributes,
	};
	return xml_stream_new(&limits, &xml_events, c);
}

/* Every stream, the first and each restarted one, gets an id of its own
 * (RFC 6120 4.7.3); a predictable one would let a recorded component
 * handshake be replayed.  -1 when there are no random bytes. */
static int conn_new_stream_id(struct conn *c)
{
	unsigned char random[15];
	_Static_assert(2 * sizeof(random) < sizeof(c->stream_id), "the id fits");
	static const char hex[] = "0123456789abcdef";
	if (RAND_bytes(random, sizeof(random)) != 1)
		return -1;
	/* By hand: 15 snprintf calls were about 11,000 instructions a stream,
	 * three streams a log-in. */
	for (size_t i = 0; i < sizeof(random); i++) {
		c->stream_id[2 * i] = hex[random[i] >> 4];
		c->stream_id[2 * i + 1] = hex[random[i] & 15];
	}
	c->stream_id[2 * sizeof(random)] = '\0';
	return 0;
}

struct conn *listener_conn_new(int fd, enum proto_socket_kind kind, const char *peer,
			       const char *peer_address)
{
	struct stream_settings settings = {
	    .input_max = listener_state.cfg.limits.max_stanza_size + 64 * 1024,
	    .output_max = CONN_OUTPUT_MAX,
	    .idle_keep = CONN_IDLE_BUFFER,
	    .phase = EV_PHASE_STREAMS,
	    .queued_total = &listener_state.queued_total,
	};
	struct conn *c =
	    stream_new(sizeof(*c), listener_state.loop, fd, &conn_stream_events, &settings);
	if (c == NULL) {
		listener_admit_close(&listener_state.admit, peer_address, false);
		return NULL;
	}
	c->id = ++listener_state.next_id;
	c->kind = kind;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->peer_address, sizeof(c->peer_address), "%s", peer_address);
	c->created = c->last_in = c->last_out = ev_now(listener_state.loop);
	listener_csi_init(&c->csi);
	c->timer = ev_timer_add(listener_state.loop, 1000, conn_timer, c);
	if (c->timer == NULL || listener_index_add(&listener_state.index, c) == -1) {
		listener_admit_close(&listener_state.admit, peer_address, false);
		ev_timer_del(c->timer);
		stream_free(&c->stream);
		return NULL;
	}
	c->next = listener_state.conns;
	if (listener_state.conns != NULL)
		listener_state.conns->prev = &c->next;
	listener_state.conns = c;
	c->prev = &listener_state.conns;
	if (listener_state.input_paused)
		stream_pause_input(&c->stream, true);

	bool direct_tls = kind == PROTO_SOCKET_CLIENT_TLS ||
			  (kind == PROTO_SOCKET_COMPONENT &&
			   listener_state.cfg.listen.component_tls == CONFIG_COMPONENT_TLS_DIRECT);
	if (direct_tls) {
		if (listener_state.tls == NULL ||
		    stream_start_tls(&c->stream, listener_state.tls, false) == -1) {
			listener_conn_close(c, "no TLS context for a TLS port");
			return NULL;
		}
		c->state = CONN_TLS_HANDSHAKE;
	} else {
		c->state = CONN_STREAM_HEADER;
	}
	if (conn_new_stream_id(c) == -1) {
		listener_conn_close(c, "no random bytes for a stream id");
		return NULL;
	}
	c->xml = conn_new_stream(c);
	if (c->xml == NULL) {
		listener_conn_close(c, "out of memory");
		return NULL;
	}
	return c;
}

void listener_conn_authenticated(struct conn *c)
{
	if (c->authenticated)
		return;
	c->authenticated = true;
	listener_admit_authenticated(&listener_state.admit, c->peer_address);
}

int listener_conn_set(char **field, const char *value)
{
	char *copy = strdup(value);
	if (copy == NULL)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

const char *listener_conn_tls_version(const struct conn *c)
{
	return c->stream.tls_active && c->stream.tls.ssl != NULL
		   ? SSL_get_version(c->stream.tls.ssl)
		   : "no TLS";
}

/* "client session alice@example.com/phone from 192.0.2.7:50312" */
static void conn_session_name(const struct conn *c, char *out, size_t size)
{
	if (c->kind == PROTO_SOCKET_COMPONENT)
		snprintf(out, size, "call bridge %s session %s from %s", c->bridge,
			 c->jid ? c->jid : "?", c->peer);
	else
		snprintf(out, size, "client session %s from %s", c->jid ? c->jid : "?", c->peer);
}

void listener_conn_session_started(struct conn *c)
{
	char name[JID_MAX + 160];
	conn_session_name(c, name, sizeof(name));
	c->session_at = ev_now(listener_state.loop);
	c->session_logged = true;
	log_info("%s started (%s)", name, listener_conn_tls_version(c));
}

void listener_conn_end_reason(struct conn *c, const char *fmt, ...)
{
	if (c->end_reason[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->end_reason, sizeof(c->end_reason), fmt, ap);
	va_end(ap);
}

static void conn_log_end(struct conn *c)
{
	char name[JID_MAX + 160];
	conn_session_name(c, name, sizeof(name));
	int64_t lasted = ev_now(listener_state.loop) - c->session_at;
	log_info("%s ended after %lld.%lld s: %s", name, (long long)(lasted / 1000),
		 (long long)(lasted % 1000 / 100),
		 c->end_reason[0] ? c->end_reason : "connection closed");
	c->session_logged = false;
}

static void listener_conn_close(struct conn *c, const char *why)
{
	if (why != NULL) {
		log_debug("%s: closing: %s", c->peer, why);
		listener_conn_end_reason(c, "%s", why);
	}
	if (c->session_logged)
		conn_log_end(c);
	/* A session kept for resumption stays bound at the router; any other
	 * ends there first, so that what it had not acknowledged is routed
	 * again to its senders, not back to it. */
	if (c->announced && !listener_client_sm_detach(c))
		listener_route_session_down(c);
	listener_client_sm_end(c);
	listener_index_remove(&listener_state.index, c);
	listener_admit_close(&listener_state.admit, c->peer_address, c->authenticated);
	listener_pace_forget(c);
	*c->prev = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ev_timer_del(c->timer);
	xml_stream_free(c->xml);
	if (c->sasl != NULL) {
		listener_sasl_free(c->sasl);
		free(c->sasl);
	}
	free(c->user);
	free(c->jid);
	/* The object goes with its stream once the stream's callbacks return;
	 * until then a caller up the stack sees a closing connection. */
	c->state = CONN_CLOSING;
	c->xml = NULL;
	c->sasl = NULL;
	c->user = c->jid = NULL;
	stream_free(&c->stream);
}

/* Output */

void listener_conn_send(struct conn *c, const char *data, size_t len)
{
	if (stream_write(&c->stream, data, len) == -1 && c->state != CONN_CLOSING) {
		static struct log_limit not_reading;
		log_warnx_limited(&not_reading, "%s: does not read what it is sent; closing",
				  c->peer);
		listener_conn_end_reason(c, "does not read what it is sent");
		c->state = CONN_CLOSING;
		stream_stop_input(&c->stream);
	}
	c->last_out = ev_now(listener_state.loop);
}

void listener_conn_send_str(struct conn *c, const char *text)
{
	listener_conn_send(c, text, strlen(text));
}

void listener_conns_close_all(const char *why)
{
	while (listener_state.conns != NULL) {
		struct conn *c = listener_state.conns;
		listener_conn_end_reason(c, "stream error system-shutdown: %s", why);
		c->sm_final = true;
		if (c->header_sent)
			listener_conn_send_str(c, "<stream:error><system-shutdown "
						  "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
						  "</stream:error></stream:stream>");
		stream_shutdown(&c->stream);
		/* One last best-effort write; the process is going away. */
		stream_flush(&c->stream);
		listener_conn_close(c, NULL);
	}
}

void listener_conns_pause_input(bool paused)
{
	listener_state.input_paused = paused;
	/* What waits for its log-in turn stays paused (listener_pace.c). */
	for (struct conn *c = listener_state.conns; c != NULL; c = c->next)
		stream_pause_input(&c->stream, paused || listener_pace_queued(c));
}

/* Memory for all clients is bounded, not only per connection: a few clients
 * that never read must not take the listener, and with it every session of
 * the node, down.  Those holding the most go first, with a stream error. */
bool listener_conns_shed(void)
{
	size_t cap = listener_state.cfg.limits.max_queued_bytes_total;
	if (listener_state.queued_total <= cap)
		return false;
	/* What the sockets take now is not held: count only what they refuse. */
	for (struct conn *c = listener_state.conns; c != NULL; c = c->next)
		stream_flush(&c->stream);
	bool shed = false;
	while (listener_state.queued_total > cap) {
		struct conn *largest = NULL;
		for (struct conn *c = listener_state.conns; c != NULL; c = c->next) {
			if (largest == NULL || c->stream.queued > largest->stream.queued)
				largest = c;
		}
		if (largest == NULL || largest->stream.queued == 0)
			break;
		static struct log_limit shed_limit;
		log_warnx_limited(
		    &shed_limit,
		    "%s: stream error resource-constraint: %zu bytes wait for it, %zu "
		    "for all clients (limits.max_queued_bytes_total %zu); closing it",
		    largest->peer, largest->stream.queued, listener_state.queued_total, cap);
		listener_state.counters.limit_refusals[METRICS_LIMIT_QUEUED_BYTES]++;
		listener_conn_end_reason(largest,
					 "stream error resource-constraint: too much output "
					 "waiting for all clients");
		largest->sm_final = true;
		static const char error[] =
		    "<stream:error><resource-constraint xmlns='" XML_NS_STREAM_ERRORS
		    "'/></stream:error></stream:stream>";
		/* Best effort: behind what it did not read, it may never arrive. */
		if (largest->header_sent && largest->state != CONN_CLOSING)
			stream_write(&largest->stream, error, sizeof(error) - 1);
		stream_shutdown(&largest->stream);
		stream_flush(&largest->stream);
		listener_conn_close(largest, NULL);
		shed = true;
	}
	return shed;
}

void listener_conn_send_header(struct conn *c, const char *content_ns, const char *from)
{
	char header[512];
	snprintf(header, sizeof(header),
		 "<?xml version='1.0'?><stream:stream xmlns='%s' "
		 "xmlns:stream='http://etherx.jabber.org/streams' id='%s' from='%s'%s>",
		 content_ns, c->stream_id, from,
		 strcmp(content_ns, XML_NS_CLIENT) == 0 ? " version='1.0' xml:lang='en'" : "");
	listener_conn_send_str(c, header);
	c->header_sent = true;
}

/* Sends the last bytes of the stream (opening it first if it never was,
 * RFC 6120 4.9.1.1) and closes once they are out or the linger time ends. */
static void conn_finish(struct conn *c, const char *last, size_t len)
{
	if (!c->header_sent)
		listener_conn_send_header(
		    c, c->kind == PROTO_SOCKET_COMPONENT ? XML_NS_COMPONENT : XML_NS_CLIENT,
		    listener_state.cfg.domain);
	listener_conn_send(c, last, len);
	stream_shutdown(&c->stream);
	c->state = CONN_CLOSING;
	stream_stop_input(&c->stream);
	xml_stream_stop(c->xml);
	ev_timer_reset(c->timer, CONN_LINGER_MS);
}

void listener_conn_stream_error(struct conn *c, const char *condition, const char *text)
{
	listener_conn_stream_error_app(c, condition, text, NULL);
}

void listener_conn_stream_error_app(struct conn *c, const char *condition, const char *text,
				    const char *app)
{
	if (c->state == CONN_CLOSING)
		return;
	/* XEP-0198 section 5: a session whose connection timed out may be
	 * resumed; one the server ended for a reason may not. */
	if (strcmp(condition, "connection-timeout") != 0)
		c->sm_final = true;
	if (c->redirected) {
		/* Its stream was closed already, by the redirection. */
		listener_conn_end_reason(c, "stream error %s after the redirection", condition);
		conn_finish(c, "", 0);
		return;
	}
	static struct log_limit stream_error;
	log_warnx_limited(&stream_error, "%s: stream error %s%s%s", c->peer, condition,
			  text ? ": " : "", text ? text : "");
	listener_conn_end_reason(c, "stream error %s%s%s", condition, text ? ": " : "",
				 text ? text : "");
	struct buf out;
	buf_init(&out, 4096);
	buf_append(&out, "<stream:error><", 15);
	buf_append(&out, condition, strlen(condition));
	buf_append(&out, " xmlns='" XML_NS_STREAM_ERRORS "'/>",
		   8 + strlen(XML_NS_STREAM_ERRORS) + 3);
	if (text != NULL) {
		const char *open = "<text xmlns='" XML_NS_STREAM_ERRORS "'>";
		buf_append(&out, open, strlen(open));
		xml_escape(&out, text, strlen(text), false);
		buf_append(&out, "</text>", 7);
	}
	if (app != NULL)
		buf_append(&out, app, strlen(app));
	buf_append(&out, "</stream:error></stream:stream>", 31);
	conn_finish(c, buf_head(&out), buf_len(&out));
	buf_free(&out);
}

void listener_conn_redirect(struct conn *c, const char *host)
{
	if (c->state == CONN_CLOSING || c->redirected)
		return;
	bool session = c->state == CONN_SESSION || c->state == CONN_COMPONENT;
	if (!session) {
		/* Not routed yet: nothing can be on its way to or from it. */
		if (host == NULL) {
			listener_conn_stream_error(c, "system-shutdown", "this node is draining");
			return;
		}
		listener_conn_end_reason(c, "stream error see-other-host %s (drain)", host);
	} else {
		listener_conn_end_reason(c, "stream error %s%s (drain)",
					 host ? "see-other-host " : "system-shutdown",
					 host ? host : "");
		if (c->announced)
			listener_route_session_down(c);
		c->redirected = true;
		/* It cannot resume here (a draining node redirects that stream
		 * too): what it has not acknowledged is routed again at once. */
		c->sm_final = true;
	}
	struct buf out;
	buf_init(&out, 512);
	if (host != NULL) {
		const char *open =
		    "<stream:error><see-other-host xmlns='" XML_NS_STREAM_ERRORS "'>";
		buf_append(&out, open, strlen(open));
		/* proto_drain_check let through nothing that needs escaping. */
		buf_append(&out, host, strlen(host));
		buf_append(&out, "</see-other-host>", 17);
	} else {
		const char *open =
		    "<stream:error><system-shutdown xmlns='" XML_NS_STREAM_ERRORS "'/>";
		buf_append(&out, open, strlen(open));
	}
	const char *text =
	    "<text xmlns='" XML_NS_STREAM_ERRORS "'>this node is draining for maintenance</text>"
	    "</stream:error></stream:stream>";
	buf_append(&out, text, strlen(text));
	if (!session) {
		conn_finish(c, buf_head(&out), buf_len(&out));
	} else {
		if (!c->header_sent)
			listener_conn_send_header(
			    c, c->kind == PROTO_SOCKET_COMPONENT ? XML_NS_COMPONENT : XML_NS_CLIENT,
			    listener_state.cfg.domain);
		listener_conn_send(c, buf_head(&out), buf_len(&out));
		/* Closed when the peer closes its stream, or after the linger. */
		ev_timer_reset(c->timer, CONN_LINGER_MS);
	}
	buf_free(&out);
}

void listener_conn_end_stream(struct conn *c)
{
	c->sm_final = true; /* XEP-0198 section 5: a closed stream is not resumed */
	if (c->state != CONN_CLOSING)
		conn_finish(c, "</stream:stream>", c->redirected ? 0 : 16);
}

void listener_conn_restart_stream(struct conn *c)
{
	c->restart_pending = true;
	xml_stream_stop(c->xml);
}

/* Input */

/* Parses `data`; returns how much was consumed. Handles restarts. */
static size_t conn_parse(struct conn *c, const char *data, size_t len)
{
	size_t used = xml_stream_feed(c->xml, data, len);
	const char *error = xml_stream_error(c->xml);
	if (error != NULL) {
		listener_conn_stream_error(c, error, xml_stream_error_text(c->xml));
		return len;
	}
	return used;
}

/* Swaps in a fresh XML stream (and TLS after STARTTLS); true when it did. */
static bool conn_apply_restart(struct conn *c)
{
	if (!c->restart_pending || c->state == CONN_CLOSING)
		return false;
	c->restart_pending = false;
	xml_stream_free(c->xml);
	c->xml = conn_new_stream(c);
	c->header_sent = false;
	if (c->xml == NULL || conn_new_stream_id(c) == -1) {
		log_warnx("%s: %s for the restarted stream", c->peer,
			  c->xml == NULL ? "out of memory" : "no random bytes");
		/* Closed after this round; the caller still holds the connection. */
		c->state = CONN_CLOSING;
		stream_stop_input(&c->stream);
		return false;
	}
	if (c->starttls_pending) {
		c->starttls_pending = false;
		if (stream_start_tls(&c->stream, listener_state.tls, false) == -1) {
			log_warnx("%s: TLS set-up failed", c->peer);
			c->state = CONN_CLOSING;
			stream_stop_input(&c->stream);
			return false;
		}
		c->state = CONN_TLS_HANDSHAKE;
	}
	return true;
}

/* What arrived, through the parser; a restart (SASL) goes on with the rest
 * here, STARTTLS returns so that the stream decrypts what follows. */
static void conn_input(struct stream *s)
{
	struct conn *c = (struct conn *)s;
	c->last_in = ev_now(listener_state.loop);
	/* A session in use keeps its buffers until it has been quiet for
	 * CONN_PARSER_IDLE_MS (conn_timer); one logging in, or that sent only
	 * its first few stanzas since, does not: kept for a moment, the
	 * buffers of a crowd that logs in and falls idle leave holes in the
	 * heap (measured: 3 KiB more per idle session at 10,000). */
	if ((c->state == CONN_SESSION || c->state == CONN_COMPONENT) &&
	    ++c->inputs_since_quiet >= CONN_BUSY_INPUTS)
		stream_set_busy(s, true);
	for (int rounds = 0; rounds < 8 && c->state != CONN_CLOSING; rounds++) {
		struct buf *in = stream_input(s);
		buf_consume(in, conn_parse(c, buf_head(in), buf_len(in)));
		bool was_tls = s->tls_active;
		if (!conn_apply_restart(c) || s->tls_active != was_tls)
			return;
	}
}

/* The TLS handshake is over: the XML stream may begin. */
static void conn_secured(struct stream *s)
{
	struct conn *c = (struct conn *)s;
	if (c->state == CONN_TLS_HANDSHAKE)
		c->state = CONN_STREAM_HEADER;
	listener_state.counters.tls_handshakes++;
	listener_pace_handshake_over(c);
}

/* Everything is out: a closing connection is done. */
static void conn_drained(struct stream *s)
{
	struct conn *c = (struct conn *)s;
	if (c->state == CONN_CLOSING)
		listener_conn_close(c, NULL);
}

static void conn_ended(struct stream *s, enum stream_end end, const char *reason)
{
	struct conn *c = (struct conn *)s;
	switch (end) {
	case STREAM_END_FULL:
		listener_state.counters.limit_refusals[METRICS_LIMIT_STANZA_SIZE]++;
		listener_conn_stream_error(c, "policy-violation", "too much unparsed input");
		return;
	case STREAM_END_TLS: {
		/* A block: a declaration right after a label is C23 (clang 14 refuses). */
		static struct log_limit tls_failed;
		log_warnx_limited(&tls_failed, "%s: %s", c->peer, reason);
		listener_state.counters.tls_failures++;
		listener_conn_end_reason(c, "TLS failed: %s", reason);
		listener_conn_close(c, NULL);
		return;
	}
	case STREAM_END_ERROR:
		listener_conn_close(c, reason);
		return;
	case STREAM_END_CLOSED:
		if (c->announced || c->state != CONN_STREAM_HEADER)
			log_debug("%s: connection closed by the peer", c->peer);
		listener_conn_end_reason(c, "connection closed by the %s without ending its stream",
					 c->kind == PROTO_SOCKET_COMPONENT ? "call bridge"
									   : "client");
		listener_conn_close(c, NULL);
		return;
	}
}

static bool conn_may_read(struct stream *s)
{
	return listener_pace_may_read((struct conn *)s);
}

static void conn_read_done(struct stream *s)
{
	(void)s;
	listener_pace_end();
}

static const struct stream_events conn_stream_events = {
    .input = conn_input,
    .secured = conn_secured,
    .drained = conn_drained,
    .ended = conn_ended,
    .may_read = conn_may_read,
    .read_done = conn_read_done,
};

/* Timers: one per connection, aimed at the nearest deadline. */
static int64_t conn_timer(struct ev_timer *timer, void *arg)
{
	struct conn *c = arg;
	(void)timer;
	int64_t now = ev_now(listener_state.loop);
	const struct config_limits *lim = &listener_state.cfg.limits;

	if (c->state == CONN_CLOSING || c->redirected) {
		/* The linger time is over: the peer would not take the last bytes. */
		c->timer = NULL;
		listener_conn_close(c, "linger time over");
		return EV_TIMER_DONE;
	}
	if (c->state == CONN_TLS_HANDSHAKE && now - c->created >= lim->tls_handshake_timeout_ms) {
		static struct log_limit no_handshake;
		listener_state.counters.tls_failures++;
		log_warnx_limited(&no_handshake, "%s: no TLS handshake within %u ms; closing",
				  c->peer, lim->tls_handshake_timeout_ms);
		listener_conn_end_reason(c, "no TLS handshake in time");
		c->timer = NULL;
		listener_conn_close(c, NULL);
		return EV_TIMER_DONE;
	}
	bool authenticated = c->state == CONN_SESSION || c->state == CONN_COMPONENT;
	if (!authenticated && now - c->created >= lim->auth_timeout_ms) {
		listener_conn_stream_error(c, "connection-timeout", "not authenticated in time");
		return CONN_LINGER_MS;
	}
	if (now - c->last_in >= lim->idle_timeout_ms) {
		listener_conn_stream_error(c, "connection-timeout", "idle for too long");
		return CONN_LINGER_MS;
	}
	if (authenticated && now - c->last_out >= lim->keepalive_interval_ms &&
	    !listener_client_sm_keepalive(c)) {
		listener_conn_send(c, " ", 1); /* RFC 6120 4.6.1 whitespace keepalive */
	}
	int64_t next = lim->idle_timeout_ms - (now - c->last_in);
	if (authenticated && (xml_stream_loaded(c->xml) || c->stream.busy)) {
		int64_t quiet = now - c->last_in;
		if (quiet >= CONN_PARSER_IDLE_MS) {
			xml_stream_release(c->xml);
			stream_set_busy(&c->stream, false);
			c->inputs_since_quiet = 0;
		} else if (CONN_PARSER_IDLE_MS - quiet < next)
			next = CONN_PARSER_IDLE_MS - quiet;
	}
	if (!authenticated) {
		int64_t auth_left = lim->auth_timeout_ms - (now - c->created);
		if (auth_left < next)
			next = auth_left;
	} else {
		int64_t keepalive_left = lim->keepalive_interval_ms - (now - c->last_out);
		if (keepalive_left < next)
			next = keepalive_left;
	}
	return next < 10 ? 10 : next;
}
