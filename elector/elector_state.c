/* SPDX-License-Identifier: MIT */
/* The elector's files; see elector_state.h.  Runs in the elector (and in
 * rxmppctl reset, which only reads). */
#include "elector_state.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/log.h"
#include "elector_log_store.h"

#define NODE_ID_KIND	"node-id"
#define ELECTION_KIND	"election"
#define NODE_ID_VERSION 1
/* 2: each member line carries the SHA-256 fingerprint of the member's
 * certificate; version 1 files are read (fingerprints unknown, zero) and
 * rewritten.  3: while the membership is not committed, the last committed
 * one follows it ("committed INDEX TERM", "committed_member ..."); files of
 * version 2 are read (the committed membership known only when the latest
 * is) and rewritten. */
#define ELECTION_VERSION 3
#define ELECTION_MAX	 (64 * 1024)
#define FIELDS_MAX	 4
/* What to do about a damaged file, in every refusal. */
#define STATE_ADVICE                                                                               \
	"restore the state directory from a backup, or run `rxmppctl reset` and join the "         \
	"cluster again (see rxmppd(8), DAMAGED STATE FILES)"

/* Splits `line` at single spaces into at most FIELDS_MAX fields; -1 when
 * there are more, or an empty one (two spaces, a space at either end). */
static int split_fields(char *line, char **fields)
{
	int n = 0;
	for (char *p = line;; n++) {
		if (n == FIELDS_MAX || *p == '\0' || *p == ' ')
			return -1;
		fields[n] = p;
		p = strchr(p, ' ');
		if (p == NULL)
			return n + 1;
		*p++ = '\0';
	}
}

