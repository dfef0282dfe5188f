/* SPDX-License-Identifier: MIT */
/* The event loop: timer order and rescheduling, descriptors, deletion from
 * inside callbacks, signals through signalfd, before-sleep hooks. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/ev.h"
#include "unit.h"

struct timer_log {
	struct ev_loop *loop;
	int order[16];
	int count;
	int stop_after;
};

static int64_t record_timer(struct ev_timer *t, void *arg);

struct tagged {
	struct timer_log *log;
	int tag;
	int repeats;
};

static int64_t record_timer(struct ev_timer *t, void *arg)
{
	struct tagged *tagged = arg;
	(void)t;
	tagged->log->order[tagged->log->count++] = tagged->tag;
	if (tagged->log->count == tagged->log->stop_after)
		ev_loop_stop(tagged->log->loop);
	if (tagged->repeats-- > 0)
		return 5;
	return EV_TIMER_DONE;
}

START_TEST(test_timers_fire_in_deadline_order)
{
	struct ev_loop *loop = ev_loop_new();
	struct timer_log log = {.loop = loop, .stop_after = 4};
	struct tagged a = {&log, 1, 0}, b = {&log, 2, 0}, c = {&log, 3, 1};
	ck_assert_ptr_nonnull(ev_timer_add(loop, 30, record_timer, &a));
	ck_assert_ptr_nonnull(ev_timer_add(loop, 10, record_timer, &b));
	ck_assert_ptr_nonnull(ev_timer_add(loop, 1, record_timer, &c));
	ck_assert_int_eq(ev_loop_run(loop), 0);
	/* c fires first (1 ms), then b (10) before a (30).  c's second run is
	 * due 5 ms after its first ran: before b on an idle machine, anywhere
	 * after its first run when the process was held up past b's deadline
	 * (overdue timers still run in deadline order). */
	ck_assert_int_eq(log.count, 4);
	ck_assert_int_eq(log.order[0], 3);
	int others[3], n = 0, c_runs = 1;
	for (int i = 1; i < 4; i++) {
		if (log.order[i] == 3)
			c_runs++;
		else
			others[n++] = log.order[i];
	}
	ck_assert_int_eq(c_runs, 2);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(others[0], 2);
	ck_assert_int_eq(others[1], 1);
	ev_loop_free(loop);
}
END_TEST

static int64_t fail_if_called(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ck_abort_msg("a deleted timer ran");
	return EV_TIMER_DONE;
}

static int64_t stop_loop(struct ev_timer *t, void *arg)
{
	(void)t;
	ev_loop_stop(arg);
	return EV_TIMER_DONE;
}

START_TEST(test_deleted_and_reset_timers)
{
	struct ev_loop *loop = ev_loop_new();
	struct ev_timer *doomed = ev_timer_add(loop, 5, fail_if_called, NULL);
	struct ev_timer *postponed = ev_timer_add(loop, 5, fail_if_called, NULL);
	ev_timer_add(loop, 30, stop_loop, loop);
	ev_timer_del(doomed);
	ev_timer_reset(postponed, 10000);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	ev_timer_del(postponed);
	ev_loop_free(loop);
}
END_TEST

struct pipe_reader {
	struct ev_loop *loop;
	struct ev_io *other; /* deleted from inside our callback */
	char got[16];
	int reads;
};

static void read_pipe(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	struct pipe_reader *r = arg;
	(void)io;
	ck_assert(events & EV_READ);
	ssize_t n = read(fd, r->got, sizeof(r->got));
	ck_assert_int_gt(n, 0);
	r->reads++;
	if (r->other != NULL) {
		ev_io_del(r->other);
		r->other = NULL;
	}
	ev_loop_stop(r->loop);
}

