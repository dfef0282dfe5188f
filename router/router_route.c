/* SPDX-License-Identifier: MIT */
/*
 * Routing rules of the router (RFC 6120 section 10, RFC 6121 section 8)
 * and the server's own iqs (ping XEP-0199, disco XEP-0030, version
 * XEP-0092).  Rosters are the IM process's (router_im.c).  Stanzas arrive with a routing header and
 * their serialized bytes; the router reads only the header.
 *
 * An undeliverable message or iq is answered with the RFC 6120 error
 * (service-unavailable for local addresses, remote-server-not-found for
 * other domains); presence and errors are never answered with errors,
 * with one exception: a stanza for every resource of an account (presence
 * to a bare JID, a headline) stops at limits.max_fanout_bytes of copies, and
 * its sender hears of it (policy-violation), whatever its kind.  A delivery
 * the listener's channel refuses (beyond its budget, common/ipc.h) is
 * answered with resource-constraint.
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/jid.h"
#include "common/log.h"
#include "common/xml_write.h"
#include "router.h"

#define NS_PING	       "urn:xmpp:ping"
#define NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION     "jabber:iq:version"
#define NS_STANZAS     "urn:ietf:params:xml:ns:xmpp-stanzas"

#ifndef RXMPP_VERSION
#define RXMPP_VERSION "0.0.0"
#endif

static const char *const kind_names[] = {"message", "presence", "iq"};
static char domain[CONFIG_DOMAIN_MAX];
static size_t fanout_max;

void router_route_init(const struct config *cfg)
{
	snprintf(domain, sizeof(domain), "%s", cfg->domain);
	fanout_max = cfg->limits.max_fanout_bytes;
}

static void put(struct buf *out, const char *text)
{
	buf_append(out, text, strlen(text));
}

static void put_attr(struct buf *out, const char *name, const char *value)
{
	put(out, " ");
	put(out, name);
	put(out, "=\"");
	/* A tab or line break in an id, written as it is, would come back
	 * to its client as a space (XML 1.0 3.3.3): xml_escape writes them
	 * as character references, as the listener does. */
	xml_escape(out, value, strlen(value), true);
	put(out, "\"");
}

/* The session `s` if it is there to deliver to: one of a node whose link
 * went is gone with it, although the table lists it until the relay's
 * FORGET of that node is done (router_relay_reaches); a stanza for it is
 * routed as for a session that ended (RFC 6121 8.5.3.2), never handed to a
 * link that is not there. */
static const struct rsession *live(const struct rsession *s)
{
	return s != NULL && router_cluster_reaches(s->ref.node) ? s : NULL;
}

/* <kind from to type id>payload</kind> to the session `to`. */
static void reply(struct rref to, const struct proto_route_view *r, const char *type,
		  const char *payload)
{
	/* A stanza that the listener routed again for a session that ended
	 * (PROTO_SERVER_SESSION) is answered by its sender's address. */
	const struct rsession *target =
	    live(to.session == PROTO_SERVER_SESSION ? router_session_by_jid(r->from)
						    : router_session_by_ref(to));
	if (target == NULL)
		return; /* the sender is gone */
	struct buf out;
	buf_init(&out, 64 * 1024);
	put(&out, "<");
	put(&out, kind_names[r->kind]);
	if (r->to[0] != '\0')
		put_attr(&out, "from", r->to);
	put_attr(&out, "to", r->from);
	put_attr(&out, "type", type);
	if (r->id[0] != '\0')
		put_attr(&out, "id", r->id);
	if (payload[0] == '\0') {
		put(&out, "/>");
	} else {
		put(&out, ">");
		put(&out, payload);
		put(&out, "</");
		put(&out, kind_names[r->kind]);
		put(&out, ">");
	}
	router_deliver_to(target, buf_head(&out), buf_len(&out));
	buf_free(&out);
}

void router_route_bounce(struct rref origin, const struct proto_route_view *r, const char *type,
			 const char *condition)
{
	router_metrics_bounced(r->kind);
	if (r->type == PROTO_STANZA_TYPE_ERROR || r->type == PROTO_STANZA_TYPE_RESULT ||
	    r->kind == PROTO_STANZA_PRESENCE)
		return;
	char payload[256];
	snprintf(payload, sizeof(payload), "<error type='%s'><%s xmlns='" NS_STANZAS "'/></error>",
		 type, condition);
	reply(origin, r, "error", payload);
}