/* Decimal, canonical (no sign, no leading zero), within uint64_t. */
static bool parse_dec(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* Exactly 16 lower-case hex digits, as written. */
static bool parse_hex16(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (s[16] != '\0')
		return false;
	*out = v;
	return true;
}

/* Exactly 64 lower-case hex digits, as written. */
static bool parse_fingerprint(const char *s, uint8_t out[ELECTOR_FINGERPRINT_SIZE])
{
	for (int i = 0; i < 2 * ELECTOR_FINGERPRINT_SIZE; i++) {
		char c = s[i];
		unsigned v;
		if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned)(c - 'a' + 10);
		else
			return false;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return s[2 * ELECTOR_FINGERPRINT_SIZE] == '\0';
}

/* One member line's fields after "member"; false with the reason.  Files
 * of version 1 have no fingerprint. */
static bool parse_member(char **fields, int n, unsigned version,
			 const struct elector_config *config, struct elector_member *m,
			 const char **reason)
{
	bool bound = version >= 2;
	if (n != (bound ? 4 : 3)) {
		*reason = bound ? "expected \"member ID FINGERPRINT HOST:PORT\""
				: "expected \"member ID HOST:PORT\"";
		return false;
	}
	if (!parse_hex16(fields[1], &m->id) || m->id == 0) {
		*reason = "the member id is not 16 hex digits (and not 0)";
		return false;
	}
	if (bound && !parse_fingerprint(fields[2], m->fingerprint)) {
		*reason = "the member's certificate fingerprint is not 64 hex digits";
		return false;
	}
	const char *address = fields[bound ? 3 : 2];
	if (!elector_address_valid(address, ELECTOR_ADDRESS_MAX)) {
		*reason = "the member address is not HOST:PORT";
		return false;
	}
	for (uint32_t i = 0; i < config->count; i++) {
		if (config->members[i].id == m->id ||
		    strcmp(config->members[i].address, address) == 0) {
			*reason = "a member listed twice";
			return false;
		}
	}
	snprintf(m->address, sizeof(m->address), "%s", address);
	return true;
}

/* The body, line by line: term, voted_for, commit, config, then members,
 * then (version 3, only while the membership is not committed) committed
 * and its members, each field exactly once and in that order (as
 * written); comment lines are allowed anywhere. */
static int election_parse(const char *path, char *body, size_t len, unsigned first_line,
			  unsigned version, struct elector_persistent *s, char *why,
			  size_t why_size)
{
	static const char *const keys[] = {"term",   "voted_for", "commit",	     "config",
					   "member", "committed", "committed_member"};
	enum { KEY_MEMBER = 4, KEY_COMMITTED, KEY_COMMITTED_MEMBER, KEY_END };
	char *cursor = body, *end = body + len, *line;
	unsigned line_no = first_line - 1, next = 0;
	bool cut;
	const char *reason = NULL;
	while (reason == NULL && fileio_next_line(&cursor, end, &line, &cut)) {
		line_no++;
		if (line[0] == '#')
			continue;
		char *fields[FIELDS_MAX];
		int n = split_fields(line, fields);
		if (n < 1) {
			reason = "not \"KEY VALUE\" separated by single spaces";
			break;
		}
		unsigned key = 0;
		while (key < KEY_END && strcmp(fields[0], keys[key]) != 0)
			key++;
		if (key == KEY_END || (key >= KEY_COMMITTED && version < 3)) {
			reason = "unknown line";
		} else if (key < KEY_MEMBER && key != next) {
			reason = key < next ? "a line repeated or out of order"
					    : "a line missing before this one";
		} else if (key == KEY_COMMITTED && next != KEY_MEMBER) {
			reason = next > KEY_MEMBER ? "a line repeated or out of order"
						   : "a line missing before this one";
		} else if (key == 0) {
			if (n != 2 || !parse_dec(fields[1], &s->term))
				reason = "the term is not a decimal number";
		} else if (key == 1) {
			if (n != 2 || !parse_hex16(fields[1], &s->voted_for))
				reason = "the vote is not 16 hex digits";
		} else if (key == 2) {
			if (n != 2 || !parse_dec(fields[1], &s->commit_index))
				reason = "the commit index is not a decimal number";
		} else if (key == 3) {
			if (n != 3 || !parse_dec(fields[1], &s->config.index) ||
			    !parse_dec(fields[2], &s->config.term))
				reason = "expected \"config INDEX TERM\" in decimal";
			else if (s->config.term > s->term)
				reason = "the membership is from a term later than the current one";
		} else if (key == KEY_COMMITTED) {
			if (n != 3 || !parse_dec(fields[1], &s->committed.index) ||
			    !parse_dec(fields[2], &s->committed.term))
				reason = "expected \"committed INDEX TERM\" in decimal";
			else if (s->commit_index >= s->config.index ||
				 s->committed.index >= s->config.index ||
				 s->committed.index > s->commit_index ||
				 s->committed.term > s->config.term)
				reason = "a committed membership beside one that is committed, or "
					 "not one before it";
		} else if (key == KEY_MEMBER ? next != KEY_MEMBER : next != KEY_COMMITTED_MEMBER) {
			reason = key == KEY_MEMBER ? "a member before the config line or after "
						     "the committed line"
						   : "a committed member before the committed line";
		} else {
			struct elector_config *c = key == KEY_MEMBER ? &s->config : &s->committed;
			if (c->count == ELECTOR_MEMBERS_MAX)
				reason = "too many members";
			else if (parse_member(fields, n, version, c, &c->members[c->count],
					      &reason))
				c->count++;
		}
		if (key < KEY_MEMBER || key == KEY_COMMITTED)
			next = key + 1;
	}
	if (reason == NULL && cut) {
		line_no++;
		reason = "the line is cut short (no end of line)";
	}
	if (reason == NULL && next == KEY_COMMITTED_MEMBER && s->committed.count == 0)
		reason = "a committed membership without members";
	if (reason == NULL && next < KEY_MEMBER) {
		snprintf(why, why_size, "%s: incomplete (no \"%s\" line); %s", path, keys[next],
			 STATE_ADVICE);
		return -1;
	}
	if (reason != NULL) {
		snprintf(why, why_size, "%s:%u: %s; %s", path, line_no, reason, STATE_ADVICE);
		return -1;
	}
	if (s->committed.count == 0 && s->commit_index >= s->config.index)
		s->committed = s->config;
	return 0;
}

/* Reads `path` of `kind` whole and checks its seal (a format version of
 * at most `newest`); the body is *text[*start, *start + *len), starting on
 * *first_line, and *version is 0 when the file is unsealed.  1 when
 * missing. */
static int state_read(const char *path, const char *kind, unsigned newest, size_t max, char **text,
		      size_t *start, size_t *len, unsigned *first_line, unsigned *version,
		      char *why, size_t why_size)
{
	size_t total;
	*version = 0;
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 1;
	if (fileio_read_all(path, max, text, &total, why, why_size) == -1)
		return -1;
	char inner[512];
	enum fileio_seal seal =
	    fileio_unseal(path, *text, total, kind, version, start, len, inner, sizeof(inner));
	if (seal == FILEIO_SEALED && *version > newest) {
		snprintf(why, why_size,
			 "%s:1: format version %u: a newer rxmpp wrote it (rxmpp %s reads 1 to "
			 "%u); %s",
			 path, *version, RXMPP_VERSION, newest, FILEIO_NEWER_ADVICE);
		free(*text);
		return -1;
	}
	if (seal == FILEIO_SEAL_BROKEN || (seal == FILEIO_SEALED && *version == 0)) {
		if (seal == FILEIO_SEALED)
			snprintf(inner, sizeof(inner),
				 "%s:1: format version %u, this rxmpp reads 1 to %u", path,
				 *version, newest);
		snprintf(why, why_size, "%s; %s", inner, STATE_ADVICE);
		free(*text);
		return -1;
	}
	if (seal == FILEIO_UNSEALED)
		*version = 0;
	*first_line = seal == FILEIO_UNSEALED ? 1 : 2;
	return 0;
}

/* 0 read, 1 missing, -1 damaged. */
static int node_id_read(const char *path, uint64_t *id, bool *unsealed, char *why, size_t why_size)
{
	char *text;
	size_t start, len;
	unsigned first_line;
	unsigned version;
	int rc = state_read(path, NODE_ID_KIND, NODE_ID_VERSION, 4096, &text, &start, &len,
			    &first_line, &version, why, why_size);
	if (rc != 0)
		return rc;
	*unsealed = version == 0;
	char *cursor = text + start, *line;
	bool cut;
	bool ok = fileio_next_line(&cursor, text + start + len, &line, &cut) &&
		  cursor == text + start + len && parse_hex16(line, id) && *id != 0;
	free(text);
	if (!ok) {
		snprintf(why, why_size, "%s:%u: not a node id (one line of 16 hex digits); %s",
			 path, first_line, STATE_ADVICE);
		return -1;
	}
	return 0;
}

static int node_id_save(const char *path, uint64_t id, char *why, size_t why_size)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%016" PRIx64 "\n", id);
	return fileio_write_sealed(path, NODE_ID_KIND, NODE_ID_VERSION, line, (size_t)n, 0644, why,
				   why_size);
}

