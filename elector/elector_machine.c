/* SPDX-License-Identifier: MIT */
/*
 * The cluster's replicated state machine; see elector_machine.h.  Runs in
 * the elector (apply, snapshots, materialise) and in rxmppctl (encoders).
 * Nothing here logs: answers go back to the caller, who decides.  Every
 * decision depends only on the state and the command's bytes, so that
 * every node reaches the same one; secrets and keys are compared in
 * constant time and never copied into an answer.
 */
#include "elector_machine.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/accounts_journal.h"
#include "common/fileio.h"
#include "common/jid.h"
#include "common/jidprep.h"
#include "common/scram.h"
#include "elector_userdata.h"

#define MACHINE_FORMAT		 1
#define MACHINE_SNAPSHOT_MAGIC	 "RXMS"
#define MACHINE_SNAPSHOT_VERSION 2
#define MACHINE_DIGEST_LEN	 32
#define MACHINE_ITERATIONS_MAX	 10000000u
/* Past this many changed accounts between two materialisations the file
 * is written whole: cheaper than a journal record of most of it. */
#define MACHINE_CHANGED_MAX 4096
/* The journal is folded into a new accounts file once it is larger than
 * a quarter of the file (and than this): appending stays cheap, and
 * reading file and journal costs at most a quarter more. */
#define MACHINE_JOURNAL_MIN (256u * 1024u)

struct elector_machine {
	struct accounts accounts;
	struct proto_callbridge *bridges; /* sorted by name */
	size_t bridge_count;
	struct elector_machine_node_settings *nodes; /* sorted by node */
	size_t node_count;
	uint64_t reports; /* the last report's number */
	struct elector_userdata *userdata;
	/* accounts_dirty: the accounts file is to be written whole; else the
	 * names in `changed` go to its journal (accounts_journal.h). */
	bool accounts_dirty, bridges_dirty, settings_dirty;
	char **changed;
	size_t changed_count;
	/* The accounts file as last written whole: its seal ("" until then)
	 * and size, and the size of its journal. */
	char seal[ACCOUNTS_SEAL_LEN + 1];
	size_t file_size, journal_size;
	/* A command was applied or a snapshot installed: the cluster
	 * replicates its state, and this node's files are to be replaced by
	 * it.  Until then materialising writes nothing (see the header). */
	bool live;
};

/* A bounds-checked cursor over bytes; the first problem sticks, with its
 * offset. */
struct machine_reader {
	const unsigned char *data;
	size_t len, at;
	bool bad;
	size_t bad_at;
	const char *bad_what;
};

static void reader_fail(struct machine_reader *r, const char *what)
{
	if (!r->bad) {
		r->bad = true;
		r->bad_at = r->at;
		r->bad_what = what;
	}
}

static const unsigned char *reader_take(struct machine_reader *r, size_t n, const char *what)
{
	if (r->bad || r->len - r->at < n) {
		reader_fail(r, what);
		return NULL;
	}
	const unsigned char *p = r->data + r->at;
	r->at += n;
	return p;
}

static uint64_t reader_u64(struct machine_reader *r, size_t width, const char *what)
{
	const unsigned char *p = reader_take(r, width, what);
	uint64_t v = 0;
	for (size_t i = 0; p != NULL && i < width; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t reader_u(struct machine_reader *r, size_t width, const char *what)
{
	return (uint32_t)reader_u64(r, width, what);
}

/* A length-prefixed string of 1 to `max` bytes without NUL, copied into
 * `out` (max + 1 bytes) NUL-terminated. */
static void reader_string(struct machine_reader *r, size_t width, size_t max, char *out,
			  const char *what)
{
	size_t at = r->at;
	uint32_t n = reader_u(r, width, what);
	const unsigned char *p = NULL;
	if (!r->bad && (n == 0 || n > max)) {
		r->at = at;
		reader_fail(r, what);
	} else {
		p = reader_take(r, n, what);
	}
	out[0] = '\0';
	if (p == NULL)
		return;
	if (memchr(p, '\0', n) != NULL) {
		r->at = at;
		reader_fail(r, what);
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

/* A length-prefixed run of `min` to `max` opaque bytes, pointed to. */
static const uint8_t *reader_bytes(struct machine_reader *r, size_t width, size_t min, size_t max,
				   size_t *len, const char *what)
{
	size_t at = r->at;
	*len = reader_u(r, width, what);
	if (!r->bad && (*len < min || *len > max)) {
		r->at = at;
		reader_fail(r, what);
	}
	const uint8_t *p = reader_take(r, *len, what);
	if (p == NULL)
		*len = 0;
	return p;
}

struct machine_account {
	char name[JID_PART_MAX + 1];
	struct scram_keys keys[SCRAM_HASH_COUNT];
};

static void reader_keys(struct machine_reader *r, struct scram_keys keys[SCRAM_HASH_COUNT])
{
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		struct scram_keys *k = &keys[h];
		size_t at = r->at;
		k->iterations = reader_u(r, 4, "iterations");
		if (!r->bad && (k->iterations == 0 || k->iterations > MACHINE_ITERATIONS_MAX)) {
			r->at = at;
			reader_fail(r, "iterations");
		}
		at = r->at;
		k->salt_len = reader_u(r, 1, "salt");
		const unsigned char *salt = NULL;
		if (!r->bad && (k->salt_len == 0 || k->salt_len > sizeof(k->salt))) {
			r->at = at;
			reader_fail(r, "salt");
		} else {
			salt = reader_take(r, k->salt_len, "salt");
		}
		size_t key_len = scram_key_len((enum scram_hash)h);
		const unsigned char *stored = reader_take(r, key_len, "stored key");
		const unsigned char *server = reader_take(r, key_len, "server key");
		if (r->bad)
			return;
		memcpy(k->salt, salt, k->salt_len);
		memcpy(k->stored_key, stored, key_len);
		memcpy(k->server_key, server, key_len);
	}
}

/* The name must be its own nodeprep form: the accounts file the listener
 * reads accepts no other, and a second spelling would be a second key for
 * one user. */
static void reader_account(struct machine_reader *r, struct machine_account *a)
{
	size_t at = r->at;
	reader_string(r, 2, JID_PART_MAX, a->name, "user name");
	char normal[JID_PART_MAX + 1], why[JIDPREP_WHY_MAX];
	if (!r->bad && (jidprep_node(a->name, strlen(a->name), normal, sizeof(normal), why,
				     sizeof(why)) == -1 ||
			strcmp(normal, a->name) != 0)) {
		r->at = at;
		reader_fail(r, "user name");
	}
	reader_keys(r, a->keys);
}

static void reader_bridge(struct machine_reader *r, struct proto_callbridge *b, bool name_only)
{
	memset(b, 0, sizeof(*b));
	size_t at = r->at;
	reader_string(r, 1, sizeof(b->name) - 1, b->name, "bridge name");
	if (!r->bad && !callbridge_name_valid(b->name)) {
		r->at = at;
		reader_fail(r, "bridge name");
	}
	if (name_only)
		return;
	at = r->at;
	reader_string(r, 1, sizeof(b->address) - 1, b->address, "bridge address");
	if (!r->bad && !callbridge_address_valid(b->address)) {
		r->at = at;
		reader_fail(r, "bridge address");
	}
	at = r->at;
	reader_string(r, 1, sizeof(b->secret) - 1, b->secret, "bridge secret");
	if (!r->bad && !callbridge_secret_valid(b->secret)) {
		r->at = at;
		reader_fail(r, "bridge secret");
	}
}

static bool setting_key_valid(const char *key)
{
	for (const char *p = key; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '.'))
			return false;
	}
	return key[0] != '\0';
}

static bool setting_value_valid(const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	}
	return value[0] != '\0';
}

/* A node's report: its id, then its settings sorted by key. */
static void reader_node_settings(struct machine_reader *r, struct elector_machine_node_settings *n)
{
	memset(n, 0, sizeof(*n));
	size_t at = r->at;
	n->node = reader_u64(r, 8, "node");
	if (!r->bad && n->node == 0) {
		r->at = at;
		reader_fail(r, "node");
	}
	at = r->at;
	n->count = reader_u(r, 1, "settings");
	if (!r->bad && n->count > ELECTOR_MACHINE_SETTINGS_MAX) {
		r->at = at;
		reader_fail(r, "settings");
	}
	for (size_t i = 0; i < n->count && !r->bad; i++) {
		struct elector_machine_setting *item = &n->items[i];
		at = r->at;
		reader_string(r, 1, sizeof(item->key) - 1, item->key, "setting key");
		if (!r->bad && (!setting_key_valid(item->key) ||
				(i > 0 && strcmp(n->items[i - 1].key, item->key) >= 0))) {
			r->at = at;
			reader_fail(r, "setting key");
		}
		at = r->at;
		reader_string(r, 1, sizeof(item->value) - 1, item->value, "setting value");
		if (!r->bad && !setting_value_valid(item->value)) {
			r->at = at;
			reader_fail(r, "setting value");
		}
	}
}