static void bounce(struct rref origin, const struct proto_route_view *r, const char *condition)
{
	router_route_bounce(origin, r, "cancel", condition);
}

static void add_item(struct rsession *s, void *arg)
{
	struct buf *out = arg;
	put(out, "<item");
	put_attr(out, "jid", s->jid);
	put(out, "/>");
}

/* An iq for the server itself, or for the sender's own account. */
static void server_iq(struct rref origin, const struct proto_route_view *r, bool for_account)
{
	if (r->type == PROTO_STANZA_TYPE_RESULT || r->type == PROTO_STANZA_TYPE_ERROR)
		return;
	bool get = r->type == PROTO_STANZA_TYPE_GET;
	const char *ns = r->payload_ns;
	if (get && strcmp(ns, NS_PING) == 0 && strcmp(r->payload_name, "ping") == 0) {
		reply(origin, r, "result", "");
	} else if (get && strcmp(ns, NS_DISCO_INFO) == 0) {
		const char *identity = for_account
					   ? "<identity category='account' type='registered'/>"
					   : "<identity category='server' type='im' name='rxmpp'/>";
		char payload[1024];
		snprintf(
		    payload, sizeof(payload),
		    "<query xmlns='" NS_DISCO_INFO "'>%s<feature var='" NS_DISCO_INFO "'/>"
		    "<feature var='" NS_DISCO_ITEMS "'/><feature var='" NS_PING "'/>%s</query>",
		    identity,
		    /* msgoffline: XEP-0160's offline storage (the IM process). */
		    for_account ? ""
				: "<feature var='" NS_VERSION "'/><feature var='msgoffline'/>");
		reply(origin, r, "result", payload);
	} else if (get && strcmp(ns, NS_DISCO_ITEMS) == 0) {
		struct buf items;
		buf_init(&items, 1024 * 1024);
		put(&items, "<query xmlns='" NS_DISCO_ITEMS "'>");
		if (!for_account)
			router_components_each(add_item, &items);
		put(&items, "</query>");
		buf_append(&items, "", 1);
		reply(origin, r, "result", buf_head(&items));
		buf_free(&items);
	} else if (get && !for_account && strcmp(ns, NS_VERSION) == 0) {
		reply(origin, r, "result",
		      "<query xmlns='" NS_VERSION "'><name>rxmpp</name><version>" RXMPP_VERSION
		      "</version></query>");
	} else {
		bounce(origin, r, "service-unavailable");
	}
}

static void deliver(struct rref origin, const struct rsession *s, const struct proto_route_view *r)
{
	/* A session being handed over to another node (its holder asked to
	 * give it up) is held by the keeper until the asker has it, full JID
	 * or bare, so that nothing reaches the holder after it gave it up. */
	if (router_sm_hold_for(origin, r, s, router_cluster_route_key()))
		return;
	if (router_deliver_to(s, r->stanza, r->stanza_len) == -1)
		router_route_bounce(origin, r, "wait", "resource-constraint");
}

/* A fan-out stopped at fanout_max: the sender hears of it; the log line is
 * limited, as the sender can repeat it at will. */
static void fanout_capped(struct rref origin, const struct proto_route_view *r, const char *bare,
			  size_t sent)
{
	static struct log_limit capped;
	log_warnx_limited(&capped,
			  "a %s of %zu bytes from %s to %s stopped after %zu bytes of copies "
			  "(limits.max_fanout_bytes)",
			  kind_names[r->kind], r->stanza_len, r->from, bare, sent);
	if (r->type == PROTO_STANZA_TYPE_ERROR)
		return;
	reply(origin, r, "error",
	      "<error type='modify'><policy-violation xmlns='" NS_STANZAS "'/></error>");
}

/* RFC 6121 8.5.2.1: a message to a bare JID goes to the available
 * resource(s) of highest non-negative priority; here the most recent of
 * those, so one client gets each message. */