int elector_state_load(const char *state_dir, struct elector_persistent *s, bool *unsealed,
		       char *why, size_t why_size)
{
	char path[PATH_MAX], *text;
	size_t start, len;
	unsigned first_line;
	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/%s", state_dir, ELECTOR_STATE_ELECTION_FILE);
	unsigned version;
	int rc = state_read(path, ELECTION_KIND, ELECTION_VERSION, ELECTION_MAX, &text, &start,
			    &len, &first_line, &version, why, why_size);
	if (rc != 0)
		return rc;
	/* Unsealed files are of version 1's content. */
	*unsealed = version < ELECTION_VERSION;
	rc = election_parse(path, text + start, len, first_line, version == 0 ? 1 : version, s, why,
			    why_size);
	free(text);
	if (rc == -1)
		memset(s, 0, sizeof(*s));
	return rc;
}

static int members_append(struct buf *out, const char *key, const struct elector_config *c)
{
	for (uint32_t i = 0; i < c->count; i++) {
		const struct elector_member *m = &c->members[i];
		char fingerprint[2 * ELECTOR_FINGERPRINT_SIZE + 1], line[256];
		for (int k = 0; k < ELECTOR_FINGERPRINT_SIZE; k++)
			snprintf(fingerprint + 2 * k, 3, "%02x", m->fingerprint[k]);
		int n = snprintf(line, sizeof(line), "%s %016" PRIx64 " %s %s\n", key, m->id,
				 fingerprint, m->address);
		if (buf_append(out, line, (size_t)n) == -1)
			return -1;
	}
	return 0;
}

