/* SPDX-License-Identifier: MIT */
/*
 * The router's side of the IM process (im/im_main.c): which stanzas it
 * hands over, and the stanzas im sends back to deliver as the server's.
 *
 * Only the router that routes for the cluster hands stanzas over (the
 * leader's, or a lone node's; router_route.c sends a follower's to the
 * leader through the relay, in order with the sender's other stanzas), so
 * that every user's data has one writer: the leader's im.  The router
 * never parses XML: it picks the stanzas by their routing header and
 * passes the header on, as the listener made it.
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/child.h"
#include "common/log.h"
#include "common/xml_write.h"
#include "router.h"

#define NS_ROSTER "jabber:iq:roster"

bool router_im_wants(const struct proto_route_view *r)
{
	/* RFC 6121 2.1: a roster get or set; 4.2-4.5: broadcast presence,
	 * available or unavailable.  For the sender's own account: the
	 * caller checks the 'to'. */
	if (r->kind == PROTO_STANZA_PRESENCE)
		return r->type == PROTO_STANZA_TYPE_NONE ||
		       r->type == PROTO_STANZA_TYPE_UNAVAILABLE;
	return r->kind == PROTO_STANZA_IQ &&
	       (r->type == PROTO_STANZA_TYPE_GET || r->type == PROTO_STANZA_TYPE_SET) &&
	       strcmp(r->payload_ns, NS_ROSTER) == 0;
}

bool router_im_subscription(const struct proto_route_view *r)
{
	/* RFC 6121 3: the server handles them on both rosters. */
	return r->kind == PROTO_STANZA_PRESENCE &&
	       (r->type == PROTO_STANZA_TYPE_SUBSCRIBE || r->type == PROTO_STANZA_TYPE_SUBSCRIBED ||
		r->type == PROTO_STANZA_TYPE_UNSUBSCRIBE ||
		r->type == PROTO_STANZA_TYPE_UNSUBSCRIBED);
}

/* This router routes for the cluster (it leads, or there is no cluster):
 * its im does the IM work. */
static bool routes_for_cluster(void)
{
	if (!router_cluster_relaying())
		return true;
	uint64_t self, leader;
	router_cluster_identity(&self, &leader);
	return leader != 0 && self == leader;
}

void router_im_session_gone(const struct rsession *s)
{
	/* RFC 6121 4.5.2: a session that ends without unavailable presence
	 * is treated as if it had sent one. */
	if (s->kind != PROTO_SESSION_CLIENT || !s->available || !routes_for_cluster())
		return;
	struct buf bytes;
	buf_init(&bytes, 64 + 6 * strlen(s->jid));
	buf_append(&bytes, "<presence type=\"unavailable\" from=\"", 35);
	xml_escape(&bytes, s->jid, strlen(s->jid), true);
	buf_append(&bytes, "\"/>", 3);
	static struct proto_route_view r;
	r = (struct proto_route_view){
	    .kind = PROTO_STANZA_PRESENCE,
	    .type = PROTO_STANZA_TYPE_UNAVAILABLE,
	    .stanza = buf_head(&bytes),
	    .stanza_len = buf_len(&bytes),
	};
	snprintf(r.from, sizeof(r.from), "%s", s->jid);
	router_im_hand(s->ref, &r);
	buf_free(&bytes);
}

