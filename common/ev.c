/* SPDX-License-Identifier: MIT */
/*
 * The event loop: epoll for descriptors, a binary min-heap of timers keyed
 * by monotonic deadline, one signalfd for all signals, and before-sleep
 * hooks.  One loop per process; nothing here blocks except epoll_wait.
 */
#include "ev.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define EV_BATCH      64
#define EV_SIGNAL_MAX 65
#define EV_HOOK_MAX   8

struct ev_io {
	struct ev_loop *loop;
	int fd;
	uint32_t events;
	ev_io_cb *cb;
	void *arg;
	bool deleted;
	struct ev_io *next_garbage;
};

struct ev_timer {
	struct ev_loop *loop;
	int64_t deadline;
	size_t heap_index;
	ev_timer_cb *cb;
	void *arg;
	bool running;
	bool rescheduled; /* ev_timer_reset called from its own callback */
	bool deleted;
};

struct ev_signal_handler {
	ev_signal_cb *cb;
	void *arg;
};

struct ev_hook {
	ev_hook_cb *cb;
	void *arg;
	enum ev_hook_phase phase;
};

struct ev_loop {
	int epoll_fd;
	int signal_fd;
	struct ev_io *signal_io;
	sigset_t signal_mask;
	struct ev_signal_handler signals[EV_SIGNAL_MAX];
	struct ev_timer **heap;
	size_t heap_len;
	size_t heap_cap;
	struct ev_hook hooks[EV_HOOK_MAX];
	struct ev_io *garbage;
	int64_t now;
	bool stopping;
};

static int64_t ev_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ev_loop *ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return NULL;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd == -1) {
		free(loop);
		return NULL;
	}
	loop->signal_fd = -1;
	sigemptyset(&loop->signal_mask);
	loop->now = ev_clock_ms();
	return loop;
}

static void ev_collect_garbage(struct ev_loop *loop)
{
	while (loop->garbage != NULL) {
		struct ev_io *io = loop->garbage;
		loop->garbage = io->next_garbage;
		free(io);
	}
}

void ev_loop_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	if (loop->signal_io != NULL)
		ev_io_del(loop->signal_io);
	ev_collect_garbage(loop);
	for (size_t i = 0; i < loop->heap_len; i++)
		free(loop->heap[i]);
	free(loop->heap);
	if (loop->signal_fd != -1)
		close(loop->signal_fd);
	close(loop->epoll_fd);
	free(loop);
}

int64_t ev_now(struct ev_loop *loop)
{
	return loop->now;
}

void ev_loop_stop(struct ev_loop *loop)
{
	loop->stopping = true;
}

/* Descriptors */

static uint32_t ev_to_epoll(uint32_t events)
{
	return ((events & EV_READ) ? EPOLLIN : 0) | ((events & EV_WRITE) ? EPOLLOUT : 0);
}

struct ev_io *ev_io_add(struct ev_loop *loop, int fd, uint32_t events, ev_io_cb *cb, void *arg)
{
	struct ev_io *io = calloc(1, sizeof(*io));
	if (io == NULL)
		return NULL;
	*io = (struct ev_io){.loop = loop, .fd = fd, .events = events, .cb = cb, .arg = arg};
	struct epoll_event ee = {.events = ev_to_epoll(events), .data.ptr = io};
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ee) == -1) {
		free(io);
		return NULL;
	}
	return io;
}

int ev_io_set_events(struct ev_io *io, uint32_t events)
{
	if (io->events == events)
		return 0;
	struct epoll_event ee = {.events = ev_to_epoll(events), .data.ptr = io};
	if (epoll_ctl(io->loop->epoll_fd, EPOLL_CTL_MOD, io->fd, &ee) == -1)
		return -1;
	io->events = events;
	return 0;
}

void ev_io_del(struct ev_io *io)
{
	if (io == NULL || io->deleted)
		return;
	/* The descriptor may already be closed by its owner; then epoll forgot it. */
	epoll_ctl(io->loop->epoll_fd, EPOLL_CTL_DEL, io->fd, NULL);
	io->deleted = true;
	io->next_garbage = io->loop->garbage;
	io->loop->garbage = io;
}

/* Timers: a binary min-heap on deadline. */

