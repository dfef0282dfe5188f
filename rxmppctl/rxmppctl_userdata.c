/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl user data NAME: what the cluster's state (or, on a node in no
 * cluster, its own store: elector/elector_local.h) holds of a user's own
 * data (rosters, offline messages, vCards, block lists: issue 18), per
 * collection its items, bytes and version, as the running node's elector
 * applied it (PROTO_USERDATA_GET, a summary; answered from memory).  It
 * prints counts, never the items: they are the user's.  Fails, saying
 * why, when the user has no account there or the cluster's state holds
 * nothing yet.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/ipc.h"
#include "common/proto.h"
#include "elector/elector_userdata.h"
#include "rxmppctl.h"

#define USERDATA_TIMEOUT_MS 5000

struct userdata_answer {
	const char *name;
	const char *where;
	bool json;
	uint32_t *items;  /* only count them, into here */
	uint32_t *status; /* only the answer's status, into here */
};

static int userdata_print(const struct proto_userdata_answer *head, const uint8_t *items,
			  const struct userdata_answer *a)
{
	if (a->json) {
		printf("{\"user\": ");
		rxmppctl_print_json_string(a->name);
		printf(", \"items\": %" PRIu32 ", \"bytes\": %" PRIu64 ", \"collections\": [",
		       head->count, head->bytes);
	} else {
		printf("user %s: %" PRIu32 " item%s, %" PRIu64 " bytes in %s\n", a->name,
		       head->count, head->count == 1 ? "" : "s", head->bytes, a->where);
		printf("%-10s %8s %10s %12s\n", "collection", "items", "bytes", "version");
	}
	for (uint32_t i = 0; i < head->items; i++) {
		struct proto_userdata_summary sum;
		memcpy(&sum, items + i * sizeof(sum), sizeof(sum));
		const char *name = elector_userdata_collection_name(sum.collection);
		if (a->json)
			printf("%s{\"name\": \"%s\", \"items\": %" PRIu32 ", \"bytes\": %" PRIu64
			       ", \"version\": %" PRIu64 "}",
			       i ? ", " : "", name, sum.count, sum.bytes, sum.version);
		else
			printf("%-10s %8" PRIu32 " %10" PRIu64 " %12" PRIu64 "\n", name, sum.count,
			       sum.bytes, sum.version);
	}
	if (a->json)
		printf("]}\n");
	return CTL_OK;
}

static int userdata_on_answer(const struct ipc_msg *msg, void *arg)
{
	const struct userdata_answer *a = arg;
	if (msg->type == PROTO_CTL_RESULT) {
		/* The supervisor's own answer: the elector is not running. */
		struct proto_result result;
		if (msg->len < sizeof(result))
			return CTL_FAILED;
		memcpy(&result, msg->data, sizeof(result));
		fprintf(stderr, "rxmppctl: %.*s\n", (int)(msg->len - sizeof(result)),
			(const char *)msg->data + sizeof(result));
		return CTL_FAILED;
	}
	struct proto_userdata_answer head;
	const uint8_t *items;
	size_t items_len;
	if (msg->type != PROTO_USERDATA_ANSWER ||
	    proto_userdata_answer_unpack(msg->data, msg->len, &head, &items, &items_len) == -1 ||
	    (a->status == NULL && head.collection != 0)) {
		fprintf(stderr, "rxmppctl: malformed answer %s from rxmppd\n",
			proto_type_name(msg->type));
		return CTL_FAILED;
	}
	if (a->status != NULL) {
		*a->status = head.status;
		return CTL_OK;
	}
	switch (head.status) {
	case PROTO_USERDATA_NO_USER:
		fprintf(stderr, "rxmppctl: no user %s in %s\n", a->name, a->where);
		return CTL_FAILED;
	case PROTO_USERDATA_NO_STATE:
		fprintf(stderr,
			"rxmppctl: this node holds no cluster state yet (the cluster's state "
			"holds nothing yet): users' data lives there\n");
		return CTL_FAILED;
	default:
		return userdata_print(&head, items, a);
	}
}

static int userdata_get(const char *name, uint32_t collection, const void *key, size_t key_len,
			const char *socket_path, struct userdata_answer *a)
{
	static uint8_t message[sizeof(struct proto_userdata_get) + PROTO_USERDATA_USER_MAX +
			       PROTO_USERDATA_KEY_MAX];
	struct proto_userdata_get head = {.collection = collection,
					  .flags = key_len > 0 ? PROTO_USERDATA_ONE : 0,
					  .user_len = (uint16_t)strlen(name),
					  .key_len = (uint16_t)key_len};
	memcpy(message, &head, sizeof(head));
	memcpy(message + sizeof(head), name, head.user_len);
	if (key_len > 0)
		memcpy(message + sizeof(head) + head.user_len, key, key_len);
	return rxmppctl_request_with(socket_path, PROTO_USERDATA_GET, message,
				     sizeof(head) + head.user_len + key_len, USERDATA_TIMEOUT_MS,
				     userdata_on_answer, a);
}

int rxmppctl_user_data(const char *name, const char *socket_path, bool clustered, bool json)
{
	struct userdata_answer a = {.name = name,
				    .where = clustered
						 ? "the cluster's state"
						 : "this node's own store (it is in no cluster)",
				    .json = json};
	return userdata_get(name, 0, NULL, 0, socket_path, &a);
}

int rxmppctl_user_data_item(const char *name, uint32_t collection, const void *key, size_t key_len,
			    const char *socket_path, uint32_t *status)
{
	struct userdata_answer a = {.name = name, .status = status};
	if (key_len == 0 || key_len > PROTO_USERDATA_KEY_MAX || strlen(name) == 0 ||
	    strlen(name) > PROTO_USERDATA_USER_MAX)
		return CTL_FAILED;
	return userdata_get(name, collection, key, key_len, socket_path, &a);
}
