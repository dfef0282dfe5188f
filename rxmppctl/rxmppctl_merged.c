/* SPDX-License-Identifier: MIT */
/*
 * What of this node's call-bridges file is already in the cluster's state:
 * state_directory/callbridges.merged, written by rxmppctl after its
 * bridges were merged (cluster initialize, join, merge), one line per
 * bridge of the file with its name and digest (elector_digests_bridge: of
 * its address and secret, never the secret):
 *
 *   rxmpp-callbridges-merged 1
 *   NAME HEX-DIGEST
 *   ...
 *
 * Why: the file stays the administrator's and nothing rewrites it, so a
 * bridge the cluster deleted is still in it; merged again at the next
 * `cluster join` (after a reset, say) it would come back.  A join merges
 * only the bridges that are not recorded here as they are now: new ones,
 * and ones whose address or secret changed since they were merged (which
 * the cluster then checks like any other).  `cluster merge` merges the
 * whole file, as the administrator asks.  `rxmppctl reset` keeps the
 * record (the file it is about is kept too).
 *
 * A record that cannot be read is refused with the file and line, and the
 * join goes no further: removing it merges the whole file again.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/callbridge.h"
#include "common/fileio.h"
#include "elector/elector_digests.h"
#include "rxmppctl.h"

#define MERGED_HEADER "rxmpp-callbridges-merged 1\n"
#define MERGED_MAX    (64u * 1024u + 64u * CALLBRIDGES_MAX)

struct merged_entry {
	char name[64];
	uint8_t digest[ELECTOR_DIGEST_LEN];
};

static void merged_path(const char *state_directory, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", state_directory, RXMPPCTL_MERGED_FILE);
}

static int hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The entries of the record (none when there is no record). */
static int merged_load(const char *path, struct merged_entry **out, size_t *count, char *why,
		       size_t why_size)
{
	char *text = NULL;
	size_t len = 0;
	*out = NULL;
	*count = 0;
	if (access(path, F_OK) == -1)
		return 0;
	if (fileio_read_all(path, MERGED_MAX, &text, &len, why, why_size) == -1)
		return -1;
	struct merged_entry *e = calloc(CALLBRIDGES_MAX, sizeof(*e));
	size_t n = 0, line = 1, header = strlen(MERGED_HEADER);
	const char *p = text, *end = text + len;
	bool ok = e != NULL && len >= header && memcmp(text, MERGED_HEADER, header) == 0;
	for (p += ok ? header : 0; ok && p < end; n++) {
		line++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *space = nl ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
		ok = n < CALLBRIDGES_MAX && space != NULL && space > p &&
		     (size_t)(space - p) < sizeof(e[n].name) &&
		     nl - space - 1 == 2 * ELECTOR_DIGEST_LEN;
		if (!ok)
			break;
		memcpy(e[n].name, p, (size_t)(space - p));
		ok = callbridge_name_valid(e[n].name);
		for (size_t i = 0; ok && i < ELECTOR_DIGEST_LEN; i++) {
			int hi = hex_value(space[1 + 2 * i]), lo = hex_value(space[2 + 2 * i]);
			ok = hi >= 0 && lo >= 0;
			e[n].digest[i] = (uint8_t)(hi << 4 | lo);
		}
		p = nl + 1;
	}
	free(text);
	if (!ok) {
		snprintf(why, why_size,
			 "%s:%zu: not a record of merged call bridges (remove it, and the next "
			 "join merges the whole call-bridges file)",
			 path, line);
		free(e);
		return -1;
	}
	*out = e;
	*count = n;
	return 0;
}

int rxmppctl_merged_filter(const char *state_directory, const struct proto_callbridge *bridges,
			   size_t count, struct proto_callbridge **out, size_t *out_count,
			   size_t *skipped, char *why, size_t why_size)
{
	char path[PATH_MAX];
	struct merged_entry *e;
	size_t n;
	merged_path(state_directory, path, sizeof(path));
	*out = NULL;
	*out_count = *skipped = 0;
	if (merged_load(path, &e, &n, why, why_size) == -1)
		return -1;
	*out = calloc(count ? count : 1, sizeof(**out));
	if (*out == NULL) {
		free(e);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		uint8_t d[ELECTOR_DIGEST_LEN];
		bool recorded = false;
		elector_digests_bridge(&bridges[i], d);
		for (size_t k = 0; !recorded && k < n; k++)
			recorded = strcmp(e[k].name, bridges[i].name) == 0 &&
				   memcmp(e[k].digest, d, sizeof(d)) == 0;
		if (recorded)
			(*skipped)++;
		else
			(*out)[(*out_count)++] = bridges[i];
	}
	free(e);
	return 0;
}

int rxmppctl_merged_save(const char *state_directory, const struct proto_callbridge *bridges,
			 size_t count, char *why, size_t why_size)
{
	char path[PATH_MAX];
	struct buf text;
	merged_path(state_directory, path, sizeof(path));
	buf_init(&text, MERGED_MAX);
	int rc = buf_append(&text, MERGED_HEADER, strlen(MERGED_HEADER));
	for (size_t i = 0; rc == 0 && i < count; i++) {
		uint8_t d[ELECTOR_DIGEST_LEN];
		char line[64 + 2 + 2 * ELECTOR_DIGEST_LEN + 1];
		size_t at = (size_t)snprintf(line, sizeof(line), "%s ", bridges[i].name);
		elector_digests_bridge(&bridges[i], d);
		for (size_t k = 0; k < sizeof(d) && at + 2 < sizeof(line); k++)
			at += (size_t)snprintf(line + at, sizeof(line) - at, "%02x", d[k]);
		line[at] = '\n';
		rc = buf_append(&text, line, at + 1);
	}
	if (rc == 0)
		rc =
		    fileio_write_atomic(path, buf_head(&text), buf_len(&text), 0640, why, why_size);
	else
		snprintf(why, why_size, "out of memory");
	buf_free(&text);
	return rc;
}
