/* Atomic file replacement, whole-file reads and advisory locks; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *why,
			size_t why_size)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(why, why_size, "%s: name too long", path);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd == -1) {
		snprintf(why, why_size, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	/* The umask must not loosen or tighten what the caller asked for. */
	if (fchmod(fd, mode) == -1)
		goto fail;
	/* root editing for a daemon user: the new file keeps the owner of the
	 * one it replaces (or of its folder), so the daemon can still read it. */
	char dir_buf[PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	const char *dir_name = dirname(dir_buf);
	struct stat owner;
	if (geteuid() == 0 && (stat(path, &owner) == 0 || stat(dir_name, &owner) == 0) &&
	    fchown(fd, owner.st_uid, owner.st_gid) == -1)
		goto fail;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)data + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	int dir = open(dir_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir != -1) {
		fsync(dir);
		close(dir);
	}
	return 0;
fail:
	snprintf(why, why_size, "writing %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

int fileio_read_all(const char *path, size_t max, char **data, size_t *len, char *why,
		    size_t why_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		snprintf(why, why_size, "%s: not a regular file of at most %zu bytes", path, max);
		close(fd);
		return -1;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf != NULL && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (buf == NULL || got != (size_t)st.st_size) {
		snprintf(why, why_size, "%s: cannot read: %s", path,
			 buf == NULL ? "out of memory" : "short read");
		free(buf);
		return -1;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

int fileio_lock(const char *path, char *why, size_t why_size)
{
	char lock[PATH_MAX];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		snprintf(why, why_size, "%s: %s", lock, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			snprintf(why, why_size, "locking %s: %s", lock, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}
