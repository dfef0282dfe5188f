/* SPDX-License-Identifier: MIT */
/*
 * Admission by peer address (listener_admit.h): one hash table
 * (common/table.c) of counts and a token bucket per address, kept by the
 * accept path (listener_main.c), authentication (listener_client.c,
 * listener_component.c) and the close of a connection (listener_conn.c).
 * Runs in rxmpp-listener; no I/O, no clock.
 */
#include "listener_admit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/netaddr.h"
#include "common/table.h"

/* Tokens are counted in thousandths, so that a rate in tokens a second
 * refills in whole thousandths each millisecond. */
#define ADMIT_TOKEN 1000u

struct listener_admit_address {
	char address[NETADDR_TEXT_MAX];
	unsigned connections;
	unsigned unauthenticated;
	uint64_t milli_tokens;
	int64_t refilled_ms;
};

int listener_admit_init(struct listener_admit *x)
{
	x->by_address = table_new();
	if (x->by_address == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void listener_admit_free_address(void *value, void *arg)
{
	(void)arg;
	free(value);
}

void listener_admit_free(struct listener_admit *x)
{
	if (x->by_address != NULL)
		table_each(x->by_address, listener_admit_free_address, NULL);
	table_free(x->by_address);
	x->by_address = NULL;
}

static uint64_t listener_admit_capacity(const struct config_limits *limits)
{
	return (uint64_t)limits->connection_burst_per_address * ADMIT_TOKEN;
}

/* Brings the bucket to `now_ms`; a clock that went back refills nothing.
 * A burst lowered by a reload caps what was saved under the old one. */
static void listener_admit_refill(struct listener_admit_address *a,
				  const struct config_limits *limits, int64_t now_ms)
{
	uint64_t capacity = listener_admit_capacity(limits);
	if (now_ms > a->refilled_ms) {
		uint64_t elapsed = (uint64_t)(now_ms - a->refilled_ms);
		uint64_t rate = limits->connection_rate_per_address;
		/* elapsed * rate may overflow after a long quiet spell: it is full anyway. */
		if (elapsed >= capacity / rate + 1)
			a->milli_tokens = capacity;
		else
			a->milli_tokens += elapsed * rate;
		a->refilled_ms = now_ms;
	}
	if (a->milli_tokens > capacity)
		a->milli_tokens = capacity;
}

static bool listener_admit_rate_limited(const struct config_limits *limits)
{
	return limits->connection_rate_per_address != CONFIG_NONE;
}

enum listener_admit_verdict listener_admit_open(struct listener_admit *x,
						const struct config_limits *limits,
						const char *address, bool trusted, int64_t now_ms)
{
	size_t length = strnlen(address, NETADDR_TEXT_MAX - 1);
	struct listener_admit_address *a = table_get(x->by_address, address, length);
	if (a == NULL) {
		a = calloc(1, sizeof(*a));
		if (a == NULL)
			return LISTENER_ADMIT_NO_MEMORY;
		memcpy(a->address, address, length);
		a->milli_tokens = listener_admit_capacity(limits);
		a->refilled_ms = now_ms;
		if (table_put(x->by_address, a->address, length, a, NULL) == -1) {
			free(a);
			return LISTENER_ADMIT_NO_MEMORY;
		}
	}
	if (!trusted) {
		/* The caps first: a refused connection costs no token. */
		if (limits->max_connections_per_address != CONFIG_NONE &&
		    a->connections >= limits->max_connections_per_address)
			return LISTENER_ADMIT_CONNECTIONS;
		if (limits->max_unauthenticated_per_address != CONFIG_NONE &&
		    a->unauthenticated >= limits->max_unauthenticated_per_address)
			return LISTENER_ADMIT_UNAUTHENTICATED;
		if (listener_admit_rate_limited(limits)) {
			listener_admit_refill(a, limits, now_ms);
			if (a->milli_tokens < ADMIT_TOKEN)
				return LISTENER_ADMIT_RATE;
			a->milli_tokens -= ADMIT_TOKEN;
		}
	}
	a->connections++;
	a->unauthenticated++;
	return LISTENER_ADMIT_OK;
}

static struct listener_admit_address *listener_admit_find(const struct listener_admit *x,
							  const char *address)
{
	return table_get(x->by_address, address, strnlen(address, NETADDR_TEXT_MAX - 1));
}

void listener_admit_authenticated(struct listener_admit *x, const char *address)
{
	struct listener_admit_address *a = listener_admit_find(x, address);
	if (a != NULL && a->unauthenticated > 0)
		a->unauthenticated--;
}

void listener_admit_close(struct listener_admit *x, const char *address, bool authenticated)
{
	struct listener_admit_address *a = listener_admit_find(x, address);
	if (a == NULL || a->connections == 0)
		return;
	a->connections--;
	if (!authenticated && a->unauthenticated > 0)
		a->unauthenticated--;
}

struct listener_admit_sweep {
	const struct config_limits *limits;
	int64_t now_ms;
	struct listener_admit_address **idle;
	size_t count;
};

static void listener_admit_collect(void *value, void *arg)
{
	struct listener_admit_address *a = value;
	struct listener_admit_sweep *sweep = arg;
	if (a->connections > 0)
		return;
	if (listener_admit_rate_limited(sweep->limits)) {
		listener_admit_refill(a, sweep->limits, sweep->now_ms);
		if (a->milli_tokens < listener_admit_capacity(sweep->limits))
			return;
	}
	sweep->idle[sweep->count++] = a;
}

void listener_admit_sweep(struct listener_admit *x, const struct config_limits *limits,
			  int64_t now_ms)
{
	size_t total = table_count(x->by_address);
	if (total == 0)
		return;
	struct listener_admit_sweep sweep = {limits, now_ms, calloc(total, sizeof(*sweep.idle)), 0};
	if (sweep.idle == NULL)
		return; /* the next sweep tries again */
	/* The table must not change while it is walked: collect, then remove. */
	table_each(x->by_address, listener_admit_collect, &sweep);
	for (size_t i = 0; i < sweep.count; i++) {
		struct listener_admit_address *a = sweep.idle[i];
		table_remove(x->by_address, a->address, strlen(a->address));
		free(a);
	}
	free(sweep.idle);
}

unsigned listener_admit_count(const struct listener_admit *x, const char *address,
			      unsigned *unauthenticated)
{
	const struct listener_admit_address *a = listener_admit_find(x, address);
	if (unauthenticated != NULL)
		*unauthenticated = a != NULL ? a->unauthenticated : 0;
	return a != NULL ? a->connections : 0;
}

unsigned listener_admit_addresses(const struct listener_admit *x)
{
	return (unsigned)table_count(x->by_address);
}

const char *listener_admit_reason(enum listener_admit_verdict verdict)
{
	switch (verdict) {
	case LISTENER_ADMIT_OK:
		return "admitted";
	case LISTENER_ADMIT_RATE:
		return "over limits.connection_rate_per_address";
	case LISTENER_ADMIT_UNAUTHENTICATED:
		return "limits.max_unauthenticated_per_address reached";
	case LISTENER_ADMIT_CONNECTIONS:
		return "limits.max_connections_per_address reached";
	case LISTENER_ADMIT_NO_MEMORY:
		return "out of memory";
	}
	return "?";
}
