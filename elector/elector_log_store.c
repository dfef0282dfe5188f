/* SPDX-License-Identifier: MIT */
/*
 * The replicated log and the snapshot on disk; see elector_log_store.h.
 * Runs in the elector (rxmppctl only checks).
 *
 * Layouts, little-endian, fixed:
 *   log       "RXMPPLOG", u32 version, u32 0; then records:
 *             u32 crc32c of the rest of this head, u32 crc32c of the
 *             bytes, u32 len, u8 kind, u8 0, u16 0, u32 entry type, u32 0,
 *             u64 index, u64 term, then `len` bytes.  The head has a
 *             checksum of its own so that a damaged length is told from
 *             a record cut short.
 *             A hard-state record has term 0 and 24 bytes: u64 term,
 *             u64 vote, u64 commit; its index is the byte offset where
 *             the write it ends began (version 2; 0 in version 1).  It
 *             ends every write, so the last write is told from the ones
 *             before it at start.  In a tail a compaction copied, that
 *             offset is stale: only the last record's is read.
 *   snapshot  "RXMPPSNP", u32 version, u32 0, u64 index, u64 term,
 *             u32 members, u32 0, per member u64 id, 32 bytes of
 *             fingerprint, u16 address length, the address; u64 data
 *             length, the data; 32 bytes of SHA-256 of all before.
 */
#include "elector_log_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fileio.h"

#define LOG_MAGIC      "RXMPPLOG"
#define SNAPSHOT_MAGIC "RXMPPSNP"
/* 2: every write ends with a hard-state record naming where the write
 * began (see log_parse); 1 (written by builds of this release before
 * it, never released) is read and rewritten as 2 at open. */
#define LOG_VERSION	 2
#define LOG_VERSION_1	 1
#define SNAPSHOT_VERSION 1
#define FILE_HEAD	 16
#define RECORD_HEAD	 40
#define RECORD_ENTRY	 1
#define RECORD_HARD	 2
#define HARD_LEN	 24
#define SHA256_LEN	 32
#define STORE_MODE	 0600
/* A log is at most this large: the shell snapshots long before. */
#define LOG_FILE_MAX (1024ull * 1024 * 1024)

struct elector_log_store {
	char log_path[4096];
	char snapshot_path[4096];
	int fd;
	uint64_t size; /* of the log file */
	struct elector_hard_state hard;
	struct elector_snapshot_meta meta;
	/* slots[i]: where the record of entry meta.index + 1 + i starts, and
	 * its term */
	struct slot {
		uint64_t offset;
		uint64_t term;
	} * slots;
	size_t count, cap;
	uint64_t last_term;
	/* What open read, for elector_log_loaded. */
	uint8_t *log_bytes;
	uint8_t *snapshot_bytes;
	size_t snapshot_file_len;
	const uint8_t *snapshot_data; /* into snapshot_bytes */
	size_t snapshot_len;
	struct elector_log_entry *entries;
	size_t loaded_count;
};

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int append_bytes(struct buf *b, const void *data, size_t n)
{
	return buf_append(b, data, n);
}

static int append_u64(struct buf *b, uint64_t v)
{
	uint8_t p[8];
	put_u64(p, v);
	return append_bytes(b, p, sizeof(p));
}

static int append_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4];
	put_u32(p, v);
	return append_bytes(b, p, sizeof(p));
}

static int append_record(struct buf *b, uint8_t kind, uint32_t type, uint64_t index, uint64_t term,
			 const uint8_t *data, uint32_t len)
{
	uint8_t head[RECORD_HEAD] = {0};
	put_u32(head + 4, crc32c_update(0, data, len));
	put_u32(head + 8, len);
	head[12] = kind;
	put_u32(head + 16, type);
	put_u64(head + 24, index);
	put_u64(head + 32, term);
	put_u32(head, crc32c_update(0, head + 4, RECORD_HEAD - 4));
	return append_bytes(b, head, sizeof(head)) == -1 || append_bytes(b, data, len) == -1 ? -1
											     : 0;
}

/* The record that ends every write; `begin`: the byte offset where the
 * write began. */
static int append_hard(struct buf *b, const struct elector_hard_state *h, uint64_t begin)
{
	uint8_t data[HARD_LEN];
	put_u64(data, h->term);
	put_u64(data + 8, h->vote);
	put_u64(data + 16, h->commit);
	return append_record(b, RECORD_HARD, 0, begin, 0, data, sizeof(data));
}

