/* SPDX-License-Identifier: MIT */
/*
 * The event loop every rxmpp process runs: descriptors (epoll), timers on
 * the monotonic clock, signals (signalfd) and hooks that run before each
 * sleep, where queued writes are flushed in one batch.
 *
 * The order of the before-sleep flush is stated here, once.  Hooks run by
 * phase: client streams first, then peer links, then IPC channels, because
 * each layer's flush can queue work for the ones after it (a client stream
 * that ends queues SESSION_DOWN for the router; a peer link that fails
 * queues bounces for the listener).  Within a phase they run in the order
 * they were added.  A hook returns true when it flushed something; the loop
 * then runs all phases again (up to EV_HOOK_PASSES times), so work that a
 * later phase queues for an earlier one (an IPC channel that closes and
 * ends client streams) also leaves in the same turn.  If the last pass
 * still flushed, the loop polls without sleeping instead of waiting for the
 * next event or timer.
 *
 * Callbacks may add and delete any watcher, including their own: deleted
 * watchers are freed only after the current round of events.
 */
#ifndef RXMPP_EV_H
#define RXMPP_EV_H

#include <stdbool.h>
#include <stdint.h>

#define EV_READ	 0x1u
#define EV_WRITE 0x2u
/* Returned by a timer callback that does not want to run again. */
#define EV_TIMER_DONE (-1)

struct ev_loop;
struct ev_io;
struct ev_timer;

/* `events` holds EV_READ/EV_WRITE; errors and hang-ups are reported as EV_READ. */
typedef void ev_io_cb(struct ev_io *io, int fd, uint32_t events, void *arg);
/* Returns the milliseconds until the next run, or EV_TIMER_DONE. */
typedef int64_t ev_timer_cb(struct ev_timer *timer, void *arg);
typedef void ev_signal_cb(struct ev_loop *loop, int signo, void *arg);
/* Returns true when it flushed something (see the order above). */
typedef bool ev_hook_cb(struct ev_loop *loop, void *arg);

enum ev_hook_phase {
	EV_PHASE_STREAMS,   /* client connections */
	EV_PHASE_PEERLINKS, /* links to other nodes */
	EV_PHASE_IPC,	    /* channels between processes */
	EV_PHASE_COUNT,
};

/* Passes over all phases per turn of the loop, at most. */
#define EV_HOOK_PASSES 4

struct ev_loop *ev_loop_new(void);
void ev_loop_free(struct ev_loop *loop);

/* Runs until ev_loop_stop(); returns 0, or -1 when epoll itself fails. */
int ev_loop_run(struct ev_loop *loop);
void ev_loop_stop(struct ev_loop *loop);
/* The monotonic time in milliseconds, read once per round of events. */
int64_t ev_now(struct ev_loop *loop);

struct ev_io *ev_io_add(struct ev_loop *loop, int fd, uint32_t events, ev_io_cb *cb, void *arg);
int ev_io_set_events(struct ev_io *io, uint32_t events);
/* Stops watching; the descriptor stays open. */
void ev_io_del(struct ev_io *io);

struct ev_timer *ev_timer_add(struct ev_loop *loop, int64_t after_ms, ev_timer_cb *cb, void *arg);
/* Moves an existing timer to fire `after_ms` from now. */
void ev_timer_reset(struct ev_timer *timer, int64_t after_ms);
void ev_timer_del(struct ev_timer *timer);

/*
 * Delivers `signo` through the loop instead of asynchronously; the signal is
 * blocked for the whole process.  Fork+exec callers must unblock signals in
 * the child (ev_signals_unblock) because the mask survives exec.
 */
int ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb *cb, void *arg);
void ev_signals_unblock(void);

/* Adding the same callback and argument again is a no-op. */
int ev_hook_add(struct ev_loop *loop, enum ev_hook_phase phase, ev_hook_cb *cb, void *arg);
void ev_hook_del(struct ev_loop *loop, ev_hook_cb *cb, void *arg);

#endif
