/* SPDX-License-Identifier: MIT */
/* Atomic file replacement, sealed state files, whole-file reads and
 * advisory locks; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *why,
			size_t why_size)
{
	char tmp[PATH_MAX];
	int fd = -1;
	/* O_EXCL: a file (or link) already at the temporary name, left by a
	 * crashed writer of the same pid or planted, is never written through;
	 * the next name is tried instead. */
	for (unsigned attempt = 0; fd == -1 && attempt < 16; attempt++) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(), attempt) >=
		    (int)sizeof(tmp)) {
			snprintf(why, why_size, "%s: name too long", path);
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd == -1 && errno != EEXIST)
			break;
	}
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
	/* The rename is durable only once the folder is: a caller that sends
	 * what depends on the file (a vote, an acknowledgement) must not send
	 * it when a power loss could bring the old file back. */
	int dir = open(dir_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir == -1 || fsync(dir) == -1) {
		int err = errno;
		if (dir != -1)
			close(dir);
		snprintf(why, why_size,
			 "writing %s: flushing its folder %s: %s (the new file is in place but may "
			 "not survive a power loss)",
			 path, dir_name, strerror(err));
		return -1;
	}
	close(dir);
	return 0;
fail:
	snprintf(why, why_size, "writing %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

#define SEAL_PREFIX   "rxmpp-"
#define SEAL_SUM      "sha256 "
#define SEAL_SUM_LINE (sizeof(SEAL_SUM) - 1 + 64 + 1)

static int fileio_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		return -1;
	for (unsigned i = 0; i < md_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int fileio_write_sealed(const char *path, const char *kind, unsigned version, const void *body,
			size_t len, mode_t mode, char *why, size_t why_size)
{
	return fileio_write_sealed_sum(path, kind, version, body, len, mode, NULL, why, why_size);
}

int fileio_write_sealed_sum(const char *path, const char *kind, unsigned version, const void *body,
			    size_t len, mode_t mode, char sum[65], char *why, size_t why_size)
{
	char header[96];
	int n = snprintf(header, sizeof(header), SEAL_PREFIX "%s %u\n", kind, version);
	size_t total = (size_t)n + len + SEAL_SUM_LINE;
	char *text = malloc(total + 1);
	if (text == NULL) {
		snprintf(why, why_size, "%s: out of memory", path);
		return -1;
	}
	memcpy(text, header, (size_t)n);
	memcpy(text + n, body, len);
	char hex[65];
	if (fileio_sha256_hex(text, (size_t)n + len, hex) == -1) {
		snprintf(why, why_size, "%s: cannot compute SHA-256", path);
		buf_wipe_free(text, total + 1);
		return -1;
	}
	snprintf(text + n + len, SEAL_SUM_LINE + 1, SEAL_SUM "%s\n", hex);
	int rc = fileio_write_atomic(path, text, total, mode, why, why_size);
	if (sum != NULL)
		memcpy(sum, hex, sizeof(hex));
	/* The body may be the accounts' keys. */
	buf_wipe_free(text, total + 1);
	return rc;
}

enum fileio_seal fileio_unseal(const char *path, const char *text, size_t len, const char *kind,
			       unsigned *version, size_t *body_start, size_t *body_len, char *why,
			       size_t why_size)
{
	bool has_header = strncmp(text, SEAL_PREFIX, strlen(SEAL_PREFIX)) == 0;
	/* The last line, when the text ends with a newline. */
	size_t last = len;
	if (len > 0 && text[len - 1] == '\n') {
		last = len - 1;
		while (last > 0 && text[last - 1] != '\n')
			last--;
	}
	bool has_sum = last < len && strncmp(text + last, SEAL_SUM, strlen(SEAL_SUM)) == 0;
	if (strlen(text) != len) {
		snprintf(why, why_size, "%s: holds a NUL byte", path);
		return FILEIO_SEAL_BROKEN;
	}
	if (!has_header && !has_sum) {
		*body_start = 0;
		*body_len = len;
		return FILEIO_UNSEALED;
	}
	if (!has_header) {
		snprintf(why, why_size, "%s:1: no \"" SEAL_PREFIX "%s\" header line", path, kind);
		return FILEIO_SEAL_BROKEN;
	}
	const char *eol = strchr(text, '\n');
	unsigned line_count = 0;
	for (size_t i = 0; i < len; i++)
		line_count += text[i] == '\n';
	if (!has_sum || eol == NULL || eol >= text + last) {
		snprintf(why, why_size,
			 "%s:%u: the last line is not its checksum (\"" SEAL_SUM
			 "...\"): the file was cut short",
			 path, line_count + (len > 0 && text[len - 1] != '\n'));
		return FILEIO_SEAL_BROKEN;
	}
	/* "rxmpp-KIND VERSION": the kind exactly, the version in decimal. */
	size_t kind_len = strlen(kind);
	const char *p = text + strlen(SEAL_PREFIX);
	unsigned long v = 0;
	bool header_ok = strncmp(p, kind, kind_len) == 0 && p[kind_len] == ' ';
	p += kind_len + 1;
	if (header_ok) {
		const char *digits = p;
		while (p < eol && *p >= '0' && *p <= '9' && v < 1000000)
			v = v * 10 + (unsigned long)(*p++ - '0');
		header_ok = p == eol && p > digits && p - digits < 7 &&
			    (digits[0] != '0' || p - digits == 1);
	}
	if (!header_ok) {
		snprintf(why, why_size, "%s:1: not an rxmpp %s file (header \"%.*s\")", path, kind,
			 (int)(eol - text < 64 ? eol - text : 64), text);
		return FILEIO_SEAL_BROKEN;
	}
	char hex[65];
	if (fileio_sha256_hex(text, last, hex) == -1) {
		snprintf(why, why_size, "%s: cannot compute SHA-256", path);
		return FILEIO_SEAL_BROKEN;
	}
	if (len - last != SEAL_SUM_LINE || memcmp(text + last + strlen(SEAL_SUM), hex, 64) != 0) {
		snprintf(why, why_size,
			 "%s:%u: checksum mismatch: the file was changed or damaged after it was "
			 "written",
			 path, line_count);
		return FILEIO_SEAL_BROKEN;
	}
	*version = (unsigned)v;
	*body_start = (size_t)(eol + 1 - text);
	*body_len = last - *body_start;
	return FILEIO_SEALED;
}

bool fileio_next_line(char **cursor, char *end, char **line, bool *cut)
{
	*cut = false;
	if (*cursor >= end)
		return false;
	char *nl = memchr(*cursor, '\n', (size_t)(end - *cursor));
	if (nl == NULL) {
		*cut = true;
		return false;
	}
	*nl = '\0';
	*line = *cursor;
	*cursor = nl + 1;
	return true;
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