static void ev_heap_swap(struct ev_loop *loop, size_t a, size_t b)
{
	struct ev_timer *t = loop->heap[a];
	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_index = a;
	loop->heap[b]->heap_index = b;
}

static void ev_heap_up(struct ev_loop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop->heap[parent]->deadline <= loop->heap[i]->deadline)
			break;
		ev_heap_swap(loop, i, parent);
		i = parent;
	}
}

static void ev_heap_down(struct ev_loop *loop, size_t i)
{
	for (;;) {
		size_t smallest = i, left = 2 * i + 1, right = 2 * i + 2;
		if (left < loop->heap_len &&
		    loop->heap[left]->deadline < loop->heap[smallest]->deadline)
			smallest = left;
		if (right < loop->heap_len &&
		    loop->heap[right]->deadline < loop->heap[smallest]->deadline)
			smallest = right;
		if (smallest == i)
			return;
		ev_heap_swap(loop, i, smallest);
		i = smallest;
	}
}

static void ev_heap_remove(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i = t->heap_index;
	loop->heap_len--;
	if (i != loop->heap_len) {
		loop->heap[i] = loop->heap[loop->heap_len];
		loop->heap[i]->heap_index = i;
		ev_heap_down(loop, i);
		ev_heap_up(loop, i);
	}
}

static int ev_heap_insert(struct ev_loop *loop, struct ev_timer *t)
{
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		struct ev_timer **heap = realloc(loop->heap, cap * sizeof(*heap));
		if (heap == NULL)
			return -1;
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	t->heap_index = loop->heap_len;
	loop->heap[loop->heap_len++] = t;
	ev_heap_up(loop, t->heap_index);
	return 0;
}

struct ev_timer *ev_timer_add(struct ev_loop *loop, int64_t after_ms, ev_timer_cb *cb, void *arg)
{
	struct ev_timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	*t = (struct ev_timer){.loop = loop, .cb = cb, .arg = arg};
	t->deadline = ev_clock_ms() + (after_ms < 0 ? 0 : after_ms);
	if (ev_heap_insert(loop, t) == -1) {
		free(t);
		return NULL;
	}
	return t;
}

void ev_timer_reset(struct ev_timer *t, int64_t after_ms)
{
	if (t->deleted)
		return;
	t->deadline = ev_clock_ms() + (after_ms < 0 ? 0 : after_ms);
	/* A running timer is out of the heap; the loop puts it back after its callback. */
	if (t->running) {
		t->rescheduled = true;
		return;
	}
	ev_heap_down(t->loop, t->heap_index);
	ev_heap_up(t->loop, t->heap_index);
}

void ev_timer_del(struct ev_timer *t)
{
	if (t == NULL)
		return;
	if (t->running) {
		t->deleted = true;
		return;
	}
	ev_heap_remove(t->loop, t);
	free(t);
}

static void ev_run_timers(struct ev_loop *loop)
{
	/* Timers that come due while these run wait for the next round, so a
	 * zero-interval timer cannot starve descriptors. */
	int64_t now = loop->now;
	while (loop->heap_len > 0 && loop->heap[0]->deadline <= now && !loop->stopping) {
		struct ev_timer *t = loop->heap[0];
		ev_heap_remove(loop, t);
		t->running = true;
		t->rescheduled = false;
		int64_t next = t->cb(t, t->arg);
		t->running = false;
		if (t->deleted || (next == EV_TIMER_DONE && !t->rescheduled)) {
			free(t);
			continue;
		}
		/* A callback that called ev_timer_reset on itself has chosen its deadline. */
		if (!t->rescheduled)
			t->deadline = ev_clock_ms() + (next < 0 ? 0 : next);
		if (ev_heap_insert(loop, t) == -1)
			free(t);
	}
}

/* Signals */

static void ev_signal_readable(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	struct ev_loop *loop = arg;
	struct signalfd_siginfo info[8];
	(void)io;
	(void)events;

	for (;;) {
		ssize_t n = read(fd, info, sizeof(info));
		if (n <= 0)
			return;
		for (size_t i = 0; i < (size_t)n / sizeof(info[0]); i++) {
			unsigned signo = info[i].ssi_signo;
			if (signo < EV_SIGNAL_MAX && loop->signals[signo].cb != NULL)
				loop->signals[signo].cb(loop, (int)signo, loop->signals[signo].arg);
		}
	}
}

int ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb *cb, void *arg)
{
	if (signo <= 0 || signo >= EV_SIGNAL_MAX) {
		errno = EINVAL;
		return -1;
	}
	sigaddset(&loop->signal_mask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->signal_mask, NULL) == -1)
		return -1;
	int fd = signalfd(loop->signal_fd, &loop->signal_mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		return -1;
	if (loop->signal_fd == -1) {
		loop->signal_fd = fd;
		loop->signal_io = ev_io_add(loop, fd, EV_READ, ev_signal_readable, loop);
		if (loop->signal_io == NULL)
			return -1;
	}
	loop->signals[signo] = (struct ev_signal_handler){.cb = cb, .arg = arg};
	return 0;
}

void ev_signals_unblock(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Hooks */

int ev_hook_add(struct ev_loop *loop, enum ev_hook_phase phase, ev_hook_cb *cb, void *arg)
{
	for (size_t i = 0; i < EV_HOOK_MAX; i++) {
		if (loop->hooks[i].cb == cb && loop->hooks[i].arg == arg)
			return 0;
	}
	for (size_t i = 0; i < EV_HOOK_MAX; i++) {
		if (loop->hooks[i].cb == NULL) {
			loop->hooks[i] = (struct ev_hook){.cb = cb, .arg = arg, .phase = phase};
			return 0;
		}
	}
	errno = ENOSPC;
	return -1;
}

void ev_hook_del(struct ev_loop *loop, ev_hook_cb *cb, void *arg)
{
	for (size_t i = 0; i < EV_HOOK_MAX; i++) {
		if (loop->hooks[i].cb == cb && loop->hooks[i].arg == arg)
			loop->hooks[i] = (struct ev_hook){0};
	}
}

/* The loop */

/* The before-sleep flush in the order that ev.h states; true when the last
 * pass still flushed something, so the loop must not sleep. */
static bool ev_run_hooks(struct ev_loop *loop)
{
	bool flushed = true;
	for (int pass = 0; pass < EV_HOOK_PASSES && flushed; pass++) {
		flushed = false;
		for (int phase = 0; phase < EV_PHASE_COUNT; phase++) {
			for (size_t i = 0; i < EV_HOOK_MAX; i++) {
				if (loop->stopping)
					return false;
				struct ev_hook *h = &loop->hooks[i];
				if (h->cb != NULL && (int)h->phase == phase && h->cb(loop, h->arg))
					flushed = true;
			}
		}
	}
	return flushed;
}

static int ev_sleep_ms(struct ev_loop *loop)
{
	if (loop->heap_len == 0)
		return -1;
	int64_t wait = loop->heap[0]->deadline - ev_clock_ms();
	if (wait <= 0)
		return 0;
	return wait > INT32_MAX ? INT32_MAX : (int)wait;
}

int ev_loop_run(struct ev_loop *loop)
{
	struct epoll_event events[EV_BATCH];

	loop->stopping = false;
	while (!loop->stopping) {
		bool more = ev_run_hooks(loop);
		if (loop->stopping)
			break;
		int n = epoll_wait(loop->epoll_fd, events, EV_BATCH, more ? 0 : ev_sleep_ms(loop));
		if (n == -1 && errno != EINTR)
			return -1;
		loop->now = ev_clock_ms();
		for (int i = 0; i < n && !loop->stopping; i++) {
			struct ev_io *io = events[i].data.ptr;
			if (io->deleted)
				continue;
			uint32_t got = 0;
			if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
				got |= EV_READ;
			if (events[i].events & EPOLLOUT)
				got |= EV_WRITE;
			/* Errors are reported as readable so the owner reads and sees them,
			 * even when it only asked for writability. */
			if ((got & io->events) == 0 && (events[i].events & (EPOLLERR | EPOLLHUP)))
				got |= io->events;
			io->cb(io, io->fd, got, io->arg);
		}
		ev_run_timers(loop);
		ev_collect_garbage(loop);
	}
	return 0;
}
