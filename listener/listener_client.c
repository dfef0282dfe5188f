/* SPDX-License-Identifier: MIT */
/*
 * The client stream (RFC 6120) of one connection, in the listener: the
 * stream header, features, STARTTLS, SASL, resource binding, the legacy
 * session element, then stanzas stamped with the sender's full JID and
 * handed to the router.
 *
 * Every refusal is a stream error, a SASL failure or a stanza error as RFC
 * 6120 names it, with one log line carrying the peer's address; an
 * authentication failure names the user, never the password.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jidprep.h"
#include "common/log.h"
#include "listener.h"

/* RFC 6120 6.4.5: a few retries, then the stream ends. */
#define CLIENT_AUTH_ATTEMPTS 3
#define CLIENT_ID_MAX	     255

static const char *attr_of(const struct xml_attr *attrs, const char *name)
{
	for (const struct xml_attr *a = attrs; a != NULL; a = a->next) {
		if (a->ns[0] == '\0' && strcmp(a->name, name) == 0)
			return a->value;
	}
	return NULL;
}

static void client_send_features(struct conn *c)
{
	struct buf f;
	buf_init(&f, 4096);
	buf_append(&f, "<stream:features>", 17);
	bool offer_tls = !c->stream.tls_active && listener_state.tls != NULL;
	if (c->state == CONN_BIND) {
		const char *bind = "<bind xmlns='" XML_NS_BIND "'/>"
				   "<session xmlns='" XML_NS_SESSION "'><optional/></session>";
		buf_append(&f, bind, strlen(bind));
		/* XEP-0237: rosters carry versions (README "Rosters"). */
		const char *ver = "<ver xmlns='urn:xmpp:features:rosterver'/>";
		buf_append(&f, ver, strlen(ver));
		listener_client_sm_features(&f);
	} else {
		if (offer_tls) {
			const char *tls = listener_state.cfg.tls.required
					      ? "<starttls xmlns='" XML_NS_TLS
						"'><required/></starttls>"
					      : "<starttls xmlns='" XML_NS_TLS "'/>";
			buf_append(&f, tls, strlen(tls));
		}
		if (c->stream.tls_active || !listener_state.cfg.tls.required) {
			const char *open = "<mechanisms xmlns='" XML_NS_SASL "'>";
			buf_append(&f, open, strlen(open));
			for (int m = 0; m < SASL_MECHANISM_COUNT; m++) {
				/* PLAIN sends the password itself: only inside TLS. */
				if (m == SASL_PLAIN && !c->stream.tls_active)
					continue;
				char item[64];
				int n =
				    snprintf(item, sizeof(item), "<mechanism>%s</mechanism>",
					     listener_sasl_mechanism_name((enum sasl_mechanism)m));
				buf_append(&f, item, (size_t)n);
			}
			buf_append(&f, "</mechanisms>", 13);
		}
	}
	buf_append(&f, "</stream:features>", 18);
	listener_conn_send(c, buf_head(&f), buf_len(&f));
	buf_free(&f);
}

void listener_client_open(struct conn *c, const char *content_ns, const struct xml_attr *attrs)
{
	if (strcmp(content_ns, XML_NS_CLIENT) != 0) {
		listener_conn_stream_error(c, "invalid-namespace",
					   "the content namespace must be jabber:client");
		return;
	}
	if (listener_drain_stream_open(c))
		return;
	const char *to = attr_of(attrs, "to");
	const char *version = attr_of(attrs, "version");
	listener_conn_send_header(c, XML_NS_CLIENT, listener_state.cfg.domain);
	/* Compared prepared (Nameprep folds case and compatibility forms), as
	 * the domain of every other address is. */
	char domain[JID_MAX], why[JIDPREP_WHY_MAX];
	if (to != NULL &&
	    jidprep_jid(to, strlen(to), domain, sizeof(domain), why, sizeof(why)) == -1) {
		char text[JIDPREP_WHY_MAX + 32];
		snprintf(text, sizeof(text), "malformed to address: %s", why);
		listener_conn_stream_error(c, "host-unknown", text);
		return;
	}
	if (to != NULL && strcmp(domain, listener_state.cfg.domain) != 0) {
		listener_conn_stream_error(c, "host-unknown", "this server serves another domain");
		return;
	}
	if (version == NULL || strncmp(version, "1.", 2) != 0) {
		listener_conn_stream_error(c, "unsupported-version", "XMPP 1.0 is required");
		return;
	}
	if (c->state == CONN_STREAM_HEADER)
		c->state = c->user != NULL ? CONN_BIND : CONN_AUTH;
	client_send_features(c);
}