static const struct rsession *best_resource(const char *bare)
{
	const struct rsession *best = NULL;
	for (const struct rsession *s = router_sessions_of_bare(bare); s != NULL;
	     s = s->next_of_bare) {
		if (!s->available || s->priority < 0 || live(s) == NULL)
			continue;
		if (best == NULL || s->priority > best->priority ||
		    (s->priority == best->priority && s->seq > best->seq))
			best = s;
	}
	return best;
}

/* A copy to every available resource of `bare` (of non-negative priority
 * unless `any_priority`), up to fanout_max bytes of copies in all. */
static void fan_out(struct rref origin, const struct proto_route_view *r, const char *bare,
		    bool any_priority)
{
	size_t sent = 0;
	for (const struct rsession *s = router_sessions_of_bare(bare); s != NULL;
	     s = s->next_of_bare) {
		if (!s->available || (!any_priority && s->priority < 0) || live(s) == NULL)
			continue;
		if (sent + r->stanza_len > fanout_max) {
			fanout_capped(origin, r, bare, sent);
			return;
		}
		deliver(origin, s, r);
		sent += r->stanza_len;
	}
}

static void route_to_bare(struct rref origin, const struct proto_route_view *r, const char *bare)
{
	switch (r->kind) {
	case PROTO_STANZA_MESSAGE: {
		if (r->type == PROTO_STANZA_TYPE_GROUPCHAT) {
			bounce(origin, r, "service-unavailable");
			return;
		}
		if (r->type == PROTO_STANZA_TYPE_HEADLINE || r->type == PROTO_STANZA_TYPE_ERROR) {
			/* Headlines go to every available resource or nowhere. */
			if (r->type == PROTO_STANZA_TYPE_HEADLINE)
				fan_out(origin, r, bare, false);
			return;
		}
		const struct rsession *best = best_resource(bare);
		if (best != NULL)
			deliver(origin, best, r);
		else
			router_im_hand(origin, r); /* offline storage (RFC 6121 8.5.2.2.1) */
		return;
	}
	case PROTO_STANZA_PRESENCE:
		fan_out(origin, r, bare, true);
		return;
	default:
		/* RFC 6121 2.3.3: nobody but the user reads or changes a
		 * roster (another user's bare JID: forbidden). */
		if (router_im_wants(r)) {
			router_route_bounce(origin, r, "auth", "forbidden");
			return;
		}
		/* An iq to a bare JID is the server's to answer for the account. */
		server_iq(origin, r, true);
		return;
	}
}

/* RFC 6120 10.3: no 'to', or the sender's own bare JID (the 'from' the
 * listener stamped). */
static bool for_own_account(const struct proto_route_view *r)
{
	if (r->to[0] == '\0')
		return true;
	char to_bare[JID_MAX], from_bare[JID_MAX];
	jid_bare(r->to, to_bare, sizeof(to_bare));
	jid_bare(r->from, from_bare, sizeof(from_bare));
	return strcmp(r->to, to_bare) == 0 && strcmp(to_bare, from_bare) == 0;
}

