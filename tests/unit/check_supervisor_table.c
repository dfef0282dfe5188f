/* SPDX-License-Identifier: MIT */
/* The supervisor's process table: every child once, every listening
 * socket with exactly one owner that can receive it (now or by a restart),
 * every channel between children that exist, a restart policy each. */
#include "supervisor/supervisor.h"
#include "unit.h"

static const struct child_spec *spec_of(enum proc_role role)
{
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		if (supervisor_child_specs[i].role == role)
			return &supervisor_child_specs[i];
	}
	return NULL;
}

START_TEST(test_every_child_once)
{
	ck_assert_ptr_null(spec_of(PROC_SUPERVISOR));
	for (int r = PROC_SUPERVISOR + 1; r < PROC_ROLE_COUNT; r++) {
		unsigned seen = 0;
		for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++)
			seen += supervisor_child_specs[i].role == (enum proc_role)r;
		ck_assert_msg(seen == 1, "%s appears %u times", proc_role_name((enum proc_role)r),
			      seen);
	}
	for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
		const struct child_spec *s = &supervisor_child_specs[i];
		ck_assert_ptr_nonnull(s->executable);
		ck_assert_ptr_nonnull(s->policy);
		ck_assert_int_le(s->policy->backoff_first_ms, s->policy->backoff_max_ms);
		ck_assert_uint_gt(s->policy->throttle_after, 0);
	}
	for (unsigned l = 0; l < proc_link_count; l++) {
		ck_assert_ptr_nonnull(spec_of(proc_links[l].a));
		ck_assert_ptr_nonnull(spec_of(proc_links[l].b));
	}
}
END_TEST

START_TEST(test_every_socket_one_owner)
{
	for (unsigned kind = PROTO_SOCKET_CLIENT; kind <= PROTO_SOCKET_STANZAS; kind++) {
		const struct child_spec *owner = NULL;
		for (size_t i = 0; i < SUPERVISOR_CHILD_COUNT; i++) {
			if ((supervisor_child_specs[i].socket_kinds & (1u << kind)) == 0)
				continue;
			ck_assert_msg(owner == NULL, "%s sockets have two owners",
				      proto_socket_kind_name(kind));
			owner = &supervisor_child_specs[i];
		}
		ck_assert_msg(owner != NULL, "%s sockets have no owner",
			      proto_socket_kind_name(kind));
		ck_assert(owner->socket_message == PROTO_LISTEN_SOCKET ||
			  owner->socket_message == PROTO_CLUSTER_SOCKET);
		/* Otherwise a socket opened by a reload would never reach it. */
		ck_assert_msg(owner->sockets_live || (owner->restart_on & CHILD_RESTART_SOCKETS),
			      "the %s neither hears of new sockets nor restarts for them",
			      proc_role_name(owner->role));
	}
}
END_TEST

Suite *supervisor_table_suite(void)
{
	Suite *s = suite_create("supervisor_table");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, test_every_child_once);
	tcase_add_test(tc, test_every_socket_one_owner);
	suite_add_tcase(s, tc);
	return s;
}
