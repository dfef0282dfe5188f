/* SPDX-License-Identifier: MIT */
/*
 * Logging for every rxmpp process.
 *
 * Lines go to stderr with a syslog priority prefix ("<4>") so that journald
 * keeps their level, followed by the process title and pid; a daemon that
 * detached from its terminal logs to syslog(3) instead.  On stderr that is
 * not the journal each line opens with the UTC time to the millisecond
 * ("2026-12-07T15:04:05.123Z <6>rxmppd[812]: ready: ...").  Functions that fail
 * return -1 and leave logging to the caller that decides what the failure
 * means, so each problem is logged once.
 */
#ifndef RXMPP_LOG_H
#define RXMPP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdnoreturn.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

enum log_target {
	LOG_TARGET_STDERR,	 /* a daemon's log: stamped unless it is the journal */
	LOG_TARGET_SYSLOG,	 /* a detached daemon */
	LOG_TARGET_STDERR_PLAIN, /* a command's messages to its user: never stamped */
};

void log_init(const char *title, enum log_level level, enum log_target target);
void log_set_level(enum log_level level);
/* stderr is the stream systemd connected to the journal (JOURNAL_STREAM
 * names its device and inode): journald stamps the lines itself. */
bool log_stderr_is_journal(void);
enum log_level log_get_level(void);
enum log_target log_get_target(void);

/* "err", "warning", "info", "debug" <-> the levels; -1 for an unknown name. */
int log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

/* log_warn and fatal append strerror(errno); the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Lines that someone outside can cause at will (a refused connection, a
 * failed handshake, a bad stanza) would let them fill the disk and hide
 * everything else.  Each kind of such a line has its own struct log_limit
 * (a static at the call site): the first LOG_LIMIT_BURST lines of each
 * LOG_LIMIT_INTERVAL_MS are logged, the others are counted, and the next
 * line logged says how many were not ("... (and 8585 more like it since
 * the last one)").
 */
#define LOG_LIMIT_INTERVAL_MS 10000
#define LOG_LIMIT_BURST	      10
struct log_limit {
	long long window_start_ms; /* monotonic; 0: nothing logged yet */
	unsigned logged;	   /* lines logged in this window */
	unsigned long suppressed;  /* lines not logged since the last one */
};
void log_warnx_limited(struct log_limit *limit, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_info_limited(struct log_limit *limit, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An error this process cannot continue after; exits with status 1. */
noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
