/* SPDX-License-Identifier: MIT */
/* The accounts journal; see accounts_journal.h. */
#include "accounts_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crc32c.h"
#include "fileio.h"
#include "jidprep.h"

#define JOURNAL_MAGIC	"RXMPPACJ"
#define JOURNAL_VERSION 1
#define JOURNAL_HEAD	(8 + 4 + 4 + ACCOUNTS_SEAL_LEN)
#define RECORD_HEAD	12
#define OP_KEYS		1
#define OP_DELETED	2
#define ITERATIONS_MAX	10000000u
#define JOURNAL_ADVICE                                                                             \
	"remove the journal and the accounts file beside it and restore both from a backup "       \
	"(in a cluster, a node rewrites both from the cluster's state when it starts)"

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int append_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4];
	put_u32(p, v);
	return buf_append(b, p, sizeof(p));
}

static int append_u8(struct buf *b, size_t v)
{
	uint8_t c = (uint8_t)v;
	return buf_append(b, &c, 1);
}

static int append_change(struct buf *b, const struct accounts_journal_change *c)
{
	size_t name_len = strlen(c->name);
	if (name_len == 0 || name_len > JID_PART_MAX)
		return -1;
	int rc = append_u8(b, c->keys != NULL ? OP_KEYS : OP_DELETED);
	rc |= append_u8(b, name_len & 0xff);
	rc |= append_u8(b, name_len >> 8);
	rc |= buf_append(b, c->name, name_len);
	for (int h = 0; c->keys != NULL && h < SCRAM_HASH_COUNT && rc == 0; h++) {
		const struct scram_keys *k = &c->keys[h];
		size_t key_len = scram_key_len((enum scram_hash)h);
		rc |= append_u32(b, k->iterations);
		rc |= append_u8(b, k->salt_len);
		rc |= buf_append(b, k->salt, k->salt_len);
		rc |= buf_append(b, k->stored_key, key_len);
		rc |= buf_append(b, k->server_key, key_len);
	}
	return rc == 0 ? 0 : -1;
}

static void journal_path(char *out, size_t size, const char *accounts_path)
{
	snprintf(out, size, "%s" ACCOUNTS_JOURNAL_SUFFIX, accounts_path);
}

/* The head of a new journal: magic, version, the checksum of the seal,
 * the seal.  Its own checksum tells a damaged seal from a stale one. */
static void journal_head(uint8_t head[JOURNAL_HEAD], const char *seal)
{
	memcpy(head, JOURNAL_MAGIC, 8);
	put_u32(head + 8, JOURNAL_VERSION);
	put_u32(head + 12, crc32c_update(0, (const uint8_t *)seal, ACCOUNTS_SEAL_LEN));
	memcpy(head + 16, seal, ACCOUNTS_SEAL_LEN);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int accounts_journal_append(const char *accounts_path, const char seal[ACCOUNTS_SEAL_LEN + 1],
			    const struct accounts_journal_change *changes, size_t count,
			    size_t *journal_size, char *why, size_t why_size)
{
	char path[PATH_MAX];
	journal_path(path, sizeof(path), accounts_path);
	struct buf out;
	buf_init(&out, ACCOUNTS_FILE_MAX);
	buf_set_sensitive(&out); /* the keys let their holder log in */
	uint8_t head[JOURNAL_HEAD > RECORD_HEAD ? JOURNAL_HEAD : RECORD_HEAD];
	int rc = 0;
	if (*journal_size == 0) {
		journal_head(head, seal);
		rc = buf_append(&out, head, JOURNAL_HEAD);
	}
	size_t record = buf_len(&out);
	rc |= buf_append(&out, head, RECORD_HEAD); /* filled in below */
	rc |= append_u32(&out, (uint32_t)count);
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = append_change(&out, &changes[i]);
	if (rc != 0 || count == 0) {
		snprintf(why, why_size, "%s: %s", path,
			 count == 0 ? "no change to append" : "out of memory or a name too long");
		buf_free(&out);
		return -1;
	}
	uint8_t *r = (uint8_t *)buf_head(&out) + record;
	size_t len = buf_len(&out) - record - RECORD_HEAD;
	put_u32(r + 4, crc32c_update(0, r + RECORD_HEAD, len));
	put_u32(r + 8, (uint32_t)len);
	put_u32(r, crc32c_update(0, r + 4, RECORD_HEAD - 4));
	if (*journal_size == 0) {
		/* A new journal replaces a stale one whole, never half. */
		rc = fileio_write_atomic(path, buf_head(&out), buf_len(&out), 0600, why, why_size);
		if (rc == 0)
			*journal_size = buf_len(&out);
		buf_free(&out);
		return rc;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	struct stat st;
	rc = -1;
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
	} else if ((size_t)st.st_size != *journal_size) {
		/* Written by someone else: the next write is the whole file. */
		snprintf(why, why_size, "%s: %lld bytes, %zu expected", path, (long long)st.st_size,
			 *journal_size);
	} else if (write_all(fd, (const uint8_t *)buf_head(&out), buf_len(&out)) == -1 ||
		   fdatasync(fd) == -1) {
		snprintf(why, why_size, "appending to %s: %s", path,
			 errno != 0 ? strerror(errno) : "short write");
	} else {
		*journal_size += buf_len(&out);
		rc = 0;
	}
	if (fd != -1)
		close(fd);
	buf_free(&out);
	return rc;
}

/* A record's changes, checked whole before any is applied. */
struct parsed {
	char name[JID_PART_MAX + 1];
	bool deleted;
	struct scram_keys keys[SCRAM_HASH_COUNT];
};

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n > 0 && *p == 0)
		p++, n--;
	return n == 0;
}