static int append_file_head(struct buf *b, const char *magic, uint32_t version)
{
	return append_bytes(b, magic, 8) == -1 || append_u32(b, version) == -1 ||
		       append_u32(b, 0) == -1
		   ? -1
		   : 0;
}

static int slots_push(struct elector_log_store *s, uint64_t offset, uint64_t term)
{
	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct slot *grown = realloc(s->slots, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		s->slots = grown;
		s->cap = cap;
	}
	s->slots[s->count++] = (struct slot){offset, term};
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

/* Snapshot */

static int snapshot_encode(struct buf *b, const struct elector_snapshot_meta *meta,
			   const uint8_t *data, size_t len)
{
	if (append_file_head(b, SNAPSHOT_MAGIC, SNAPSHOT_VERSION) == -1 ||
	    append_u64(b, meta->index) == -1 || append_u64(b, meta->term) == -1 ||
	    append_u32(b, meta->config.count) == -1 || append_u32(b, 0) == -1)
		return -1;
	for (uint32_t i = 0; i < meta->config.count; i++) {
		const struct elector_member *m = &meta->config.members[i];
		size_t alen = strnlen(m->address, sizeof(m->address));
		uint8_t l[2];
		put_u16(l, (uint16_t)alen);
		if (append_u64(b, m->id) == -1 ||
		    append_bytes(b, m->fingerprint, sizeof(m->fingerprint)) == -1 ||
		    append_bytes(b, l, 2) == -1 || append_bytes(b, m->address, alen) == -1)
			return -1;
	}
	if (append_u64(b, len) == -1 || append_bytes(b, data, len) == -1)
		return -1;
	uint8_t digest[SHA256_LEN];
	unsigned dlen = 0;
	if (EVP_Digest(buf_head(b), buf_len(b), digest, &dlen, EVP_sha256(), NULL) != 1)
		return -1;
	return append_bytes(b, digest, sizeof(digest));
}

/* Parses a whole snapshot file; the data points into `p`. */
static int snapshot_parse(const char *path, const uint8_t *p, size_t size,
			  struct elector_snapshot_meta *meta, const uint8_t **data, size_t *len,
			  char *why, size_t why_size)
{
	size_t off = 0;
	const char *what = NULL;
#define NEED(n)                                                                                    \
	do {                                                                                       \
		if (size - off < (n)) {                                                            \
			what = "the file ends in the middle of a field (cut short)";               \
			goto bad;                                                                  \
		}                                                                                  \
	} while (0)
	if (size < FILE_HEAD + SHA256_LEN) {
		what = "the file is shorter than a snapshot can be (cut short)";
		goto bad;
	}
	uint8_t digest[SHA256_LEN];
	unsigned dlen = 0;
	if (EVP_Digest(p, size - SHA256_LEN, digest, &dlen, EVP_sha256(), NULL) != 1 ||
	    memcmp(digest, p + size - SHA256_LEN, SHA256_LEN) != 0) {
		off = size - SHA256_LEN;
		what =
		    "the SHA-256 of the snapshot does not match its bytes (damaged or cut short)";
		goto bad;
	}
	size -= SHA256_LEN;
	if (memcmp(p, SNAPSHOT_MAGIC, 8) != 0) {
		what = "not a snapshot of rxmpp";
		goto bad;
	}
	off = 8;
	if (get_u32(p + 8) != SNAPSHOT_VERSION) {
		what = get_u32(p + 8) > SNAPSHOT_VERSION
			   ? "a snapshot of a newer format; " FILEIO_NEWER_ADVICE
			   : "a snapshot of an unknown format";
		goto bad;
	}
	off = FILE_HEAD;
	NEED(24);
	memset(meta, 0, sizeof(*meta));
	meta->index = get_u64(p + off);
	meta->term = get_u64(p + off + 8);
	meta->config.count = get_u32(p + off + 16);
	if (meta->index == 0 || meta->term == 0) {
		what = "a snapshot at index or term 0";
		goto bad;
	}
	off += 16;
	if (meta->config.count == 0 || meta->config.count > ELECTOR_MEMBERS_MAX ||
	    get_u32(p + off + 4) != 0) {
		what = "a membership of no members or more than a cluster can have";
		goto bad;
	}
	meta->config.index = meta->index;
	meta->config.term = meta->term;
	off += 8;
	for (uint32_t i = 0; i < meta->config.count; i++) {
		struct elector_member *m = &meta->config.members[i];
		NEED(8 + ELECTOR_FINGERPRINT_SIZE + 2);
		m->id = get_u64(p + off);
		memcpy(m->fingerprint, p + off + 8, ELECTOR_FINGERPRINT_SIZE);
		uint16_t alen = get_u16(p + off + 8 + ELECTOR_FINGERPRINT_SIZE);
		if (m->id == ELECTOR_NONE || alen >= sizeof(m->address)) {
			what = "a member without an id or with an address too long";
			goto bad;
		}
		off += 8 + ELECTOR_FINGERPRINT_SIZE + 2;
		NEED(alen);
		memcpy(m->address, p + off, alen);
		if (!elector_address_valid(m->address, sizeof(m->address))) {
			what = "a member's address is not host:port";
			goto bad;
		}
		off += alen;
	}
	NEED(8);
	uint64_t n = get_u64(p + off);
	if (n > ELECTOR_SNAPSHOT_DATA_MAX || n != size - off - 8) {
		what = "the state machine's length does not match the file";
		goto bad;
	}
	off += 8;
	*data = p + off;
	*len = (size_t)n;
	return 0;
#undef NEED
bad:
	snprintf(why, why_size, "%s, byte %zu: %s; %s", path, off, what, ELECTOR_LOG_STORE_ADVICE);
	return -1;
}

/* Log */

/* Whether a whole hard-state record starts at `h` (`rest` bytes on). */
static bool whole_hard(const uint8_t *h, size_t rest)
{
	return rest >= RECORD_HEAD + HARD_LEN && h[12] == RECORD_HARD &&
	       get_u32(h + 8) == HARD_LEN &&
	       get_u32(h) == crc32c_update(0, h + 4, RECORD_HEAD - 4) &&
	       get_u32(h + 4) == crc32c_update(0, h + RECORD_HEAD, HARD_LEN);
}

/* A record at `off` (after the last whole hard-state record, which ends
 * at `marked`) fails its checksum: whether it lies in the last write, one
 * a crash cut short (version 2).  Every write ends with a hard-state
 * record, so a failure in an earlier, finished write is followed by that
 * write's record; the last write's own record may have reached the disk
 * before a page in its middle did, which its begin offset tells.  The
 * search is byte by byte, as a damaged length says nothing of where the
 * next record starts. */
static bool last_write_torn(const uint8_t *p, size_t size, size_t off, size_t marked)
{
	size_t last = 0;
	bool found = false;
	for (size_t at = off + 1; at + RECORD_HEAD + HARD_LEN <= size; at++) {
		if (whole_hard(p + at, size - at)) {
			last = at;
			found = true;
			at += RECORD_HEAD + HARD_LEN - 1;
		}
	}
	if (!found)
		return true;
	uint64_t begin = get_u64(p + last + 24);
	size_t end = last + RECORD_HEAD + HARD_LEN;
	return begin >= marked && begin <= off && all_zero(p + end, size - end);
}

/* Parses the log in `p`; fills s->offsets, entries and hard state.  The
 * torn tail, if any, is left out of *good_size; *version: the file's;
 * *marked_size: where the last hard-state record ends. */
static int log_parse(struct elector_log_store *s, const uint8_t *p, size_t size, size_t *good_size,
		     size_t *marked_size, struct elector_log_entry **entries, size_t *count,
		     uint32_t *version, char *why, size_t why_size)
{
	size_t off = 0, n = 0, cap = 0, marked = FILE_HEAD;
	const char *what = NULL;
	char detail[160];
	uint64_t prev = 0, prev_term = 0;
	*entries = NULL;
	if (size < FILE_HEAD || memcmp(p, LOG_MAGIC, 8) != 0) {
		what = "not a log of rxmpp";
		goto bad;
	}
	*version = get_u32(p + 8);
	if ((*version != LOG_VERSION && *version != LOG_VERSION_1) || get_u32(p + 12) != 0) {
		off = 8;
		what = *version > LOG_VERSION ? "a log of a newer format; " FILEIO_NEWER_ADVICE
					      : "a log of an unknown format";
		goto bad;
	}
	bool marks = *version >= LOG_VERSION;
	off = FILE_HEAD;
	while (off < size) {
		size_t rest = size - off;
		if (rest < RECORD_HEAD || all_zero(p + off, rest))
			break; /* torn: see the header */
		const uint8_t *h = p + off;
		if (get_u32(h) != crc32c_update(0, h + 4, RECORD_HEAD - 4)) {
			if (marks && last_write_torn(p, size, off, marked))
				break;
			what = "the checksum of a record's head does not match it (damaged)";
			goto bad;
		}
		uint32_t len = get_u32(h + 8);
		if (len > ELECTOR_LOG_ENTRY_MAX) {
			what = "a record longer than any entry can be";
			goto bad;
		}
		if (rest - RECORD_HEAD < len)
			break; /* torn */
		if (get_u32(h + 4) != crc32c_update(0, h + RECORD_HEAD, len)) {
			if (marks && last_write_torn(p, size, off, marked))
				break;
			what = "the checksum of a record's bytes does not match them (damaged)";
			goto bad;
		}
		uint8_t kind = h[12];
		uint64_t index = get_u64(h + 24), term = get_u64(h + 32);
		if (h[13] != 0 || get_u16(h + 14) != 0 || get_u32(h + 20) != 0 ||
		    (kind != RECORD_ENTRY && kind != RECORD_HARD)) {
			what = "a record of an unknown kind";
			goto bad;
		}
		if (kind == RECORD_HARD) {
			if (len != HARD_LEN || (!marks && index != 0) || term != 0 ||
			    get_u32(h + 16) != 0) {
				what = "a malformed hard-state record";
				goto bad;
			}
			s->hard.term = get_u64(h + RECORD_HEAD);
			s->hard.vote = get_u64(h + RECORD_HEAD + 8);
			s->hard.commit = get_u64(h + RECORD_HEAD + 16);
			marked = off + RECORD_HEAD + len;
		} else {
			if (index == 0 || term == 0 || (n > 0 && index != prev + 1) ||
			    (n == 0 && index > s->meta.index + 1)) {
				snprintf(detail, sizeof(detail),
					 "entry %" PRIu64 " does not follow %" PRIu64, index,
					 n > 0 ? prev : s->meta.index);
				what = detail;
				goto bad;
			}
			if (term < prev_term) {
				snprintf(detail, sizeof(detail),
					 "entry %" PRIu64 " has term %" PRIu64
					 ", lower than the term %" PRIu64 " before it",
					 index, term, prev_term);
				what = detail;
				goto bad;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				struct elector_log_entry *grown =
				    realloc(*entries, cap * sizeof(*grown));
				if (grown == NULL) {
					what = "out of memory";
					goto bad;
				}
				*entries = grown;
			}
			(*entries)[n++] = (struct elector_log_entry){.index = index,
								     .term = term,
								     .type = get_u32(h + 16),
								     .len = len,
								     .data = h + RECORD_HEAD};
			prev = index;
			prev_term = term;
		}
		off += RECORD_HEAD + len;
	}
	*good_size = off;
	*marked_size = marked;
	*count = n;
	return 0;
bad:
	snprintf(why, why_size, "%s, byte %zu: %s; %s", s->log_path, off, what,
		 ELECTOR_LOG_STORE_ADVICE);
	free(*entries);
	*entries = NULL;
	return -1;
}

/* Writes the log file anew, atomically: `count` entries, then the hard
 * state (which ends every write). */
static int log_rewrite(struct elector_log_store *s, const struct elector_log_entry *entries,
		       size_t count, char *why, size_t why_size)
{
	struct buf b;
	buf_init(&b, LOG_FILE_MAX);
	int rc = append_file_head(&b, LOG_MAGIC, LOG_VERSION);
	s->count = 0;
	for (size_t i = 0; rc == 0 && i < count; i++) {
		rc = slots_push(s, buf_len(&b), entries[i].term);
		if (rc == 0)
			rc = append_record(&b, RECORD_ENTRY, entries[i].type, entries[i].index,
					   entries[i].term, entries[i].data, entries[i].len);
	}
	if (rc == 0)
		rc = append_hard(&b, &s->hard, FILE_HEAD);
	if (rc == -1) {
		snprintf(why, why_size, "%s: %s", s->log_path, strerror(ENOMEM));
		buf_free(&b);
		return -1;
	}
	rc = fileio_write_atomic(s->log_path, buf_head(&b), buf_len(&b), STORE_MODE, why, why_size);
	s->size = buf_len(&b);
	buf_free(&b);
	if (rc == -1)
		return -1;
	if (s->fd != -1)
		close(s->fd);
	s->fd = open(s->log_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (s->fd == -1) {
		snprintf(why, why_size, "%s: %s", s->log_path, strerror(errno));
		return -1;
	}
	s->last_term = count > 0 ? entries[count - 1].term : s->meta.term;
	return 0;
}

static int read_file(const char *path, uint8_t **data, size_t *len, bool *absent, char *why,
		     size_t why_size)
{
	*absent = false;
	char *text = NULL;
	if (fileio_read_all(path,
			    LOG_FILE_MAX > ELECTOR_SNAPSHOT_DATA_MAX + (1u << 20)
				? LOG_FILE_MAX
				: ELECTOR_SNAPSHOT_DATA_MAX + (1u << 20),
			    &text, len, why, why_size) == -1) {
		*absent = errno == ENOENT;
		return -1;
	}
	*data = (uint8_t *)text;
	return 0;
}

bool elector_log_store_exists(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, ELECTOR_LOG_FILE);
	return access(path, F_OK) == 0;
}

/* Reads both files into `s`; `repair` cuts a torn tail and compacts
 * what a crash left between a snapshot and its compaction. */
static int store_load(struct elector_log_store *s, bool repair, bool *created, char *note,
		      size_t note_size, char *why, size_t why_size)
{
	bool absent = false;
	size_t snap_size = 0, log_size = 0;
	*created = false;
	if (note_size > 0)
		note[0] = '\0';
	if (read_file(s->snapshot_path, &s->snapshot_bytes, &snap_size, &absent, why, why_size) ==
	    -1) {
		if (!absent)
			return -1;
		s->snapshot_bytes = NULL;
	} else {
		s->snapshot_file_len = snap_size;
		if (snapshot_parse(s->snapshot_path, s->snapshot_bytes, snap_size, &s->meta,
				   &s->snapshot_data, &s->snapshot_len, why, why_size) == -1)
			return -1;
	}
	s->last_term = s->meta.term;
	if (read_file(s->log_path, &s->log_bytes, &log_size, &absent, why, why_size) == -1) {
		if (!absent)
			return -1;
		if (s->snapshot_bytes != NULL) {
			snprintf(why, why_size, "%s is there but %s is not; %s", s->snapshot_path,
				 s->log_path, ELECTOR_LOG_STORE_ADVICE);
			return -1;
		}
		*created = true;
		return repair ? log_rewrite(s, NULL, 0, why, why_size) : 0;
	}
	size_t good = 0, marked = 0, n = 0;
	uint32_t version = 0;
	struct elector_log_entry *all = NULL;
	if (log_parse(s, s->log_bytes, log_size, &good, &marked, &all, &n, &version, why,
		      why_size) == -1)
		return -1;
	/* Entries the snapshot covers are left behind (see the header). */
	size_t skip = 0;
	while (skip < n && all[skip].index <= s->meta.index)
		skip++;
	bool conflict =
	    skip > 0 && all[skip - 1].index == s->meta.index && all[skip - 1].term != s->meta.term;
	size_t keep = conflict ? 0 : n - skip;
	s->entries = all;
	if (keep > 0) /* a log without entries has no array */
		memmove(all, all + skip * !conflict, keep * sizeof(*all));
	s->count = 0;
	uint64_t last = keep > 0 ? all[keep - 1].index : s->meta.index;
	uint64_t last_term = keep > 0 ? all[keep - 1].term : s->meta.term;
	if (keep > 0 && all[0].index != s->meta.index + 1) {
		snprintf(why, why_size,
			 "%s: the log starts at entry %" PRIu64 ", after the snapshot's %" PRIu64
			 " in %s; %s",
			 s->log_path, all[0].index, s->meta.index, s->snapshot_path,
			 ELECTOR_LOG_STORE_ADVICE);
		return -1;
	}
	if (s->hard.commit > last) {
		snprintf(why, why_size,
			 "%s, byte %zu: the log ends at entry %" PRIu64
			 ", before the commit index %" PRIu64 " of its hard state: "
			 "entries are missing; %s",
			 s->log_path, good, last, s->hard.commit, ELECTOR_LOG_STORE_ADVICE);
		return -1;
	}
	s->last_term = last_term;
	s->loaded_count = keep;
	if (!repair)
		return 0;
	if (skip > 0 || conflict) {
		/* A compaction the crash interrupted: done now. */
		snprintf(note, note_size,
			 "%s: %zu entries the snapshot at %" PRIu64 " covers%s, left behind",
			 s->log_path, conflict ? n : skip, s->meta.index,
			 conflict ? " (of another term: all of them)" : "");
		return log_rewrite(s, all, keep, why, why_size);
	}
	if (version == LOG_VERSION_1) {
		/* Its appends did not all end with a hard-state record, which
		 * a torn append is told by: rewritten whole in the format of
		 * this build (a torn tail left out). */
		snprintf(note, note_size,
			 "%s: rewritten from log format 1 to %d%s (%zu entries, their bytes "
			 "unchanged)",
			 s->log_path, LOG_VERSION,
			 good < log_size ? " without a last append a crash cut short" : "", keep);
		return log_rewrite(s, all, keep, why, why_size);
	}
	s->fd = open(s->log_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (s->fd == -1) {
		snprintf(why, why_size, "%s: %s", s->log_path, strerror(errno));
		return -1;
	}
	if (good < log_size) {
		if (ftruncate(s->fd, (off_t)good) == -1 || fdatasync(s->fd) == -1) {
			snprintf(why, why_size, "cutting the torn end of %s: %s", s->log_path,
				 strerror(errno));
			return -1;
		}
		snprintf(note, note_size,
			 "%s: the last %zu bytes from byte %zu are an append a crash cut short "
			 "(never flushed, never acknowledged): dropped",
			 s->log_path, log_size - good, good);
	}
	s->size = good;
	/* The offsets of the kept entries, from their data pointers. */
	for (size_t i = 0; i < keep; i++) {
		if (slots_push(s, (uint64_t)(all[i].data - RECORD_HEAD - s->log_bytes),
			       all[i].term) == -1) {
			snprintf(why, why_size, "%s: %s", s->log_path, strerror(ENOMEM));
			return -1;
		}
	}
	/* Whole entries of the torn write are kept; a hard-state record
	 * closes them, as it closes every write. */
	if (marked < good)
		return elector_log_store_append(s, NULL, NULL, 0, why, why_size);
	return 0;
}

static struct elector_log_store *store_new(const char *dir)
{
	struct elector_log_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->fd = -1;
	snprintf(s->log_path, sizeof(s->log_path), "%s/%s", dir, ELECTOR_LOG_FILE);
	snprintf(s->snapshot_path, sizeof(s->snapshot_path), "%s/%s", dir, ELECTOR_SNAPSHOT_FILE);
	return s;
}

/* What a store loaded, as its opener and its reader see it. */
static void loaded_view(const struct elector_log_store *s, struct elector_log_loaded *loaded)
{
	*loaded = (struct elector_log_loaded){.hard = s->hard,
					      .meta = s->meta,
					      .snapshot = s->snapshot_data,
					      .snapshot_len = s->snapshot_len,
					      .entries = s->entries,
					      .count = s->loaded_count};
}

struct elector_log_store *elector_log_store_open(const char *dir, struct elector_log_loaded *loaded,
						 char *note, size_t note_size, char *why,
						 size_t why_size)
{
	struct elector_log_store *s = store_new(dir);
	if (s == NULL) {
		snprintf(why, why_size, "%s: %s", dir, strerror(ENOMEM));
		return NULL;
	}
	bool created;
	if (store_load(s, true, &created, note, note_size, why, why_size) == -1) {
		elector_log_store_free(s);
		return NULL;
	}
	loaded_view(s, loaded);
	return s;
}

struct elector_log_store *elector_log_store_read(const char *dir, struct elector_log_loaded *loaded,
						 char *why, size_t why_size)
{
	struct elector_log_store *s = store_new(dir);
	if (s == NULL) {
		snprintf(why, why_size, "%s: %s", dir, strerror(ENOMEM));
		return NULL;
	}
	bool created;
	char note[8];
	if (store_load(s, false, &created, note, sizeof(note), why, why_size) == -1) {
		elector_log_store_free(s);
		return NULL;
	}
	loaded_view(s, loaded);
	return s;
}

int elector_log_store_check(const char *dir, struct elector_hard_state *hard,
			    struct elector_snapshot_meta *meta, char *why, size_t why_size)
{
	struct elector_log_store *s = store_new(dir);
	if (s == NULL) {
		snprintf(why, why_size, "%s: %s", dir, strerror(ENOMEM));
		return -1;
	}
	bool created;
	char note[8];
	int rc = store_load(s, false, &created, note, sizeof(note), why, why_size);
	if (rc == 0 && created)
		rc = 1;
	*hard = s->hard;
	*meta = s->meta;
	elector_log_store_free(s);
	return rc;
}

/* A snapshot file written whole, atomically. */
static int snapshot_write(const char *path, const struct elector_snapshot_meta *meta,
			  const uint8_t *data, size_t len, char *why, size_t why_size)
{
	struct buf b;
	buf_init(&b, ELECTOR_SNAPSHOT_DATA_MAX + (1u << 20));
	if (len > ELECTOR_SNAPSHOT_DATA_MAX || meta->config.count > ELECTOR_MEMBERS_MAX ||
	    snapshot_encode(&b, meta, data, len) == -1) {
		snprintf(why, why_size, "%s: a snapshot of %zu bytes is too large", path, len);
		buf_free(&b);
		return -1;
	}
	int rc = fileio_write_atomic(path, buf_head(&b), buf_len(&b), STORE_MODE, why, why_size);
	buf_free(&b);
	return rc;
}

int elector_log_store_create(const char *dir, const struct elector_hard_state *hard,
			     const struct elector_snapshot_meta *meta,
			     const struct elector_log_entry *entries, size_t count, char *why,
			     size_t why_size)
{
	struct elector_log_store *s = store_new(dir);
	if (s == NULL) {
		snprintf(why, why_size, "%s: %s", dir, strerror(ENOMEM));
		return -1;
	}
	s->hard = *hard;
	s->meta = *meta;
	/* The log last: its presence is what says the state is in this
	 * format (elector_log_store_exists). */
	int rc =
	    meta->index > 0 ? snapshot_write(s->snapshot_path, meta, NULL, 0, why, why_size) : 0;
	if (rc == 0)
		rc = log_rewrite(s, entries, count, why, why_size);
	elector_log_store_free(s);
	return rc;
}

static int write_all(int fd, uint64_t at, const char *data, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, data + done, len - done, (off_t)(at + done));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

int elector_log_store_append(struct elector_log_store *s, const struct elector_hard_state *hard,
			     const struct elector_log_entry *entries, size_t count, char *why,
			     size_t why_size)
{
	uint64_t last = elector_log_store_last_index(s);
	if (count > 0 && (entries[0].index <= s->meta.index || entries[0].index > last + 1)) {
		snprintf(why, why_size,
			 "%s: entry %" PRIu64 " does not fit a log of %" PRIu64 "..%" PRIu64,
			 s->log_path, entries[0].index, s->meta.index + 1, last);
		return -1;
	}
	/* A conflicting tail goes first, so that no reader ever sees the new
	 * entries behind the old ones. */
	uint64_t at = s->size;
	if (count > 0 && entries[0].index <= last) {
		size_t i = (size_t)(entries[0].index - s->meta.index - 1);
		at = s->slots[i].offset;
		s->count = i;
	}
	struct buf b;
	buf_init(&b, LOG_FILE_MAX);
	int rc = 0;
	size_t count_before = s->count;
	for (size_t i = 0; rc == 0 && i < count; i++) {
		if (entries[i].len > ELECTOR_LOG_ENTRY_MAX ||
		    (i > 0 && entries[i].index != entries[i - 1].index + 1)) {
			snprintf(why, why_size, "%s: entry %" PRIu64 " is too long or out of order",
				 s->log_path, entries[i].index);
			buf_free(&b);
			s->count = count_before;
			return -1;
		}
		rc = slots_push(s, at + buf_len(&b), entries[i].term);
		if (rc == 0)
			rc = append_record(&b, RECORD_ENTRY, entries[i].type, entries[i].index,
					   entries[i].term, entries[i].data, entries[i].len);
	}
	/* The hard state ends every write (unchanged when NULL), naming
	 * where the write began: a checksum that fails in the last write is a
	 * crash's, one before it damage (see log_parse).  After the entries:
	 * a commit index past the last whole entry can then only be damage. */
	if (rc == 0)
		rc = append_hard(&b, hard != NULL ? hard : &s->hard, at);
	if (rc == 0 && at != s->size && ftruncate(s->fd, (off_t)at) == -1)
		rc = -1;
	if (rc == 0 && write_all(s->fd, at, buf_head(&b), buf_len(&b)) == -1)
		rc = -1;
	if (rc == 0 && fdatasync(s->fd) == -1)
		rc = -1;
	if (rc == -1) {
		snprintf(why, why_size, "writing %s: %s", s->log_path, strerror(errno));
		buf_free(&b);
		return -1;
	}
	s->size = at + buf_len(&b);
	buf_free(&b);
	if (hard != NULL)
		s->hard = *hard;
	if (count > 0)
		s->last_term = entries[count - 1].term;
	return 0;
}

int elector_log_store_snapshot(struct elector_log_store *s,
			       const struct elector_snapshot_meta *meta, const uint8_t *data,
			       size_t len, char *why, size_t why_size)
{
	if (meta->index <= s->meta.index) {
		snprintf(why, why_size,
			 "%s: a snapshot at %" PRIu64 " is not after the one at %" PRIu64,
			 s->snapshot_path, meta->index, s->meta.index);
		return -1;
	}
	if (snapshot_write(s->snapshot_path, meta, data, len, why, why_size) == -1)
		return -1;
	/* The entries after the snapshot are kept when the log holds the
	 * snapshot's own entry (a compaction); otherwise (a follower that
	 * installed its leader's snapshot) the log starts over behind it. */
	uint64_t last = elector_log_store_last_index(s);
	size_t from = 0, keep = 0;
	if (meta->index <= last && s->slots[meta->index - s->meta.index - 1].term == meta->term) {
		from =
		    (size_t)(meta->index - s->meta.index); /* slots[from]: entry meta.index + 1 */
		keep = s->count - from;
	}
	uint8_t *tail = NULL;
	size_t tail_len = 0;
	if (keep > 0) {
		/* Copied as they are on disk: checksums and all. */
		tail_len = (size_t)(s->size - s->slots[from].offset);
		tail = malloc(tail_len);
		if (tail == NULL || pread(s->fd, tail, tail_len, (off_t)s->slots[from].offset) !=
					(ssize_t)tail_len) {
			snprintf(why, why_size, "reading %s: %s", s->log_path, strerror(errno));
			free(tail);
			return -1;
		}
	}
	uint64_t base = keep > 0 ? s->slots[from].offset : 0;
	s->meta = *meta;
	struct buf b;
	buf_init(&b, LOG_FILE_MAX);
	int rc = append_file_head(&b, LOG_MAGIC, LOG_VERSION) == -1 ||
			 append_bytes(&b, tail, tail_len) == -1 ||
			 append_hard(&b, &s->hard, FILE_HEAD) == -1
		     ? -1
		     : 0;
	free(tail);
	if (rc == 0) {
		uint64_t shift = FILE_HEAD;
		for (size_t i = 0; i < keep; i++) {
			s->slots[i].offset = s->slots[from + i].offset - base + shift;
			s->slots[i].term = s->slots[from + i].term;
		}
		s->count = keep;
		rc = fileio_write_atomic(s->log_path, buf_head(&b), buf_len(&b), STORE_MODE, why,
					 why_size);
	} else {
		snprintf(why, why_size, "%s: %s", s->log_path, strerror(ENOMEM));
	}
	s->size = buf_len(&b);
	buf_free(&b);
	if (keep == 0)
		s->last_term = meta->term;
	if (rc == -1)
		return -1;
	close(s->fd);
	s->fd = open(s->log_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (s->fd == -1) {
		snprintf(why, why_size, "%s: %s", s->log_path, strerror(errno));
		return -1;
	}
	return 0;
}

uint64_t elector_log_store_last_index(const struct elector_log_store *s)
{
	return s->meta.index + s->count;
}

uint64_t elector_log_store_log_bytes(const struct elector_log_store *s)
{
	return s->size;
}

void elector_log_store_free(struct elector_log_store *s)
{
	if (s == NULL)
		return;
	if (s->fd != -1)
		close(s->fd);
	free(s->slots);
	free(s->entries);
	free(s->log_bytes);
	if (s->snapshot_bytes != NULL) {
		/* It holds the accounts' keys. */
		OPENSSL_cleanse(s->snapshot_bytes, s->snapshot_file_len);
		free(s->snapshot_bytes);
	}
	free(s);
}
