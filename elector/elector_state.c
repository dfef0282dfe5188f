/* The elector's files; see elector_state.h.  Runs in the elector. */
#include "elector_state.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fileio.h"

#define NODE_ID_FILE  "node-id"
#define ELECTION_FILE "election"

int elector_state_node_id(const char *state_dir, uint64_t *id, char *why, size_t why_size)
{
	char path[PATH_MAX], *text;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", state_dir, NODE_ID_FILE);
	if (access(path, F_OK) == 0) {
		if (fileio_read_all(path, 64, &text, &len, why, why_size) == -1)
			return -1;
		char *end;
		*id = strtoull(text, &end, 16);
		bool ok = end == text + 16 && (*end == '\n' || *end == '\0') && *id != 0;
		free(text);
		if (!ok) {
			snprintf(why, why_size, "%s: not a node id (16 hex digits)", path);
			return -1;
		}
		return 0;
	}
	do {
		if (RAND_bytes((unsigned char *)id, sizeof(*id)) != 1) {
			snprintf(why, why_size, "no random bytes for a node id");
			return -1;
		}
	} while (*id == 0);
	char line[32];
	int n = snprintf(line, sizeof(line), "%016" PRIx64 "\n", *id);
	return fileio_write_atomic(path, line, (size_t)n, 0644, why, why_size);
}

int elector_state_save(const char *state_dir, const struct elector_persistent *s, char *why,
		       size_t why_size)
{
	char path[PATH_MAX], line[256];
	snprintf(path, sizeof(path), "%s/%s", state_dir, ELECTION_FILE);
	struct buf out;
	buf_init(&out, 64 * 1024);
	int n = snprintf(line, sizeof(line),
			 "# rxmpp election state (written by the elector; do not edit)\n"
			 "term %" PRIu64 "\nvoted_for %016" PRIx64 "\ncommit %" PRIu64
			 "\nconfig %" PRIu64 " %" PRIu64 "\n",
			 s->term, s->voted_for, s->commit_index, s->config.index, s->config.term);
	buf_append(&out, line, (size_t)n);
	for (uint32_t i = 0; i < s->config.count; i++) {
		n = snprintf(line, sizeof(line), "member %016" PRIx64 " %s\n",
			     s->config.members[i].id, s->config.members[i].address);
		buf_append(&out, line, (size_t)n);
	}
	int rc = fileio_write_atomic(path, buf_head(&out), buf_len(&out), 0600, why, why_size);
	buf_free(&out);
	return rc;
}

int elector_state_load(const char *state_dir, struct elector_persistent *s, char *why,
		       size_t why_size)
{
	char path[PATH_MAX], *text;
	size_t len;
	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/%s", state_dir, ELECTION_FILE);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	if (fileio_read_all(path, 64 * 1024, &text, &len, why, why_size) == -1)
		return -1;
	unsigned line_no = 0, seen = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		line_no++;
		if (line[0] == '#')
			continue;
		char address[ELECTOR_ADDRESS_MAX + 1];
		uint64_t a, b;
		if (sscanf(line, "term %" SCNu64, &a) == 1) {
			s->term = a;
			seen |= 1;
		} else if (sscanf(line, "voted_for %" SCNx64, &a) == 1) {
			s->voted_for = a;
			seen |= 2;
		} else if (sscanf(line, "commit %" SCNu64, &a) == 1) {
			s->commit_index = a;
			seen |= 4;
		} else if (sscanf(line, "config %" SCNu64 " %" SCNu64, &a, &b) == 2) {
			s->config.index = a;
			s->config.term = b;
			seen |= 8;
		} else if (sscanf(line, "member %" SCNx64 " %128s", &a, address) == 2 &&
			   s->config.count < ELECTOR_MEMBERS_MAX && a != 0 &&
			   strlen(address) < ELECTOR_ADDRESS_MAX) {
			s->config.members[s->config.count].id = a;
			strcpy(s->config.members[s->config.count].address, address);
			s->config.count++;
		} else {
			snprintf(why, why_size,
				 "%s:%u: unreadable line; refusing to start from a damaged "
				 "election state",
				 path, line_no);
			free(text);
			return -1;
		}
	}
	free(text);
	if (seen != 15) {
		snprintf(why, why_size,
			 "%s: incomplete; refusing to start from a damaged election state", path);
		return -1;
	}
	return 0;
}
