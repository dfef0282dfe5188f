/* SPDX-License-Identifier: MIT */
/* The accounts file; see accounts.h. */
#include "accounts.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts_journal.h"
#include "buf.h"
#include "fileio.h"
#include "jidprep.h"

#define ACCOUNTS_KIND	 "accounts"
#define ACCOUNTS_VERSION 1
#define ACCOUNTS_COMMENT                                                                           \
	"# salted SCRAM keys only; written by rxmppctl user or the elector (the last line is a "   \
	"checksum)\n"
/* A comment line with random digits makes every writing of the file, and
 * so its seal, unique: a journal names the file it follows by the seal,
 * and must never apply to a later file that merely holds the same
 * accounts (a user deleted again outside the cluster). */
#define ACCOUNTS_WRITING "# writing "
#define ACCOUNTS_ADVICE                                                                            \
	"restore the file from a backup, or remove it and add the users again with "               \
	"`rxmppctl user add`"

static void accounts_init(struct accounts *a)
{
	memset(a, 0, sizeof(*a));
}

void accounts_free(struct accounts *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->items[i].name);
	/* The keys let anyone who has them log in to this server (SCRAM). */
	buf_wipe_free(a->items, a->cap * sizeof(*a->items));
	accounts_init(a);
}

/* Index of `name`, or of where it would go (with *found false). */
static size_t accounts_position(const struct accounts *a, const char *name, bool *found)
{
	size_t lo = 0, hi = a->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(a->items[mid].name, name);
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

const struct account *accounts_find(const struct accounts *a, const char *name)
{
	bool found;
	size_t i = accounts_position(a, name, &found);
	return found ? &a->items[i] : NULL;
}

static struct account *accounts_insert(struct accounts *a, const char *name)
{
	bool found;
	size_t i = accounts_position(a, name, &found);
	if (found)
		return &a->items[i];
	if (a->count == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct account *items =
		    buf_wipe_realloc(a->items, a->cap * sizeof(*items), cap * sizeof(*items));
		if (items == NULL)
			return NULL;
		a->items = items;
		a->cap = cap;
	}
	char *copy = strdup(name);
	if (copy == NULL)
		return NULL;
	memmove(&a->items[i + 1], &a->items[i], (a->count - i) * sizeof(a->items[0]));
	memset(&a->items[i], 0, sizeof(a->items[i]));
	a->items[i].name = copy;
	a->count++;
	return &a->items[i];
}

int accounts_remove(struct accounts *a, const char *name)
{
	bool found;
	size_t i = accounts_position(a, name, &found);
	if (!found)
		return -1;
	free(a->items[i].name);
	memmove(&a->items[i], &a->items[i + 1], (a->count - i - 1) * sizeof(a->items[0]));
	a->count--;
	OPENSSL_cleanse(&a->items[a->count], sizeof(a->items[0]));
	return 0;
}

int accounts_set_keys(struct accounts *a, const char *name,
		      const struct scram_keys keys[SCRAM_HASH_COUNT])
{
	struct account *account = accounts_insert(a, name);
	if (account == NULL)
		return -1;
	memcpy(account->keys, keys, sizeof(account->keys));
	return 0;
}

int accounts_set_password(struct accounts *a, const char *name, const char *password,
			  size_t password_len, char *why, size_t why_size)
{
	struct scram_keys keys[SCRAM_HASH_COUNT];
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		if (scram_derive_random((enum scram_hash)h, password, password_len,
					SCRAM_ITERATIONS, &keys[h]) == -1) {
			snprintf(why, why_size, "cannot derive the SCRAM keys");
			return -1;
		}
	}
	int rc = accounts_set_keys(a, name, keys);
	OPENSSL_cleanse(keys, sizeof(keys));
	if (rc == -1) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	return 0;
}

