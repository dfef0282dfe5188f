/* SPDX-License-Identifier: MIT */
/*
 * A user's roster in memory (RFC 6121 section 2): items keyed by the
 * contact's prepared bare JID, kept sorted by it so that a roster result
 * lists them in the same order on every node.  Pure: the im process loads
 * the items from the replicated store (im_rosterval.h decodes them), asks
 * this module what a roster set or a subscription stanza does, writes the
 * items it reports changed and sends the pushes and stanzas it reports.
 * Nothing here does I/O; failures are reported with the stanza error the
 * RFC names, for the im process to send.
 *
 * Sizes are bounded by limits the caller passes (from the configuration):
 * items per roster, bytes of a name, of a group and of a whole encoded
 * item.  An item the client cannot see -- one that holds only a request
 * from the contact (RFC 6121 3.1.3: the server keeps the request, it does
 * not add the contact to the roster) -- is kept but not listed.
 */
#ifndef RXMPP_IM_ROSTER_H
#define RXMPP_IM_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "im_sub.h"

struct im_roster_limits {
	size_t items_max;      /* items per roster */
	size_t item_bytes_max; /* an item's encoded value (im_rosterval.h) */
	size_t name_max;       /* bytes of a name (RFC 6121 2.3.3) */
	size_t group_max;      /* bytes of one group's name (2.3.3) */
};

struct im_roster_item {
	char *jid;     /* prepared bare JID: the key */
	char *name;    /* NULL: none */
	char **groups; /* ngroups names, none repeated */
	size_t ngroups;
	/* The status text of the contact's waiting subscribe (3.1.3: kept to
	 * be shown when the user comes online); NULL: none or no request. */
	char *status;
	struct im_sub_item sub;
	/* The client sees the item (roster results and pushes). */
	bool listed;
};

struct im_roster {
	struct im_roster_item *items; /* sorted by jid (strcmp) */
	size_t count;
	size_t cap;
};

/* A stanza error of RFC 6120 8.3: the type and the defined condition. */
struct im_error {
	const char *type;      /* "cancel", "modify", "wait", "auth" */
	const char *condition; /* "bad-request", ... */
	const char *text;      /* for the <text/>; never echoes input */
};

/* A roster set as the im process parsed it (RFC 6121 2.3, 2.5). */
struct im_roster_set {
	size_t items;	  /* <item/> children of the <query/>: 2.3.3 wants one */
	const char *jid;  /* its 'jid' attribute as sent; NULL: absent */
	const char *name; /* NULL: absent; "" is the same as absent */
	const char *const *groups;
	size_t ngroups;
	bool remove; /* subscription='remove' (2.5); other values are ignored */
};

/* What a change to the roster asks of the im process. */
struct im_roster_effect {
	/* The item to write (encode it) and to push; NULL when it was
	 * removed (write a delete, push subscription='remove'). */
	const struct im_roster_item *item;
	bool write; /* the stored item changed */
	bool push;  /* a roster push to the interested resources (2.1.6) */
	bool removed;
	/* For a removal (2.5.2): send the contact unsubscribe and/or
	 * unsubscribed from the user's bare JID. */
	bool send_unsubscribe, send_unsubscribed;
	unsigned generate; /* enum im_sub_generate bits */
	/* For a subscription stanza: route (outbound) or deliver (inbound). */
	bool forward;
};

void im_roster_init(struct im_roster *r);
void im_roster_free(struct im_roster *r);
void im_roster_item_free(struct im_roster_item *item);
/* The item for a prepared bare JID; NULL when there is none. */
struct im_roster_item *im_roster_find(const struct im_roster *r, const char *jid);
/* Takes `item` (its strings and all) into the roster, replacing an item of
 * the same JID; -1 when the roster is full (`items_max`). */
int im_roster_insert(struct im_roster *r, struct im_roster_item *item, size_t items_max);
void im_roster_delete(struct im_roster *r, const char *jid);

/* Checks and applies a roster set from `user` (the user's prepared bare
 * JID).  0 with `effect` filled; -1 with `err` and the roster unchanged:
 *   bad-request     more or fewer than one item, no jid, a full JID, a
 *                   group named twice (2.3.3)
 *   jid-malformed   the jid is not a JID (RFC 6120 8.3.3.8)
 *   not-allowed     the user's own JID: a user has no subscription to
 *                   itself (RFC 6121 3.1.1 leaves it to the server; Prosody
 *                   refuses it the same way)
 *   item-not-found  removing an item that is not there (2.5.3)
 *   not-acceptable  a name or a group too long, an empty group, an item
 *                   too large as a whole (2.3.3)
 *   resource-constraint  a new item in a full roster */
int im_roster_set(struct im_roster *r, const char *user, const struct im_roster_set *set,
		  const struct im_roster_limits *limits, struct im_roster_effect *effect,
		  struct im_error *err);

/* Applies a subscription stanza between the user and `contact` (a prepared
 * bare JID) in direction `dir` (im_sub.h).  `status` is the <status/> text
 * of an inbound subscribe (NULL: none), kept with the request.  -1 with
 * `err` (resource-constraint) when it would create an item in a full
 * roster or the item would pass its size limit (the status is cut to fit
 * first); the roster is unchanged then. */
int im_roster_subscription(struct im_roster *r, const char *contact, enum im_sub_dir dir,
			   enum im_sub_type type, const char *status,
			   const struct im_roster_limits *limits, struct im_roster_effect *effect,
			   struct im_error *err);

/* Roster versioning (RFC 6121 2.6, XEP-0237): the version is the store's
 * collection version, written as decimal digits.  Writes it into `out`
 * (at least 21 bytes). */
void im_roster_ver_format(uint64_t version, char *out, size_t out_size);
/* Whether a roster get with `ver` (NULL: no versioning asked) can be
 * answered with an empty result because the client's copy is current
 * (2.6.3); a malformed or older ver gets the whole roster. */
bool im_roster_ver_current(const char *ver, uint64_t version);

#endif
