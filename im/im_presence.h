/* SPDX-License-Identifier: MIT */
/*
 * Presence rules of RFC 6121 sections 4 and 8.5, pure: what the im
 * process does with a stanza for a local account (deliver to which
 * resources, store offline, answer it, bounce it, or -- where the RFC says
 * so -- ignore it), who gets a user's broadcast presence, whom the server
 * probes on initial presence, the directed presence a session has sent
 * (remembered so that its targets get an unavailable when the session
 * ends), and the answer to a probe.  Nothing here does I/O; the im process
 * holds the sessions of its node and acts on the answers.
 */
#ifndef RXMPP_IM_PRESENCE_H
#define RXMPP_IM_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "im_roster.h"

/* One connected resource of a local account. */
struct im_resource {
	bool available; /* sent available presence, not unavailable since */
	int priority;	/* of its last available presence, -128..127 */
};

enum im_kind { IM_KIND_MESSAGE, IM_KIND_PRESENCE, IM_KIND_IQ };

enum im_route_action {
	IM_ROUTE_DELIVER, /* to the resources marked in `deliver` */
	IM_ROUTE_STORE,	  /* into offline storage (im_offline.h) */
	IM_ROUTE_SERVER,  /* the server handles it for the account: an iq to
			   * the bare JID, a subscription stanza (im_roster.h),
			   * a probe (im_presence_probe) */
	IM_ROUTE_BOUNCE,  /* an error to the sender: `err` */
	IM_ROUTE_IGNORE,  /* the RFC says so; `why` says which rule */
};

/* A stanza addressed to a local domain with a localpart. */
struct im_route_in {
	enum im_kind kind;
	const char *type; /* its 'type' attribute; NULL: absent */
	bool account;	  /* the localpart names an account (8.5.1) */
	bool full;	  /* addressed to a full JID (8.5.3) */
	/* With `full`: the index in `res` of the resource it names, or
	 * `nres` when none of the connected resources has that name. */
	size_t resource;
	const struct im_resource *res;
	size_t nres;
};

struct im_route {
	enum im_route_action action;
	struct im_error err; /* IM_ROUTE_BOUNCE */
	const char *why;     /* the rule applied, for logs and tests */
};

/* Decides where a stanza goes (RFC 6121 8.5).  `deliver` has `nres`
 * entries, set for the resources that get the stanza.  Messages to a bare
 * JID go to every available resource of non-negative priority (8.5.2.1.1
 * lets the server choose between that and the highest priority; every
 * device of the user sees the conversation, as Prosody and ejabberd do). */
void im_presence_route(const struct im_route_in *in, bool *deliver, struct im_route *out);

/* Whom a user's broadcast presence goes to (4.4.2): the contacts with a
 * subscription from or both, less those `blocked` says are blocked
 * (XEP-0191; NULL: none).  Writes at most `max` JIDs (pointers into the
 * roster) into `out`; returns how many there are. */
size_t im_presence_subscribers(const struct im_roster *r,
			       bool (*blocked)(const char *jid, void *arg), void *arg,
			       const char **out, size_t max);
/* Whom the server probes on the user's initial presence (4.2.2): the
 * contacts with a subscription to or both, less the blocked ones. */
size_t im_presence_probed(const struct im_roster *r, bool (*blocked)(const char *jid, void *arg),
			  void *arg, const char **out, size_t max);

/* One session's presence state. */
struct im_presence_session {
	bool available;
	int priority;
	bool offline_sent; /* the offline messages went to this session */
	/* JIDs the session sent directed available presence to (4.6), that
	 * get an unavailable when it ends; at most `directed_max`. */
	char **directed;
	size_t ndirected;
	size_t directed_max;
};

/* What a broadcast presence (no 'to') of a session asks of the server. */
struct im_presence_step {
	bool initial;	/* first available presence: probe im_presence_probed
			 * (4.2.2), deliver waiting subscription requests
			 * (3.1.3) and show the user's other resources to
			 * this one (4.2.2) */
	bool broadcast; /* to im_presence_subscribers and the user's other
			 * available resources (4.2.2, 4.4.2, 4.5.2) */
	bool offline;	/* deliver the offline messages now (XEP-0160 4:
			 * first available presence of non-negative
			 * priority) */
	/* Unavailable: also send unavailable to these (the directed
	 * presence targets, 4.6.3), which the session forgets; owned by the
	 * caller (im_presence_step_free). */
	char **unavailable_to;
	size_t nunavailable_to;
};

void im_presence_session_init(struct im_presence_session *s, size_t directed_max);
void im_presence_session_free(struct im_presence_session *s);
void im_presence_step_free(struct im_presence_step *step);

/* A broadcast presence from the session: available (with its priority)
 * or unavailable.  A session that ends without unavailable presence is
 * treated as if it had sent one (4.5.2): call this with available false. */
void im_presence_broadcast(struct im_presence_session *s, bool available, int priority,
			   struct im_presence_step *step);
/* Directed presence from the session to `to` (4.6): remembered when
 * available, forgotten when unavailable.  A target whose bare JID is a
 * contact with a subscription from or both (`subscriber`) is not
 * remembered: the broadcast unavailable reaches it anyway (4.6.3 is about
 * entities that do not get the broadcast).  -1 with `err`
 * (resource-constraint) when a new target would pass `directed_max`: the
 * stanza is bounced rather than sent, because its unavailable could not be
 * promised. */
int im_presence_directed(struct im_presence_session *s, const char *to, bool subscriber,
			 bool available, struct im_error *err);
/* A presence of type error from `from` (RFC 6120 8.3): a directed-presence
 * target that refused is forgotten, so that it is not sent an unavailable
 * later.  Whether the session remembered it. */
bool im_presence_error_from(struct im_presence_session *s, const char *from);

enum im_probe_answer {
	IM_PROBE_UNSUBSCRIBED, /* <presence type='unsubscribed'/> (4.3.2) */
	IM_PROBE_PRESENCE,     /* the last presence of each available resource */
	IM_PROBE_UNAVAILABLE,  /* <presence type='unavailable'/>: none available */
	IM_PROBE_NOTHING,      /* blocked: XEP-0191 says no answer, not even an error */
};

/* The answer to a probe from `item`'s contact (NULL: not in the roster)
 * to a user with `navailable` available resources (4.3.2). */
enum im_probe_answer im_presence_probe(bool account, const struct im_roster_item *item,
				       bool blocked, size_t navailable);

#endif
