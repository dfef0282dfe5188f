/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the elector's state files (elector/elector_state.c), the
 * node id and the election state (term, vote, commit index, membership)
 * that a damaged disk may hand back, sealed (fileio: header and SHA-256)
 * or of the format before sealing.  The first input byte picks the case:
 * even, the rest is the election file, read by elector_state_load; odd,
 * the rest is the node-id file beside a valid election file, read by
 * elector_state_open as the elector starts.  Files go into a scratch state
 * directory (in /dev/shm when it can) removed at exit.  State accepted holds at most
 * ELECTOR_MEMBERS_MAX members with nonzero ids and addresses that end
 * within their field, in the latest membership and in the committed one
 * (which is not later than the latest); a refusal says why; nothing may crash or read out of
 * bounds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "elector/elector_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* In memory when there is a tmpfs: an fsync there costs nothing, and the
 * elector fsyncs every file it rewrites. */
static char fuzz_election_dir[64];

static void fuzz_election_path(const char *name, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", fuzz_election_dir, name);
}

static void fuzz_election_cleanup(void)
{
	char path[128];
	fuzz_election_path(ELECTOR_STATE_ELECTION_FILE, path, sizeof(path));
	unlink(path);
	fuzz_election_path(ELECTOR_STATE_NODE_ID_FILE, path, sizeof(path));
	unlink(path);
	rmdir(fuzz_election_dir);
}

static void fuzz_election_write(const char *name, const void *data, size_t size)
{
	char path[128];
	fuzz_election_path(name, path, sizeof(path));
	FILE *f = fopen(path, "wb");
	if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

static void fuzz_election_check_members(const struct elector_config *c)
{
	if (c->count > ELECTOR_MEMBERS_MAX)
		abort();
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->members[i].id == 0 ||
		    strnlen(c->members[i].address, sizeof(c->members[i].address)) ==
			sizeof(c->members[i].address))
			abort();
	}
}

/* The latest membership and the committed one beside it; the committed
 * one comes before the latest, or is it. */
static void fuzz_election_check(const struct elector_persistent *s)
{
	fuzz_election_check_members(&s->config);
	fuzz_election_check_members(&s->committed);
	if (s->committed.count > 0 && s->committed.index > s->config.index)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	/* A valid sealed election file, written once by elector_state_save and
	 * put back with a plain write: its fsync would bound the rate. */
	static char valid_text[4096];
	static size_t valid_len;
	if (!ready) {
		snprintf(fuzz_election_dir, sizeof(fuzz_election_dir),
			 "%s/rxmpp-fuzz-election-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (mkdtemp(fuzz_election_dir) == NULL)
			abort();
		atexit(fuzz_election_cleanup);
		/* Rewriting files of the previous format is logged. */
		log_set_level(LOG_LEVEL_ERR);
		struct elector_persistent valid = {.term = 2, .config.count = 1};
		valid.config.members[0].id = 1;
		snprintf(valid.config.members[0].address, sizeof(valid.config.members[0].address),
			 "127.0.0.1:5224");
		char why[1024], path[128];
		if (elector_state_save(fuzz_election_dir, &valid, why, sizeof(why)) == -1)
			abort();
		fuzz_election_path(ELECTOR_STATE_ELECTION_FILE, path, sizeof(path));
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			abort();
		valid_len = fread(valid_text, 1, sizeof(valid_text), f);
		fclose(f);
		ready = true;
	}
	if (size == 0)
		return 0;
	static struct elector_persistent s;
	char why[1024] = "";
	if (data[0] & 1) {
		fuzz_election_write(ELECTOR_STATE_ELECTION_FILE, valid_text, valid_len);
		fuzz_election_write(ELECTOR_STATE_NODE_ID_FILE, data + 1, size - 1);
		uint64_t id = 0;
		if (elector_state_open(fuzz_election_dir, &id, &s, why, sizeof(why)) == -1) {
			if (why[0] == '\0')
				abort();
			return 0;
		}
		if (id == 0)
			abort();
		fuzz_election_check(&s);
		return 0;
	}
	fuzz_election_write(ELECTOR_STATE_ELECTION_FILE, data + 1, size - 1);
	bool unsealed = false;
	int rc = elector_state_load(fuzz_election_dir, &s, &unsealed, why, sizeof(why));
	if (rc == -1 && why[0] == '\0')
		abort();
	if (rc == 0)
		fuzz_election_check(&s);
	return 0;
}