/* SASL */

static void client_sasl_done(struct conn *c)
{
	if (c->sasl == NULL)
		return;
	listener_sasl_free(c->sasl);
	free(c->sasl);
	c->sasl = NULL;
}

static void client_sasl_reply(struct conn *c, enum sasl_result result, struct buf *data)
{
	struct buf out;
	buf_init(&out, 8192);
	if (result == SASL_FAILURE) {
		char condition[64];
		snprintf(condition, sizeof(condition), "%.*s", (int)buf_len(data), buf_head(data));
		const char *open = "<failure xmlns='" XML_NS_SASL "'><";
		buf_append(&out, open, strlen(open));
		buf_append(&out, condition, strlen(condition));
		buf_append(&out, "/>", 2);
		/* RFC 6120 6.4.5: a text the user can act on ("prohibited
		 * character U+0040"); it tells nothing about which names exist. */
		const char *why = c->sasl != NULL ? c->sasl->why : "";
		if (why[0] != '\0') {
			buf_append(&out, "<text xml:lang='en'>", 20);
			xml_escape(&out, why, strlen(why), false);
			buf_append(&out, "</text>", 7);
		}
		buf_append(&out, "</failure>", 10);
		listener_conn_send(c, buf_head(&out), buf_len(&out));
		buf_free(&out);
		const char *who = c->sasl != NULL && c->sasl->user[0] ? c->sasl->user : "(no name)";
		const char *mechanism = c->sasl != NULL
					    ? listener_sasl_mechanism_name(c->sasl->mechanism)
					    : "no mechanism";
		static struct log_limit auth_failed;
		log_warnx_limited(&auth_failed, "%s: authentication as %s with %s failed: %s%s%s",
				  c->peer, who, mechanism, condition, why[0] ? ": " : "", why);
		listener_metrics_login_failed(condition);
		client_sasl_done(c);
		c->state = CONN_AUTH;
		if (++c->auth_failures >= CLIENT_AUTH_ATTEMPTS &&
		    ++listener_state.counters.limit_refusals[METRICS_LIMIT_AUTH_ATTEMPTS] != 0)
			listener_conn_stream_error(c, "policy-violation",
						   "too many failed authentications");
		return;
	}
	char encoded[4096];
	size_t n = buf_len(data) > 0 ? scram_base64_encode((const unsigned char *)buf_head(data),
							   buf_len(data), encoded)
				     : 0;
	const char *name = result == SASL_CONTINUE ? "challenge" : "success";
	char open[128];
	snprintf(open, sizeof(open), "<%s xmlns='" XML_NS_SASL "'>", name);
	buf_append(&out, open, strlen(open));
	buf_append(&out, encoded, n);
	char close[32];
	snprintf(close, sizeof(close), "</%s>", name);
	buf_append(&out, close, strlen(close));
	listener_conn_send(c, buf_head(&out), buf_len(&out));
	buf_free(&out);
	if (result == SASL_SUCCESS) {
		listener_state.counters.logins[METRICS_LOGIN_CLIENT]++;
		if (listener_conn_set(&c->user, listener_sasl_user(c->sasl)) == -1) {
			client_sasl_done(c);
			listener_conn_stream_error(c, "internal-server-error", "out of memory");
			return;
		}
		listener_conn_authenticated(c);
		log_info("%s: authenticated as %s with %s", c->peer, c->user,
			 listener_sasl_mechanism_name(c->sasl->mechanism));
		client_sasl_done(c);
		c->state = CONN_STREAM_HEADER;
		listener_conn_restart_stream(c);
	} else {
		c->state = CONN_SASL;
	}
}

/* The base64 text of a SASL element; "=" is an empty response. */
static int client_sasl_payload(struct conn *c, const struct xml_node *element, char *out,
			       size_t size)
{
	char text[8192];
	int len = xml_text(element, text, sizeof(text));
	if (len < 0)
		return -1;
	(void)c;
	int decoded = strcmp(text, "=") == 0 || len == 0
			  ? 0
			  : scram_base64_decode(text, (size_t)len, (unsigned char *)out, size);
	OPENSSL_cleanse(text, (size_t)len);
	return decoded;
}