/* "SCRAM-SHA-1=4096,salt,stored,server" */
static int accounts_parse_keys(char *field, struct account *account)
{
	char *eq = strchr(field, '=');
	if (eq == NULL)
		return -1;
	*eq = '\0';
	int hash = -1;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		if (strcmp(field, scram_mechanism_name((enum scram_hash)h)) == 0)
			hash = h;
	}
	if (hash == -1)
		return -1;
	struct scram_keys *keys = &account->keys[hash];
	size_t key_len = scram_key_len((enum scram_hash)hash);
	char *save = NULL;
	char *iterations = strtok_r(eq + 1, ",", &save);
	char *salt = strtok_r(NULL, ",", &save);
	char *stored = strtok_r(NULL, ",", &save);
	char *server = strtok_r(NULL, ",", &save);
	if (iterations == NULL || salt == NULL || stored == NULL || server == NULL ||
	    strtok_r(NULL, ",", &save) != NULL)
		return -1;
	char *end;
	/* Canonical decimal only: no sign, space or leading zero. */
	if (iterations[0] < '1' || iterations[0] > '9')
		return -1;
	unsigned long n = strtoul(iterations, &end, 10);
	if (*end != '\0' || n < 1 || n > 10000000)
		return -1;
	keys->iterations = (unsigned)n;
	int salt_len = scram_base64_decode(salt, strlen(salt), keys->salt, sizeof(keys->salt));
	if (salt_len <= 0)
		return -1;
	keys->salt_len = (size_t)salt_len;
	unsigned char decoded[SCRAM_KEY_MAX + 3];
	int rc = -1;
	if (scram_base64_decode(stored, strlen(stored), decoded, sizeof(decoded)) == (int)key_len) {
		memcpy(keys->stored_key, decoded, key_len);
		if (scram_base64_decode(server, strlen(server), decoded, sizeof(decoded)) ==
		    (int)key_len) {
			memcpy(keys->server_key, decoded, key_len);
			rc = 0;
		}
	}
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return rc;
}

int accounts_load(const char *path, struct accounts *a, bool *unsealed, char *why, size_t why_size)
{
	return accounts_load_following(path, a, unsealed, NULL, NULL, why, why_size);
}

int accounts_load_following(const char *path, struct accounts *a, bool *unsealed, char seal[65],
			    struct accounts_journal_pos *pos, char *why, size_t why_size)
{
	char *text;
	size_t len, start, body_len;
	unsigned version = 0;
	char own_seal[65] = "";
	struct accounts_journal_pos own_pos = {0};
	if (seal == NULL)
		seal = own_seal;
	if (pos == NULL)
		pos = &own_pos;
	seal[0] = '\0';
	*pos = (struct accounts_journal_pos){0};
	accounts_init(a);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0; /* no account made yet */
	if (fileio_read_all(path, ACCOUNTS_FILE_MAX, &text, &len, why, why_size) == -1)
		return -1;
	char inner[512];
	enum fileio_seal seal_state = fileio_unseal(path, text, len, ACCOUNTS_KIND, &version,
						    &start, &body_len, inner, sizeof(inner));
	if (seal_state == FILEIO_SEALED && version > ACCOUNTS_VERSION) {
		snprintf(why, why_size,
			 "%s:1: format version %u: a newer rxmpp wrote it (rxmpp %s reads %u); %s",
			 path, version, RXMPP_VERSION, ACCOUNTS_VERSION, FILEIO_NEWER_ADVICE);
		buf_wipe_free(text, len);
		return -1;
	}
	if (seal_state == FILEIO_SEAL_BROKEN ||
	    (seal_state == FILEIO_SEALED && version != ACCOUNTS_VERSION)) {
		if (seal_state == FILEIO_SEALED)
			snprintf(inner, sizeof(inner),
				 "%s:1: format version %u, this rxmpp reads %u", path, version,
				 ACCOUNTS_VERSION);
		snprintf(why, why_size, "%s; %s", inner, ACCOUNTS_ADVICE);
		buf_wipe_free(text, len);
		return -1;
	}
	if (unsealed != NULL)
		*unsealed = seal_state == FILEIO_UNSEALED;
	/* The seal is the last line, "sha256 " and 64 hex digits. */
	if (seal_state == FILEIO_SEALED && len - start - body_len == 7 + ACCOUNTS_SEAL_LEN + 1) {
		memcpy(seal, text + start + body_len + 7, ACCOUNTS_SEAL_LEN);
		seal[ACCOUNTS_SEAL_LEN] = '\0';
	}
	unsigned line_no = seal_state == FILEIO_SEALED ? 1 : 0;
	char *cursor = text + start, *end = text + start + body_len, *line;
	bool cut = false;
	while (fileio_next_line(&cursor, end, &line, &cut)) {
		line_no++;
		if (line[0] == '#')
			continue;
		/* "NAME SCRAM-SHA-1=... SCRAM-SHA-256=...", single spaces. */
		char *fields[SCRAM_HASH_COUNT + 2];
		int n = 0;
		for (char *p = line; p != NULL && n < SCRAM_HASH_COUNT + 2; n++) {
			fields[n] = p;
			p = strchr(p, ' ');
			if (p != NULL)
				*p++ = '\0';
		}
		if (n != SCRAM_HASH_COUNT + 1)
			goto bad;
		char normal[JID_PART_MAX + 1], prep_why[JIDPREP_WHY_MAX];
		/* The name as written must be its prepared form: another
		 * spelling would be a second key for one user, and a name that
		 * is not prepared is one no client can log in as. */
		if (jidprep_node(fields[0], strlen(fields[0]), normal, sizeof(normal), prep_why,
				 sizeof(prep_why)) == -1) {
			snprintf(why, why_size, "%s:%u: user name: %s; %s", path, line_no, prep_why,
				 ACCOUNTS_ADVICE);
			goto refused;
		}
		if (strcmp(normal, fields[0]) != 0) {
			snprintf(why, why_size,
				 "%s:%u: user name not in its prepared form (nodeprep makes it "
				 "'%s'); %s",
				 path, line_no, normal, ACCOUNTS_ADVICE);
			goto refused;
		}
		if (accounts_find(a, normal) != NULL)
			goto bad;
		struct account *account = accounts_insert(a, normal);
		if (account == NULL)
			goto bad;
		for (int f = 1; f <= SCRAM_HASH_COUNT; f++) {
			if (accounts_parse_keys(fields[f], account) == -1)
				goto bad;
		}
		for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
			if (account->keys[h].iterations == 0)
				goto bad;
		}
	}
	if (cut) {
		line_no++;
		goto bad;
	}
	buf_wipe_free(text, len);
	/* What changed since the file was written whole. */
	if (seal[0] != '\0' && accounts_journal_apply(path, seal, a, pos, why, why_size) == -1) {
		accounts_free(a);
		return -1;
	}
	return 0;