void router_im_hand(struct rref origin, const struct proto_route_view *r)
{
	/* An iq is answered whatever becomes of im (router_imwait.c). */
	bool iq = r->kind == PROTO_STANZA_IQ;
	struct proto_im_origin o = {.node = origin.node,
				    .session = origin.session,
				    .handoff = iq ? router_imwait_add(origin, r) : 0};
	if (iq && o.handoff == 0) {
		static struct log_limit full;
		log_warnx_limited(&full,
				  "an IM iq from %s is not handed to im: too many wait for its "
				  "answers already; answered internal-server-error",
				  r->from);
		router_route_bounce(origin, r, "wait", "internal-server-error");
		return;
	}
	struct proto_route head = {
	    .kind = r->kind,
	    .type = (uint16_t)r->type,
	    .id_len = (uint16_t)strlen(r->id),
	    .from_len = (uint16_t)strlen(r->from),
	    .to_len = (uint16_t)strlen(r->to),
	    .payload_ns_len = (uint16_t)strlen(r->payload_ns),
	    .payload_name_len = (uint16_t)strlen(r->payload_name),
	    .stanza_len = (uint32_t)r->stanza_len,
	};
	struct iovec iov[] = {
	    {&o, sizeof(o)},
	    {&head, sizeof(head)},
	    {(void *)r->id, head.id_len},
	    {(void *)r->from, head.from_len},
	    {(void *)r->to, head.to_len},
	    {(void *)r->payload_ns, head.payload_ns_len},
	    {(void *)r->payload_name, head.payload_name_len},
	    {(void *)r->stanza, r->stanza_len},
	};
	if (child_send_v(PROC_IM, PROTO_IM_STANZA, 0, iov, sizeof(iov) / sizeof(iov[0])) == 0)
		return;
	router_imwait_answered(o.handoff);
	/* Restarting, or beyond its channel's budget: a temporary failure
	 * the client may retry (RFC 6120 8.3.2 "wait"). */
	static struct log_limit away;
	log_warnx_limited(&away,
			  "an IM stanza from %s could not be handed to im (%s); answered "
			  "internal-server-error",
			  r->from,
			  child_peer_connected(PROC_IM) ? "its queue is full" : "it is away");
	router_route_bounce(origin, r, "wait", "internal-server-error");
}

/* `bytes` with ` to="JID"` put in at `at` (PROTO_IM_NO_TO: as they are). */
static int deliver_with_to(const struct rsession *s, const char *bytes, size_t len, uint32_t at)
{
	if (at == PROTO_IM_NO_TO)
		return router_deliver_to(s, bytes, len);
	struct buf out;
	buf_init(&out, len + 6 * strlen(s->jid) + 16);
	buf_append(&out, bytes, at);
	buf_append(&out, " to=\"", 5);
	xml_escape(&out, s->jid, strlen(s->jid), true);
	buf_append(&out, "\"", 1);
	buf_append(&out, bytes + at, len - at);
	int rc = router_deliver_to(s, buf_head(&out), buf_len(&out));
	buf_free(&out);
	return rc;
}

bool router_im_message(const struct ipc_msg *msg)
{
	static struct proto_im_out_view out;
	if (msg->type != PROTO_IM_OUT || proto_im_out_unpack(msg->data, msg->len, &out) == -1)
		return false;
	const struct proto_im_out *h = &out.head;
	static struct log_limit full;
	if (h->target == PROTO_IM_TO_ORIGIN) {
		router_imwait_answered(h->origin.handoff);
		struct rref origin = {h->origin.node, h->origin.session};
		const struct rsession *s = router_session_by_ref(origin);
		/* Gone meanwhile (logged out): the answer has nobody to go to.
		 * Not reached: this router no longer routes for the cluster
		 * (the leadership moved while im held the iq; a follower's
		 * sessions are forgotten or out of reach), or the session's
		 * node is lost; nothing else answers it (README "Rosters"). */
		bool gone = s == NULL && (origin.node == ROUTER_LOCAL || routes_for_cluster());
		if (gone)
			return true;
		if (s == NULL || !router_cluster_reaches(s->ref.node)) {
			static struct log_limit unreached;
			log_warnx_limited(&unreached,
					  "an answer of im to %s is dropped: its node is not "
					  "reached from here (%s)",
					  s != NULL ? s->jid : "a session of another node",
					  routes_for_cluster() ? "its link is down"
							       : "this node no longer leads");
			return true;
		}
		if (deliver_with_to(s, out.stanza, h->stanza_len, h->to_at) == -1)
			log_warnx_limited(&full,
					  "an answer of im to %s was not delivered: its "
					  "channel is full",
					  s->jid);
		return true;
	}
	for (const struct rsession *s = router_sessions_of_bare(out.bare); s != NULL;
	     s = s->next_of_bare) {
		if (s->kind != PROTO_SESSION_CLIENT || !router_cluster_reaches(s->ref.node) ||
		    (h->target == PROTO_IM_TO_AVAILABLE && !s->available))
			continue;
		if (deliver_with_to(s, out.stanza, h->stanza_len, h->to_at) == -1)
			log_warnx_limited(&full,
					  "a stanza of im to %s was not delivered: its "
					  "channel is full",
					  s->jid);
	}
	return true;
}
