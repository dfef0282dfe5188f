/* SPDX-License-Identifier: MIT */
/*
 * A user's roster in memory, roster sets and subscription stanzas applied
 * to it; see im_roster.h.  Every change is checked whole before the roster
 * is touched, so an error leaves it as it was and the im process has
 * nothing to undo.
 */
#include "im_roster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jid.h"
#include "common/jidprep.h"
#include "im_rosterval.h"

void im_roster_init(struct im_roster *r)
{
	memset(r, 0, sizeof(*r));
}

void im_roster_item_free(struct im_roster_item *item)
{
	free(item->jid);
	free(item->name);
	for (size_t i = 0; i < item->ngroups; i++)
		free(item->groups[i]);
	free(item->groups);
	free(item->status);
	memset(item, 0, sizeof(*item));
}

void im_roster_free(struct im_roster *r)
{
	for (size_t i = 0; i < r->count; i++)
		im_roster_item_free(&r->items[i]);
	free(r->items);
	im_roster_init(r);
}

/* The index of `jid`, or where it would go (with *found false). */
static size_t im_roster_index(const struct im_roster *r, const char *jid, bool *found)
{
	size_t lo = 0, hi = r->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->items[mid].jid, jid);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct im_roster_item *im_roster_find(const struct im_roster *r, const char *jid)
{
	bool found;
	size_t i = im_roster_index(r, jid, &found);
	return found ? &r->items[i] : NULL;
}

int im_roster_insert(struct im_roster *r, struct im_roster_item *item, size_t items_max)
{
	bool found;
	size_t i = im_roster_index(r, item->jid, &found);
	if (found) {
		im_roster_item_free(&r->items[i]);
		r->items[i] = *item;
		memset(item, 0, sizeof(*item));
		return 0;
	}
	if (r->count >= items_max)
		return -1;
	if (r->count == r->cap) {
		size_t cap = r->cap == 0 ? 8 : 2 * r->cap;
		struct im_roster_item *items = realloc(r->items, cap * sizeof(*items));
		if (items == NULL)
			return -1;
		r->items = items;
		r->cap = cap;
	}
	memmove(&r->items[i + 1], &r->items[i], (r->count - i) * sizeof(*r->items));
	r->items[i] = *item;
	r->count++;
	memset(item, 0, sizeof(*item));
	return 0;
}

void im_roster_delete(struct im_roster *r, const char *jid)
{
	bool found;
	size_t i = im_roster_index(r, jid, &found);
	if (!found)
		return;
	im_roster_item_free(&r->items[i]);
	memmove(&r->items[i], &r->items[i + 1], (r->count - i - 1) * sizeof(*r->items));
	r->count--;
}

static int im_roster_fail(struct im_error *err, const char *type, const char *condition,
			  const char *text)
{
	err->type = type;
	err->condition = condition;
	err->text = text;
	return -1;
}

static char *im_roster_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

/* The name and groups of a roster set (RFC 6121 2.3.3), before anything
 * is built from them. */
static int im_roster_set_check_fields(const struct im_roster_set *set,
				      const struct im_roster_limits *limits, struct im_error *err)
{
	if (set->name != NULL) {
		size_t n = strlen(set->name);
		if (n > limits->name_max)
			return im_roster_fail(err, "modify", "not-acceptable", "name too long");
		if (!im_rosterval_utf8_valid(set->name, n))
			return im_roster_fail(err, "modify", "bad-request", "name not UTF-8");
	}
	for (size_t i = 0; i < set->ngroups; i++) {
		size_t n = strlen(set->groups[i]);
		if (n == 0)
			return im_roster_fail(err, "modify", "not-acceptable", "empty group");
		if (n > limits->group_max)
			return im_roster_fail(err, "modify", "not-acceptable",
					      "group name too long");
		if (!im_rosterval_utf8_valid(set->groups[i], n))
			return im_roster_fail(err, "modify", "bad-request", "group not UTF-8");
		for (size_t k = 0; k < i; k++)
			if (strcmp(set->groups[k], set->groups[i]) == 0)
				return im_roster_fail(err, "modify", "bad-request",
						      "group named twice");
	}
	return 0;
}

