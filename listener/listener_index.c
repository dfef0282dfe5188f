/* SPDX-License-Identifier: MIT */
/*
 * The listener's connection index (listener_index.h): two hash tables
 * (common/table.c) and two counters, kept by the calls that add, count
 * and remove a connection, so that a delivery, an accept and the
 * before-sleep statistics cost one lookup instead of a walk over every
 * connection.  Runs in rxmpp-listener; no I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/table.h"
#include "listener.h"

/* How many bound sessions one account has; gone at zero. */
struct listener_count {
	unsigned count;
};

int listener_index_init(struct listener_index *x)
{
	memset(x, 0, sizeof(*x));
	x->by_id = table_new();
	x->by_user = table_new();
	if (x->by_id == NULL || x->by_user == NULL) {
		listener_index_free(x);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void listener_count_free(void *value, void *arg)
{
	(void)arg;
	free(value);
}

void listener_index_free(struct listener_index *x)
{
	if (x->by_user != NULL)
		table_each(x->by_user, listener_count_free, NULL);
	table_free(x->by_user);
	table_free(x->by_id);
	memset(x, 0, sizeof(*x));
}

static void listener_index_uncount_user(struct listener_index *x, const char *user)
{
	if (user == NULL)
		return;
	struct listener_count *u = table_get(x->by_user, user, strlen(user));
	if (u != NULL && --u->count == 0) {
		table_remove(x->by_user, user, strlen(user));
		free(u);
	}
}

int listener_index_add(struct listener_index *x, struct conn *c)
{
	if (table_put(x->by_id, &c->id, sizeof(c->id), c, NULL) == -1) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void listener_index_remove(struct listener_index *x, struct conn *c)
{
	if (table_remove(x->by_id, &c->id, sizeof(c->id)) != c)
		return; /* never added (listener_conn_new failed before) */
	if (c->counted) {
		c->counted = false;
		if (c->kind == PROTO_SOCKET_COMPONENT) {
			x->components--;
		} else {
			x->clients--;
			listener_index_uncount_user(x, c->user);
		}
	}
}

struct conn *listener_index_find(const struct listener_index *x, uint64_t id)
{
	return table_get(x->by_id, &id, sizeof(id));
}

unsigned listener_index_count_user(const struct listener_index *x, const char *user)
{
	const struct listener_count *u = table_get(x->by_user, user, strlen(user));
	return u != NULL ? u->count : 0;
}

/* One more client session of `user`; -1 (ENOMEM) counts nothing. */
static int listener_index_count_client(struct listener_index *x, const char *user)
{
	size_t user_len = strlen(user);
	struct listener_count *u = table_get(x->by_user, user, user_len);
	if (u == NULL) {
		u = calloc(1, sizeof(*u));
		if (u == NULL || table_put(x->by_user, user, user_len, u, NULL) == -1) {
			free(u);
			errno = ENOMEM;
			return -1;
		}
	}
	u->count++;
	x->clients++;
	return 0;
}

int listener_index_count_session(struct listener_index *x, struct conn *c)
{
	if (c->counted)
		return 0;
	if (c->kind == PROTO_SOCKET_COMPONENT)
		x->components++;
	else if (listener_index_count_client(x, c->user) == -1)
		return -1;
	c->counted = true;
	return 0;
}

int listener_index_hold(struct listener_index *x, const char *user)
{
	return listener_index_count_client(x, user);
}

void listener_index_release(struct listener_index *x, const char *user)
{
	x->clients--;
	listener_index_uncount_user(x, user);
}
