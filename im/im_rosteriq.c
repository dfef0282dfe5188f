/* SPDX-License-Identifier: MIT */
/* Roster iqs as XML; see im_rosteriq.h. */
#include "im_rosteriq.h"

#include <stdlib.h>
#include <string.h>

#include "common/jid.h"
#include "common/xml_write.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* The writers below check every append: -1 as soon as one does not fit
 * the buffer's limit, so that no stanza leaves with a piece missing. */
static int put(struct buf *out, const char *text)
{
	return buf_append(out, text, strlen(text));
}

static int put_attr(struct buf *out, const char *name, const char *value)
{
	return put(out, " ") | put(out, name) | put(out, "=\"") |
	       xml_escape(out, value, strlen(value), true) | put(out, "\"");
}

static int put_text(struct buf *out, const char *text)
{
	return xml_escape(out, text, strlen(text), false);
}

static void refuse(struct im_rosteriq_req *req, const char *type, const char *condition,
		   const char *text)
{
	req->is_bad = true;
	req->bad = (struct im_error){.type = type, .condition = condition, .text = text};
}

/* A copy of `node`'s text into *out; 1 when it is longer than
 * IM_ROSTERIQ_TEXT_MAX, -1 without memory. */
static int text_of(const struct xml_node *node, char **out)
{
	static char text[IM_ROSTERIQ_TEXT_MAX + 1];
	if (xml_text(node, text, sizeof(text)) == -1)
		return 1;
	*out = strdup(text);
	return *out == NULL ? -1 : 0;
}

static char *dup_or_null(const char *text, bool *no_memory)
{
	if (text == NULL)
		return NULL;
	char *copy = strdup(text);
	if (copy == NULL)
		*no_memory = true;
	return copy;
}

/* The set's first <item/>, its attributes and groups.  Bounded here, as
 * it is read, so that a request waiting in im's queue holds a few KB
 * whatever the stanza's size: what is longer would be refused anyway. */
static int read_item(const struct xml_node *item, struct im_rosteriq_req *req)
{
	const char *jid = xml_attr_get(item, "jid"), *name = xml_attr_get(item, "name");
	if (jid != NULL && strlen(jid) >= JID_MAX) {
		refuse(req, "modify", "jid-malformed", "the JID is too long");
		return 0;
	}
	size_t text = name != NULL ? strlen(name) : 0;
	if (text > IM_ROSTERIQ_TEXT_MAX) {
		refuse(req, "modify", "not-acceptable", "the name is too long");
		return 0;
	}
	bool no_memory = false;
	req->jid = dup_or_null(jid, &no_memory);
	req->name = dup_or_null(name, &no_memory);
	const char *subscription = xml_attr_get(item, "subscription");
	req->remove = subscription != NULL && strcmp(subscription, "remove") == 0;
	if (no_memory)
		return -1;
	for (const struct xml_node *c = item->children; c != NULL; c = c->next) {
		if (!xml_is(c, IM_ROSTERIQ_NS, "group"))
			continue;
		if (req->ngroups == IM_ROSTERIQ_GROUPS_MAX) {
			refuse(req, "modify", "not-acceptable", "too many groups");
			return 0;
		}
		int rc = text_of(c, &req->groups[req->ngroups]);
		if (rc == -1)
			return -1;
		if (rc == 1) {
			refuse(req, "modify", "not-acceptable", "a group's name is too long");
			return 0;
		}
		text += strlen(req->groups[req->ngroups++]);
		if (text > IM_ROSTERIQ_TEXT_MAX) {
			refuse(req, "modify", "not-acceptable", "the item is too large");
			return 0;
		}
	}
	return 0;
}

int im_rosteriq_read(const struct xml_node *iq, bool set, struct im_rosteriq_req *req)
{
	*req = (struct im_rosteriq_req){.set = set};
	const struct xml_node *query = xml_first_element(iq);
	if (query == NULL || !xml_is(query, IM_ROSTERIQ_NS, "query")) {
		refuse(req, "modify", "bad-request", "the roster query is not the iq's payload");
		return 0;
	}
	if (!set) {
		/* A get carries no items (RFC 6121 2.1.3); its ver is all that
		 * counts. */
		/* A ver longer than any this server gives is not current
		 * (2.6.3): the whole roster, as without one. */
		const char *ver = xml_attr_get(query, "ver");
		if (ver != NULL && strlen(ver) > IM_ROSTERIQ_VER_MAX)
			ver = NULL;
		bool no_memory = false;
		req->ver = dup_or_null(ver, &no_memory);
		return no_memory ? -1 : 0;
	}
	const struct xml_node *first = NULL;
	for (const struct xml_node *c = query->children; c != NULL; c = c->next) {
		if (c->name == NULL || !xml_is(c, IM_ROSTERIQ_NS, "item"))
			continue;
		if (first == NULL)
			first = c;
		req->items++;
	}
	if (first != NULL && read_item(first, req) == -1) {
		im_rosteriq_req_free(req);
		return -1;
	}
	return 0;
}