int elector_state_save(const char *state_dir, const struct elector_persistent *s, char *why,
		       size_t why_size)
{
	char path[PATH_MAX], line[256];
	snprintf(path, sizeof(path), "%s/%s", state_dir, ELECTOR_STATE_ELECTION_FILE);
	struct buf out;
	buf_init(&out, ELECTION_MAX);
	int n = snprintf(line, sizeof(line),
			 "# written by the elector; do not edit (the last line is a checksum)\n"
			 "term %" PRIu64 "\nvoted_for %016" PRIx64 "\ncommit %" PRIu64
			 "\nconfig %" PRIu64 " %" PRIu64 "\n",
			 s->term, s->voted_for, s->commit_index, s->config.index, s->config.term);
	int rc = buf_append(&out, line, (size_t)n);
	rc = rc == 0 ? members_append(&out, "member", &s->config) : rc;
	/* The committed membership goes along only while it is another. */
	if (rc == 0 && s->committed.count > 0 && s->committed.index < s->config.index) {
		n = snprintf(line, sizeof(line), "committed %" PRIu64 " %" PRIu64 "\n",
			     s->committed.index, s->committed.term);
		rc = buf_append(&out, line, (size_t)n);
		rc = rc == 0 ? members_append(&out, "committed_member", &s->committed) : rc;
	}
	if (rc == 0)
		rc = fileio_write_sealed(path, ELECTION_KIND, ELECTION_VERSION, buf_head(&out),
					 buf_len(&out), 0600, why, why_size);
	else
		snprintf(why, why_size, "%s: election state too large", path);
	buf_free(&out);
	return rc;
}

static bool state_is_empty(const struct elector_persistent *s)
{
	return s->term == 0 && s->voted_for == 0 && s->commit_index == 0 && s->config.count == 0;
}

/* Reads both files and refuses what cannot be trusted, writing nothing:
 * -1 with the reason, or 0 with each file's read result (0 read, 1 missing). */
static int state_read_both(const char *state_dir, const char *id_path, uint64_t *id,
			   struct elector_persistent *state, int *id_rc, int *state_rc,
			   bool *id_unsealed, bool *state_unsealed, char *why, size_t why_size)
{
	*id_rc = node_id_read(id_path, id, id_unsealed, why, why_size);
	if (*id_rc == -1)
		return -1;
	*state_rc = elector_state_load(state_dir, state, state_unsealed, why, why_size);
	if (*state_rc == -1)
		return -1;
	/* Version 0.1 wrote the election file only at the first vote or
	 * membership change: its node-id (unsealed) alone is a node that never
	 * voted.  Since then the election file is written with the node-id. */
	if (*id_rc == 0 && *state_rc == 1 && !*id_unsealed) {
		/* Starting empty could vote a second time in a term this node
		 * already voted in, under the same id. */
		snprintf(why, why_size,
			 "%s/%s is missing but this node has an id (%s): its term, vote and "
			 "membership are lost, and starting empty could vote twice in one term; "
			 "restore the file from a backup, or run `rxmppctl reset` and join the "
			 "cluster again (see rxmppd(8), DAMAGED STATE FILES)",
			 state_dir, ELECTOR_STATE_ELECTION_FILE, id_path);
		return -1;
	}
	if (*id_rc == 1 && !state_is_empty(state)) {
		snprintf(why, why_size,
			 "%s is missing but %s/%s holds a term, vote or membership: this node's "
			 "identity is lost; restore it from a backup, or run `rxmppctl reset` and "
			 "join the cluster again (see rxmppd(8), DAMAGED STATE FILES)",
			 id_path, state_dir, ELECTOR_STATE_ELECTION_FILE);
		return -1;
	}
	return 0;
}