bool router_route_stanza(struct rref origin, const struct proto_route_view *r, bool forwarded)
{
	/* NULL when the session ended while its stanza was on the way (a
	 * client that sends and logs out at once, its stanza held by a warming
	 * leader or queued while no leader was reachable): the stanza is
	 * routed all the same, with the `from` the listener stamped on it;
	 * only an error for it would have nobody to go to (reply). */
	const struct rsession *sender = router_session_by_ref(origin);
	/* In a cluster, what a node cannot deliver to its own sessions goes
	 * through the relay: a follower's to the leader, which holds every
	 * node's sessions; the leader's own too, so that a stanza for another
	 * node is kept until that node confirms it, whatever happens to the
	 * leadership meanwhile. */
	bool follower = router_cluster_relaying() && !forwarded;

	char bare[JID_MAX];
	/* Presence is a broadcast only without a 'to' (RFC 6121 4.2.1); one
	 * to the own bare JID goes to the user's resources as directed. */
	if (router_im_wants(r) &&
	    (r->kind == PROTO_STANZA_PRESENCE ? r->to[0] == '\0' : for_own_account(r))) {
		/* Only a client session of the user has a roster: a component
		 * may send from any JID of its domain (alice@bridge) and has
		 * no account (RFC 6121 2.3.3: forbidden). */
		if (sender == NULL || sender->kind != PROTO_SESSION_CLIENT) {
			router_route_bounce(origin, r, "auth", "forbidden");
			return true;
		}
		/* The leader's im handles them (one writer per user's data):
		 * a follower's go there through the relay. */
		if (follower)
			return false;
		router_im_hand(origin, r);
		return true;
	}
	if (r->to[0] == '\0') {
		/* RFC 6120 10.3: no 'to' means the sender's own account. */
		if (r->kind == PROTO_STANZA_IQ)
			server_iq(origin, r, true);
		return true;
	}
	struct jid_parts to;
	if (jid_split(r->to, strlen(r->to), &to) == -1) {
		bounce(origin, r, "jid-malformed");
		return true;
	}
	/* A component's address (or any JID within it) goes to the component. */
	/* Copied by hand: snprintf was a tenth of the router's instructions
	 * per message (docs/PERFORMANCE.md, profile). */
	char to_domain[JID_MAX];
	size_t domain_len =
	    to.domain_len < sizeof(to_domain) ? to.domain_len : sizeof(to_domain) - 1;
	memcpy(to_domain, to.domain, domain_len);
	to_domain[domain_len] = '\0';
	const struct rsession *component = live(router_session_by_jid(to_domain));
	if (component != NULL && component->kind == PROTO_SESSION_COMPONENT) {
		/* A warming leader already knows some remote sessions; it must not
		 * deliver to them ahead of what waits for it (order per sender). */
		if (follower && component->ref.node != ROUTER_LOCAL)
			return false;
		deliver(origin, component, r);
		return true;
	}
	bool own_domain = strcmp(to_domain, domain) == 0;
	bool subdomain = !own_domain && to.local_len == 0 && strlen(to_domain) > strlen(domain) &&
			 to_domain[strlen(to_domain) - strlen(domain) - 1] == '.' &&
			 strcmp(to_domain + strlen(to_domain) - strlen(domain), domain) == 0;
	if (!own_domain) {
		/* A call bridge may be connected to another node. */
		if (follower && subdomain)
			return false;
		/* No server-to-server links: another domain is unreachable; a
		 * subdomain of ours is a call bridge that is not connected. */
		bounce(origin, r, subdomain ? "service-unavailable" : "remote-server-not-found");
		return true;
	}
	if (to.local_len == 0) {
		/* The server itself. */
		if (r->kind == PROTO_STANZA_IQ)
			server_iq(origin, r, false);
		return true;
	}
	jid_bare(r->to, bare, sizeof(bare));
	if (router_im_subscription(r)) {
		/* Both rosters change on the leader's im (one writer); to a
		 * full JID too, as to the bare one (RFC 6121 3.1.1). */
		if (follower)
			return false;
		router_im_hand(origin, r);
		return true;
	}
	if (to.resource_len == 0) {
		bool own = sender != NULL && strcmp(bare, sender->bare) == 0;
		if (r->kind == PROTO_STANZA_IQ && own) {
			server_iq(origin, r, true);
			return true;
		}
		/* The best resource may be on any node. */
		if (follower)
			return false;
		route_to_bare(origin, r, bare);
		return true;
	}
	const struct rsession *target = live(router_session_by_jid(r->to));
	/* Given up here for a handover: the leader holds it for the asker. */
	if (target != NULL && target->sm_given_up)
		target = NULL;
	if (target != NULL && !(follower && target->ref.node != ROUTER_LOCAL)) {
		deliver(origin, target, r);
		return true;
	}
	if (follower)
		return false;
	/* A session whose node was lost, waiting to be resumed anywhere. */
	if (router_sm_hold(origin, r, router_cluster_route_key()))
		return true;
	/* RFC 6121 8.5.3.2: a full JID that is not online. */
	if (r->kind == PROTO_STANZA_MESSAGE &&
	    (r->type == PROTO_STANZA_TYPE_NONE || r->type == PROTO_STANZA_TYPE_NORMAL ||
	     r->type == PROTO_STANZA_TYPE_CHAT)) {
		route_to_bare(origin, r, bare);
		return true;
	}
	if (r->kind == PROTO_STANZA_IQ)
		bounce(origin, r, "service-unavailable");
	return true;
}
