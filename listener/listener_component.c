/* SPDX-License-Identifier: MIT */
/*
 * The component stream of call bridges (XEP-0114, jabber:component:accept),
 * in the listener.  The bridge names its address in the stream header
 * (normally NAME.DOMAIN); it proves the shared secret with
 * <handshake>hex(SHA-1(stream id + secret))</handshake>, checked in
 * constant time.  Unknown address: host-unknown.  Wrong secret:
 * not-authorized and one warning naming the bridge and the peer, never the
 * secret.  A bridge that connects again replaces its older connection
 * (the older one ends with <conflict/>), or with callbridge_conflict:
 * refuse is itself refused; either way logged.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "common/jidprep.h"
#include "common/log.h"
#include "listener.h"
#include "listener_handshake.h"

/* The bridges' addresses are stored prepared (config/callbridges.c), so
 * the address a component asks for is prepared before it is compared. */
static const struct proto_callbridge *bridge_find_address(const char *address)
{
	char prepared[JID_MAX], why[JIDPREP_WHY_MAX];
	if (jidprep_jid(address, strlen(address), prepared, sizeof(prepared), why, sizeof(why)) ==
	    -1)
		return NULL;
	for (size_t i = 0; i < listener_state.bridge_count; i++) {
		if (strcmp(listener_state.bridges[i].address, prepared) == 0)
			return &listener_state.bridges[i];
	}
	return NULL;
}

void listener_component_open(struct conn *c, const char *content_ns, const struct xml_attr *attrs)
{
	const char *to = NULL;
	for (const struct xml_attr *a = attrs; a != NULL; a = a->next) {
		if (a->ns[0] == '\0' && strcmp(a->name, "to") == 0)
			to = a->value;
	}
	if (strcmp(content_ns, XML_NS_COMPONENT) != 0) {
		listener_conn_stream_error(c, "invalid-namespace",
					   "the content namespace must be jabber:component:accept");
		return;
	}
	if (listener_drain_stream_open(c))
		return;
	const struct proto_callbridge *bridge = to ? bridge_find_address(to) : NULL;
	if (bridge == NULL) {
		static struct log_limit unknown_bridge;
		log_warnx_limited(&unknown_bridge, "%s: component stream for unknown address %s",
				  c->peer, to ? to : "(none)");
		listener_state.counters.login_failures[METRICS_LOGIN_BRIDGE_UNKNOWN]++;
		listener_conn_stream_error(c, "host-unknown", "no call bridge has this address");
		return;
	}
	snprintf(c->bridge, sizeof(c->bridge), "%s", bridge->name);
	if (listener_conn_set(&c->jid, bridge->address) == -1) {
		listener_conn_stream_error(c, "internal-server-error", "out of memory");
		return;
	}
	listener_conn_send_header(c, XML_NS_COMPONENT, bridge->address);
	c->state = CONN_HANDSHAKE;
}

static void component_handshake(struct conn *c, const struct xml_node *element)
{
	const struct proto_callbridge *bridge = bridge_find_address(c->jid);
	char given[64] = "";
	int len = xml_text(element, given, sizeof(given));
	for (int i = 0; i < len; i++) {
		if (given[i] >= 'A' && given[i] <= 'F')
			given[i] = (char)(given[i] - 'A' + 'a');
	}
	char expected[41];
	if (bridge != NULL)
		listener_handshake_digest(c->stream_id, bridge->secret, expected);
	if (bridge == NULL || len != 40 || CRYPTO_memcmp(given, expected, 40) != 0) {
		static struct log_limit wrong_secret;
		log_warnx_limited(&wrong_secret, "%s: call bridge %s: wrong secret", c->peer,
				  c->bridge);
		listener_state.counters.login_failures[METRICS_LOGIN_BRIDGE_WRONG_SECRET]++;
		listener_conn_stream_error(c, "not-authorized", "wrong handshake");
		return;
	}
	/* A bridge that reconnects (after a network break, say) replaces the
	 * connection it left behind, unless the configuration says refuse. */
	for (struct conn *other = listener_state.conns; other != NULL; other = other->next) {
		if (other == c || other->state != CONN_COMPONENT || other->jid == NULL ||
		    strcmp(other->jid, c->jid) != 0)
			continue;
		if (listener_state.cfg.callbridge_conflict == CONFIG_BRIDGE_REFUSE) {
			log_warnx(
			    "%s: call bridge %s is already connected from %s; refusing the new "
			    "connection",
			    c->peer, c->bridge, other->peer);
			listener_conn_stream_error(c, "conflict",
						   "this call bridge is already connected");
			return;
		}
		log_info("%s: call bridge %s connected again from %s; replacing the old connection",
			 other->peer, c->bridge, c->peer);
		listener_conn_stream_error(other, "conflict", "replaced by a new connection");
	}
	listener_conn_send_str(c, "<handshake/>");
	listener_state.counters.logins[METRICS_LOGIN_BRIDGE]++;
	c->state = CONN_COMPONENT;
	listener_conn_authenticated(c);
	listener_index_count_session(&listener_state.index, c);
	listener_conn_session_started(c);
	listener_route_session_up(c);
}