/* Parses and applies one record's bytes; the reason in *what. */
static int apply_record(const uint8_t *p, size_t len, struct accounts *a, const char **what)
{
	size_t at = 4;
	uint32_t count = len >= 4 ? get_u32(p) : 0;
	*what = "not a valid journal record";
	if (count == 0 || count > len)
		return -1;
	struct parsed *changes = calloc(count, sizeof(*changes));
	if (changes == NULL) {
		*what = "out of memory";
		return -1;
	}
	int rc = -1;
	for (uint32_t i = 0; i < count; i++) {
		struct parsed *c = &changes[i];
		if (len - at < 3)
			goto out;
		uint8_t op = p[at];
		size_t name_len = (size_t)p[at + 1] | (size_t)p[at + 2] << 8;
		at += 3;
		if ((op != OP_KEYS && op != OP_DELETED) || name_len == 0 ||
		    name_len > JID_PART_MAX || len - at < name_len)
			goto out;
		memcpy(c->name, p + at, name_len);
		at += name_len;
		char normal[JID_PART_MAX + 1], prep_why[JIDPREP_WHY_MAX];
		/* As in the file: only a prepared name is a user who can log in. */
		if (memchr(c->name, '\0', name_len) != NULL ||
		    jidprep_node(c->name, name_len, normal, sizeof(normal), prep_why,
				 sizeof(prep_why)) == -1 ||
		    strcmp(normal, c->name) != 0)
			goto out;
		c->deleted = op == OP_DELETED;
		for (int h = 0; !c->deleted && h < SCRAM_HASH_COUNT; h++) {
			struct scram_keys *k = &c->keys[h];
			size_t key_len = scram_key_len((enum scram_hash)h);
			if (len - at < 5)
				goto out;
			k->iterations = get_u32(p + at);
			k->salt_len = p[at + 4];
			at += 5;
			if (k->iterations < 1 || k->iterations > ITERATIONS_MAX ||
			    k->salt_len == 0 || k->salt_len > sizeof(k->salt) ||
			    len - at < k->salt_len + 2 * key_len)
				goto out;
			memcpy(k->salt, p + at, k->salt_len);
			memcpy(k->stored_key, p + at + k->salt_len, key_len);
			memcpy(k->server_key, p + at + k->salt_len + key_len, key_len);
			at += k->salt_len + 2 * key_len;
		}
	}
	if (at != len)
		goto out;
	for (uint32_t i = 0; i < count; i++) {
		if (changes[i].deleted) {
			accounts_remove(a, changes[i].name); /* absent already: the same */
		} else if (accounts_set_keys(a, changes[i].name, changes[i].keys) == -1) {
			*what = "out of memory";
			goto out;
		}
	}
	rc = 0;
out:
	buf_wipe_free(changes, count * sizeof(*changes));
	return rc;
}

