/* SPDX-License-Identifier: MIT */
/* The listener's log-in pacing (listener/listener_pace.c): established
 * sessions are always read; past the turn's budget a connection still
 * logging in is paused and queued, and read again on the next turns first
 * come first served, a bounded number per turn; TLS handshakes in progress
 * are bounded, the next waiting for a slot that a finished or closed one
 * gives back; time spent waiting for a core is not counted; backpressure
 * from the router keeps a resumed connection paused.  Connections here have no socket: pausing only
 * sets the flag. */
#include <stdlib.h>
#include <time.h>

#include "listener/listener.h"
#include "unit.h"

/* listener_pace.c reads the router's backpressure from here; the real one
 * lives in listener_main.c, which is not in the library. */
struct listener listener_state;

#define MANY 600

static struct conn *conn_in(enum conn_state state)
{
	struct conn *c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->state = state;
	return c;
}

static int64_t cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Spends this turn's budget: a piece of log-in work that takes 6 ms of CPU. */
static void spend_the_budget(void)
{
	listener_pace_measure();
	for (int64_t start = cpu_us(); cpu_us() - start < 6000;)
		;
	listener_pace_end();
}

START_TEST(test_past_the_budget_log_ins_wait_their_turn)
{
	struct conn *session = conn_in(CONN_SESSION), *c[80];
	for (int i = 0; i < 80; i++)
		c[i] = conn_in(CONN_AUTH);
	listener_pace_turn(NULL, NULL);
	/* Within the budget a log-in is read. */
	ck_assert(listener_pace_may_read(c[0]));
	listener_pace_end();
	spend_the_budget();
	for (int i = 1; i < 80; i++) {
		ck_assert(!listener_pace_may_read(c[i]));
		ck_assert(c[i]->stream.input_paused);
		ck_assert(listener_pace_queued(c[i]));
	}
	/* An established session is read whatever the budget. */
	ck_assert(listener_pace_may_read(session));
	/* The next turn reads the first 32 again, in their order. */
	listener_pace_turn(NULL, NULL);
	for (int i = 1; i < 80; i++) {
		ck_assert_int_eq(c[i]->stream.input_paused, i > 32);
		ck_assert_int_eq(listener_pace_queued(c[i]), i > 32);
	}
	/* One resumed and deferred again keeps its place at the head. */
	spend_the_budget();
	ck_assert(!listener_pace_may_read(c[5]));
	listener_pace_turn(NULL, NULL);
	ck_assert(!c[5]->stream.input_paused);
	ck_assert(!c[63]->stream.input_paused);
	ck_assert(c[64]->stream.input_paused);
	for (int i = 0; i < 80; i++) {
		listener_pace_forget(c[i]);
		ck_assert(!listener_pace_queued(c[i]));
		free(c[i]);
	}
	free(session);
}
END_TEST

/* Time the listener waits for a core (here: asleep) is not log-in work. */
START_TEST(test_waiting_for_a_core_spends_no_budget)
{
	struct conn *c = conn_in(CONN_AUTH);
	listener_pace_turn(NULL, NULL);
	for (int i = 0; i < 3; i++) {
		ck_assert(listener_pace_may_read(c));
		struct timespec pause = {.tv_nsec = 3 * 1000 * 1000};
		nanosleep(&pause, NULL);
		listener_pace_end();
	}
	ck_assert(listener_pace_may_read(c));
	listener_pace_end();
	/* Work on the CPU still spends it. */
	spend_the_budget();
	ck_assert(!listener_pace_may_read(c));
	listener_pace_forget(c);
	free(c);
}
END_TEST

START_TEST(test_handshakes_in_progress_are_bounded)
{
	struct conn *c[MANY];
	int started = 0;
	for (int i = 0; i < MANY; i++) {
		c[i] = conn_in(CONN_TLS_HANDSHAKE);
		/* A new turn each time: only the slots can hold it back. */
		listener_pace_turn(NULL, NULL);
		if (listener_pace_may_read(c[i])) {
			listener_pace_end();
			started++;
		}
	}
	ck_assert_int_eq(started, 512);
	ck_assert(listener_pace_queued(c[512]) && c[512]->stream.input_paused);
	/* Turns do not read those waiting for a slot. */
	listener_pace_turn(NULL, NULL);
	ck_assert(c[512]->stream.input_paused);
	/* A handshake that ends gives its slot to the first waiting. */
	c[0]->state = CONN_STREAM_HEADER;
	listener_pace_handshake_over(c[0]);
	ck_assert(!c[512]->stream.input_paused && !listener_pace_queued(c[512]));
	ck_assert(listener_pace_may_read(c[512]));
	listener_pace_end();
	ck_assert(c[513]->stream.input_paused);
	/* So does one that closes; one that closes while waiting leaves. */
	listener_pace_forget(c[514]);
	ck_assert(!listener_pace_queued(c[514]));
	listener_pace_forget(c[1]);
	ck_assert(!c[513]->stream.input_paused);
	ck_assert(c[515]->stream.input_paused);
	for (int i = 0; i < MANY; i++) {
		listener_pace_forget(c[i]);
		free(c[i]);
	}
}
END_TEST

START_TEST(test_backpressure_keeps_a_resumed_connection_paused)
{
	struct conn *c = conn_in(CONN_AUTH);
	listener_pace_turn(NULL, NULL);
	spend_the_budget();
	ck_assert(!listener_pace_may_read(c));
	listener_state.input_paused = true;
	listener_pace_turn(NULL, NULL);
	ck_assert(!listener_pace_queued(c));
	ck_assert(c->stream.input_paused);
	listener_state.input_paused = false;
	listener_pace_forget(c);
	free(c);
}
END_TEST

Suite *listener_pace_suite(void)
{
	Suite *s = suite_create("listener_pace");
	TCase *tc = tcase_create("pace");
	tcase_add_test(tc, test_past_the_budget_log_ins_wait_their_turn);
	tcase_add_test(tc, test_waiting_for_a_core_spends_no_budget);
	tcase_add_test(tc, test_handshakes_in_progress_are_bounded);
	tcase_add_test(tc, test_backpressure_keeps_a_resumed_connection_paused);
	suite_add_tcase(s, tc);
	return s;
}