static void client_auth(struct conn *c, const struct xml_node *element)
{
	struct buf reply;
	buf_init(&reply, 4096);
	enum sasl_mechanism mechanism;
	const char *name = xml_attr_get(element, "mechanism");
	char payload[6144];
	int len;
	if (name == NULL || listener_sasl_mechanism_parse(name, &mechanism) == -1) {
		buf_append(&reply, "invalid-mechanism", 17);
		client_sasl_reply(c, SASL_FAILURE, &reply);
	} else if (!c->stream.tls_active &&
		   (mechanism == SASL_PLAIN || listener_state.cfg.tls.required)) {
		buf_append(&reply, "encryption-required", 19);
		client_sasl_reply(c, SASL_FAILURE, &reply);
	} else if ((len = client_sasl_payload(c, element, payload, sizeof(payload))) < 0) {
		buf_append(&reply, "incorrect-encoding", 18);
		client_sasl_reply(c, SASL_FAILURE, &reply);
	} else {
		client_sasl_done(c);
		c->sasl = malloc(sizeof(*c->sasl));
		if (c->sasl == NULL) {
			buf_append(&reply, "temporary-auth-failure", 22);
			client_sasl_reply(c, SASL_FAILURE, &reply);
			buf_free(&reply);
			return;
		}
		listener_sasl_init(c->sasl);
		enum sasl_result result =
		    listener_sasl_start(c->sasl, mechanism, payload, (size_t)len,
					listener_accounts_lookup, NULL, &reply);
		/* A PLAIN payload is the password itself. */
		OPENSSL_cleanse(payload, (size_t)len);
		client_sasl_reply(c, result, &reply);
	}
	buf_free(&reply);
}

static void client_response(struct conn *c, const struct xml_node *element)
{
	struct buf reply;
	buf_init(&reply, 4096);
	char payload[6144];
	int len = client_sasl_payload(c, element, payload, sizeof(payload));
	if (len < 0) {
		buf_append(&reply, "incorrect-encoding", 18);
		client_sasl_reply(c, SASL_FAILURE, &reply);
	} else {
		enum sasl_result result = listener_sasl_step(c->sasl, payload, (size_t)len, &reply);
		OPENSSL_cleanse(payload, (size_t)len);
		client_sasl_reply(c, result, &reply);
	}
	buf_free(&reply);
}

/* Binding */

static void client_send_iq(struct conn *c, const char *type, const char *id, const char *payload)
{
	struct buf out;
	buf_init(&out, 8192);
	buf_append(&out, "<iq type='", 10);
	buf_append(&out, type, strlen(type));
	buf_append(&out, "' id='", 6);
	xml_escape(&out, id, strlen(id), true);
	buf_append(&out, "'>", 2);
	buf_append(&out, payload, strlen(payload));
	buf_append(&out, "</iq>", 5);
	listener_client_sm_send(c, buf_head(&out), buf_len(&out));
	buf_free(&out);
}

static void client_iq_result(struct conn *c, const char *id, const char *payload)
{
	client_send_iq(c, "result", id, payload);
}

static void client_iq_error(struct conn *c, const char *id, const char *type, const char *condition)
{
	char error[256];
	snprintf(error, sizeof(error),
		 "<error type='%s'><%s xmlns='" XML_NS_STANZA_ERRORS "'/></error>", type,
		 condition);
	client_send_iq(c, "error", id, error);
}

/* An error with a reason the client can show; `text` is ours (ASCII, no
 * markup), as jidprep's reasons are. */
static void client_iq_error_text(struct conn *c, const char *id, const char *type,
				 const char *condition, const char *text)
{
	char error[256 + JIDPREP_WHY_MAX];
	snprintf(error, sizeof(error),
		 "<error type='%s'><%s xmlns='" XML_NS_STANZA_ERRORS
		 "'/><text xmlns='" XML_NS_STANZA_ERRORS "'>%s</text></error>",
		 type, condition, text);
	client_send_iq(c, "error", id, error);
}

