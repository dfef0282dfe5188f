/* SPDX-License-Identifier: MIT */
/* One call bridge and the cluster's bridges file; see callbridge.h.  Run by
 * rxmppd (reads), the elector (writes) and rxmppctl (validates). */
#include "callbridge.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "scram.h"

#define CALLBRIDGE_STATE_KIND	 "cluster-callbridges"
#define CALLBRIDGE_STATE_VERSION 1
#define CALLBRIDGE_STATE_COMMENT                                                                   \
	"# the cluster's call bridges, written by the elector (the last line is a checksum)\n"
/* name, address, base64 of a secret, spaces and a newline */
#define CALLBRIDGE_STATE_LINE_MAX (64 + 256 + 4 * 256 / 3 + 8)
#define CALLBRIDGE_STATE_FILE_MAX (CALLBRIDGES_MAX * CALLBRIDGE_STATE_LINE_MAX + 4096)

bool callbridge_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 63 || name[0] == '-' || name[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* Spaces inside a secret are the administrator's choice (a passphrase);
 * one at either end is a copy-and-paste accident that would make two
 * nodes' secrets differ invisibly, and control characters cannot be typed
 * the same way twice. */
bool callbridge_secret_valid(const char *secret)
{
	size_t len = strlen(secret);
	if (len < CALLBRIDGE_SECRET_MIN || len >= sizeof(((struct proto_callbridge *)0)->secret) ||
	    secret[0] == ' ' || secret[len - 1] == ' ')
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)secret[i] < 0x20 || secret[i] == 0x7f)
			return false;
	}
	return true;
}

bool callbridge_address_valid(const char *address)
{
	size_t len = strlen(address);
	if (len == 0 || len >= sizeof(((struct proto_callbridge *)0)->address))
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)address[i] <= 0x20 || address[i] == 0x7f)
			return false;
	}
	return true;
}

bool callbridge_state_in_use(const char *state_directory, bool cluster_enabled)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", state_directory, CALLBRIDGE_STATE_FILE_NAME);
	return cluster_enabled && access(path, F_OK) == 0;
}

int callbridge_state_save(const char *path, const struct proto_callbridge *items, size_t count,
			  char *why, size_t why_size)
{
	struct buf out;
	buf_init(&out, CALLBRIDGE_STATE_FILE_MAX);
	buf_set_sensitive(&out);
	int rc = buf_append(&out, CALLBRIDGE_STATE_COMMENT, strlen(CALLBRIDGE_STATE_COMMENT));
	for (size_t i = 0; i < count && rc == 0; i++) {
		char secret[4 * sizeof(items[i].secret) / 3 + 4], line[CALLBRIDGE_STATE_LINE_MAX];
		scram_base64_encode((const unsigned char *)items[i].secret,
				    strnlen(items[i].secret, sizeof(items[i].secret)), secret);
		int n = snprintf(line, sizeof(line), "%s %s %s\n", items[i].name, items[i].address,
				 secret);
		rc = n > 0 && (size_t)n < sizeof(line) ? buf_append(&out, line, (size_t)n) : -1;
		OPENSSL_cleanse(secret, sizeof(secret));
		OPENSSL_cleanse(line, sizeof(line));
	}
	if (rc == -1) {
		snprintf(why, why_size, "%s: too many call bridges", path);
		buf_free(&out);
		return -1;
	}
	rc = fileio_write_sealed(path, CALLBRIDGE_STATE_KIND, CALLBRIDGE_STATE_VERSION,
				 buf_head(&out), buf_len(&out), 0640, why, why_size);
	buf_free(&out);
	return rc;
}

/* "NAME ADDRESS SECRET64" into *b; false if any part is not valid. */
static bool callbridge_state_parse_line(char *line, struct proto_callbridge *b)
{
	char *address = strchr(line, ' ');
	char *secret = address ? strchr(address + 1, ' ') : NULL;
	if (secret == NULL || strchr(secret + 1, ' ') != NULL)
		return false;
	*address++ = '\0';
	*secret++ = '\0';
	memset(b, 0, sizeof(*b));
	if (!callbridge_name_valid(line) || !callbridge_address_valid(address))
		return false;
	memcpy(b->name, line, strlen(line) + 1);
	memcpy(b->address, address, strlen(address) + 1);
	unsigned char decoded[sizeof(b->secret) + 3];
	int n = scram_base64_decode(secret, strlen(secret), decoded, sizeof(decoded));
	bool ok = n > 0 && (size_t)n < sizeof(b->secret);
	if (ok) {
		memcpy(b->secret, decoded, (size_t)n);
		b->secret[n] = '\0';
		ok = strlen(b->secret) == (size_t)n && callbridge_secret_valid(b->secret);
	}
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return ok;
}

int callbridge_state_load(const char *path, struct proto_callbridge **items, size_t *count,
			  char *why, size_t why_size)
{
	*items = NULL;
	*count = 0;
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0; /* nothing committed yet */
	char *text;
	size_t len, start, body_len;
	unsigned version = 0;
	if (fileio_read_all(path, CALLBRIDGE_STATE_FILE_MAX, &text, &len, why, why_size) == -1)
		return -1;
	enum fileio_seal seal = fileio_unseal(path, text, len, CALLBRIDGE_STATE_KIND, &version,
					      &start, &body_len, why, why_size);
	if (seal != FILEIO_SEALED || version != CALLBRIDGE_STATE_VERSION) {
		if (seal == FILEIO_UNSEALED)
			snprintf(why, why_size, "%s: not sealed (no header and checksum)", path);
		else if (seal == FILEIO_SEALED)
			snprintf(why, why_size, "%s:1: format version %u, this rxmpp reads %u%s%s",
				 path, version, CALLBRIDGE_STATE_VERSION,
				 version > CALLBRIDGE_STATE_VERSION ? "; " : "",
				 version > CALLBRIDGE_STATE_VERSION ? FILEIO_NEWER_ADVICE : "");
		buf_wipe_free(text, len);
		return -1;
	}
	size_t cap = CALLBRIDGES_MAX * sizeof(**items);
	struct proto_callbridge *out = calloc(CALLBRIDGES_MAX, sizeof(*out));
	unsigned line_no = 1;
	char *cursor = text + start, *end = text + start + body_len, *line;
	bool cut = false, ok = out != NULL;
	size_t n = 0;
	while (ok && fileio_next_line(&cursor, end, &line, &cut)) {
		line_no++;
		if (line[0] == '#')
			continue;
		/* Sorted and distinct, as written: anything else is damage. */
		ok = n < CALLBRIDGES_MAX && callbridge_state_parse_line(line, &out[n]) &&
		     (n == 0 || strcmp(out[n - 1].name, out[n].name) < 0);
		n += ok;
	}
	if (ok && cut) {
		line_no++;
		ok = false;
	}
	buf_wipe_free(text, len);
	if (!ok) {
		snprintf(why, why_size, "%s:%u: not a valid call-bridge line%s", path, line_no,
			 cut ? " (cut short)" : "");
		buf_wipe_free(out, out ? cap : 0);
		return -1;
	}
	*items = out;
	*count = n;
	return 0;
}