/* Writers: big-endian integers and length-prefixed strings. */
static int put_u(struct buf *out, uint64_t v, size_t width)
{
	unsigned char b[8];
	for (size_t i = 0; i < width; i++)
		b[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
	return buf_append(out, b, width);
}

static int put_string(struct buf *out, const char *s, size_t width)
{
	size_t n = strlen(s);
	if (n == 0 || n >= (size_t)1 << (8 * width))
		return -1;
	return put_u(out, (uint32_t)n, width) == 0 && buf_append(out, s, n) == 0 ? 0 : -1;
}

static int put_node_settings(struct buf *out, const struct elector_machine_node_settings *n)
{
	if (n->node == 0 || n->count > ELECTOR_MACHINE_SETTINGS_MAX ||
	    put_u(out, n->node, 8) == -1 || put_u(out, n->count, 1) == -1)
		return -1;
	for (size_t i = 0; i < n->count; i++) {
		if (!setting_key_valid(n->items[i].key) ||
		    !setting_value_valid(n->items[i].value) ||
		    (i > 0 && strcmp(n->items[i - 1].key, n->items[i].key) >= 0) ||
		    put_string(out, n->items[i].key, 1) == -1 ||
		    put_string(out, n->items[i].value, 1) == -1)
			return -1;
	}
	return 0;
}

static int put_keys(struct buf *out, const struct scram_keys keys[SCRAM_HASH_COUNT])
{
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		const struct scram_keys *k = &keys[h];
		size_t key_len = scram_key_len((enum scram_hash)h);
		if (k->iterations == 0 || k->iterations > MACHINE_ITERATIONS_MAX ||
		    k->salt_len == 0 || k->salt_len > sizeof(k->salt) ||
		    put_u(out, k->iterations, 4) == -1 ||
		    put_u(out, (uint32_t)k->salt_len, 1) == -1 ||
		    buf_append(out, k->salt, k->salt_len) == -1 ||
		    buf_append(out, k->stored_key, key_len) == -1 ||
		    buf_append(out, k->server_key, key_len) == -1)
			return -1;
	}
	return 0;
}

/* What put_account refuses for other reasons than a full buffer. */
static bool account_encodable(const char *name, const struct scram_keys keys[SCRAM_HASH_COUNT])
{
	size_t len = strlen(name);
	bool ok = len > 0 && len <= JID_PART_MAX;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++)
		ok &= keys[h].iterations > 0 && keys[h].iterations <= MACHINE_ITERATIONS_MAX &&
		      keys[h].salt_len > 0 && keys[h].salt_len <= sizeof(keys[h].salt);
	return ok;
}

static int put_account(struct buf *out, const char *name,
		       const struct scram_keys keys[SCRAM_HASH_COUNT])
{
	return put_string(out, name, 2) == 0 && put_keys(out, keys) == 0 ? 0 : -1;
}

static int put_bridge(struct buf *out, const struct proto_callbridge *b)
{
	if (!callbridge_name_valid(b->name) || !callbridge_address_valid(b->address) ||
	    !callbridge_secret_valid(b->secret))
		return -1;
	return put_string(out, b->name, 1) == 0 && put_string(out, b->address, 1) == 0 &&
		       put_string(out, b->secret, 1) == 0
		   ? 0
		   : -1;
}

static bool keys_equal(const struct scram_keys a[SCRAM_HASH_COUNT],
		       const struct scram_keys b[SCRAM_HASH_COUNT])
{
	bool same = true;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		size_t key_len = scram_key_len((enum scram_hash)h);
		same &= a[h].iterations == b[h].iterations && a[h].salt_len == b[h].salt_len;
		same &= scram_equal(a[h].salt, b[h].salt, sizeof(a[h].salt));
		same &= scram_equal(a[h].stored_key, b[h].stored_key, key_len);
		same &= scram_equal(a[h].server_key, b[h].server_key, key_len);
	}
	return same;
}

/* Address and secret alike, the secret in constant time; the buffers are
 * zero-filled past their strings. */
static bool bridge_equal(const struct proto_callbridge *a, const struct proto_callbridge *b)
{
	bool same = strcmp(a->address, b->address) == 0;
	return scram_equal(a->secret, b->secret, sizeof(a->secret)) && same;
}