bad:
	snprintf(why, why_size, "%s:%u: not a valid account line%s; %s", path, line_no,
		 cut ? " (cut short)" : "", ACCOUNTS_ADVICE);
refused:
	buf_wipe_free(text, len);
	accounts_free(a);
	return -1;
}

int accounts_save(const char *path, const struct accounts *a, char *why, size_t why_size)
{
	return accounts_save_sealed(path, a, NULL, why, why_size);
}

int accounts_save_sealed(const char *path, const struct accounts *a, char seal[65], char *why,
			 size_t why_size)
{
	struct buf out;
	buf_init(&out, ACCOUNTS_FILE_MAX);
	buf_set_sensitive(&out);
	unsigned char nonce[16];
	char writing[sizeof(ACCOUNTS_WRITING) + 2 * sizeof(nonce) + 1];
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		snprintf(why, why_size, "%s: no random bytes for the file's writing", path);
		return -1;
	}
	int n = snprintf(writing, sizeof(writing), ACCOUNTS_WRITING);
	for (size_t i = 0; i < sizeof(nonce); i++)
		n += snprintf(writing + n, sizeof(writing) - (size_t)n, "%02x", nonce[i]);
	writing[n++] = '\n';
	int rc = buf_append(&out, ACCOUNTS_COMMENT, strlen(ACCOUNTS_COMMENT));
	rc |= buf_append(&out, writing, (size_t)n);
	for (size_t i = 0; i < a->count && rc == 0; i++) {
		const struct account *account = &a->items[i];
		rc = buf_append(&out, account->name, strlen(account->name));
		for (int h = 0; h < SCRAM_HASH_COUNT && rc == 0; h++) {
			const struct scram_keys *keys = &account->keys[h];
			size_t key_len = scram_key_len((enum scram_hash)h);
			char salt[64], stored[64], server[64], field[256];
			scram_base64_encode(keys->salt, keys->salt_len, salt);
			scram_base64_encode(keys->stored_key, key_len, stored);
			scram_base64_encode(keys->server_key, key_len, server);
			int n = snprintf(field, sizeof(field), " %s=%u,%s,%s,%s",
					 scram_mechanism_name((enum scram_hash)h), keys->iterations,
					 salt, stored, server);
			rc = buf_append(&out, field, (size_t)n);
			OPENSSL_cleanse(stored, sizeof(stored));
			OPENSSL_cleanse(server, sizeof(server));
			OPENSSL_cleanse(field, sizeof(field));
		}
		if (rc == 0)
			rc = buf_append(&out, "\n", 1);
	}
	if (rc == -1) {
		snprintf(why, why_size, "accounts too large");
		buf_free(&out);
		return -1;
	}
	char sum[65];
	rc = fileio_write_sealed_sum(path, ACCOUNTS_KIND, ACCOUNTS_VERSION, buf_head(&out),
				     buf_len(&out), 0600, sum, why, why_size);
	buf_free(&out);
	if (rc == 0 && seal != NULL)
		memcpy(seal, sum, sizeof(sum));
	if (rc == 0) {
		/* Stale now; left behind by a crash it is still never read,
		 * as it names the file before this one. */
		char journal[PATH_MAX];
		snprintf(journal, sizeof(journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, path);
		unlink(journal);
	}
	return rc;
}