static void client_bind(struct conn *c, const struct xml_node *iq, const struct xml_node *bind)
{
	const char *id = xml_attr_get(iq, "id");
	const char *type = xml_attr_get(iq, "type");
	if (id == NULL || type == NULL || strcmp(type, "set") != 0) {
		listener_conn_stream_error(c, "bad-format",
					   "resource binding is an iq of type set with an id");
		return;
	}
	if (listener_state.cfg.limits.max_sessions != CONFIG_NONE &&
	    listener_state.index.clients >= listener_state.cfg.limits.max_sessions) {
		static struct log_limit max_sessions;
		log_warnx_limited(&max_sessions, "%s: refused %s: max_sessions (%u) reached",
				  c->peer, c->user, listener_state.cfg.limits.max_sessions);
		listener_state.counters.limit_refusals[METRICS_LIMIT_SESSIONS]++;
		listener_conn_stream_error(c, "resource-constraint",
					   "the session limit of this node is reached");
		return;
	}
	uint32_t per_user = listener_state.cfg.limits.max_resources_per_user;
	if (per_user != CONFIG_NONE &&
	    listener_index_count_user(&listener_state.index, c->user) >= per_user) {
		/* RFC 6120 7.6.2.1: the account has reached its limit of resources. */
		static struct log_limit max_resources;
		log_warnx_limited(
		    &max_resources,
		    "%s: refused a resource of %s: max_resources_per_user (%u) reached", c->peer,
		    c->user, per_user);
		listener_state.counters.limit_refusals[METRICS_LIMIT_RESOURCES]++;
		client_iq_error(c, id, "cancel", "resource-constraint");
		return;
	}
	char resource[JID_PART_MAX + 1] = "";
	struct xml_node *wanted = xml_child(bind, XML_NS_BIND, "resource");
	if (wanted != NULL && xml_text(wanted, resource, sizeof(resource)) < 0) {
		client_iq_error(c, id, "modify", "bad-request");
		return;
	}
	if (resource[0] == '\0') {
		unsigned char random[8];
		if (RAND_bytes(random, sizeof(random)) != 1) {
			log_warnx("%s: no random bytes for a resource", c->peer);
			client_iq_error(c, id, "wait", "internal-server-error");
			return;
		}
		snprintf(resource, sizeof(resource), "rxmpp-");
		for (size_t i = 0; i < sizeof(random); i++)
			snprintf(resource + 6 + 2 * i, 3, "%02x", random[i]);
	}
	char full[JID_MAX], normal[JID_MAX], why[JIDPREP_WHY_MAX];
	snprintf(full, sizeof(full), "%s@%s/%s", c->user, listener_state.cfg.domain, resource);
	if (jidprep_jid(full, strlen(full), normal, sizeof(normal), why, sizeof(why)) == -1) {
		/* RFC 6120 7.7.2.1: a resourcepart that cannot be prepared. */
		static struct log_limit bad_resource;
		log_warnx_limited(&bad_resource, "%s: refused the resource %s asked for: %s",
				  c->peer, c->user, why);
		client_iq_error_text(c, id, "modify", "bad-request", why);
		return;
	}
	if (listener_conn_set(&c->jid, normal) == -1 ||
	    listener_index_count_session(&listener_state.index, c) == -1) {
		client_iq_error(c, id, "wait", "resource-constraint");
		return;
	}
	c->state = CONN_SESSION;
	char payload[JID_MAX + 128];
	struct buf escaped;
	buf_init(&escaped, sizeof(payload));
	xml_escape(&escaped, c->jid, strlen(c->jid), false);
	snprintf(payload, sizeof(payload), "<bind xmlns='" XML_NS_BIND "'><jid>%.*s</jid></bind>",
		 (int)buf_len(&escaped), buf_head(&escaped));
	buf_free(&escaped);
	client_iq_result(c, id, payload);
	listener_conn_session_started(c);
	listener_route_session_up(c);
}

/* Stanzas of a bound session */

static bool is_stanza(const struct xml_node *e)
{
	return strcmp(e->ns, XML_NS_CLIENT) == 0 &&
	       (strcmp(e->name, "message") == 0 || strcmp(e->name, "presence") == 0 ||
		strcmp(e->name, "iq") == 0);
}