START_TEST(test_io_and_deletion_inside_callback)
{
	struct ev_loop *loop = ev_loop_new();
	int p1[2], p2[2];
	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(pipe(p2), 0);
	struct pipe_reader r1 = {.loop = loop}, r2 = {.loop = loop};
	struct ev_io *io1 = ev_io_add(loop, p1[0], EV_READ, read_pipe, &r1);
	struct ev_io *io2 = ev_io_add(loop, p2[0], EV_READ, read_pipe, &r2);
	ck_assert_ptr_nonnull(io1);
	ck_assert_ptr_nonnull(io2);
	/* Both become readable in the same round; whichever runs first deletes
	 * the other, which then must not run. */
	r1.other = io2;
	r2.other = io1;
	ck_assert_int_eq(write(p1[1], "a", 1), 1);
	ck_assert_int_eq(write(p2[1], "b", 1), 1);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	ck_assert_int_eq(r1.reads + r2.reads, 1);
	ev_io_del(r1.reads ? io1 : io2);
	ev_loop_free(loop);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}
END_TEST

static void on_usr1(struct ev_loop *loop, int signo, void *arg)
{
	*(int *)arg = signo;
	ev_loop_stop(loop);
}

START_TEST(test_signal_delivered_through_loop)
{
	struct ev_loop *loop = ev_loop_new();
	int got = 0;
	ck_assert_int_eq(ev_signal_add(loop, SIGUSR1, on_usr1, &got), 0);
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
	ev_timer_add(loop, 5000, stop_loop, loop);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	ck_assert_int_eq(got, SIGUSR1);
	ev_loop_free(loop);
	ev_signals_unblock();
}
END_TEST

static bool count_hook(struct ev_loop *loop, void *arg)
{
	int *count = arg;
	if (++*count == 3)
		ev_loop_stop(loop);
	return false;
}

static int64_t tick(struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	return 1;
}

START_TEST(test_hooks_run_before_each_sleep_once_registered)
{
	struct ev_loop *loop = ev_loop_new();
	int count = 0;
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_IPC, count_hook, &count), 0);
	/* Registering the same hook twice must not run it twice per round. */
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_IPC, count_hook, &count), 0);
	ev_timer_add(loop, 1, tick, NULL);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	ck_assert_int_eq(count, 3);
	ev_hook_del(loop, count_hook, &count);
	ev_loop_free(loop);
}
END_TEST

/* Three layers as a process has them: each hook records that it ran and
 * "flushes" what was queued for it, possibly queueing for another layer. */
struct layers {
	char trace[64];
	size_t len;
	int queued[EV_PHASE_COUNT];
	int ipc_closes_streams; /* the IPC flush queues stream output this many times */
};

static bool layer_flush(struct layers *ly, enum ev_hook_phase phase, char name)
{
	if (ly->len + 1 < sizeof(ly->trace))
		ly->trace[ly->len++] = name;
	if (ly->queued[phase] == 0)
		return false;
	ly->queued[phase]--;
	return true;
}

static bool streams_hook(struct ev_loop *loop, void *arg)
{
	struct layers *ly = arg;
	(void)loop;
	bool flushed = layer_flush(ly, EV_PHASE_STREAMS, 's');
	/* A stream that ends tells the router: work for the IPC phase. */
	if (flushed)
		ly->queued[EV_PHASE_IPC]++;
	return flushed;
}

static bool peerlinks_hook(struct ev_loop *loop, void *arg)
{
	(void)loop;
	return layer_flush(arg, EV_PHASE_PEERLINKS, 'p');
}

static bool ipc_hook(struct ev_loop *loop, void *arg)
{
	struct layers *ly = arg;
	bool flushed = layer_flush(ly, EV_PHASE_IPC, 'i');
	if (flushed && ly->ipc_closes_streams > 0) {
		ly->ipc_closes_streams--;
		ly->queued[EV_PHASE_STREAMS]++;
	}
	/* Everything queued has left: the turn is over. */
	if (ly->queued[EV_PHASE_STREAMS] + ly->queued[EV_PHASE_PEERLINKS] +
		ly->queued[EV_PHASE_IPC] ==
	    0)
		ev_loop_stop(loop);
	return flushed;
}