static size_t bridge_position(const struct elector_machine *m, const char *name, bool *found)
{
	size_t lo = 0, hi = m->bridge_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->bridges[mid].name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct proto_callbridge *elector_machine_bridge_find(const struct elector_machine *m,
							   const char *name)
{
	bool found;
	size_t i = bridge_position(m, name, &found);
	return found ? &m->bridges[i] : NULL;
}

static int bridge_insert(struct elector_machine *m, const struct proto_callbridge *b)
{
	bool found;
	size_t i = bridge_position(m, b->name, &found);
	if (found) {
		m->bridges[i] = *b;
		return 0;
	}
	if (m->bridges == NULL) {
		/* The whole table at once: at most CALLBRIDGES_MAX, and one
		 * block means no stale copy of a secret left behind. */
		m->bridges = calloc(CALLBRIDGES_MAX, sizeof(*m->bridges));
		if (m->bridges == NULL)
			return -1;
	}
	if (m->bridge_count == CALLBRIDGES_MAX)
		return -1;
	memmove(&m->bridges[i + 1], &m->bridges[i], (m->bridge_count - i) * sizeof(*b));
	m->bridges[i] = *b;
	m->bridge_count++;
	return 0;
}

static void bridge_remove(struct elector_machine *m, const char *name)
{
	bool found;
	size_t i = bridge_position(m, name, &found);
	if (!found)
		return;
	memmove(&m->bridges[i], &m->bridges[i + 1],
		(m->bridge_count - i - 1) * sizeof(*m->bridges));
	m->bridge_count--;
	OPENSSL_cleanse(&m->bridges[m->bridge_count], sizeof(*m->bridges));
}

static void changed_forget(struct elector_machine *m)
{
	for (size_t i = 0; i < m->changed_count; i++)
		free(m->changed[i]);
	free(m->changed);
	m->changed = NULL;
	m->changed_count = 0;
}

/* `name` is to be written: to the journal, or with the whole file when
 * there are too many (or no memory to list them). */
static void changed_note(struct elector_machine *m, const char *name)
{
	if (m->accounts_dirty)
		return;
	char **more = m->changed;
	if (m->changed_count % 64 == 0 && m->changed_count < MACHINE_CHANGED_MAX)
		more = realloc(m->changed, (m->changed_count + 64) * sizeof(*more));
	char *copy = more != NULL && m->changed_count < MACHINE_CHANGED_MAX ? strdup(name) : NULL;
	if (more != NULL)
		m->changed = more;
	if (copy == NULL) {
		m->accounts_dirty = true;
		changed_forget(m);
		return;
	}
	m->changed[m->changed_count++] = copy;
}

struct elector_machine *elector_machine_new(void)
{
	struct elector_machine *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->accounts_dirty = m->bridges_dirty = m->settings_dirty = true;
	m->userdata = elector_userdata_new();
	if (m->userdata == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

static void machine_clear(struct elector_machine *m)
{
	changed_forget(m);
	free(m->nodes);
	m->nodes = NULL;
	m->node_count = 0;
	accounts_free(&m->accounts);
	buf_wipe_free(m->bridges, m->bridges ? CALLBRIDGES_MAX * sizeof(*m->bridges) : 0);
	m->bridges = NULL;
	m->bridge_count = 0;
	elector_userdata_free(m->userdata);
	m->userdata = NULL;
}

void elector_machine_free(struct elector_machine *m)
{
	if (m == NULL)
		return;
	machine_clear(m);
	free(m);
}

const char *elector_machine_status_name(uint32_t status)
{
	switch (status) {
	case ELECTOR_MACHINE_OK:
		return "ok";
	case ELECTOR_MACHINE_IDENTICAL:
		return "identical";
	case ELECTOR_MACHINE_REFUSED:
		return "refused";
	}
	return "?";
}

static void answer(struct elector_machine_result *result, uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer(struct elector_machine_result *result, uint32_t status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	result->status = status;
	vsnprintf(result->text, sizeof(result->text), fmt, ap);
	va_end(ap);
}

/* A decoded command; a MERGE's entries stay in the bytes (`entries`), read
 * again as they are checked and applied. */
struct machine_command {
	uint32_t op;
	struct machine_account account;
	struct proto_callbridge bridge;
	uint32_t account_count, bridge_count;
	struct machine_reader entries;
	struct elector_machine_node_settings settings;
	/* USERDATA_*: pointers into the command's bytes. */
	uint32_t collection;
	struct elector_userdata_limit limit;
	const uint8_t *key, *value;
	size_t key_len, value_len;
	uint64_t index; /* of the entry applied (its version and APPEND's key) */
};

/* Reads the entries of a MERGE, checking their order; calls `each` on
 * every one (account or bridge).  Sorted and distinct names are part of
 * the format, so that a batch cannot hold one name twice. */
typedef int machine_entry_fn(const struct machine_account *a, const struct proto_callbridge *b,
			     void *arg);
static int merge_walk(const struct machine_command *c, machine_entry_fn *each, void *arg)
{
	struct machine_reader r = c->entries;
	struct machine_account *a = calloc(2, sizeof(*a)), *cur, *prev = NULL;
	struct proto_callbridge b[2];
	int rc = 0;
	if (a == NULL)
		return -1;
	for (uint32_t i = 0; i < c->account_count && rc == 0; i++) {
		cur = &a[i % 2];
		reader_account(&r, cur);
		if (r.bad || (prev != NULL && strcmp(prev->name, cur->name) >= 0))
			rc = -2;
		else
			rc = each(cur, NULL, arg);
		prev = cur;
	}
	for (uint32_t i = 0; i < c->bridge_count && rc == 0; i++) {
		reader_bridge(&r, &b[i % 2], false);
		if (r.bad || (i > 0 && strcmp(b[(i + 1) % 2].name, b[i % 2].name) >= 0))
			rc = -2;
		else
			rc = each(NULL, &b[i % 2], arg);
	}
	if (rc == 0 && r.at != r.len)
		rc = -2;
	buf_wipe_free(a, 2 * sizeof(*a));
	OPENSSL_cleanse(b, sizeof(b));
	return rc;
}

static int merge_validate(const struct machine_account *a, const struct proto_callbridge *b,
			  void *arg)
{
	(void)a;
	(void)b;
	(void)arg;
	return 0;
}

/* user | collection | (limit) | (key) | (value), as the op has them
 * (elector_machine.h). */
static void userdata_decode(struct machine_reader *r, struct machine_command *c)
{
	reader_string(r, 2, JID_PART_MAX, c->account.name, "user name");
	if (c->op == ELECTOR_MACHINE_USERDATA_CLEAR)
		return;
	size_t at = r->at;
	c->collection = reader_u(r, 1, "collection");
	if (!r->bad && elector_userdata_collection_name(c->collection) == NULL) {
		r->at = at;
		reader_fail(r, "collection");
	}
	if (c->op == ELECTOR_MACHINE_USERDATA_PUT || c->op == ELECTOR_MACHINE_USERDATA_APPEND) {
		at = r->at;
		c->limit.count = reader_u(r, 4, "limit");
		c->limit.bytes = reader_u(r, 4, "limit");
		if (!r->bad && !elector_userdata_limit_valid(&c->limit)) {
			r->at = at;
			reader_fail(r, "limit");
		}
	}
	if (c->op != ELECTOR_MACHINE_USERDATA_APPEND)
		c->key = reader_bytes(r, 2, 1, ELECTOR_USERDATA_KEY_MAX, &c->key_len, "key");
	if (c->op == ELECTOR_MACHINE_USERDATA_PUT || c->op == ELECTOR_MACHINE_USERDATA_APPEND)
		c->value =
		    reader_bytes(r, 2, 0, ELECTOR_USERDATA_VALUE_MAX, &c->value_len, "value");
}

static bool command_decode(const void *data, size_t len, struct machine_command *c)
{
	struct machine_reader r = {.data = data, .len = len};
	memset(c, 0, sizeof(*c));
	if (len > ELECTOR_MACHINE_COMMAND_MAX || reader_u(&r, 1, "format") != MACHINE_FORMAT)
		return false;
	c->op = reader_u(&r, 1, "op");
	switch (c->op) {
	case ELECTOR_MACHINE_USER_ADD:
	case ELECTOR_MACHINE_USER_PASSWD:
		reader_account(&r, &c->account);
		break;
	case ELECTOR_MACHINE_USER_DEL:
		reader_string(&r, 2, JID_PART_MAX, c->account.name, "user name");
		break;
	case ELECTOR_MACHINE_BRIDGE_ADD:
	case ELECTOR_MACHINE_BRIDGE_ADD_SECRET:
		reader_bridge(&r, &c->bridge, false);
		break;
	case ELECTOR_MACHINE_BRIDGE_DEL:
		reader_bridge(&r, &c->bridge, true);
		break;
	case ELECTOR_MACHINE_SETTINGS:
	case ELECTOR_MACHINE_SETTINGS_CHECK:
		reader_node_settings(&r, &c->settings);
		break;
	case ELECTOR_MACHINE_USERDATA_PUT:
	case ELECTOR_MACHINE_USERDATA_DEL:
	case ELECTOR_MACHINE_USERDATA_APPEND:
	case ELECTOR_MACHINE_USERDATA_TAKE:
	case ELECTOR_MACHINE_USERDATA_CLEAR:
		userdata_decode(&r, c);
		break;
	case ELECTOR_MACHINE_MERGE:
	case ELECTOR_MACHINE_MERGE_CHECK:
		c->account_count = reader_u(&r, 4, "accounts");
		c->bridge_count = reader_u(&r, 4, "bridges");
		c->entries = r;
		c->entries.data = r.data + r.at;
		c->entries.len = r.len - r.at;
		c->entries.at = 0;
		return !r.bad && c->account_count <= ELECTOR_MACHINE_ACCOUNTS_MAX &&
		       c->bridge_count <= CALLBRIDGES_MAX &&
		       merge_walk(c, merge_validate, NULL) == 0;
	default:
		return false;
	}
	return !r.bad && r.at == r.len;
}

/* What a merge would do: counts, and the conflicting names as text. */
struct merge_tally {
	const struct elector_machine *m;
	size_t new_accounts, same_accounts, new_bridges, same_bridges, conflicts;
	char names[ELECTOR_MACHINE_TEXT_MAX - 200];
	size_t names_len;
	bool names_cut;
};

static void tally_conflict(struct merge_tally *t, const char *kind, const char *name)
{
	t->conflicts++;
	int n = snprintf(t->names + t->names_len, sizeof(t->names) - t->names_len, "%s%s %s",
			 t->names_len ? ", " : "", kind, name);
	if (n < 0 || (size_t)n >= sizeof(t->names) - t->names_len) {
		t->names[t->names_len] = '\0';
		t->names_cut = true;
		return;
	}
	t->names_len += (size_t)n;
}

static int merge_count(const struct machine_account *a, const struct proto_callbridge *b, void *arg)
{
	struct merge_tally *t = arg;
	if (a != NULL) {
		const struct account *have = accounts_find(&t->m->accounts, a->name);
		if (have == NULL)
			t->new_accounts++;
		else if (keys_equal(have->keys, a->keys))
			t->same_accounts++;
		else if (!t->names_cut)
			tally_conflict(t, "user", a->name);
		else
			t->conflicts++;
	} else {
		const struct proto_callbridge *have = elector_machine_bridge_find(t->m, b->name);
		if (have == NULL)
			t->new_bridges++;
		else if (bridge_equal(have, b))
			t->same_bridges++;
		else if (!t->names_cut)
			tally_conflict(t, "call bridge", b->name);
		else
			t->conflicts++;
	}
	return 0;
}

struct merge_apply {
	struct elector_machine *m;
	/* What this command added, to undo if memory runs out. */
	struct accounts added;
	bool bridge_added[CALLBRIDGES_MAX];
	size_t bridge_seen;
};

static int merge_insert(const struct machine_account *a, const struct proto_callbridge *b,
			void *arg)
{
	struct merge_apply *ma = arg;
	if (a != NULL) {
		if (accounts_find(&ma->m->accounts, a->name) != NULL)
			return 0;
		if (accounts_set_keys(&ma->added, a->name, a->keys) == -1 ||
		    accounts_set_keys(&ma->m->accounts, a->name, a->keys) == -1)
			return -1;
		changed_note(ma->m, a->name);
		return 0;
	}
	size_t seen = ma->bridge_seen++;
	if (elector_machine_bridge_find(ma->m, b->name) != NULL)
		return 0;
	if (bridge_insert(ma->m, b) == -1)
		return -1;
	ma->bridge_added[seen] = true;
	ma->m->bridges_dirty = true;
	return 0;
}

static int merge_undo(const struct machine_account *a, const struct proto_callbridge *b, void *arg)
{
	struct merge_apply *ma = arg;
	if (a != NULL && accounts_find(&ma->added, a->name) != NULL)
		accounts_remove(&ma->m->accounts, a->name);
	if (b != NULL && ma->bridge_added[ma->bridge_seen++])
		bridge_remove(ma->m, b->name);
	return 0;
}

static size_t settings_position(const struct elector_machine *m, uint64_t node, bool *found)
{
	size_t i = 0;
	while (i < m->node_count && m->nodes[i].node < node)
		i++;
	*found = i < m->node_count && m->nodes[i].node == node;
	return i;
}

/* Records a node's report, forgetting the one reported longest ago when
 * the table is full. */
static int settings_record(struct elector_machine *m, const struct elector_machine_node_settings *n)
{
	if (m->nodes == NULL) {
		m->nodes = calloc(ELECTOR_MACHINE_NODES_MAX, sizeof(*m->nodes));
		if (m->nodes == NULL)
			return -1;
	}
	bool found;
	size_t i = settings_position(m, n->node, &found);
	if (!found && m->node_count == ELECTOR_MACHINE_NODES_MAX) {
		size_t oldest = 0;
		for (size_t k = 1; k < m->node_count; k++)
			oldest = m->nodes[k].reported < m->nodes[oldest].reported ? k : oldest;
		memmove(&m->nodes[oldest], &m->nodes[oldest + 1],
			(m->node_count - oldest - 1) * sizeof(*m->nodes));
		m->node_count--;
		i = settings_position(m, n->node, &found);
	}
	if (!found) {
		memmove(&m->nodes[i + 1], &m->nodes[i], (m->node_count - i) * sizeof(*m->nodes));
		m->node_count++;
	}
	m->nodes[i] = *n;
	m->nodes[i].reported = ++m->reports;
	m->settings_dirty = true;
	return 0;
}

static bool node_listed(uint64_t node, const uint64_t *members, size_t member_count)
{
	for (size_t i = 0; i < member_count; i++) {
		if (members[i] == node)
			return true;
	}
	return members == NULL;
}

/* Each key of `n` whose value another node reported otherwise, with both
 * values, into `text`; the count of differences.  Only the reports of
 * `members` count, or every report when it is NULL. */
static size_t settings_differences(const struct elector_machine *m,
				   const struct elector_machine_node_settings *n,
				   const uint64_t *members, size_t member_count, char *text,
				   size_t size)
{
	size_t count = 0, used = 0;
	text[0] = '\0';
	for (size_t i = 0; i < n->count; i++) {
		for (size_t o = 0; o < m->node_count; o++) {
			const struct elector_machine_node_settings *other = &m->nodes[o];
			if (!node_listed(other->node, members, member_count))
				continue;
			for (size_t k = 0; other->node != n->node && k < other->count; k++) {
				if (strcmp(other->items[k].key, n->items[i].key) != 0 ||
				    strcmp(other->items[k].value, n->items[i].value) == 0)
					continue;
				count++;
				int w =
				    snprintf(text + used, size - used,
					     "%s%s: this node %s, node %016" PRIx64 " %s",
					     used ? "; " : "", n->items[i].key, n->items[i].value,
					     other->node, other->items[k].value);
				if (w < 0 || (size_t)w >= size - used)
					text[used] = '\0';
				else
					used += (size_t)w;
			}
		}
	}
	return count;
}

static int machine_settings(struct elector_machine *m, const struct machine_command *c, bool apply,
			    const uint64_t *members, size_t member_count,
			    struct elector_machine_result *result)
{
	char differ[ELECTOR_MACHINE_TEXT_MAX - 160];
	size_t count =
	    settings_differences(m, &c->settings, members, member_count, differ, sizeof(differ));
	if (c->op == ELECTOR_MACHINE_SETTINGS_CHECK) {
		if (count > 0)
			answer(result, ELECTOR_MACHINE_REFUSED,
			       "%zu setting%s that must agree across the cluster differ%s: %s",
			       count, count == 1 ? "" : "s", count == 1 ? "s" : "", differ);
		else
			answer(result, ELECTOR_MACHINE_OK,
			       "the settings that must agree are the cluster's");
		return 0;
	}
	if (apply && settings_record(m, &c->settings) == -1)
		return -1;
	if (count > 0)
		answer(result, ELECTOR_MACHINE_OK,
		       "settings of node %016" PRIx64
		       " recorded; they differ from other nodes': %s",
		       c->settings.node, differ);
	else
		answer(result, ELECTOR_MACHINE_OK,
		       "settings of node %016" PRIx64 " recorded, the same as every other node's",
		       c->settings.node);
	return 0;
}

/* A change of a user's data; the user must have an account (CLEAR
 * excepted: it forgets whatever is left). */
static int machine_userdata(struct elector_machine *m, const struct machine_command *c, bool apply,
			    struct elector_machine_result *result)
{
	const char *name = c->account.name;
	char why[ELECTOR_MACHINE_TEXT_MAX - 200];
	int rc;
	uint32_t taken = 0;
	if (c->op == ELECTOR_MACHINE_USERDATA_CLEAR) {
		size_t items = elector_userdata_clear(m->userdata, name, apply);
		answer(result, items ? ELECTOR_MACHINE_OK : ELECTOR_MACHINE_IDENTICAL,
		       "user %s: %zu item%s of user data cleared", name, items,
		       items == 1 ? "" : "s");
		return 0;
	}
	if (accounts_find(&m->accounts, name) == NULL) {
		answer(result, ELECTOR_MACHINE_REFUSED, "no user %s", name);
		return 0;
	}
	switch (c->op) {
	case ELECTOR_MACHINE_USERDATA_PUT:
		rc = elector_userdata_put(m->userdata, name, c->collection, c->key, c->key_len,
					  c->value, c->value_len, &c->limit, c->index, apply, why,
					  sizeof(why));
		break;
	case ELECTOR_MACHINE_USERDATA_DEL:
		rc = elector_userdata_del(m->userdata, name, c->collection, c->key, c->key_len,
					  c->index, apply, why, sizeof(why));
		break;
	case ELECTOR_MACHINE_USERDATA_APPEND:
		rc = elector_userdata_append(m->userdata, name, c->collection, c->value,
					     c->value_len, &c->limit, c->index, apply, why,
					     sizeof(why));
		break;
	default:
		rc = elector_userdata_take(m->userdata, name, c->collection, c->key, c->key_len,
					   c->index, apply, &taken, why, sizeof(why));
		break;
	}
	if (rc == -1)
		return -1;
	if (rc == ELECTOR_USERDATA_CHANGED)
		answer(result, ELECTOR_MACHINE_OK, "user %s: %s", name, why);
	else
		answer(result,
		       rc == ELECTOR_USERDATA_SAME ? ELECTOR_MACHINE_IDENTICAL
						   : ELECTOR_MACHINE_REFUSED,
		       "user %s: %s", name, why);
	return 0;
}

/* The answer (and, with `apply`, the change) of a decoded command. */
static int machine_run(struct elector_machine *m, const struct machine_command *c, bool apply,
		       struct elector_machine_result *result)
{
	const char *name = c->account.name;
	const struct proto_callbridge *bridge = NULL;
	switch (c->op) {
	case ELECTOR_MACHINE_USER_ADD:
		if (accounts_find(&m->accounts, name) != NULL) {
			answer(result, ELECTOR_MACHINE_REFUSED, "user %s exists; use 'user passwd'",
			       name);
			return 0;
		}
		if (apply && accounts_set_keys(&m->accounts, name, c->account.keys) == -1)
			return -1;
		if (apply)
			changed_note(m, name);
		answer(result, ELECTOR_MACHINE_OK, "user %s added", name);
		return 0;
	case ELECTOR_MACHINE_USER_PASSWD:
		if (accounts_find(&m->accounts, name) == NULL) {
			answer(result, ELECTOR_MACHINE_REFUSED, "no user %s", name);
			return 0;
		}
		if (apply && accounts_set_keys(&m->accounts, name, c->account.keys) == -1)
			return -1;
		if (apply)
			changed_note(m, name);
		answer(result, ELECTOR_MACHINE_OK, "user %s password changed", name);
		return 0;
	case ELECTOR_MACHINE_USER_DEL:
		if (accounts_find(&m->accounts, name) == NULL) {
			answer(result, ELECTOR_MACHINE_REFUSED, "no user %s", name);
			return 0;
		}
		if (apply)
			accounts_remove(&m->accounts, name);
		if (apply)
			changed_note(m, name);
		/* The user's data goes in the same entry: a name added again
		 * later is a new user, who finds nothing of the old one's. */
		size_t items = elector_userdata_clear(m->userdata, name, apply);
		if (items > 0)
			answer(result, ELECTOR_MACHINE_OK,
			       "user %s deleted, with %zu item%s of user data", name, items,
			       items == 1 ? "" : "s");
		else
			answer(result, ELECTOR_MACHINE_OK, "user %s deleted", name);
		return 0;
	case ELECTOR_MACHINE_BRIDGE_ADD:
	case ELECTOR_MACHINE_BRIDGE_ADD_SECRET:
		bridge = elector_machine_bridge_find(m, c->bridge.name);
		if (bridge != NULL && c->op == ELECTOR_MACHINE_BRIDGE_ADD) {
			answer(result, ELECTOR_MACHINE_REFUSED,
			       "call bridge %s exists; use callbridge add-secret", c->bridge.name);
			return 0;
		}
		if (bridge != NULL && bridge_equal(bridge, &c->bridge)) {
			answer(result, ELECTOR_MACHINE_IDENTICAL,
			       "call bridge %s: secret already known, identical", c->bridge.name);
			return 0;
		}
		if (bridge != NULL) {
			/* CMS's scenario 2 (a secret mistyped on one node) ends
			 * here: one secret per bridge for the whole cluster. */
			answer(result, ELECTOR_MACHINE_REFUSED,
			       "call bridge %s: the cluster holds a different %s for it; nothing "
			       "changed (to replace it: callbridge del %s, then callbridge add %s)",
			       c->bridge.name,
			       strcmp(bridge->address, c->bridge.address) != 0 ? "address"
									       : "secret",
			       c->bridge.name, c->bridge.name);
			return 0;
		}
		if (apply && bridge_insert(m, &c->bridge) == -1)
			return -1;
		m->bridges_dirty |= apply;
		answer(result, ELECTOR_MACHINE_OK, "call bridge %s added", c->bridge.name);
		return 0;
	case ELECTOR_MACHINE_SETTINGS:
	case ELECTOR_MACHINE_SETTINGS_CHECK:
		return machine_settings(m, c, apply, NULL, 0, result);
	case ELECTOR_MACHINE_USERDATA_PUT:
	case ELECTOR_MACHINE_USERDATA_DEL:
	case ELECTOR_MACHINE_USERDATA_APPEND:
	case ELECTOR_MACHINE_USERDATA_TAKE:
	case ELECTOR_MACHINE_USERDATA_CLEAR:
		return machine_userdata(m, c, apply, result);
	case ELECTOR_MACHINE_BRIDGE_DEL:
		if (elector_machine_bridge_find(m, c->bridge.name) == NULL) {
			answer(result, ELECTOR_MACHINE_REFUSED, "no call bridge %s",
			       c->bridge.name);
			return 0;
		}
		if (apply)
			bridge_remove(m, c->bridge.name);
		m->bridges_dirty |= apply;
		answer(result, ELECTOR_MACHINE_OK, "call bridge %s deleted", c->bridge.name);
		return 0;
	default:
		break;
	}
	struct merge_tally *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -1;
	t->m = m;
	if (merge_walk(c, merge_count, t) != 0) {
		free(t);
		return -1;
	}
	if (t->conflicts > 0) {
		size_t listed = 0;
		for (const char *p = t->names; *p; p++)
			listed += *p == ',';
		listed += t->names_len > 0;
		char more[64] = "";
		if (t->conflicts > listed)
			snprintf(more, sizeof(more), " and %zu more", t->conflicts - listed);
		answer(result, ELECTOR_MACHINE_REFUSED,
		       "the cluster holds different keys or secrets for %zu name%s; nothing "
		       "merged: %s%s",
		       t->conflicts, t->conflicts == 1 ? "" : "s", t->names, more);
		free(t);
		return 0;
	}
	bool changes = t->new_accounts + t->new_bridges > 0;
	answer(result, changes ? ELECTOR_MACHINE_OK : ELECTOR_MACHINE_IDENTICAL,
	       "%s %zu new user%s and %zu new call bridge%s; %zu user%s and %zu call bridge%s "
	       "already known, identical",
	       c->op == ELECTOR_MACHINE_MERGE_CHECK ? "would merge" : "merged", t->new_accounts,
	       t->new_accounts == 1 ? "" : "s", t->new_bridges, t->new_bridges == 1 ? "" : "s",
	       t->same_accounts, t->same_accounts == 1 ? "" : "s", t->same_bridges,
	       t->same_bridges == 1 ? "" : "s");
	free(t);
	if (!apply || c->op == ELECTOR_MACHINE_MERGE_CHECK || !changes)
		return 0;
	struct merge_apply *ma = calloc(1, sizeof(*ma));
	if (ma == NULL)
		return -1;
	ma->m = m;
	bool bridges_dirty = m->bridges_dirty;
	int rc = merge_walk(c, merge_insert, ma);
	if (rc != 0) {
		/* The accounts noted as changed stay noted: each is written as
		 * it is, which after the undo is as it was. */
		ma->bridge_seen = 0;
		merge_walk(c, merge_undo, ma);
		m->bridges_dirty = bridges_dirty;
	}
	accounts_free(&ma->added);
	free(ma);
	return rc == 0 ? 0 : -1;
}

static void machine_malformed(const void *command, size_t len,
			      struct elector_machine_result *result)
{
	answer(result, ELECTOR_MACHINE_REFUSED,
	       "malformed command (%zu bytes%s); nothing changed (rxmppctl and rxmppd of "
	       "different versions?)",
	       len, len > ELECTOR_MACHINE_COMMAND_MAX ? ", too long" : "");
	(void)command;
}

int elector_machine_apply(struct elector_machine *m, uint64_t index, const void *command,
			  size_t len, struct elector_machine_result *result)
{
	struct machine_command *c = malloc(sizeof(*c));
	if (c == NULL)
		return -1;
	int rc = 0;
	m->live = true;
	if (!command_decode(command, len, c)) {
		machine_malformed(command, len, result);
	} else {
		c->index = index;
		rc = machine_run(m, c, true, result);
	}
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	return rc;
}

void elector_machine_check(const struct elector_machine *m, const void *command, size_t len,
			   struct elector_machine_result *result)
{
	struct machine_command *c = malloc(sizeof(*c));
	if (c == NULL) {
		answer(result, ELECTOR_MACHINE_REFUSED, "out of memory");
		return;
	}
	/* The entry's index is not known yet: APPEND is checked as at an
	 * index past every key (its answer could differ only from a key a
	 * PUT made that large). */
	if (!command_decode(command, len, c)) {
		machine_malformed(command, len, result);
	} else {
		c->index = UINT64_MAX;
		if (machine_run((struct elector_machine *)m, c, false, result) == -1)
			answer(result, ELECTOR_MACHINE_REFUSED, "out of memory");
	}
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

void elector_machine_check_settings(const struct elector_machine *m, const void *command,
				    size_t len, const uint64_t *members, size_t member_count,
				    struct elector_machine_result *result)
{
	struct machine_command *c = malloc(sizeof(*c));
	if (c == NULL) {
		answer(result, ELECTOR_MACHINE_REFUSED, "out of memory");
		return;
	}
	if (!command_decode(command, len, c) || c->op != ELECTOR_MACHINE_SETTINGS_CHECK)
		machine_malformed(command, len, result);
	else
		machine_settings((struct elector_machine *)m, c, false, members, member_count,
				 result);
	free(c);
}

/* Version 2's section: the users that hold data, sorted by name, each
 * with its collections in order and their items sorted by key. */
static int put_userdata(const struct elector_machine *m, struct buf *out)
{
	const char **names;
	size_t count;
	if (elector_userdata_users(m->userdata, &names, &count) == -1)
		return -1;
	int rc = put_u(out, count, 4);
	for (size_t i = 0; i < count && rc == 0; i++) {
		const struct elector_userdata_collection *c[ELECTOR_USERDATA_COLLECTION_END];
		uint32_t held = 0;
		for (uint32_t k = 1; k < ELECTOR_USERDATA_COLLECTION_END; k++) {
			c[k] = elector_userdata_find(m->userdata, names[i], k);
			held += elector_userdata_view(c[k]).version != 0;
		}
		rc = put_string(out, names[i], 2) == 0 && put_u(out, held, 1) == 0 ? 0 : -1;
		for (uint32_t k = 1; k < ELECTOR_USERDATA_COLLECTION_END && rc == 0; k++) {
			struct elector_userdata_view v = elector_userdata_view(c[k]);
			if (v.version == 0)
				continue;
			rc = put_u(out, k, 1) == 0 && put_u(out, v.version, 8) == 0 &&
				     put_u(out, v.count, 4) == 0
				 ? 0
				 : -1;
			const uint8_t *key, *value;
			size_t key_len, value_len;
			for (size_t n = 0; rc == 0 && elector_userdata_item(c[k], n, &key, &key_len,
									    &value, &value_len);
			     n++)
				rc = put_u(out, key_len, 2) == 0 &&
					     buf_append(out, key, key_len) == 0 &&
					     put_u(out, value_len, 2) == 0 &&
					     buf_append(out, value, value_len) == 0
					 ? 0
					 : -1;
		}
	}
	free(names);
	return rc == 0 ? 0 : -1;
}

/* The section put_userdata writes, into `next` (its accounts decoded):
 * strictly, each user holding an account. */
static int reader_userdata(struct machine_reader *r, struct elector_machine *next)
{
	size_t at = r->at;
	uint32_t users = reader_u(r, 4, "users with data");
	if (!r->bad && users > next->accounts.count) {
		r->at = at;
		reader_fail(r, "users with data");
	}
	char *name = malloc(JID_PART_MAX + 1), *prev = malloc(JID_PART_MAX + 1);
	int rc = name == NULL || prev == NULL ? -1 : 0;
	for (uint32_t i = 0; i < users && !r->bad && rc == 0; i++) {
		at = r->at;
		reader_string(r, 2, JID_PART_MAX, name, "user with data");
		if (!r->bad && ((i > 0 && strcmp(prev, name) >= 0) ||
				accounts_find(&next->accounts, name) == NULL)) {
			r->at = at;
			reader_fail(r, "user with data");
		}
		strcpy(prev, name);
		at = r->at;
		uint32_t held = reader_u(r, 1, "collections");
		if (!r->bad && (held == 0 || held > ELECTOR_USERDATA_COLLECTIONS)) {
			r->at = at;
			reader_fail(r, "collections");
		}
		uint32_t last = 0;
		for (uint32_t k = 0; k < held && !r->bad && rc == 0; k++) {
			at = r->at;
			uint32_t collection = reader_u(r, 1, "collection");
			uint64_t version = reader_u64(r, 8, "collection");
			uint32_t count = reader_u(r, 4, "collection");
			if (!r->bad &&
			    (collection <= last || collection >= ELECTOR_USERDATA_COLLECTION_END ||
			     version == 0 || count > ELECTOR_USERDATA_COUNT_MAX)) {
				r->at = at;
				reader_fail(r, "collection");
			}
			last = collection;
			if (!r->bad)
				rc = elector_userdata_restore_version(next->userdata, name,
								      collection, version);
			for (uint32_t n = 0; n < count && !r->bad && rc == 0; n++) {
				at = r->at;
				size_t key_len, value_len;
				const uint8_t *key = reader_bytes(r, 2, 1, ELECTOR_USERDATA_KEY_MAX,
								  &key_len, "item key");
				const uint8_t *value = reader_bytes(
				    r, 2, 0, ELECTOR_USERDATA_VALUE_MAX, &value_len, "item value");
				const char *what;
				if (!r->bad && elector_userdata_restore_item(
						   next->userdata, name, collection, key, key_len,
						   value, value_len, &what) == -1) {
					if (strcmp(what, "out of memory") == 0) {
						rc = -1;
					} else {
						r->at = at;
						reader_fail(r, what);
					}
				}
			}
		}
	}
	free(name);
	free(prev);
	return rc;
}

int elector_machine_snapshot_encode(const struct elector_machine *m, struct buf *out)
{
	int rc = buf_append(out, MACHINE_SNAPSHOT_MAGIC, 4);
	rc |= put_u(out, MACHINE_SNAPSHOT_VERSION, 4);
	rc |= put_u(out, (uint32_t)m->accounts.count, 4);
	rc |= put_u(out, (uint32_t)m->bridge_count, 4);
	for (size_t i = 0; i < m->accounts.count && rc == 0; i++)
		rc = put_account(out, m->accounts.items[i].name, m->accounts.items[i].keys);
	for (size_t i = 0; i < m->bridge_count && rc == 0; i++)
		rc = put_bridge(out, &m->bridges[i]);
	rc |= put_u(out, m->node_count, 4);
	for (size_t i = 0; i < m->node_count && rc == 0; i++)
		rc = put_node_settings(out, &m->nodes[i]) == 0 ? put_u(out, m->nodes[i].reported, 8)
							       : -1;
	if (rc == 0)
		rc = put_userdata(m, out);
	unsigned char digest[MACHINE_DIGEST_LEN];
	if (rc == 0 && scram_digest(SCRAM_SHA_256, buf_head(out), buf_len(out), digest) == -1)
		rc = -1;
	return rc == 0 ? buf_append(out, digest, sizeof(digest)) : -1;
}

int elector_machine_snapshot_decode(struct elector_machine *m, const void *data, size_t len,
				    char *why, size_t why_size)
{
	const unsigned char *bytes = data;
	unsigned char digest[MACHINE_DIGEST_LEN];
	if (len < 16 + MACHINE_DIGEST_LEN || len > ELECTOR_MACHINE_SNAPSHOT_MAX) {
		snprintf(why, why_size, "snapshot of %zu bytes: %s", len,
			 len > ELECTOR_MACHINE_SNAPSHOT_MAX ? "too large" : "cut short");
		return -1;
	}
	size_t body = len - MACHINE_DIGEST_LEN;
	if (memcmp(bytes, MACHINE_SNAPSHOT_MAGIC, 4) != 0) {
		snprintf(why, why_size, "snapshot offset 0: not a snapshot of the cluster state");
		return -1;
	}
	if (scram_digest(SCRAM_SHA_256, bytes, body, digest) == -1 ||
	    memcmp(digest, bytes + body, sizeof(digest)) != 0) {
		snprintf(why, why_size, "snapshot offset %zu: checksum mismatch (damaged)", body);
		return -1;
	}
	struct machine_reader r = {.data = bytes, .len = body, .at = 4};
	uint32_t version = reader_u(&r, 4, "version");
	if (version != 1 && version != MACHINE_SNAPSHOT_VERSION) {
		snprintf(why, why_size,
			 "snapshot offset 4: format version %u, this rxmpp reads 1 to %u", version,
			 MACHINE_SNAPSHOT_VERSION);
		return -1;
	}
	uint32_t accounts = reader_u(&r, 4, "accounts");
	uint32_t bridges = reader_u(&r, 4, "bridges");
	if (accounts > ELECTOR_MACHINE_ACCOUNTS_MAX || bridges > CALLBRIDGES_MAX) {
		snprintf(why, why_size,
			 "snapshot offset 8: %u accounts and %u bridges (limits %u, %u)", accounts,
			 bridges, ELECTOR_MACHINE_ACCOUNTS_MAX, CALLBRIDGES_MAX);
		return -1;
	}
	struct elector_machine next = {.accounts_dirty = true,
				       .bridges_dirty = true,
				       .settings_dirty = true,
				       .userdata = elector_userdata_new()};
	struct machine_account *a = calloc(1, sizeof(*a));
	struct proto_callbridge b;
	bool oom = a == NULL || next.userdata == NULL;
	for (uint32_t i = 0; i < accounts && !r.bad && !oom; i++) {
		size_t at = r.at;
		reader_account(&r, a);
		if (r.bad)
			break;
		/* Appended in order: sorted and distinct, or refused. */
		if (i > 0 && strcmp(next.accounts.items[i - 1].name, a->name) >= 0) {
			r.at = at;
			reader_fail(&r, "user name order");
		} else if (accounts_set_keys(&next.accounts, a->name, a->keys) == -1) {
			oom = true;
		}
	}
	for (uint32_t i = 0; i < bridges && !r.bad && !oom; i++) {
		size_t at = r.at;
		reader_bridge(&r, &b, false);
		if (r.bad)
			break;
		if (i > 0 && strcmp(next.bridges[i - 1].name, b.name) >= 0) {
			r.at = at;
			reader_fail(&r, "bridge name order");
		} else if (bridge_insert(&next, &b) == -1) {
			oom = true;
		}
	}
	uint32_t nodes = r.bad || oom ? 0 : reader_u(&r, 4, "nodes");
	if (!r.bad && nodes > ELECTOR_MACHINE_NODES_MAX) {
		r.at -= 4;
		reader_fail(&r, "nodes");
	}
	struct elector_machine_node_settings *n = nodes ? malloc(sizeof(*n)) : NULL;
	oom |= nodes > 0 && n == NULL;
	for (uint32_t i = 0; i < nodes && !r.bad && !oom; i++) {
		size_t at = r.at;
		reader_node_settings(&r, n);
		n->reported = reader_u64(&r, 8, "report number");
		if (r.bad)
			break;
		if (i > 0 && next.nodes[i - 1].node >= n->node) {
			r.at = at;
			reader_fail(&r, "node order");
		} else {
			uint64_t reported = n->reported;
			oom = settings_record(&next, n) == -1;
			if (!oom) {
				next.nodes[i].reported = reported;
				next.reports = reported > next.reports ? reported : next.reports;
			}
		}
	}
	free(n);
	/* Version 1 had no user data: none is held. */
	if (!r.bad && !oom && version >= 2)
		oom = reader_userdata(&r, &next) == -1;
	if (!r.bad && !oom && r.at != r.len)
		reader_fail(&r, "end (bytes after the last entry)");
	buf_wipe_free(a, a ? sizeof(*a) : 0);
	OPENSSL_cleanse(&b, sizeof(b));
	if (r.bad || oom) {
		if (oom)
			snprintf(why, why_size, "snapshot: out of memory");
		else
			snprintf(why, why_size, "snapshot offset %zu: bad %s", r.bad_at,
				 r.bad_what);
		machine_clear(&next);
		return -1;
	}
	machine_clear(m);
	*m = next;
	m->live = true;
	return 0;
}

static int encode_start(struct buf *out, enum elector_machine_op op)
{
	buf_init(out, ELECTOR_MACHINE_COMMAND_MAX);
	buf_set_sensitive(out);
	return put_u(out, MACHINE_FORMAT, 1) == 0 && put_u(out, (uint32_t)op, 1) == 0 ? 0 : -1;
}

#define MACHINE_SETTINGS_KIND	 "cluster-settings"
#define MACHINE_SETTINGS_VERSION 1

/* "NODE KEY VALUE", one setting a line, sorted by node and key. */
static int settings_save(const struct elector_machine *m, const char *path, char *why,
			 size_t why_size)
{
	struct buf out;
	buf_init(&out, ELECTOR_MACHINE_NODES_MAX * ELECTOR_MACHINE_SETTINGS_MAX * 400 + 4096);
	static const char comment[] = "# the settings each node reported, written by the elector\n";
	int rc = buf_append(&out, comment, strlen(comment));
	for (size_t i = 0; i < m->node_count && rc == 0; i++) {
		for (size_t k = 0; k < m->nodes[i].count && rc == 0; k++) {
			char line[400];
			int n =
			    snprintf(line, sizeof(line), "%016" PRIx64 " %s %s\n", m->nodes[i].node,
				     m->nodes[i].items[k].key, m->nodes[i].items[k].value);
			rc = buf_append(&out, line, (size_t)n);
		}
	}
	if (rc == 0)
		rc = fileio_write_sealed(path, MACHINE_SETTINGS_KIND, MACHINE_SETTINGS_VERSION,
					 buf_head(&out), buf_len(&out), 0644, why, why_size);
	else
		snprintf(why, why_size, "%s: too large", path);
	buf_free(&out);
	return rc;
}

int elector_machine_settings_load(const char *path, struct elector_machine_node_settings **out,
				  size_t *count, char *why, size_t why_size)
{
	*out = NULL;
	*count = 0;
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	char *text;
	size_t len, start, body_len;
	unsigned version = 0;
	if (fileio_read_all(path,
			    ELECTOR_MACHINE_NODES_MAX * ELECTOR_MACHINE_SETTINGS_MAX * 400 + 8192,
			    &text, &len, why, why_size) == -1)
		return -1;
	if (fileio_unseal(path, text, len, MACHINE_SETTINGS_KIND, &version, &start, &body_len, why,
			  why_size) != FILEIO_SEALED ||
	    version != MACHINE_SETTINGS_VERSION) {
		if (version != 0 && version != MACHINE_SETTINGS_VERSION)
			snprintf(why, why_size, "%s:1: format version %u, this rxmpp reads %u",
				 path, version, MACHINE_SETTINGS_VERSION);
		else if (why[0] == '\0')
			snprintf(why, why_size, "%s: not sealed", path);
		free(text);
		return -1;
	}
	struct elector_machine_node_settings *nodes =
	    calloc(ELECTOR_MACHINE_NODES_MAX, sizeof(*nodes));
	char *cursor = text + start, *end = text + start + body_len, *line;
	bool cut = false, ok = nodes != NULL;
	unsigned line_no = 1;
	size_t n = 0;
	while (ok && fileio_next_line(&cursor, end, &line, &cut)) {
		line_no++;
		if (line[0] == '#')
			continue;
		char *key = strchr(line, ' '), *value = key ? strchr(key + 1, ' ') : NULL;
		ok = value != NULL && strchr(value + 1, ' ') == NULL;
		if (!ok)
			break;
		*key++ = '\0';
		*value++ = '\0';
		char *endp;
		uint64_t node = strtoull(line, &endp, 16);
		ok = *endp == '\0' && strlen(line) == 16 && node != 0 && setting_key_valid(key) &&
		     setting_value_valid(value) && strlen(key) < 64 && strlen(value) < 256;
		if (ok && (n == 0 || nodes[n - 1].node != node)) {
			ok = n < ELECTOR_MACHINE_NODES_MAX && (n == 0 || nodes[n - 1].node < node);
			if (ok)
				nodes[n++].node = node;
		}
		struct elector_machine_node_settings *cur = ok ? &nodes[n - 1] : NULL;
		ok = ok && cur->count < ELECTOR_MACHINE_SETTINGS_MAX;
		if (ok) {
			snprintf(cur->items[cur->count].key, sizeof(cur->items[0].key), "%s", key);
			snprintf(cur->items[cur->count].value, sizeof(cur->items[0].value), "%s",
				 value);
			cur->count++;
		}
	}
	free(text);
	if (!ok || cut) {
		snprintf(why, why_size, "%s:%u: not a valid settings line", path,
			 line_no + (ok && cut));
		free(nodes);
		return -1;
	}
	*out = nodes;
	*count = n;
	return 0;
}

const struct elector_machine_node_settings *
elector_machine_settings(const struct elector_machine *m, size_t *count)
{
	*count = m->node_count;
	return m->nodes;
}

int elector_machine_encode_settings(struct buf *out, enum elector_machine_op op, uint64_t node,
				    const struct elector_machine_setting *items, size_t count)
{
	if ((op != ELECTOR_MACHINE_SETTINGS && op != ELECTOR_MACHINE_SETTINGS_CHECK) ||
	    count > ELECTOR_MACHINE_SETTINGS_MAX)
		return -1;
	struct elector_machine_node_settings *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -1;
	n->node = node;
	n->count = count;
	memcpy(n->items, items, count * sizeof(*items));
	int rc = encode_start(out, op);
	if (rc == 0)
		rc = put_node_settings(out, n);
	free(n);
	if (rc == -1)
		buf_free(out);
	return rc;
}

/* The accounts file whole, or what changed appended to its journal. */
static int materialise_accounts(struct elector_machine *m, const char *path, char *why,
				size_t why_size)
{
	bool compact = m->journal_size > m->file_size / 4 && m->journal_size > MACHINE_JOURNAL_MIN;
	if (m->accounts_dirty || m->seal[0] == '\0' || compact) {
		struct stat st;
		if (accounts_save_sealed(path, &m->accounts, m->seal, why, why_size) == -1) {
			m->seal[0] = '\0';
			return -1;
		}
		m->file_size = stat(path, &st) == 0 ? (size_t)st.st_size : 0;
		m->journal_size = 0;
		m->accounts_dirty = false;
		changed_forget(m);
		return 0;
	}
	if (m->changed_count == 0)
		return 0;
	struct accounts_journal_change *changes = calloc(m->changed_count, sizeof(*changes));
	if (changes == NULL) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < m->changed_count; i++) {
		const struct account *a = accounts_find(&m->accounts, m->changed[i]);
		changes[i] = (struct accounts_journal_change){.name = m->changed[i],
							      .keys = a != NULL ? a->keys : NULL};
	}
	int rc = accounts_journal_append(path, m->seal, changes, m->changed_count, &m->journal_size,
					 why, why_size);
	free(changes);
	if (rc == -1) {
		/* Its tail may be torn now: the next write is the whole file. */
		m->accounts_dirty = true;
		return -1;
	}
	changed_forget(m);
	return 0;
}

int elector_machine_materialise(struct elector_machine *m, const char *state_directory,
				bool *bridges_changed, char *why, size_t why_size)
{
	char path[PATH_MAX], bridges[PATH_MAX], before[PATH_MAX];
	*bridges_changed = false;
	if (!m->live)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", state_directory, ACCOUNTS_FILE_NAME);
	snprintf(bridges, sizeof(bridges), "%s/%s", state_directory, CALLBRIDGE_STATE_FILE_NAME);
	snprintf(before, sizeof(before), "%s/%s", state_directory, ELECTOR_MACHINE_BEFORE_CLUSTER);
	/* The first time, this node's own accounts are kept aside (a second
	 * name for the file, which the atomic replace below leaves holding
	 * the old bytes): nothing is lost that `cluster join` did not merge. */
	if (access(bridges, F_OK) == -1 && access(path, F_OK) == 0 && access(before, F_OK) == -1 &&
	    link(path, before) == -1) {
		snprintf(why, why_size, "cannot keep %s as %s: %s", path, before, strerror(errno));
		return -1;
	}
	char journal[PATH_MAX + 16], before_journal[PATH_MAX + 16];
	snprintf(journal, sizeof(journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, path);
	snprintf(before_journal, sizeof(before_journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, before);
	if (access(bridges, F_OK) == -1 && access(journal, F_OK) == 0 &&
	    access(before_journal, F_OK) == -1 && link(journal, before_journal) == -1) {
		snprintf(why, why_size, "cannot keep %s as %s: %s", journal, before_journal,
			 strerror(errno));
		return -1;
	}
	if (materialise_accounts(m, path, why, why_size) == -1)
		return -1;
	if (m->bridges_dirty) {
		if (callbridge_state_save(bridges, m->bridges, m->bridge_count, why, why_size) ==
		    -1)
			return -1;
		m->bridges_dirty = false;
		*bridges_changed = true;
	}
	if (m->settings_dirty) {
		snprintf(path, sizeof(path), "%s/%s", state_directory,
			 ELECTOR_MACHINE_SETTINGS_FILE);
		if (settings_save(m, path, why, why_size) == -1)
			return -1;
		m->settings_dirty = false;
	}
	return 0;
}

const struct accounts *elector_machine_accounts(const struct elector_machine *m)
{
	return &m->accounts;
}

int elector_machine_set_accounts(struct elector_machine *m, const struct accounts *accounts)
{
	struct accounts next = {0};
	for (size_t i = 0; i < accounts->count; i++)
		if (accounts_set_keys(&next, accounts->items[i].name, accounts->items[i].keys) ==
		    -1) {
			accounts_free(&next);
			return -1;
		}
	accounts_free(&m->accounts);
	m->accounts = next;
	m->accounts_dirty = true;
	return 0;
}

const struct proto_callbridge *elector_machine_bridges(const struct elector_machine *m,
						       size_t *count)
{
	*count = m->bridge_count;
	return m->bridges;
}

int elector_machine_encode_user(struct buf *out, enum elector_machine_op op, const char *name,
				const struct scram_keys keys[SCRAM_HASH_COUNT])
{
	if (op != ELECTOR_MACHINE_USER_ADD && op != ELECTOR_MACHINE_USER_PASSWD &&
	    op != ELECTOR_MACHINE_USER_DEL)
		return -1;
	int rc = encode_start(out, op);
	if (rc == 0 && strlen(name) > JID_PART_MAX)
		rc = -1;
	if (rc == 0)
		rc = op == ELECTOR_MACHINE_USER_DEL ? put_string(out, name, 2)
						    : put_account(out, name, keys);
	if (rc == -1)
		buf_free(out);
	return rc;
}

int elector_machine_encode_bridge(struct buf *out, enum elector_machine_op op,
				  const struct proto_callbridge *bridge)
{
	if (op != ELECTOR_MACHINE_BRIDGE_ADD && op != ELECTOR_MACHINE_BRIDGE_ADD_SECRET &&
	    op != ELECTOR_MACHINE_BRIDGE_DEL)
		return -1;
	int rc = encode_start(out, op);
	if (rc == 0)
		rc = op == ELECTOR_MACHINE_BRIDGE_DEL
			 ? (callbridge_name_valid(bridge->name) ? put_string(out, bridge->name, 1)
								: -1)
			 : put_bridge(out, bridge);
	if (rc == -1)
		buf_free(out);
	return rc;
}

int elector_machine_encode_merge(struct buf *out, enum elector_machine_op op,
				 const struct account *accounts, size_t account_count,
				 const struct proto_callbridge *bridges, size_t bridge_count,
				 size_t *accounts_taken, size_t *bridges_taken)
{
	*accounts_taken = *bridges_taken = 0;
	if ((op != ELECTOR_MACHINE_MERGE && op != ELECTOR_MACHINE_MERGE_CHECK) ||
	    encode_start(out, op) == -1)
		return -1;
	size_t counts_at = buf_len(out);
	if (put_u(out, 0, 4) == -1 || put_u(out, 0, 4) == -1) {
		buf_free(out);
		return -1;
	}
	/* Each entry is appended whole or not at all: on a full buffer the
	 * tail goes back to where the entry began. */
	for (size_t i = 0; i < account_count; i++) {
		size_t before = buf_len(out);
		if (!account_encodable(accounts[i].name, accounts[i].keys))
			goto invalid;
		if (put_account(out, accounts[i].name, accounts[i].keys) == -1) {
			out->end = out->start + before;
			goto full;
		}
		(*accounts_taken)++;
	}
	for (size_t i = 0; i < bridge_count; i++) {
		size_t before = buf_len(out);
		if (!callbridge_name_valid(bridges[i].name) ||
		    !callbridge_address_valid(bridges[i].address) ||
		    !callbridge_secret_valid(bridges[i].secret))
			goto invalid;
		if (put_bridge(out, &bridges[i]) == -1) {
			out->end = out->start + before;
			goto full;
		}
		(*bridges_taken)++;
	}
full:;
	unsigned char *counts = (unsigned char *)out->data + out->start + counts_at;
	uint32_t n[2] = {(uint32_t)*accounts_taken, (uint32_t)*bridges_taken};
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 4; i++)
			counts[4 * k + i] = (unsigned char)(n[k] >> (8 * (3 - i)));
	if (*accounts_taken + *bridges_taken == 0 && account_count + bridge_count > 0)
		goto invalid;
	return 0;
invalid:
	buf_free(out);
	*accounts_taken = *bridges_taken = 0;
	return -1;
}

const struct elector_userdata *elector_machine_userdata(const struct elector_machine *m)
{
	return m->userdata;
}

int elector_machine_encode_userdata(struct buf *out, enum elector_machine_op op, const char *user,
				    uint32_t collection, const struct elector_userdata_limit *limit,
				    const void *key, size_t key_len, const void *value,
				    size_t value_len)
{
	bool has_limit =
	    op == ELECTOR_MACHINE_USERDATA_PUT || op == ELECTOR_MACHINE_USERDATA_APPEND;
	bool has_key = op == ELECTOR_MACHINE_USERDATA_PUT || op == ELECTOR_MACHINE_USERDATA_DEL ||
		       op == ELECTOR_MACHINE_USERDATA_TAKE;
	if (op < ELECTOR_MACHINE_USERDATA_PUT || op > ELECTOR_MACHINE_USERDATA_CLEAR ||
	    strlen(user) > JID_PART_MAX ||
	    (op != ELECTOR_MACHINE_USERDATA_CLEAR &&
	     elector_userdata_collection_name(collection) == NULL) ||
	    (has_limit && !elector_userdata_limit_valid(limit)) ||
	    (has_key && (key_len == 0 || key_len > ELECTOR_USERDATA_KEY_MAX)) ||
	    (has_limit && value_len > ELECTOR_USERDATA_VALUE_MAX))
		return -1;
	int rc = encode_start(out, op) == 0 && put_string(out, user, 2) == 0 ? 0 : -1;
	if (rc == 0 && op != ELECTOR_MACHINE_USERDATA_CLEAR)
		rc = put_u(out, collection, 1);
	if (rc == 0 && has_limit)
		rc = put_u(out, limit->count, 4) == 0 && put_u(out, limit->bytes, 4) == 0 ? 0 : -1;
	if (rc == 0 && has_key)
		rc = put_u(out, key_len, 2) == 0 && buf_append(out, key, key_len) == 0 ? 0 : -1;
	if (rc == 0 && has_limit)
		rc = put_u(out, value_len, 2) == 0 &&
			     (value_len == 0 || buf_append(out, value, value_len) == 0)
			 ? 0
			 : -1;
	if (rc == -1)
		buf_free(out);
	return rc;
}
