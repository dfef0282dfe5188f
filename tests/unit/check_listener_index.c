/* SPDX-License-Identifier: MIT */
/* The listener's connection index: lookups by id,
 * session counts and sessions per account, exact through every add, count and remove, checked
 * against a plain walk at every step of a seeded random schedule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/listener.h"
#include "unit.h"

static struct conn *conn_make(uint64_t id, enum proto_socket_kind kind, const char *address)
{
	struct conn *c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->id = id;
	c->kind = kind;
	snprintf(c->peer_address, sizeof(c->peer_address), "%s", address);
	char user[16];
	snprintf(user, sizeof(user), "user%llu", (unsigned long long)(id % 3));
	c->user = strdup(user);
	ck_assert_ptr_nonnull(c->user);
	return c;
}

static void conn_drop(struct conn *c)
{
	if (c != NULL)
		free(c->user);
	free(c);
}

START_TEST(test_index_find_and_count)
{
	struct listener_index x;
	ck_assert_int_eq(listener_index_init(&x), 0);
	struct conn *a = conn_make(1, PROTO_SOCKET_CLIENT, "192.0.2.1");
	struct conn *b = conn_make(2, PROTO_SOCKET_CLIENT_TLS, "192.0.2.1");
	struct conn *cb = conn_make(3, PROTO_SOCKET_COMPONENT, "2001:db8::1");
	ck_assert_int_eq(listener_index_add(&x, a), 0);
	ck_assert_int_eq(listener_index_add(&x, b), 0);
	ck_assert_int_eq(listener_index_add(&x, cb), 0);
	ck_assert_ptr_eq(listener_index_find(&x, 2), b);
	ck_assert_ptr_null(listener_index_find(&x, 4));

	ck_assert_int_eq(listener_index_count_session(&x, a), 0);
	ck_assert_int_eq(listener_index_count_session(&x, a), 0); /* counted once */
	ck_assert_int_eq(listener_index_count_session(&x, cb), 0);
	ck_assert_uint_eq(x.clients, 1);
	ck_assert_uint_eq(x.components, 1);
	ck_assert_uint_eq(listener_index_count_user(&x, "user1"), 1);
	ck_assert_uint_eq(listener_index_count_user(&x, "user0"), 0); /* a component */

	listener_index_remove(&x, a);
	listener_index_remove(&x, a); /* a second close changes nothing */
	ck_assert_ptr_null(listener_index_find(&x, 1));
	ck_assert_uint_eq(x.clients, 0);
	ck_assert_uint_eq(listener_index_count_user(&x, "user1"), 0);
	listener_index_remove(&x, cb);
	ck_assert_uint_eq(x.components, 0);

	/* A session waiting to be resumed counts without a connection. */
	ck_assert_int_eq(listener_index_hold(&x, "user1"), 0);
	ck_assert_uint_eq(x.clients, 1);
	ck_assert_uint_eq(listener_index_count_user(&x, "user1"), 1);
	ck_assert_int_eq(listener_index_count_session(&x, b), 0); /* b is user2 */
	ck_assert_uint_eq(x.clients, 2);
	listener_index_release(&x, "user1");
	ck_assert_uint_eq(x.clients, 1);
	ck_assert_uint_eq(listener_index_count_user(&x, "user1"), 0);
	listener_index_remove(&x, b);
	ck_assert_uint_eq(x.clients, 0);

	/* Never added (listener_conn_new failed early): removing it is harmless. */
	struct conn *stray = conn_make(9, PROTO_SOCKET_CLIENT, "192.0.2.1");
	listener_index_remove(&x, stray);
	listener_index_free(&x);
	conn_drop(a);
	conn_drop(b);
	conn_drop(cb);
	conn_drop(stray);
}
END_TEST

#define SIM_SLOTS 64
#define SIM_STEPS 5000

/* Random accepts, bindings and closes over few addresses; after each step
 * every lookup and count equals what a walk over the live set says. */
START_TEST(test_index_random_schedule)
{
	static const char *const addresses[] = {"192.0.2.1", "192.0.2.2", "::1", "fe80::1"};
	unsigned seed = 1400u + (unsigned)_i;
	srand(seed);
	struct listener_index x;
	ck_assert_int_eq(listener_index_init(&x), 0);
	struct conn *live[SIM_SLOTS] = {0};
	uint64_t next_id = 0;
	for (int step = 0; step < SIM_STEPS; step++) {
		size_t slot = (size_t)rand() % SIM_SLOTS;
		int action = rand() % 3;
		if (live[slot] == NULL) {
			struct conn *c = conn_make(++next_id, (enum proto_socket_kind)(rand() % 3),
						   addresses[rand() % 4]);
			ck_assert_int_eq(listener_index_add(&x, c), 0);
			live[slot] = c;
		} else if (action == 0) {
			listener_index_count_session(&x, live[slot]);
		} else {
			listener_index_remove(&x, live[slot]);
			conn_drop(live[slot]);
			live[slot] = NULL;
		}
		unsigned clients = 0, components = 0, per_user[3] = {0};
		for (size_t i = 0; i < SIM_SLOTS; i++) {
			struct conn *c = live[i];
			if (c == NULL)
				continue;
			if (listener_index_find(&x, c->id) != c)
				ck_abort_msg("seed %u step %d: connection %llu not found", seed,
					     step, (unsigned long long)c->id);
			if (c->counted && c->kind == PROTO_SOCKET_COMPONENT)
				components++;
			else if (c->counted)
				clients++, per_user[c->id % 3]++;
		}
		for (unsigned k = 0; k < 3; k++) {
			char user[16];
			snprintf(user, sizeof(user), "user%u", k);
			if (listener_index_count_user(&x, user) != per_user[k])
				ck_abort_msg("seed %u step %d: %s has %u sessions, walk says %u",
					     seed, step, user, listener_index_count_user(&x, user),
					     per_user[k]);
		}
		if (x.clients != clients || x.components != components)
			ck_abort_msg("seed %u step %d: sessions %u/%u, walk says %u/%u", seed, step,
				     x.clients, x.components, clients, components);
	}
	for (size_t i = 0; i < SIM_SLOTS; i++)
		conn_drop(live[i]);
	listener_index_free(&x);
}
END_TEST

Suite *listener_index_suite(void)
{
	Suite *s = suite_create("listener_index");
	TCase *tc = tcase_create("index");
	tcase_add_test(tc, test_index_find_and_count);
	tcase_add_loop_test(tc, test_index_random_schedule, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}