/* 2.5.2: the contact learns that both directions are gone. */
static void im_roster_remove(struct im_roster *r, struct im_roster_item *item,
			     struct im_roster_effect *effect)
{
	enum im_sub_state s = item->sub.state;
	effect->removed = true;
	effect->write = true;
	effect->push = item->listed;
	effect->send_unsubscribe = im_sub_has_to(s) || im_sub_ask(s);
	effect->send_unsubscribed = im_sub_has_from(s) || im_sub_pending_in(s);
	/* As for an unsubscribed the user sends (3.2.2). */
	if (im_sub_has_from(s))
		effect->generate |= IM_SUB_GEN_UNAVAILABLE;
	im_roster_delete(r, item->jid);
}

static int im_roster_build(const char *jid, const struct im_roster_set *set,
			   const struct im_roster_item *old, struct im_roster_item *item)
{
	memset(item, 0, sizeof(*item));
	item->listed = true;
	if (old != NULL) {
		item->sub = old->sub;
		if ((item->status = im_roster_strdup(old->status)) == NULL && old->status != NULL)
			return -1;
	}
	if ((item->jid = strdup(jid)) == NULL)
		return -1;
	if (set->name != NULL && set->name[0] != '\0' && (item->name = strdup(set->name)) == NULL)
		return -1;
	if (set->ngroups > 0 && (item->groups = calloc(set->ngroups, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < set->ngroups; i++, item->ngroups++)
		if ((item->groups[i] = strdup(set->groups[i])) == NULL)
			return -1;
	return 0;
}

int im_roster_set(struct im_roster *r, const char *user, const struct im_roster_set *set,
		  const struct im_roster_limits *limits, struct im_roster_effect *effect,
		  struct im_error *err)
{
	memset(effect, 0, sizeof(*effect));
	if (set->items != 1)
		return im_roster_fail(err, "modify", "bad-request", "a roster set holds one item");
	if (set->jid == NULL)
		return im_roster_fail(err, "modify", "bad-request", "the item has no jid");
	char jid[JID_MAX], why[JIDPREP_WHY_MAX];
	if (jidprep_jid(set->jid, strlen(set->jid), jid, sizeof(jid), why, sizeof(why)) == -1)
		return im_roster_fail(err, "modify", "jid-malformed",
				      "the item's jid is not a JID");
	struct jid_parts parts;
	if (jid_split(jid, strlen(jid), &parts) == -1 || parts.resource_len != 0)
		return im_roster_fail(err, "modify", "bad-request", "a roster item is a bare JID");
	if (strcmp(jid, user) == 0)
		return im_roster_fail(err, "cancel", "not-allowed", "the user's own JID");
	struct im_roster_item *old = im_roster_find(r, jid);
	if (set->remove) {
		if (old == NULL)
			return im_roster_fail(err, "cancel", "item-not-found", "no such item");
		im_roster_remove(r, old, effect);
		return 0;
	}
	if (im_roster_set_check_fields(set, limits, err) == -1)
		return -1;
	if (old == NULL && r->count >= limits->items_max)
		return im_roster_fail(err, "cancel", "resource-constraint", "the roster is full");
	struct im_roster_item item;
	if (im_roster_build(jid, set, old, &item) == -1) {
		im_roster_item_free(&item);
		return im_roster_fail(err, "wait", "resource-constraint", "out of memory");
	}
	if (im_rosterval_size(&item) > limits->item_bytes_max) {
		im_roster_item_free(&item);
		return im_roster_fail(err, "modify", "not-acceptable", "the item is too large");
	}
	if (im_roster_insert(r, &item, limits->items_max) == -1) {
		im_roster_item_free(&item);
		return im_roster_fail(err, "wait", "resource-constraint", "out of memory");
	}
	effect->item = im_roster_find(r, jid);
	effect->write = true;
	effect->push = true; /* 2.3.2: every set is pushed, changed or not */
	return 0;
}

/* Keeps at most `max` bytes of `status`, cut at a character boundary. */
static char *im_roster_status_cut(const char *status, size_t max)
{
	size_t n = strlen(status);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)status[n] & 0xc0) == 0x80)
			n--;
	}
	return n == 0 ? NULL : strndup(status, n);
}