int elector_state_node_id(const char *state_dir, uint64_t *id, char *why, size_t why_size)
{
	char id_path[PATH_MAX];
	bool unsealed;
	snprintf(id_path, sizeof(id_path), "%s/%s", state_dir, ELECTOR_STATE_NODE_ID_FILE);
	return node_id_read(id_path, id, &unsealed, why, why_size);
}

int elector_state_check(const char *state_dir, char *why, size_t why_size)
{
	char id_path[PATH_MAX];
	uint64_t id;
	struct elector_persistent state;
	int id_rc, state_rc;
	bool id_unsealed, state_unsealed;
	snprintf(id_path, sizeof(id_path), "%s/%s", state_dir, ELECTOR_STATE_NODE_ID_FILE);
	if (state_read_both(state_dir, id_path, &id, &state, &id_rc, &state_rc, &id_unsealed,
			    &state_unsealed, why, why_size) == -1)
		return -1;
	/* The log and snapshot too, as the elector reads them at start. */
	struct elector_hard_state hard;
	struct elector_snapshot_meta meta;
	return elector_log_store_check(state_dir, &hard, &meta, why, why_size) == -1 ? -1 : 0;
}

int elector_state_open(const char *state_dir, uint64_t *id, struct elector_persistent *state,
		       char *why, size_t why_size)
{
	char id_path[PATH_MAX];
	int id_rc, state_rc;
	bool id_unsealed = false, state_unsealed = false;
	snprintf(id_path, sizeof(id_path), "%s/%s", state_dir, ELECTOR_STATE_NODE_ID_FILE);
	if (state_read_both(state_dir, id_path, id, state, &id_rc, &state_rc, &id_unsealed,
			    &state_unsealed, why, why_size) == -1)
		return -1;
	if (id_rc == 1) {
		/* A new node (or one that stopped between these two writes).  The
		 * election file goes first: a node-id alone means state was lost. */
		if ((state_rc == 1 || state_unsealed) &&
		    elector_state_save(state_dir, state, why, why_size) == -1)
			return -2;
		do {
			if (RAND_bytes((unsigned char *)id, sizeof(*id)) != 1) {
				snprintf(why, why_size, "no random bytes for a node id");
				return -1;
			}
		} while (*id == 0);
		if (node_id_save(id_path, *id, why, why_size) == -1)
			return -2;
		log_info("new node: id %016" PRIx64 " written to %s", *id, id_path);
		return 0;
	}
	if (id_unsealed && state_rc == 1) {
		/* Before the sealed node-id: a sealed node-id alone means lost state. */
		if (elector_state_save(state_dir, state, why, why_size) == -1)
			return -2;
		log_info("%s/%s: none beside a node-id of the previous format, which wrote it only "
			 "at the first vote; starting from an empty state",
			 state_dir, ELECTOR_STATE_ELECTION_FILE);
	}
	if (id_unsealed) {
		if (node_id_save(id_path, *id, why, why_size) == -1)
			return -2;
		log_info("%s was in the previous format (no header, no checksum): read it once "
			 "and rewrote it sealed",
			 id_path);
	}
	if (state_unsealed) {
		if (elector_state_save(state_dir, state, why, why_size) == -1)
			return -2;
		log_info("%s/%s was in the previous format (no checksum, or members without "
			 "certificate fingerprints): read it once strictly and rewrote it sealed",
			 state_dir, ELECTOR_STATE_ELECTION_FILE);
	}
	return 0;
}
