/* SPDX-License-Identifier: MIT */
/*
 * The users' data in the cluster's state; see elector_userdata.h.  Runs
 * in the elector (rxmppctl uses the collections' names and the limits).
 * Nothing here logs or reads a clock: answers go back to the machine.
 */
#include "elector_userdata.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/table.h"

struct userdata_item {
	uint32_t key_len, value_len;
	uint8_t bytes[]; /* the key, then the value */
};

struct elector_userdata_collection {
	uint64_t version;
	uint64_t bytes;
	uint32_t count, cap;
	struct userdata_item **items; /* sorted by key */
};

struct userdata_user {
	char *name;
	struct elector_userdata_collection c[ELECTOR_USERDATA_COLLECTIONS];
};

struct elector_userdata {
	struct table *users; /* name -> struct userdata_user */
	uint64_t bytes;	     /* what the snapshot holds of them (see below) */
};

/* ELECTOR_USERDATA_TOTAL_MAX bounds what the machine's snapshot writes of
 * the users' data (elector_machine.h), not keys and values alone, which
 * would let tiny items take three times what is counted: per user its
 * name (str16) and a count of collections, and up to 13 bytes for each
 * collection (number, version, item count) -- counted for all five --;
 * per item two 16-bit lengths besides its key and value. */
#define USERDATA_USER_STORED(name_len) (3u + (name_len) + ELECTOR_USERDATA_COLLECTIONS * 13u)
#define USERDATA_ITEM_STORED	       4u

static const char *const collection_names[ELECTOR_USERDATA_COLLECTION_END] = {
    [ELECTOR_USERDATA_ROSTER] = "roster", [ELECTOR_USERDATA_OFFLINE] = "offline",
    [ELECTOR_USERDATA_VCARD] = "vcard",	  [ELECTOR_USERDATA_BLOCK] = "block",
    [ELECTOR_USERDATA_META] = "meta",
};

/* The defaults: a large roster (Conversations and Gajim users reach a few
 * hundred contacts), a day or two of offline messages, a vCard with a
 * small photo, a block list of spammers. */
static const struct elector_userdata_limit default_limits[ELECTOR_USERDATA_COLLECTION_END] = {
    [ELECTOR_USERDATA_ROSTER] = {1000, 1024 * 1024},
    [ELECTOR_USERDATA_OFFLINE] = {200, 2 * 1024 * 1024},
    [ELECTOR_USERDATA_VCARD] = {8, 64 * 1024},
    [ELECTOR_USERDATA_BLOCK] = {1000, 256 * 1024},
    [ELECTOR_USERDATA_META] = {64, 64 * 1024},
};

const char *elector_userdata_collection_name(uint32_t collection)
{
	return collection > 0 && collection < ELECTOR_USERDATA_COLLECTION_END
		   ? collection_names[collection]
		   : NULL;
}

struct elector_userdata_limit elector_userdata_default_limit(uint32_t collection)
{
	return elector_userdata_collection_name(collection) != NULL
		   ? default_limits[collection]
		   : (struct elector_userdata_limit){0, 0};
}

bool elector_userdata_limit_valid(const struct elector_userdata_limit *limit)
{
	return limit->count > 0 && limit->count <= ELECTOR_USERDATA_COUNT_MAX && limit->bytes > 0 &&
	       limit->bytes <= ELECTOR_USERDATA_BYTES_MAX;
}

struct elector_userdata *elector_userdata_new(void)
{
	struct elector_userdata *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->users = table_new();
	if (u->users == NULL) {
		free(u);
		return NULL;
	}
	return u;
}

static void collection_clear(struct elector_userdata_collection *c)
{
	for (uint32_t i = 0; i < c->count; i++)
		free(c->items[i]);
	free(c->items);
	memset(c, 0, sizeof(*c));
}

static void user_free(void *value, void *arg)
{
	(void)arg;
	struct userdata_user *user = value;
	for (int k = 0; k < ELECTOR_USERDATA_COLLECTIONS; k++)
		collection_clear(&user->c[k]);
	free(user->name);
	free(user);
}