int im_roster_subscription(struct im_roster *r, const char *contact, enum im_sub_dir dir,
			   enum im_sub_type type, const char *status,
			   const struct im_roster_limits *limits, struct im_roster_effect *effect,
			   struct im_error *err)
{
	memset(effect, 0, sizeof(*effect));
	struct im_roster_item *old = im_roster_find(r, contact);
	struct im_sub_item from = old != NULL ? old->sub : (struct im_sub_item){IM_SUB_NONE, false};
	struct im_sub_result step;
	im_sub_step(from, dir, type, &step);
	effect->forward = step.forward;
	effect->generate = step.generate;
	if (!step.changed) {
		effect->item = old;
		return 0;
	}
	enum im_sub_state s = step.item.state;
	bool listed = (old != NULL && old->listed) || step.item.approved ||
		      (s != IM_SUB_NONE && s != IM_SUB_NONE_IN);
	if (!listed && s == IM_SUB_NONE) {
		/* A request the user never saw in the roster is withdrawn or
		 * refused: nothing is left to keep. */
		im_roster_delete(r, contact);
		effect->removed = true;
		effect->write = true;
		return 0;
	}
	if (old == NULL && r->count >= limits->items_max)
		return im_roster_fail(err, "cancel", "resource-constraint", "the roster is full");
	/* The name, groups and kept request text stay; the state is new. */
	struct im_roster_set keep = {0};
	if (old != NULL)
		keep = (struct im_roster_set){.name = old->name,
					      .groups = (const char *const *)old->groups,
					      .ngroups = old->ngroups};
	struct im_roster_item item;
	if (im_roster_build(contact, &keep, old, &item) == -1)
		goto nomem;
	item.sub = step.item;
	item.listed = listed;
	if (!im_sub_pending_in(s)) {
		free(item.status);
		item.status = NULL;
	} else if (dir == IM_SUB_INBOUND && type == IM_SUB_SUBSCRIBE && status != NULL) {
		/* 3.1.3: the request is kept with its text; what does not fit
		 * the item's limit is cut rather than the request refused. */
		size_t used = im_rosterval_size(&item);
		size_t room = limits->item_bytes_max > used ? limits->item_bytes_max - used : 0;
		free(item.status);
		item.status = im_roster_status_cut(status, room);
	}
	if (im_rosterval_size(&item) > limits->item_bytes_max) {
		im_roster_item_free(&item);
		return im_roster_fail(err, "cancel", "resource-constraint", "the item is full");
	}
	if (im_roster_insert(r, &item, limits->items_max) == -1)
		goto nomem;
	effect->item = im_roster_find(r, contact);
	effect->write = true;
	effect->push = step.push && listed;
	return 0;
nomem:
	im_roster_item_free(&item);
	return im_roster_fail(err, "wait", "resource-constraint", "out of memory");
}

void im_roster_ver_format(uint64_t version, char *out, size_t out_size)
{
	snprintf(out, out_size, "%" PRIu64, version);
}

bool im_roster_ver_current(const char *ver, uint64_t version)
{
	if (ver == NULL || ver[0] == '\0' || strlen(ver) > 20)
		return false;
	uint64_t v = 0;
	for (const char *p = ver; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || (p == ver && *p == '0' && p[1] != '\0'))
			return false;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	return v == version;
}
