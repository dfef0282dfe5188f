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

/* How many connections come from one peer address; gone at zero. */
struct listener_address {
	unsigned count;
};

int listener_index_init(struct listener_index *x)
{
	memset(x, 0, sizeof(*x));
	x->by_id = table_new();
	x->by_address = table_new();
	if (x->by_id == NULL || x->by_address == NULL) {
		listener_index_free(x);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void listener_address_free(void *value, void *arg)
{
	(void)arg;
	free(value);
}

void listener_index_free(struct listener_index *x)
{
	if (x->by_address != NULL)
		table_each(x->by_address, listener_address_free, NULL);
	table_free(x->by_address);
	table_free(x->by_id);
	memset(x, 0, sizeof(*x));
}

int listener_index_add(struct listener_index *x, struct conn *c)
{
	size_t address_len = strlen(c->peer_address);
	struct listener_address *a = table_get(x->by_address, c->peer_address, address_len);
	struct listener_address *fresh = NULL;
	if (a == NULL) {
		fresh = calloc(1, sizeof(*fresh));
		if (fresh == NULL ||
		    table_put(x->by_address, c->peer_address, address_len, fresh, NULL) == -1) {
			free(fresh);
			errno = ENOMEM;
			return -1;
		}
		a = fresh;
	}
	if (table_put(x->by_id, &c->id, sizeof(c->id), c, NULL) == -1) {
		if (fresh != NULL) {
			table_remove(x->by_address, c->peer_address, address_len);
			free(fresh);
		}
		errno = ENOMEM;
		return -1;
	}
	a->count++;
	return 0;
}

void listener_index_remove(struct listener_index *x, struct conn *c)
{
	if (table_remove(x->by_id, &c->id, sizeof(c->id)) != c)
		return; /* never added (conn_new failed before) */
	size_t address_len = strlen(c->peer_address);
	struct listener_address *a = table_get(x->by_address, c->peer_address, address_len);
	if (a != NULL && --a->count == 0) {
		table_remove(x->by_address, c->peer_address, address_len);
		free(a);
	}
	if (c->counted) {
		c->counted = false;
		if (c->kind == PROTO_SOCKET_COMPONENT)
			x->components--;
		else
			x->clients--;
	}
}

struct conn *listener_index_find(const struct listener_index *x, uint64_t id)
{
	return table_get(x->by_id, &id, sizeof(id));
}

unsigned listener_index_count_from(const struct listener_index *x, const char *peer_address)
{
	const struct listener_address *a =
	    table_get(x->by_address, peer_address, strlen(peer_address));
	return a != NULL ? a->count : 0;
}

void listener_index_count_session(struct listener_index *x, struct conn *c)
{
	if (c->counted)
		return;
	c->counted = true;
	if (c->kind == PROTO_SOCKET_COMPONENT)
		x->components++;
	else
		x->clients++;
}