void elector_userdata_free(struct elector_userdata *u)
{
	if (u == NULL)
		return;
	table_each(u->users, user_free, NULL);
	table_free(u->users);
	free(u);
}

static struct userdata_user *user_find(const struct elector_userdata *u, const char *name)
{
	return table_get(u->users, name, strlen(name));
}

/* The user's record, made when it has none; NULL: out of memory. */
static struct userdata_user *user_make(struct elector_userdata *u, const char *name)
{
	struct userdata_user *user = user_find(u, name);
	if (user != NULL)
		return user;
	user = calloc(1, sizeof(*user));
	if (user == NULL || (user->name = strdup(name)) == NULL ||
	    table_put(u->users, name, strlen(name), user, NULL) == -1) {
		if (user != NULL)
			free(user->name);
		free(user);
		return NULL;
	}
	u->bytes += USERDATA_USER_STORED(strlen(name));
	return user;
}

/* A record that holds nothing (no item, no version) goes, so that the
 * table holds only users with data, as the snapshot does. */
static void user_drop_if_empty(struct elector_userdata *u, struct userdata_user *user)
{
	for (int k = 0; k < ELECTOR_USERDATA_COLLECTIONS; k++) {
		if (user->c[k].version != 0 || user->c[k].count != 0)
			return;
	}
	u->bytes -= USERDATA_USER_STORED(strlen(user->name));
	table_remove(u->users, user->name, strlen(user->name));
	user_free(user, NULL);
}

static int key_compare(const void *a, size_t a_len, const void *b, size_t b_len)
{
	int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
	if (c != 0)
		return c;
	return a_len < b_len ? -1 : a_len > b_len;
}