static int64_t stop_after_sleeping(struct ev_timer *t, void *arg)
{
	(void)t;
	int *slept = arg;
	*slept = 1;
	return EV_TIMER_DONE;
}

START_TEST(test_hooks_run_by_phase_whatever_the_order_they_were_added)
{
	struct ev_loop *loop = ev_loop_new();
	struct layers ly = {.queued = {[EV_PHASE_STREAMS] = 1}};
	/* Added in the reverse order, as modules that start in that order would. */
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_IPC, ipc_hook, &ly), 0);
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_PEERLINKS, peerlinks_hook, &ly), 0);
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_STREAMS, streams_hook, &ly), 0);
	int slept = 0;
	struct ev_timer *t = ev_timer_add(loop, 3600 * 1000, stop_after_sleeping, &slept);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	/* The stream's SESSION_DOWN left in the same pass, before any sleep. */
	ck_assert_str_eq(ly.trace, "spi");
	ck_assert_int_eq(slept, 0);
	ev_timer_del(t);
	ev_loop_free(loop);
}
END_TEST

START_TEST(test_work_queued_for_an_earlier_phase_leaves_in_the_same_turn)
{
	struct ev_loop *loop = ev_loop_new();
	struct layers ly = {.queued = {[EV_PHASE_IPC] = 1}, .ipc_closes_streams = 1};
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_STREAMS, streams_hook, &ly), 0);
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_PEERLINKS, peerlinks_hook, &ly), 0);
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_IPC, ipc_hook, &ly), 0);
	int slept = 0;
	struct ev_timer *t = ev_timer_add(loop, 3600 * 1000, stop_after_sleeping, &slept);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	/* Pass 1: the IPC flush ends a stream; pass 2: the stream flushes and
	 * queues for IPC, which flushes in the same pass. */
	ck_assert_str_eq(ly.trace, "spispi");
	ck_assert_int_eq(slept, 0);
	ev_timer_del(t);
	ev_loop_free(loop);
}
END_TEST

static bool always_busy_hook(struct ev_loop *loop, void *arg)
{
	int *calls = arg;
	if (++*calls == 3 * EV_HOOK_PASSES)
		ev_loop_stop(loop);
	return true;
}

START_TEST(test_a_hook_that_stays_busy_is_bounded_and_the_loop_does_not_sleep)
{
	struct ev_loop *loop = ev_loop_new();
	int calls = 0;
	ck_assert_int_eq(ev_hook_add(loop, EV_PHASE_STREAMS, always_busy_hook, &calls), 0);
	int slept = 0;
	/* Were the loop to sleep with work left, this test would hang until
	 * Check's timeout instead of stopping after three turns. */
	struct ev_timer *t = ev_timer_add(loop, 3600 * 1000, stop_after_sleeping, &slept);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	ck_assert_int_eq(calls, 3 * EV_HOOK_PASSES);
	ck_assert_int_eq(slept, 0);
	ev_timer_del(t);
	ev_loop_free(loop);
}
END_TEST

Suite *ev_suite(void)
{
	Suite *s = suite_create("ev");
	TCase *tc = tcase_create("ev");
	tcase_add_test(tc, test_timers_fire_in_deadline_order);
	tcase_add_test(tc, test_deleted_and_reset_timers);
	tcase_add_test(tc, test_io_and_deletion_inside_callback);
	tcase_add_test(tc, test_signal_delivered_through_loop);
	tcase_add_test(tc, test_hooks_run_before_each_sleep_once_registered);
	tcase_add_test(tc, test_hooks_run_by_phase_whatever_the_order_they_were_added);
	tcase_add_test(tc, test_work_queued_for_an_earlier_phase_leaves_in_the_same_turn);
	tcase_add_test(tc, test_a_hook_that_stays_busy_is_bounded_and_the_loop_does_not_sleep);
	suite_add_tcase(s, tc);
	return s;
}