/* The domain of a JID in normal form. */
static void jid_domain(const char *jid, char *out, size_t size)
{
	const char *at = strchr(jid, '@');
	const char *slash = strchr(jid, '/');
	const char *start = at != NULL && (slash == NULL || at < slash) ? at + 1 : jid;
	size_t len = slash != NULL ? (size_t)(slash - start) : strlen(start);
	snprintf(out, size, "%.*s", (int)len, start);
}

void listener_component_element(struct conn *c, struct xml_node *element)
{
	if (c->state == CONN_HANDSHAKE) {
		if (xml_is(element, XML_NS_COMPONENT, "handshake"))
			component_handshake(c, element);
		else
			listener_conn_stream_error(c, "not-authorized", "handshake first");
		return;
	}
	if (c->state != CONN_COMPONENT)
		return;
	bool stanza = strcmp(element->ns, XML_NS_COMPONENT) == 0 &&
		      (strcmp(element->name, "message") == 0 ||
		       strcmp(element->name, "presence") == 0 || strcmp(element->name, "iq") == 0);
	if (!stanza) {
		listener_conn_stream_error(c, "unsupported-stanza-type", element->name);
		return;
	}
	const char *from = xml_attr_get(element, "from");
	const char *to = xml_attr_get(element, "to");
	const char *id = xml_attr_get(element, "id");
	char from_normal[JID_MAX], to_normal[JID_MAX], domain[JID_MAX], why[JIDPREP_WHY_MAX];
	if (id != NULL && strlen(id) > 255) {
		listener_conn_stream_error(c, "policy-violation", "an id longer than 255 bytes");
		return;
	}
	/* A component speaks for addresses in its own domain only. */
	if (from == NULL)
		snprintf(from_normal, sizeof(from_normal), "%s", c->jid);
	else if (jidprep_jid(from, strlen(from), from_normal, sizeof(from_normal), why,
			     sizeof(why)) == -1) {
		char text[JIDPREP_WHY_MAX + 32];
		snprintf(text, sizeof(text), "malformed from address: %s", why);
		listener_conn_stream_error(c, "invalid-from", text);
		return;
	}
	jid_domain(from_normal, domain, sizeof(domain));
	if (strcmp(domain, c->jid) != 0) {
		listener_conn_stream_error(c, "invalid-from",
					   "from is outside the component's domain");
		return;
	}
	if (to == NULL) {
		listener_conn_stream_error(c, "improper-addressing",
					   "a component's stanza needs a to");
		return;
	}
	if (jidprep_jid(to, strlen(to), to_normal, sizeof(to_normal), why, sizeof(why)) == -1) {
		char text[JIDPREP_WHY_MAX + 32];
		snprintf(text, sizeof(text), "malformed to address: %s", why);
		listener_conn_stream_error(c, "improper-addressing", text);
		return;
	}
	listener_route_stanza(c, element, from_normal, to_normal);
}