/* Where `key` is or would go. */
static size_t position(const struct elector_userdata_collection *c, const void *key, size_t key_len,
		       bool *found)
{
	size_t lo = 0, hi = c->count;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct userdata_item *it = c->items[mid];
		int cmp = key_compare(it->bytes, it->key_len, key, key_len);
		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct userdata_item *item_new(const void *key, size_t key_len, const void *value,
				      size_t value_len)
{
	struct userdata_item *it = malloc(sizeof(*it) + key_len + value_len);
	if (it == NULL)
		return NULL;
	it->key_len = (uint32_t)key_len;
	it->value_len = (uint32_t)value_len;
	memcpy(it->bytes, key, key_len);
	if (value_len > 0)
		memcpy(it->bytes + key_len, value, value_len);
	return it;
}

/* Room for one more pointer; -1: out of memory (nothing changed). */
static int collection_reserve(struct elector_userdata_collection *c)
{
	if (c->count < c->cap)
		return 0;
	uint32_t cap = c->cap ? c->cap * 2 : 8;
	if (cap > ELECTOR_USERDATA_COUNT_MAX)
		cap = ELECTOR_USERDATA_COUNT_MAX;
	struct userdata_item **grown = realloc(c->items, cap * sizeof(*grown));
	if (grown == NULL)
		return -1;
	c->items = grown;
	c->cap = cap;
	return 0;
}

static bool bad_collection(uint32_t collection, char *why, size_t why_size)
{
	if (elector_userdata_collection_name(collection) != NULL)
		return false;
	snprintf(why, why_size, "no collection %" PRIu32, collection);
	return true;
}

/* Whether an item of `add` bytes replacing one of `remove` bytes (0 and
 * 0: none) stays within the limit, `stored` more bytes of records for the
 * snapshot besides (a new item's, a new user's); why not in `why`. */
static bool within(const struct elector_userdata *u, const struct elector_userdata_collection *c,
		   uint32_t collection, const struct elector_userdata_limit *limit, bool new_item,
		   uint64_t add, uint64_t remove, uint64_t stored, char *why, size_t why_size)
{
	const char *name = elector_userdata_collection_name(collection);
	if (u->bytes - remove + add + stored > ELECTOR_USERDATA_TOTAL_MAX) {
		snprintf(why, why_size,
			 "the cluster's user data is full (%" PRIu64 " of %u bytes held)", u->bytes,
			 ELECTOR_USERDATA_TOTAL_MAX);
		return false;
	}
	if (c != NULL && new_item && c->count >= limit->count) {
		snprintf(why, why_size, "the %s quota of %" PRIu32 " items is reached", name,
			 limit->count);
		return false;
	}
	uint64_t after = (c ? c->bytes : 0) - remove + add;
	if (after > limit->bytes) {
		snprintf(why, why_size,
			 "the %s quota of %" PRIu32 " bytes would be exceeded (%" PRIu64 " bytes)",
			 name, limit->bytes, after);
		return false;
	}
	return true;
}

static struct elector_userdata_collection *collection_of(struct userdata_user *user,
							 uint32_t collection)
{
	return user != NULL ? &user->c[collection - 1] : NULL;
}

/* Inserts `it` at `at` (room reserved), or replaces the item there. */
static void collection_place(struct elector_userdata_collection *c, size_t at, bool replace,
			     struct userdata_item *it, uint64_t index)
{
	if (replace) {
		c->bytes -= c->items[at]->key_len + c->items[at]->value_len;
		free(c->items[at]);
	} else {
		memmove(&c->items[at + 1], &c->items[at], (c->count - at) * sizeof(*c->items));
		c->count++;
	}
	c->items[at] = it;
	c->bytes += it->key_len + it->value_len;
	c->version = index;
}

/* PUT and APPEND: `must_be_new` refuses a key that exists (APPEND's). */
static int insert(struct elector_userdata *u, const char *user, uint32_t collection,
		  const void *key, size_t key_len, const void *value, size_t value_len,
		  const struct elector_userdata_limit *limit, uint64_t index, bool apply,
		  bool must_be_new, char *why, size_t why_size)
{
	if (bad_collection(collection, why, why_size))
		return ELECTOR_USERDATA_REFUSED;
	struct userdata_user *owner = user_find(u, user);
	struct elector_userdata_collection *c = collection_of(owner, collection);
	bool found = false;
	size_t at = c != NULL ? position(c, key, key_len, &found) : 0;
	const struct userdata_item *old = found ? c->items[at] : NULL;
	if (old != NULL && must_be_new) {
		snprintf(why, why_size, "key exists in %s",
			 elector_userdata_collection_name(collection));
		return ELECTOR_USERDATA_REFUSED;
	}
	if (old != NULL && old->value_len == value_len &&
	    (value_len == 0 || memcmp(old->bytes + old->key_len, value, value_len) == 0)) {
		snprintf(why, why_size, "%s item unchanged",
			 elector_userdata_collection_name(collection));
		return ELECTOR_USERDATA_SAME;
	}
	uint64_t stored =
	    (old ? 0 : USERDATA_ITEM_STORED) + (owner ? 0 : USERDATA_USER_STORED(strlen(user)));
	if (!within(u, c, collection, limit, old == NULL, key_len + value_len,
		    old ? old->key_len + old->value_len : 0, stored, why, why_size))
		return ELECTOR_USERDATA_REFUSED;
	snprintf(why, why_size, "%s item %s", elector_userdata_collection_name(collection),
		 old ? "replaced" : "added");
	if (!apply)
		return ELECTOR_USERDATA_CHANGED;
	uint64_t old_bytes = old ? old->key_len + old->value_len : 0;
	struct userdata_item *it = item_new(key, key_len, value, value_len);
	bool made = owner == NULL;
	if (it != NULL && owner == NULL)
		owner = user_make(u, user);
	c = collection_of(owner, collection);
	if (it == NULL || c == NULL || (old == NULL && collection_reserve(c) == -1)) {
		free(it);
		if (made && owner != NULL)
			user_drop_if_empty(u, owner);
		return -1;
	}
	u->bytes -= old_bytes;
	u->bytes += key_len + value_len + (old ? 0 : USERDATA_ITEM_STORED);
	collection_place(c, at, old != NULL, it, index);
	return ELECTOR_USERDATA_CHANGED;
}

int elector_userdata_put(struct elector_userdata *u, const char *user, uint32_t collection,
			 const void *key, size_t key_len, const void *value, size_t value_len,
			 const struct elector_userdata_limit *limit, uint64_t index, bool apply,
			 char *why, size_t why_size)
{
	return insert(u, user, collection, key, key_len, value, value_len, limit, index, apply,
		      false, why, why_size);
}

int elector_userdata_append(struct elector_userdata *u, const char *user, uint32_t collection,
			    const void *value, size_t value_len,
			    const struct elector_userdata_limit *limit, uint64_t index, bool apply,
			    char *why, size_t why_size)
{
	uint8_t key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(index >> (8 * (7 - i)));
	return insert(u, user, collection, key, sizeof(key), value, value_len, limit, index, apply,
		      true, why, why_size);
}

int elector_userdata_del(struct elector_userdata *u, const char *user, uint32_t collection,
			 const void *key, size_t key_len, uint64_t index, bool apply, char *why,
			 size_t why_size)
{
	if (bad_collection(collection, why, why_size))
		return ELECTOR_USERDATA_REFUSED;
	struct elector_userdata_collection *c = collection_of(user_find(u, user), collection);
	bool found = false;
	size_t at = c != NULL ? position(c, key, key_len, &found) : 0;
	const char *name = elector_userdata_collection_name(collection);
	if (!found) {
		snprintf(why, why_size, "no such item in %s", name);
		return ELECTOR_USERDATA_REFUSED;
	}
	snprintf(why, why_size, "%s item deleted", name);
	if (!apply)
		return ELECTOR_USERDATA_CHANGED;
	c->bytes -= c->items[at]->key_len + c->items[at]->value_len;
	u->bytes -= c->items[at]->key_len + c->items[at]->value_len + USERDATA_ITEM_STORED;
	free(c->items[at]);
	memmove(&c->items[at], &c->items[at + 1], (c->count - at - 1) * sizeof(*c->items));
	c->count--;
	c->version = index;
	return ELECTOR_USERDATA_CHANGED;
}

int elector_userdata_take(struct elector_userdata *u, const char *user, uint32_t collection,
			  const void *key, size_t key_len, uint64_t index, bool apply,
			  uint32_t *taken, char *why, size_t why_size)
{
	*taken = 0;
	if (bad_collection(collection, why, why_size))
		return ELECTOR_USERDATA_REFUSED;
	struct elector_userdata_collection *c = collection_of(user_find(u, user), collection);
	bool found = false;
	size_t end = c != NULL ? position(c, key, key_len, &found) + found : 0;
	const char *name = elector_userdata_collection_name(collection);
	*taken = (uint32_t)end;
	if (end == 0) {
		snprintf(why, why_size, "nothing to take from %s", name);
		return ELECTOR_USERDATA_SAME;
	}
	snprintf(why, why_size, "%zu %s item%s taken", end, name, end == 1 ? "" : "s");
	if (!apply)
		return ELECTOR_USERDATA_CHANGED;
	for (size_t i = 0; i < end; i++) {
		c->bytes -= c->items[i]->key_len + c->items[i]->value_len;
		u->bytes -= c->items[i]->key_len + c->items[i]->value_len + USERDATA_ITEM_STORED;
		free(c->items[i]);
	}
	memmove(&c->items[0], &c->items[end], (c->count - end) * sizeof(*c->items));
	c->count -= (uint32_t)end;
	c->version = index;
	return ELECTOR_USERDATA_CHANGED;
}

uint64_t elector_userdata_stored(const struct elector_userdata *u)
{
	return u->bytes;
}

size_t elector_userdata_clear(struct elector_userdata *u, const char *user, bool apply)
{
	struct userdata_user *owner = user_find(u, user);
	if (owner == NULL)
		return 0;
	size_t items = 0;
	uint64_t bytes = 0;
	for (int k = 0; k < ELECTOR_USERDATA_COLLECTIONS; k++) {
		items += owner->c[k].count;
		bytes += owner->c[k].bytes + owner->c[k].count * USERDATA_ITEM_STORED;
	}
	if (apply) {
		u->bytes -= bytes + USERDATA_USER_STORED(strlen(owner->name));
		table_remove(u->users, owner->name, strlen(owner->name));
		user_free(owner, NULL);
	}
	return items;
}

const struct elector_userdata_collection *
elector_userdata_find(const struct elector_userdata *u, const char *user, uint32_t collection)
{
	if (elector_userdata_collection_name(collection) == NULL)
		return NULL;
	return collection_of(user_find(u, user), collection);
}

struct elector_userdata_view elector_userdata_view(const struct elector_userdata_collection *c)
{
	if (c == NULL)
		return (struct elector_userdata_view){0};
	return (struct elector_userdata_view){
	    .version = c->version, .count = c->count, .bytes = c->bytes};
}

size_t elector_userdata_seek(const struct elector_userdata_collection *c, const void *key,
			     size_t key_len, bool inclusive)
{
	if (c == NULL || key == NULL)
		return 0;
	bool found;
	size_t at = position(c, key, key_len, &found);
	return found && !inclusive ? at + 1 : at;
}

bool elector_userdata_item(const struct elector_userdata_collection *c, size_t i,
			   const uint8_t **key, size_t *key_len, const uint8_t **value,
			   size_t *value_len)
{
	if (c == NULL || i >= c->count)
		return false;
	const struct userdata_item *it = c->items[i];
	*key = it->bytes;
	*key_len = it->key_len;
	*value = it->bytes + it->key_len;
	*value_len = it->value_len;
	return true;
}

struct users_list {
	const char **names;
	size_t count;
};

static void list_user(void *value, void *arg)
{
	struct users_list *l = arg;
	l->names[l->count++] = ((struct userdata_user *)value)->name;
}

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int elector_userdata_users(const struct elector_userdata *u, const char ***names, size_t *count)
{
	size_t n = table_count(u->users);
	struct users_list l = {.names = malloc((n ? n : 1) * sizeof(*l.names))};
	*names = NULL;
	*count = 0;
	if (l.names == NULL)
		return -1;
	table_each(u->users, list_user, &l);
	qsort(l.names, l.count, sizeof(*l.names), name_compare);
	*names = l.names;
	*count = l.count;
	return 0;
}

int elector_userdata_restore_version(struct elector_userdata *u, const char *user,
				     uint32_t collection, uint64_t version)
{
	struct elector_userdata_collection *c = collection_of(user_make(u, user), collection);
	if (c == NULL)
		return -1;
	c->version = version;
	return 0;
}

int elector_userdata_restore_item(struct elector_userdata *u, const char *user, uint32_t collection,
				  const void *key, size_t key_len, const void *value,
				  size_t value_len, const char **why)
{
	*why = "out of memory";
	struct elector_userdata_collection *c = collection_of(user_find(u, user), collection);
	if (c == NULL)
		return -1;
	const struct userdata_item *last = c->count ? c->items[c->count - 1] : NULL;
	if (last != NULL && key_compare(last->bytes, last->key_len, key, key_len) >= 0) {
		*why = "item key order";
		return -1;
	}
	if (c->count >= ELECTOR_USERDATA_COUNT_MAX ||
	    c->bytes + key_len + value_len > ELECTOR_USERDATA_BYTES_MAX ||
	    u->bytes + key_len + value_len + USERDATA_ITEM_STORED > ELECTOR_USERDATA_TOTAL_MAX) {
		*why = "collection size";
		return -1;
	}
	struct userdata_item *it = item_new(key, key_len, value, value_len);
	if (it == NULL || collection_reserve(c) == -1) {
		free(it);
		return -1;
	}
	uint64_t version = c->version;
	collection_place(c, c->count, false, it, version);
	u->bytes += key_len + value_len + USERDATA_ITEM_STORED;
	return 0;
}
