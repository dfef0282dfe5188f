/* SPDX-License-Identifier: MIT */
/*
 * Presence and subscriptions between the domain's users (RFC 6121 3 and
 * 4), jobs of the im process (im_job.h).
 *
 * Broadcast presence (no 'to'): the resource is recorded available or
 * forgotten (im_avail.h), then the presence goes to the contacts with a
 * subscription from or both and to the user's own available resources
 * (4.2.2, 4.4.2, 4.5.2).  On initial presence the new resource gets the
 * last presence of the available resources of its to/both contacts (the
 * probe answered here, 4.3.2: every account is local, and the leader's im
 * sees every presence), of the user's other resources, and the
 * subscription requests that wait (3.1.3).
 *
 * A subscription stanza from user U to contact C: U's roster changes first
 * (im_roster_subscription, outbound: A.2), is written and pushed; then, if
 * the stanza is routed and C is an account here, C's roster changes
 * (inbound: A.3), is written and pushed, and the stanza is delivered to
 * C's available resources stamped with U's bare JID (3.1.2).  The
 * generate bits follow each step (3.1.5, 3.2.2, 3.3.3, and the
 * pre-approved auto-reply of 3.4 as a job of its own).  The two writes are
 * not atomic: U's first, as a remote server would see it.
 *
 * Contacts of other domains: no server-to-server links, so what would go
 * to them goes nowhere (the user did not send it: nothing to bounce).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jidprep.h"
#include "common/log.h"
#include "common/xml_write.h"
#include "im_avail.h"
#include "im_job.h"
#include "im_presence.h"

#define PRESENCE_OPEN "<presence"
/* A user's own resources see each other's presence (RFC 6121 4.2.2) while
 * it has at most this many available (the default of
 * limits.max_resources_per_user): n resources make n * n copies, and an
 * account allowed any number (max_resources_per_user: none) must not fill
 * the node's queues with its own presence (issue 23: no user switches
 * routing off).  Beyond, its contacts still get its presence. */
#define IM_PRESJOB_SELF_MAX 64

/* Where the router puts each session's 'to' in a presence stanza. */
static uint32_t to_at(const char *stanza, size_t len)
{
	size_t n = strlen(PRESENCE_OPEN);
	if (len > n && memcmp(stanza, PRESENCE_OPEN, n) == 0 &&
	    (stanza[n] == ' ' || stanza[n] == '/' || stanza[n] == '>'))
		return (uint32_t)n;
	return PROTO_IM_NO_TO;
}

static void out_bytes(const struct im_job *j, uint32_t target, const char *bare, const char *stanza,
		      size_t len)
{
	struct buf b;
	buf_init(&b, len + 1);
	buf_append(&b, stanza, len);
	im_work_out(j, target, bare, &b, to_at(stanza, len));
	buf_free(&b);
}

/* <presence type=TYPE from=FROM [to=TO]/> to `target`'s sessions. */
static void out_typed(const struct im_job *j, uint32_t target, const char *bare, const char *type,
		      const char *from, const char *to)
{
	struct buf b;
	buf_init(&b, 64 + 6 * (strlen(from) + (to != NULL ? strlen(to) : 0)));
	buf_append(&b, PRESENCE_OPEN, strlen(PRESENCE_OPEN));
	uint32_t at = (uint32_t)buf_len(&b);
	buf_append(&b, " type=\"", 7);
	buf_append(&b, type, strlen(type));
	buf_append(&b, "\" from=\"", 8);
	xml_escape(&b, from, strlen(from), true);
	if (to != NULL) {
		buf_append(&b, "\" to=\"", 6);
		xml_escape(&b, to, strlen(to), true);
	}
	buf_append(&b, "\"/>", 3);
	im_work_out(j, target, bare, &b, to != NULL ? PROTO_IM_NO_TO : at);
	buf_free(&b);
}

/* The presence of every available resource of `owner` (its last, or
 * unavailable) to the available resources of `to` (3.1.5, 3.2.2). */