void im_rosteriq_req_free(struct im_rosteriq_req *req)
{
	free(req->ver);
	free(req->jid);
	free(req->name);
	for (size_t i = 0; i < req->ngroups; i++)
		free(req->groups[i]);
	*req = (struct im_rosteriq_req){0};
}

void im_rosteriq_as_set(const struct im_rosteriq_req *req, struct im_roster_set *set)
{
	*set = (struct im_roster_set){
	    .items = req->items,
	    .jid = req->jid,
	    .name = req->name,
	    .groups = (const char *const *)req->groups,
	    .ngroups = req->ngroups,
	    .remove = req->remove,
	};
}

int im_rosteriq_item(struct buf *out, const struct im_roster_item *item)
{
	int rc = put(out, "<item") | put_attr(out, "jid", item->jid);
	if (item->name != NULL && item->name[0] != '\0')
		rc |= put_attr(out, "name", item->name);
	rc |= put_attr(out, "subscription", im_sub_subscription(item->sub.state));
	if (im_sub_ask(item->sub.state))
		rc |= put_attr(out, "ask", "subscribe");
	if (item->ngroups == 0)
		return rc | put(out, "/>");
	rc |= put(out, ">");
	for (size_t i = 0; i < item->ngroups; i++)
		rc |= put(out, "<group>") | put_text(out, item->groups[i]) | put(out, "</group>");
	return rc | put(out, "</item>");
}

/* <iq type=TYPE id to from */
static int iq_head(struct buf *out, const char *type, const char *to, const char *from,
		   const char *id)
{
	int rc = put(out, "<iq") | put_attr(out, "type", type);
	if (id[0] != '\0')
		rc |= put_attr(out, "id", id);
	if (to[0] != '\0')
		rc |= put_attr(out, "to", to);
	if (from[0] != '\0')
		rc |= put_attr(out, "from", from);
	return rc;
}

static int query_head(struct buf *out, const char *ver)
{
	int rc = put(out, "<query xmlns=\"" IM_ROSTERIQ_NS "\"");
	if (ver != NULL)
		rc |= put_attr(out, "ver", ver);
	return rc | put(out, ">");
}

int im_rosteriq_items(struct buf *out, const struct im_roster *roster)
{
	for (size_t i = 0; i < roster->count; i++)
		if (roster->items[i].listed && im_rosteriq_item(out, &roster->items[i]) == -1)
			return -1;
	return 0;
}

int im_rosteriq_result(struct buf *out, const char *to, const char *from, const char *id,
		       const struct im_roster *roster, const char *ver)
{
	int rc = iq_head(out, "result", to, from, id);
	if (roster == NULL)
		return rc | put(out, "/>");
	rc |= put(out, ">") | query_head(out, ver);
	if (rc == 0)
		rc = im_rosteriq_items(out, roster);
	return rc | put(out, "</query></iq>");
}

int im_rosteriq_done(struct buf *out, const char *to, const char *from, const char *id)
{
	return iq_head(out, "result", to, from, id) | put(out, "/>");
}

size_t im_rosteriq_push(struct buf *out, const char *id, const char *ver,
			const struct im_roster_item *item, const char *removed_jid)
{
	/* RFC 6121 2.1.6: no 'from' (it is the user's own server's). */
	int rc = iq_head(out, "set", "", "", id);
	size_t to_at = buf_len(out);
	rc |= put(out, ">") | query_head(out, ver);
	if (item != NULL)
		rc |= im_rosteriq_item(out, item);
	else
		rc |= put(out, "<item") | put_attr(out, "jid", removed_jid) |
		      put_attr(out, "subscription", "remove") | put(out, "/>");
	rc |= put(out, "</query></iq>");
	return rc == 0 ? to_at : 0;
}

int im_rosteriq_error(struct buf *out, const char *to, const char *from, const char *id,
		      const struct im_error *err)
{
	int rc = iq_head(out, "error", to, from, id) | put(out, "><error") |
		 put_attr(out, "type", err->type) | put(out, "><") | put(out, err->condition) |
		 put(out, " xmlns=\"" NS_STANZAS "\"/>");
	if (err->text != NULL && err->text[0] != '\0')
		rc |= put(out, "<text xmlns=\"" NS_STANZAS "\">") | put_text(out, err->text) |
		      put(out, "</text>");
	return rc | put(out, "</error></iq>");
}
