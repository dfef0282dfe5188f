/* SPDX-License-Identifier: MIT */
/* Reads of the users' data; see elector_userdata_read.h.  Runs in the
 * elector. */
#include "elector_userdata_read.h"

#include <string.h>

_Static_assert(PROTO_USERDATA_KEY_MAX == ELECTOR_USERDATA_KEY_MAX, "one key limit");
_Static_assert(PROTO_USERDATA_USER_MAX == JID_PART_MAX, "one user name limit");
_Static_assert(ELECTOR_USERDATA_COLLECTIONS == 5, "proto.h counts five collections");
/* The largest item fits one answer, so that reading always advances. */
_Static_assert(sizeof(struct proto_userdata_item) + ELECTOR_USERDATA_KEY_MAX +
		       ELECTOR_USERDATA_VALUE_MAX <=
		   PROTO_USERDATA_ANSWER_MAX,
	       "an item fits an answer");

static int put_item(struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *value,
		    size_t value_len)
{
	struct proto_userdata_item item = {.key_len = (uint32_t)key_len,
					   .value_len = (uint32_t)value_len};
	return buf_append(out, &item, sizeof(item)) == 0 && buf_append(out, key, key_len) == 0 &&
		       (value_len == 0 || buf_append(out, value, value_len) == 0)
		   ? 0
		   : -1;
}

/* The head goes first and is filled in last. */
static void set_head(struct buf *out, const struct proto_userdata_answer *head)
{
	memcpy((char *)buf_head(out), head, sizeof(*head));
}

static int summary(const struct elector_userdata *u, const char *user,
		   struct proto_userdata_answer *head, struct buf *out)
{
	for (uint32_t k = 1; k <= ELECTOR_USERDATA_COLLECTIONS; k++) {
		struct elector_userdata_view v =
		    elector_userdata_view(elector_userdata_find(u, user, k));
		struct proto_userdata_summary sum = {
		    .collection = k, .count = v.count, .bytes = v.bytes, .version = v.version};
		if (buf_append(out, &sum, sizeof(sum)) == -1)
			return -1;
		head->count += v.count;
		head->bytes += v.bytes;
		head->version = v.version > head->version ? v.version : head->version;
		head->items++;
	}
	return 0;
}

int elector_userdata_read(const struct elector_machine *m,
			  const struct proto_userdata_get_view *get, struct buf *out)
{
	struct proto_userdata_answer head = {.collection = get->head.collection};
	buf_init(out, sizeof(head) + PROTO_USERDATA_ANSWER_MAX);
	if (buf_append(out, &head, sizeof(head)) == -1)
		return -1;
	if (m == NULL) {
		head.status = PROTO_USERDATA_NO_STATE;
		set_head(out, &head);
		return 0;
	}
	if (accounts_find(elector_machine_accounts(m), get->user) == NULL) {
		head.status = PROTO_USERDATA_NO_USER;
		set_head(out, &head);
		return 0;
	}
	const struct elector_userdata *u = elector_machine_userdata(m);
	if (get->head.collection == 0) {
		if (summary(u, get->user, &head, out) == -1)
			return -1;
		set_head(out, &head);
		return 0;
	}
	const struct elector_userdata_collection *c =
	    elector_userdata_find(u, get->user, get->head.collection);
	struct elector_userdata_view v = elector_userdata_view(c);
	head.version = v.version;
	head.count = v.count;
	head.bytes = v.bytes;
	const uint8_t *key, *value;
	size_t key_len, value_len;
	bool one = get->head.flags == PROTO_USERDATA_ONE;
	size_t i =
	    get->head.key_len > 0 ? elector_userdata_seek(c, get->key, get->head.key_len, one) : 0;
	if (one) {
		if (!elector_userdata_item(c, i, &key, &key_len, &value, &value_len) ||
		    key_len != get->head.key_len || memcmp(key, get->key, key_len) != 0) {
			head.status = PROTO_USERDATA_NO_ITEM;
		} else {
			if (put_item(out, key, key_len, value, value_len) == -1)
				return -1;
			head.items = 1;
		}
		set_head(out, &head);
		return 0;
	}
	for (; elector_userdata_item(c, i, &key, &key_len, &value, &value_len); i++) {
		size_t size = sizeof(struct proto_userdata_item) + key_len + value_len;
		if (buf_len(out) - sizeof(head) + size > PROTO_USERDATA_ANSWER_MAX) {
			head.more = 1;
			break;
		}
		if (put_item(out, key, key_len, value, value_len) == -1)
			return -1;
		head.items++;
	}
	set_head(out, &head);
	return 0;
}