static void presence_of(const struct im_job *j, const char *owner, const char *to, bool available)
{
	const struct im_avail_user *u = im_avail_of(owner);
	for (size_t i = 0; u != NULL && i < u->count; i++) {
		if (available)
			out_bytes(j, PROTO_IM_TO_AVAILABLE, to, u->res[i].stanza, u->res[i].len);
		else
			out_typed(j, PROTO_IM_TO_AVAILABLE, to, "unavailable", u->res[i].full,
				  NULL);
	}
}

static bool local_account(const char *bare, char *user, size_t size)
{
	struct jid_parts p;
	if (jid_split(bare, strlen(bare), &p) == -1 || p.local_len == 0 ||
	    p.domain_len != strlen(im_work_domain()) ||
	    memcmp(p.domain, im_work_domain(), p.domain_len) != 0)
		return false;
	snprintf(user, size, "%.*s", (int)p.local_len, p.local);
	return true;
}

bool im_presjob_begin(struct im_job *j)
{
	if (j->user[0] == '\0') {
		/* A component's: it has no roster; its presence is routed
		 * as before (directed) or not at all. */
		im_work_finish();
		return false;
	}
	if (j->kind == IM_JOB_PRESENCE) {
		if (j->type == PROTO_STANZA_TYPE_UNAVAILABLE) {
			/* Unavailable from a resource that was not available
			 * (its session's end after its own unavailable): no
			 * one is told twice. */
			if (!im_avail_remove(j->bare, j->from)) {
				im_work_finish();
				return false;
			}
		} else {
			int rc = im_avail_set(j->bare, j->from, j->stanza, j->stanza_len);
			if (rc == -1) {
				log_warnx("out of memory: the presence of %s is not broadcast",
					  j->from);
				im_work_finish();
				return false;
			}
			j->phase = rc; /* 1: initial presence */
		}
		return im_work_load(j->user);
	}
	char prepared[JID_MAX], why[JIDPREP_WHY_MAX];
	if (jidprep_jid(j->to, strlen(j->to), prepared, sizeof(prepared), why, sizeof(why)) == -1) {
		im_work_finish();
		return false;
	}
	jid_bare(prepared, j->contact, sizeof(j->contact));
	/* A user's resources always see each other (4.2.2, 4.4.2): no
	 * subscription to oneself. */
	if (strcmp(j->contact, j->bare) == 0) {
		im_work_finish();
		return false;
	}
	if (!local_account(j->contact, j->contact_user, sizeof(j->contact_user)))
		j->contact_user[0] = '\0';
	if (j->phase == 1) {
		/* The user's side is done already (a roster removal). */
		if (j->contact_user[0] == '\0') {
			im_work_finish();
			return false;
		}
		j->forward = true;
		return im_work_load(j->contact_user);
	}
	return im_work_load(j->user);
}

void im_presjob_after_removal(const struct im_job *j, const char *contact, bool unsubscribe,
			      bool unsubscribed, unsigned generate)
{
	/* RFC 6121 2.5.2: the contact's server hears unsubscribe and
	 * unsubscribed from the user, and the contact the user's
	 * unavailable (3.2.2).  Jobs of their own, first in the queue: only
	 * the contact's side is left to do. */
	const char *types[2] = {NULL, NULL};
	uint32_t codes[2];
	size_t n = 0;
	if (unsubscribed) {
		types[n] = "unsubscribed";
		codes[n++] = PROTO_STANZA_TYPE_UNSUBSCRIBED;
	}
	if (unsubscribe) {
		types[n] = "unsubscribe";
		codes[n++] = PROTO_STANZA_TYPE_UNSUBSCRIBE;
	}
	while (n-- > 0) {
		struct im_job *k = im_work_job_new(IM_JOB_SUB);
		if (k == NULL) {
			log_warnx("out of memory: %s of %s to %s not sent", types[n], j->bare,
				  contact);
			continue;
		}
		k->origin = j->origin;
		k->type = codes[n];
		k->phase = 1;
		k->generate_out = n == 0 ? generate & IM_SUB_GEN_UNAVAILABLE : 0;
		snprintf(k->from, sizeof(k->from), "%s", j->from);
		snprintf(k->bare, sizeof(k->bare), "%s", j->bare);
		snprintf(k->user, sizeof(k->user), "%s", j->user);
		snprintf(k->to, sizeof(k->to), "%s", contact);
		im_work_push_front(k);
	}
}

