/* SPDX-License-Identifier: MIT */
/* Watching the TLS files for changes; see certworker_watch.h.  Runs in the certificate worker. */
#include "certworker_watch.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/log.h"

/* Each file may be a link: its own name and the name it points to. */
#define WATCH_NAMES_MAX (2 * CERTWATCH_FILES_MAX)
#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
/* Events taken per wake-up, so a flood cannot hold the loop. */
#define WATCH_READS_MAX 16

static struct {
	struct ev_loop *loop;
	certwatch_cb *changed;
	int fd;
	struct ev_io *io;
	struct ev_timer *settle;
	int wds[WATCH_NAMES_MAX];
	int wd_count;
	char names[WATCH_NAMES_MAX][NAME_MAX + 1];
	int name_count;
} watched = {.fd = -1};

static int64_t settled(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	watched.settle = NULL;
	watched.changed();
	return EV_TIMER_DONE;
}

static bool watched_name(const char *name)
{
	for (int i = 0; i < watched.name_count; i++) {
		if (strcmp(watched.names[i], name) == 0)
			return true;
	}
	return false;
}

static void on_events(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	(void)io;
	(void)events;
	(void)arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	for (int round = 0; round < WATCH_READS_MAX; round++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				log_warn("reading file change events");
			break;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			if ((e->mask & IN_Q_OVERFLOW) || (e->len > 0 && watched_name(e->name)))
				relevant = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (!relevant)
		return;
	if (watched.settle != NULL)
		ev_timer_reset(watched.settle, CERTWATCH_SETTLE_MS);
	else
		watched.settle = ev_timer_add(watched.loop, CERTWATCH_SETTLE_MS, settled, NULL);
}

int certworker_watch_init(struct ev_loop *loop, certwatch_cb *changed)
{
	watched.loop = loop;
	watched.changed = changed;
	watched.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (watched.fd == -1) {
		log_warn("inotify");
		return -1;
	}
	watched.io = ev_io_add(loop, watched.fd, EV_READ, on_events, NULL);
	if (watched.io == NULL) {
		close(watched.fd);
		watched.fd = -1;
		return -1;
	}
	return 0;
}

static void watch_path(const char *path)
{
	char dir_copy[PATH_MAX], base_copy[PATH_MAX];
	snprintf(dir_copy, sizeof(dir_copy), "%s", path);
	snprintf(base_copy, sizeof(base_copy), "%s", path);
	const char *dir = dirname(dir_copy), *base = basename(base_copy);
	int wd = inotify_add_watch(watched.fd, dir, WATCH_MASK);
	if (wd == -1) {
		log_warn("cannot watch %s for changes to %s", dir, base);
		return;
	}
	bool known = false;
	for (int i = 0; i < watched.wd_count; i++)
		known |= watched.wds[i] == wd;
	if (!known && watched.wd_count < WATCH_NAMES_MAX)
		watched.wds[watched.wd_count++] = wd;
	if (watched.name_count < WATCH_NAMES_MAX && !watched_name(base))
		snprintf(watched.names[watched.name_count++], sizeof(watched.names[0]), "%s", base);
}

void certworker_watch_set(const char *const *paths, int count)
{
	if (watched.fd == -1)
		return;
	for (int i = 0; i < watched.wd_count; i++)
		inotify_rm_watch(watched.fd, watched.wds[i]);
	watched.wd_count = watched.name_count = 0;
	for (int i = 0; i < count && i < CERTWATCH_FILES_MAX; i++) {
		if (paths[i] == NULL || paths[i][0] == '\0')
			continue;
		watch_path(paths[i]);
		/* certbot's live/ names are links into archive/: watch both. */
		char target[PATH_MAX];
		if (realpath(paths[i], target) != NULL && strcmp(target, paths[i]) != 0)
			watch_path(target);
	}
}

void certworker_watch_stop(void)
{
	ev_timer_del(watched.settle);
	watched.settle = NULL;
	ev_io_del(watched.io);
	watched.io = NULL;
	if (watched.fd != -1)
		close(watched.fd);
	watched.fd = -1;
}