static int read_from(int fd, size_t from, size_t size, uint8_t **out)
{
	uint8_t *p = malloc(size - from + 1);
	if (p == NULL)
		return -1;
	size_t got = 0;
	while (got < size - from) {
		ssize_t n = pread(fd, p + got, size - from - got, (off_t)(from + got));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != size - from) {
		buf_wipe_free(p, size - from + 1);
		return -1;
	}
	*out = p;
	return 0;
}

int accounts_journal_apply(const char *accounts_path, const char seal[ACCOUNTS_SEAL_LEN + 1],
			   struct accounts *a, struct accounts_journal_pos *pos, char *why,
			   size_t why_size)
{
	char path[PATH_MAX];
	journal_path(path, sizeof(path), accounts_path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd == -1 && errno == ENOENT) {
		*pos = (struct accounts_journal_pos){0};
		return 0;
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > ACCOUNTS_FILE_MAX) {
		snprintf(why, why_size, "%s: not a regular file of at most %u bytes", path,
			 ACCOUNTS_FILE_MAX);
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	bool same =
	    pos->present && pos->dev == st.st_dev && pos->ino == st.st_ino && pos->offset <= size;
	size_t from = same ? pos->offset : 0, off = from;
	uint8_t *p = NULL;
	const char *what = NULL;
	errno = 0;
	if (read_from(fd, from, size, &p) == -1) {
		snprintf(why, why_size, "%s: cannot read: %s", path,
			 errno != 0 ? strerror(errno) : "it shrank while read");
		close(fd);
		return -1;
	}
	close(fd);
	int rc = -1;
	if (!same) {
		*pos = (struct accounts_journal_pos){0};
		uint32_t version = size >= JOURNAL_HEAD ? get_u32(p + 8) : 0;
		if (size < JOURNAL_HEAD || memcmp(p, JOURNAL_MAGIC, 8) != 0) {
			what = "not an accounts journal of rxmpp";
			goto bad;
		}
		if (version != JOURNAL_VERSION) {
			off = 8;
			what = version > JOURNAL_VERSION
				   ? "a journal of a newer format; " FILEIO_NEWER_ADVICE
				   : "a journal of an unknown format";
			goto bad;
		}
		if (get_u32(p + 12) != crc32c_update(0, p + 16, ACCOUNTS_SEAL_LEN)) {
			off = 12;
			what = "the checksum of the head does not match it (damaged)";
			goto bad;
		}
		if (seal == NULL || memcmp(p + 16, seal, ACCOUNTS_SEAL_LEN) != 0) {
			rc = 0; /* stale: the file was written whole after it */
			goto out;
		}
		*pos = (struct accounts_journal_pos){
		    .present = true, .dev = st.st_dev, .ino = st.st_ino, .offset = JOURNAL_HEAD};
		off = JOURNAL_HEAD;
	}
	pos->torn = 0;
	while (off < size) {
		const uint8_t *h = p + (off - from);
		size_t rest = size - off;
		if (rest < RECORD_HEAD || all_zero(h, rest)) {
			pos->torn = rest;
			break;
		}
		if (get_u32(h) != crc32c_update(0, h + 4, RECORD_HEAD - 4)) {
			what = "the checksum of a record's head does not match it (damaged)";
			goto bad;
		}
		uint32_t len = get_u32(h + 8);
		if (rest - RECORD_HEAD < len) {
			pos->torn = rest;
			break;
		}
		if (get_u32(h + 4) != crc32c_update(0, h + RECORD_HEAD, len)) {
			if (all_zero(h + RECORD_HEAD + len, rest - RECORD_HEAD - len)) {
				pos->torn = rest; /* the last append, cut short */
				break;
			}
			what = "the checksum of a record's bytes does not match them (damaged)";
			goto bad;
		}
		if (apply_record(h + RECORD_HEAD, len, a, &what) == -1)
			goto bad;
		off += RECORD_HEAD + len;
		pos->offset = off;
	}
	rc = 0;
	goto out;
bad:
	/* A newer format carries its own advice: run that release. */
	snprintf(why, why_size, "%s, byte %zu: %s%s%s", path, off, what,
		 strstr(what, FILEIO_NEWER_ADVICE) != NULL ? "" : "; ",
		 strstr(what, FILEIO_NEWER_ADVICE) != NULL ? "" : JOURNAL_ADVICE);
out:
	buf_wipe_free(p, size - from + 1);
	return rc;
}