static void broadcast(struct im_job *j, const struct im_roster *roster)
{
	const char **jids = calloc(roster->count + 1, sizeof(*jids));
	if (jids == NULL) {
		log_warnx("out of memory: the presence of %s is not broadcast", j->from);
		return;
	}
	size_t n = im_presence_subscribers(roster, NULL, NULL, jids, roster->count);
	for (size_t i = 0; i < n && i < roster->count; i++)
		out_bytes(j, PROTO_IM_TO_AVAILABLE, jids[i], j->stanza, j->stanza_len);
	/* The user's own resources, the sender's included (4.2.2, 4.4.2). */
	const struct im_avail_user *own = im_avail_of(j->bare);
	bool self = own == NULL || own->count <= IM_PRESJOB_SELF_MAX;
	if (self)
		out_bytes(j, PROTO_IM_TO_AVAILABLE, j->bare, j->stanza, j->stanza_len);
	if (j->type == PROTO_STANZA_TYPE_UNAVAILABLE || j->phase != 1) {
		free(jids);
		return;
	}
	/* Initial presence: what the new resource must see. */
	n = im_presence_probed(roster, NULL, NULL, jids, roster->count);
	for (size_t i = 0; i < n && i < roster->count; i++) {
		const struct im_avail_user *u = im_avail_of(jids[i]);
		for (size_t k = 0; u != NULL && k < u->count; k++)
			out_bytes(j, PROTO_IM_TO_ORIGIN, "", u->res[k].stanza, u->res[k].len);
	}
	free(jids);
	for (size_t k = 0; self && own != NULL && k < own->count; k++)
		if (strcmp(own->res[k].full, j->from) != 0)
			out_bytes(j, PROTO_IM_TO_ORIGIN, "", own->res[k].stanza, own->res[k].len);
	for (size_t i = 0; i < roster->count; i++)
		if (im_sub_pending_in(roster->items[i].sub.state))
			out_typed(j, PROTO_IM_TO_ORIGIN, "", "subscribe", roster->items[i].jid,
				  NULL);
}

static enum im_sub_type sub_type(uint32_t type)
{
	switch (type) {
	case PROTO_STANZA_TYPE_SUBSCRIBE:
		return IM_SUB_SUBSCRIBE;
	case PROTO_STANZA_TYPE_SUBSCRIBED:
		return IM_SUB_SUBSCRIBED;
	case PROTO_STANZA_TYPE_UNSUBSCRIBE:
		return IM_SUB_UNSUBSCRIBE;
	default:
		return IM_SUB_UNSUBSCRIBED;
	}
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case PROTO_STANZA_TYPE_SUBSCRIBE:
		return "subscribe";
	case PROTO_STANZA_TYPE_SUBSCRIBED:
		return "subscribed";
	case PROTO_STANZA_TYPE_UNSUBSCRIBE:
		return "unsubscribe";
	default:
		return "unsubscribed";
	}
}

static void generated_out(struct im_job *j)
{
	if (j->generate_out & IM_SUB_GEN_AVAILABLE)
		presence_of(j, j->bare, j->contact, true);
	if (j->generate_out & IM_SUB_GEN_UNAVAILABLE)
		presence_of(j, j->bare, j->contact, false);
}

/* The outbound step done (written at `index`, or 0: nothing written). */
static void after_outbound(struct im_job *j, uint64_t index)
{
	if (j->push && index != 0)
		im_work_push(j, j->bare, im_roster_find(im_work_roster(), j->contact), j->contact,
			     index);
	/* The user's presence follows the stanza that makes the contact
	 * a subscriber (3.1.5: subscribed first, then the presence). */
	j->generate_out = j->generate;
	if (!j->forward || j->contact_user[0] == '\0') {
		generated_out(j);
		im_work_finish();
		return;
	}
	j->phase = 1;
	im_work_load(j->contact_user);
}

