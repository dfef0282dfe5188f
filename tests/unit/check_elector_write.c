/* SPDX-License-Identifier: MIT */
/*
 * The write path (elector/elector_write.c) on a follower: a write is
 * forwarded to the leader under a request number, and the leader's answer
 * is matched by (leader, number).  The leader answers a member by id over
 * whatever link it has now, so an answer to a request of the member's
 * previous elector process must not be taken for one of the new process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elector/elector_core.h"
#include "elector/elector_wire.h"
#include "elector/elector_write.h"
#include "elector_testkit.h"
#include "unit.h"

/* What the fake shell saw. */
static struct {
	uint64_t request; /* of the last PROPOSE sent to the leader */
	unsigned answers; /* to this node's rxmppctl */
	uint32_t status;
} seen;

static bool fake_heard(uint64_t id)
{
	(void)id;
	return true;
}

static void fake_answer(uint64_t token, const struct proto_propose_result *result,
			const char *outcome, const char *text)
{
	(void)token;
	(void)outcome;
	(void)text;
	seen.answers++;
	seen.status = result->status;
}

static int fake_send(uint64_t id, uint16_t type, const struct iovec *iov, size_t count)
{
	(void)id;
	ck_assert_uint_eq(type, ELECTOR_WIRE_PROPOSE);
	ck_assert_uint_ge(count, 1);
	struct elector_wire_propose head;
	memcpy(&head, iov[0].iov_base, sizeof(head));
	seen.request = head.request;
	return 0;
}

static void fake_name(uint64_t id, char *out, size_t size)
{
	snprintf(out, size, "node %llu", (unsigned long long)id);
}

static bool fake_compat(char *why, size_t size)
{
	snprintf(why, size, "none");
	return false;
}

/* Node 2, a follower of leader 1 in a membership of {1, 2}. */
static struct elector *follower_of_one(struct elector **leader)
{
	struct elector *nodes[2];
	for (uint64_t id = 1; id <= 2; id++) {
		struct elector_options options = {.id = id,
						  .heartbeat_ticks = 10,
						  .election_ticks_min = 50,
						  .election_ticks_max = 100,
						  .seed = id};
		struct elector_persistent empty = {0};
		struct elector_boot boot;
		struct elector_entry entry;
		static uint8_t buf[ELECTOR_CONFIG_ENCODED_MAX];
		elector_boot_from_state(&empty, &boot, &entry, buf);
		nodes[id - 1] = elector_new(&options, &boot);
		ck_assert_ptr_nonnull(nodes[id - 1]);
	}
	ck_assert_int_eq(elector_initialize(nodes[0], "a:5224", elector_testkit_cert(1)), 0);
	ck_assert_int_eq(elector_propose_add(nodes[0], 2, "b:5224", elector_testkit_cert(2)), 0);
	for (int t = 0; t < 100 && elector_leader(nodes[1]) != 1; t++) {
		elector_tick(nodes[0]);
		for (int i = 0; i < 2; i++) {
			if (!elector_has_ready(nodes[i]))
				continue;
			struct elector_ready r;
			elector_ready(nodes[i], &r);
			struct elector_msg *out[64];
			size_t n = 0;
			for (size_t k = 0; k < r.msg_count && n < 64; k++)
				out[n++] = elector_testkit_msg_clone(&r.msgs[k]);
			elector_advance(nodes[i]);
			for (size_t k = 0; k < n; k++) {
				const char *why;
				elector_step(nodes[out[k]->to - 1], out[k],
					     elector_testkit_cert(out[k]->from), &why);
				elector_testkit_msg_free(out[k]);
			}
		}
	}
	ck_assert_uint_eq(elector_leader(nodes[1]), 1);
	ck_assert_int_eq(elector_role(nodes[1]), ELECTOR_FOLLOWER);
	*leader = nodes[0];
	return nodes[1];
}

static struct elector_write_env env_of(struct elector *core)
{
	return (struct elector_write_env){.core = core,
					  .self = 2,
					  .now_ms = 1000,
					  .heard = fake_heard,
					  .answer = fake_answer,
					  .send = fake_send,
					  .name = fake_name,
					  .compat = fake_compat};
}

static const uint8_t command[] = "a command";

/* The first request of an elector process, as a process of its own: what
 * a follower's elector forwarded before it was restarted. */
static uint64_t first_request_of_a_process(struct elector *core)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct elector_write_env env = env_of(core);
		elector_write_propose(&env, 0, 7, command, sizeof(command));
		_exit(write(fds[1], &seen.request, sizeof(seen.request)) ==
			      (ssize_t)sizeof(seen.request)
			  ? 0
			  : 1);
	}
	close(fds[1]);
	uint64_t request = 0;
	ck_assert_int_eq(read(fds[0], &request, sizeof(request)), (ssize_t)sizeof(request));
	close(fds[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return request;
}

START_TEST(test_old_process_answer_not_taken)
{
	struct elector *leader;
	struct elector *core = follower_of_one(&leader);
	uint64_t old = first_request_of_a_process(core);

	/* This process is the elector started again: `user add bob`. */
	memset(&seen, 0, sizeof(seen));
	struct elector_write_env env = env_of(core);
	elector_write_propose(&env, 0, 8, command, sizeof(command));
	uint64_t now = seen.request;
	ck_assert_uint_eq(elector_write_pending(), 1);

	/* The leader's late answer to the old process's request (`user add
	 * alice`, committed) is not bob's. */
	struct proto_propose_result refused = {.status = PROTO_PROPOSE_REFUSED};
	struct proto_propose_result applied = {.status = PROTO_PROPOSE_APPLIED};
	elector_write_reply(&env, 1, old, &applied, "user alice added", "");
	ck_assert_uint_eq(seen.answers, 0);
	ck_assert_uint_eq(elector_write_pending(), 1);
	ck_assert_uint_ne(old, now);

	/* Bob's own answer is. */
	elector_write_reply(&env, 1, now, &refused, "", "refused: user bob exists");
	ck_assert_uint_eq(seen.answers, 1);
	ck_assert_uint_eq(seen.status, PROTO_PROPOSE_REFUSED);
	ck_assert_uint_eq(elector_write_pending(), 0);
	elector_free(core);
	elector_free(leader);
}
END_TEST

Suite *elector_write_suite(void)
{
	Suite *s = suite_create("elector_write");
	TCase *tc = tcase_create("forwarded");
	tcase_add_test(tc, test_old_process_answer_not_taken);
	suite_add_tcase(s, tc);
	return s;
}
