/* SPDX-License-Identifier: MIT */
/*
 * Pacing of log-in work in the listener, so that a crowd logging in at once
 * (the clients of a dead node) cannot starve the sessions already
 * established, nor take the listener's memory.  Runs in the listener; it
 * sends and receives nothing.
 *
 * Time.  Accepting a connection, a step of its TLS handshake or of its SASL
 * exchange (a PBKDF2 for PLAIN) costs up to milliseconds of CPU; routing a
 * stanza costs microseconds.  The loop serves descriptors in the order epoll
 * reports them, so with thousands of log-ins ready a stanza for an
 * established session waited behind all of them (seconds, measured:
 * docs/PERFORMANCE.md).  Here the log-in work of one turn of the loop is
 * bounded in CPU time (PACE_TURN_BUDGET_US; timed by the wall clock, the
 * thread's CPU time read only when that clock says the budget is spent).
 * Past it, a connection still logging in is not read this turn: its input
 * is paused and it joins the turn queue.  (Accepting counts against the budget but is bounded on
 * its own, listener_main.c.)  Before the loop sleeps, the budget is renewed and the first
 * PACE_RESUME_PER_TURN of the queue are read again, first come first served (one resumed and
 * deferred again keeps its place at the head). Established sessions are read every turn.
 *
 * Memory.  A TLS handshake in progress holds about 33 KiB of OpenSSL's
 * (its handshake buffer, keys, the connection object: measured, see
 * docs/PERFORMANCE.md) that no setting gives back before it ends.  At most
 * PACE_HANDSHAKES_MAX are in progress at once; a connection whose first TLS
 * bytes would start one more waits, paused, in the slot queue and is read
 * when a handshake ends (done, failed or timed out: tls_handshake_timeout).
 * A peer that stalls mid-handshake holds its slot until that timeout; the
 * per-address cap on unauthenticated connections (listener_admit.c) keeps
 * one address from holding many.
 *
 * Nothing is refused or dropped: a deferred connection's bytes wait in its
 * socket, and its handshake and authentication timeouts run as before.
 */
#include <time.h>

#include "listener.h"

/* Log-in work per turn of the loop, in CPU time: what a stanza for an
 * established session may wait behind it, at most (plus one step already
 * begun). */
#define PACE_TURN_BUDGET_US 5000
/* Deferred connections read again per turn: about what the budget takes,
 * so that epoll is not flooded with connections that will wait again. */
#define PACE_RESUME_PER_TURN 32
/* TLS handshakes in progress at once: about 17 MiB of OpenSSL's state, and
 * far more than the budget lets start in the time a client takes to
 * answer one flight. */
#define PACE_HANDSHAKES_MAX 512

struct pace_queue {
	struct conn *head;
	struct conn **tail;
};

/* Log-in work this turn as measured; when the turn's first log-in work
 * began, in the thread's CPU time (-1: none yet). */
static int64_t spent_us, since_us, turn_cpu_us = -1;
static bool measuring;
static struct pace_queue turn_queue = {NULL, &turn_queue.head};
static struct pace_queue slot_queue = {NULL, &slot_queue.head};
static unsigned handshakes;

/* Each piece of log-in work is timed with the monotonic clock, which the
 * vDSO reads without a system call.  The thread's CPU time costs one
 * (about 0.8 us here), and read around every piece it was 18 system calls
 * per log-in, the listener's most frequent. */
static int64_t pace_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The listener's own CPU time: on cores shared with other work, time the
 * process waits for a core would otherwise spend the budget and defer
 * log-ins for nothing (measured: 8% fewer log-ins per second). */
static int64_t pace_cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool pace_logging_in(const struct conn *c)
{
	return c->state != CONN_SESSION && c->state != CONN_COMPONENT && c->state != CONN_CLOSING;
}

void listener_pace_measure(void)
{
	measuring = true;
	since_us = pace_wall_us();
	if (turn_cpu_us < 0)
		turn_cpu_us = pace_cpu_us();
}

void listener_pace_end(void)
{
	if (!measuring)
		return;
	measuring = false;
	spent_us += pace_wall_us() - since_us;
	/* Wall time is never less than the CPU time it holds, but counts the
	 * waits for a core.  Once it says the budget is spent, the CPU time
	 * since the turn's first log-in work has the last word: it also holds
	 * the established sessions served in between, so it errs on the side
	 * of those sessions, never of the log-ins. */
	if (spent_us >= PACE_TURN_BUDGET_US) {
		int64_t cpu = pace_cpu_us() - turn_cpu_us;
		if (cpu < spent_us)
			spent_us = cpu;
	}
}

static void pace_unlink(struct conn *c)
{
	struct pace_queue *q = c->pace_queue;
	*c->pace_prev = c->pace_next;
	if (c->pace_next != NULL)
		c->pace_next->pace_prev = c->pace_prev;
	else
		q->tail = c->pace_prev;
	c->pace_queue = NULL;
	c->pace_next = NULL;
	c->pace_prev = NULL;
}

static void pace_push(struct pace_queue *q, struct conn *c, bool at_head)
{
	c->pace_queue = q;
	if (at_head) {
		c->pace_next = q->head;
		c->pace_prev = &q->head;
		if (q->head != NULL)
			q->head->pace_prev = &c->pace_next;
		else
			q->tail = &c->pace_next;
		q->head = c;
	} else {
		c->pace_next = NULL;
		c->pace_prev = q->tail;
		*q->tail = c;
		q->tail = &c->pace_next;
	}
}

/* Paused until its turn; a connection already queued keeps its place. */
static bool pace_defer(struct pace_queue *q, struct conn *c, bool at_head)
{
	stream_pause_input(&c->stream, true);
	if (c->pace_queue == NULL)
		pace_push(q, c, at_head);
	return false;
}

/* Reads it again (backpressure from the router holds every connection). */
static void pace_resume(struct conn *c)
{
	pace_unlink(c);
	c->pace_resumed = true;
	stream_pause_input(&c->stream, listener_state.input_paused);
}

bool listener_pace_may_read(struct conn *c)
{
	if (!pace_logging_in(c))
		return true;
	if (c->state == CONN_TLS_HANDSHAKE && !c->pace_handshake) {
		if (handshakes >= PACE_HANDSHAKES_MAX)
			return pace_defer(&slot_queue, c, false);
		c->pace_handshake = true;
		handshakes++;
	}
	if (spent_us >= PACE_TURN_BUDGET_US)
		return pace_defer(&turn_queue, c, c->pace_resumed);
	c->pace_resumed = false;
	listener_pace_measure();
	return true;
}

bool listener_pace_queued(const struct conn *c)
{
	return c->pace_queue != NULL;
}

void listener_pace_handshake_over(struct conn *c)
{
	if (!c->pace_handshake)
		return;
	c->pace_handshake = false;
	handshakes--;
	/* Its slot goes to the first that waits for one. */
	if (slot_queue.head != NULL) {
		struct conn *next = slot_queue.head;
		next->pace_handshake = true;
		handshakes++;
		pace_resume(next);
	}
}

void listener_pace_forget(struct conn *c)
{
	if (c->pace_queue != NULL)
		pace_unlink(c);
	listener_pace_handshake_over(c);
}

bool listener_pace_turn(struct ev_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	spent_us = 0;
	turn_cpu_us = -1;
	for (int i = 0; i < PACE_RESUME_PER_TURN && turn_queue.head != NULL; i++)
		pace_resume(turn_queue.head);
	return false;
}