static void client_stanza(struct conn *c, struct xml_node *stanza)
{
	const char *id = xml_attr_get(stanza, "id");
	const char *type = xml_attr_get(stanza, "type");
	const char *to = xml_attr_get(stanza, "to");
	if (id != NULL && strlen(id) > CLIENT_ID_MAX) {
		listener_conn_stream_error(c, "policy-violation", "an id longer than 255 bytes");
		return;
	}
	if (type != NULL && strlen(type) > 16) {
		listener_conn_stream_error(c, "bad-format", "an unknown stanza type");
		return;
	}
	char to_normal[JID_MAX] = "", why[JIDPREP_WHY_MAX];
	if (to != NULL &&
	    jidprep_jid(to, strlen(to), to_normal, sizeof(to_normal), why, sizeof(why)) == -1) {
		/* RFC 6120 8.3.3.8 jid-malformed, as a stanza error (none for
		 * errors, results and presence). */
		if (strcmp(stanza->name, "iq") == 0 && id == NULL)
			listener_conn_stream_error(c, "bad-format", "an iq needs an id");
		else
			listener_route_bounce(c, stanza, NULL, "modify", "jid-malformed", why);
		return;
	}
	if (strcmp(stanza->name, "iq") == 0) {
		if (id == NULL || type == NULL ||
		    (strcmp(type, "get") && strcmp(type, "set") && strcmp(type, "result") &&
		     strcmp(type, "error"))) {
			listener_conn_stream_error(c, "bad-format",
						   "an iq needs an id and a known type");
			return;
		}
		struct xml_node *session = xml_child(stanza, XML_NS_SESSION, "session");
		if (to == NULL && session != NULL && strcmp(type, "set") == 0) {
			client_iq_result(c, id, ""); /* RFC 3921 session: nothing to do */
			return;
		}
	}
	if (strcmp(stanza->name, "presence") == 0 && to == NULL &&
	    (type == NULL || strcmp(type, "unavailable") == 0)) {
		/* Availability for routing to the bare JID, then the stanza for
		 * the IM process to broadcast (router_im.c). */
		int priority = 0;
		struct xml_node *p = xml_child(stanza, XML_NS_CLIENT, "priority");
		char text[16];
		if (p != NULL && xml_text(p, text, sizeof(text)) > 0) {
			long value = strtol(text, NULL, 10);
			priority = value < -128 ? -128 : value > 127 ? 127 : (int)value;
		}
		listener_route_presence(c, priority, type == NULL);
	}
	listener_route_stanza(c, stanza, c->jid, to != NULL ? to_normal : NULL);
}

void listener_client_element(struct conn *c, struct xml_node *element)
{
	switch (c->state) {
	case CONN_AUTH:
		if (xml_is(element, XML_NS_TLS, "starttls")) {
			if (c->stream.tls_active || listener_state.tls == NULL) {
				/* RFC 6120 5.4.2.2: a failure, then the stream ends. */
				static struct log_limit no_starttls;
				log_warnx_limited(&no_starttls,
						  "%s: STARTTLS asked for but not available",
						  c->peer);
				listener_conn_send_str(c, "<failure xmlns='" XML_NS_TLS "'/>");
				listener_conn_end_stream(c);
				return;
			}
			listener_conn_send_str(c, "<proceed xmlns='" XML_NS_TLS "'/>");
			c->starttls_pending = true;
			c->state = CONN_TLS_HANDSHAKE;
			listener_conn_restart_stream(c);
			return;
		}
		if (xml_is(element, XML_NS_SASL, "auth")) {
			client_auth(c, element);
			return;
		}
		break;
	case CONN_SASL:
		if (xml_is(element, XML_NS_SASL, "response")) {
			client_response(c, element);
			return;
		}
		if (xml_is(element, XML_NS_SASL, "abort")) {
			struct buf reply;
			buf_init(&reply, 64);
			buf_append(&reply, "aborted", 7);
			client_sasl_reply(c, SASL_FAILURE, &reply);
			buf_free(&reply);
			return;
		}
		break;
	case CONN_BIND:
		if (listener_client_sm_element(c, element))
			return;
		if (xml_is(element, XML_NS_CLIENT, "iq")) {
			struct xml_node *bind = xml_child(element, XML_NS_BIND, "bind");
			if (bind != NULL) {
				client_bind(c, element, bind);
				return;
			}
		}
		break;
	case CONN_SESSION:
		if (listener_client_sm_element(c, element))
			return;
		if (is_stanza(element)) {
			listener_client_sm_received(c);
			client_stanza(c, element);
			listener_client_sm_after_stanza(c);
			return;
		}
		listener_conn_stream_error(c, "unsupported-stanza-type", element->name);
		return;
	default:
		break;
	}
	if (c->state == CONN_SESSION)
		return;
	if (is_stanza(element))
		listener_conn_stream_error(c, "not-authorized",
					   "authenticate and bind a resource first");
	else
		listener_conn_stream_error(c, "unsupported-stanza-type", element->name);
}