/* The contact's side done. */
static void after_inbound(struct im_job *j, uint64_t index)
{
	if (j->push && index != 0)
		im_work_push(j, j->contact, im_roster_find(im_work_roster(), j->bare), j->bare,
			     index);
	/* 3.1.3, 3.2.3, 3.3.3: to the contact's available resources, from
	 * the user's bare JID; with none available a subscribe waits in the
	 * roster and goes out at the next initial presence. */
	if (j->forward)
		out_typed(j, PROTO_IM_TO_AVAILABLE, j->contact, type_name(j->type), j->bare,
			  j->contact);
	generated_out(j);
	if (j->generate & IM_SUB_GEN_AVAILABLE)
		presence_of(j, j->contact, j->bare, true);
	if (j->generate & IM_SUB_GEN_UNAVAILABLE)
		presence_of(j, j->contact, j->bare, false);
	if (j->generate & IM_SUB_GEN_SUBSCRIBED) {
		/* 3.4: the contact pre-approved the user: its server answers
		 * for it, as if the contact had sent subscribed. */
		struct im_job *reply = im_work_job_new(IM_JOB_SUB);
		if (reply != NULL) {
			reply->origin = j->origin;
			reply->type = PROTO_STANZA_TYPE_SUBSCRIBED;
			snprintf(reply->from, sizeof(reply->from), "%s", j->contact);
			snprintf(reply->bare, sizeof(reply->bare), "%s", j->contact);
			snprintf(reply->user, sizeof(reply->user), "%s", j->contact_user);
			snprintf(reply->to, sizeof(reply->to), "%s", j->bare);
			im_work_push_front(reply);
		}
	}
	im_work_finish();
}

static void step(struct im_job *j, const char *owner_user, const char *contact, enum im_sub_dir dir)
{
	struct im_roster_effect effect;
	struct im_error err;
	if (im_roster_subscription(im_work_roster(), contact, dir, sub_type(j->type), NULL,
				   im_work_limits(), &effect, &err) == -1) {
		log_info("a %s from %s to %s is dropped: %s", type_name(j->type), j->bare,
			 j->contact, err.text != NULL ? err.text : err.condition);
		im_work_finish();
		return;
	}
	j->push = effect.push;
	j->forward = effect.forward;
	j->generate = effect.generate;
	if (effect.write) {
		im_work_write(owner_user, &effect, contact);
		return;
	}
	if (dir == IM_SUB_OUTBOUND)
		after_outbound(j, 0);
	else
		after_inbound(j, 0);
}

void im_presjob_loaded(struct im_job *j, bool stored)
{
	if (j->kind == IM_JOB_PRESENCE) {
		if (stored) {
			broadcast(j, im_work_roster());
		} else {
			/* No roster here: the user's own resources still
			 * see each other. */
			struct im_roster none = {0};
			broadcast(j, &none);
		}
		/* XEP-0160 4: after the presence of its contacts. */
		if (j->phase == 1 && j->type != PROTO_STANZA_TYPE_UNAVAILABLE)
			im_offjob_after_initial(j);
		im_work_finish();
		return;
	}
	if (!stored) {
		/* No data held for that account: nothing to change (an
		 * unknown contact is ignored, RFC 6121 8.5.1). */
		if (j->phase == 1)
			generated_out(j);
		im_work_finish();
		return;
	}
	if (j->phase == 0)
		step(j, j->user, j->contact, IM_SUB_OUTBOUND);
	else
		step(j, j->contact_user, j->bare, IM_SUB_INBOUND);
}

void im_presjob_written(struct im_job *j, const struct im_error *err, uint64_t index)
{
	if (err != NULL) {
		log_warnx("a %s from %s to %s was not stored: %s", type_name(j->type), j->bare,
			  j->contact, err->text);
		im_work_finish();
		return;
	}
	if (j->phase == 0)
		after_outbound(j, index);
	else
		after_inbound(j, index);
}
