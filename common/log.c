/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per call, written with a single write(2) so that lines
 * from the supervisor and its children, which share stderr, never interleave.
 * Bytes that are not printable (a peer may put a newline into a name it sends
 * us) are replaced so that nobody can forge a log line.
 *
 * Lines on stderr open with the time in UTC, ISO 8601 with milliseconds
 * ("2026-12-07T15:04:05.123Z"), the same on every node whatever its zone,
 * unless stderr is the journal: systemd then sets JOURNAL_STREAM to the
 * device and inode of the stream it connected (systemd.exec(5)), journald
 * stamps every line itself, and a second stamp would only be noise.  The
 * stream is compared, not just the variable's presence, so that a process
 * started from a unit with its stderr sent elsewhere still stamps its lines.
 */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static char log_title[32] = "rxmpp";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static enum log_target log_destination = LOG_TARGET_STDERR;
static bool log_stamped = true;

static const char *const log_level_names[] = {
    [LOG_LEVEL_ERR] = "err",
    [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

bool log_stderr_is_journal(void)
{
	const char *journal = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char rest;
	struct stat st;
	if (journal == NULL || sscanf(journal, "%llu:%llu%c", &dev, &ino, &rest) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *title, enum log_level level, enum log_target target)
{
	snprintf(log_title, sizeof(log_title), "%s", title);
	log_threshold = level;
	log_destination = target;
	log_stamped = target == LOG_TARGET_STDERR && !log_stderr_is_journal();
	if (target == LOG_TARGET_SYSLOG)
		openlog(log_title, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level log_get_level(void)
{
	return log_threshold;
}

enum log_target log_get_target(void)
{
	return log_destination;
}

int log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (log_level_names[i] != NULL && strcmp(name, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if ((size_t)level < sizeof(log_level_names) / sizeof(log_level_names[0]) &&
	    log_level_names[level] != NULL)
		return log_level_names[level];
	return "unknown";
}

/* "2026-12-07T15:04:05.123Z " */
static void log_timestamp(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm) == NULL) {
		out[0] = '\0';
		return;
	}
	size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03ldZ ", ts.tv_nsec / 1000000);
}

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char message[LOG_LINE_MAX];
	int n = vsnprintf(message, sizeof(message), fmt, ap);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof(message) ? sizeof(message) - 1 : (size_t)n;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)message[i];
		if (c < 0x20 || c == 0x7f)
			message[i] = '?';
	}
	if (errnum != 0)
		snprintf(message + len, sizeof(message) - len, ": %s", strerror(errnum));

	if (log_destination == LOG_TARGET_SYSLOG) {
		syslog((int)level, "%s", message);
		return;
	}
	char stamp[40] = "";
	if (log_stamped)
		log_timestamp(stamp, sizeof(stamp));
	char line[LOG_LINE_MAX + 96];
	int line_len = snprintf(line, sizeof(line), "%s<%d>%s[%ld]: %s\n", stamp, (int)level,
				log_title, (long)getpid(), message);
	if (line_len < 0)
		return;
	if ((size_t)line_len >= sizeof(line)) {
		line_len = sizeof(line) - 1;
		line[line_len - 1] = '\n';
	}
	/* A failed log write has nowhere better to be reported. */
	ssize_t written = write(STDERR_FILENO, line, (size_t)line_len);
	(void)written;
}

static void log_forward(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_forward(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(level, 0, fmt, ap);
	va_end(ap);
}

#define LOG_FORWARD(level, errnum)                                                                 \
	do {                                                                                       \
		if ((level) > log_threshold)                                                       \
			return;                                                                    \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_emit((level), (errnum), fmt, ap);                                              \
		va_end(ap);                                                                        \
	} while (0)

void log_warn(const char *fmt, ...)
{
	int errnum = errno;
	LOG_FORWARD(LOG_LEVEL_WARNING, errnum);
}

void log_warnx(const char *fmt, ...)
{
	LOG_FORWARD(LOG_LEVEL_WARNING, 0);
}

void log_info(const char *fmt, ...)
{
	LOG_FORWARD(LOG_LEVEL_INFO, 0);
}

void log_debug(const char *fmt, ...)
{
	LOG_FORWARD(LOG_LEVEL_DEBUG, 0);
}

static long long log_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Never 0, which means "nothing logged yet". */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

/* true when this line is to be logged; then `*suppressed` is the number
 * of lines of its kind that were not since the last one that was. */
static bool log_limit_pass(struct log_limit *limit, unsigned long *suppressed)
{
	long long now = log_monotonic_ms();
	if (limit->window_start_ms == 0 || now - limit->window_start_ms >= LOG_LIMIT_INTERVAL_MS) {
		limit->window_start_ms = now;
		limit->logged = 0;
	}
	if (limit->logged == LOG_LIMIT_BURST) {
		limit->suppressed++;
		return false;
	}
	limit->logged++;
	*suppressed = limit->suppressed;
	limit->suppressed = 0;
	return true;
}

static void log_limited(struct log_limit *limit, enum log_level level, const char *fmt, va_list ap)
{
	unsigned long suppressed;
	if (level > log_threshold || !log_limit_pass(limit, &suppressed))
		return;
	char message[LOG_LINE_MAX];
	vsnprintf(message, sizeof(message), fmt, ap);
	if (suppressed > 0)
		log_forward(level, "%s (and %lu more like it since the last one)", message,
			    suppressed);
	else
		log_forward(level, "%s", message);
}

void log_warnx_limited(struct log_limit *limit, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_limited(limit, LOG_LEVEL_WARNING, fmt, ap);
	va_end(ap);
}

void log_info_limited(struct log_limit *limit, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_limited(limit, LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERR, errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
