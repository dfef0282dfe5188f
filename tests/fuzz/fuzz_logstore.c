/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the replicated log and snapshot files as a damaged disk may
 * hand them back (elector/elector_log_store.c).  The first input byte
 * picks the file: even, the rest is the log (no snapshot beside it); odd,
 * the rest is the snapshot beside an empty log.  Files go into a scratch
 * state directory (in /dev/shm when it can) removed at exit.  What is
 * taken is checked (elector_log_store_check) and then opened as the
 * elector does: entries follow each other after the snapshot, none longer
 * than an entry can be, the commit index within the log, a snapshot's
 * membership within a cluster's size; a refusal names the file; nothing
 * may crash or read out of bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elector/elector_log_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_logstore_dir[64];

static void fuzz_logstore_path(const char *name, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", fuzz_logstore_dir, name);
}

static void fuzz_logstore_cleanup(void)
{
	char path[128];
	fuzz_logstore_path(ELECTOR_LOG_FILE, path, sizeof(path));
	unlink(path);
	fuzz_logstore_path(ELECTOR_SNAPSHOT_FILE, path, sizeof(path));
	unlink(path);
	rmdir(fuzz_logstore_dir);
}

static void fuzz_logstore_write(const char *name, const void *data, size_t size)
{
	char path[128];
	fuzz_logstore_path(name, path, sizeof(path));
	FILE *f = fopen(path, "wb");
	if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_logstore_dir[0] == '\0') {
		snprintf(fuzz_logstore_dir, sizeof(fuzz_logstore_dir), "%s/rxmpp-fuzz-log-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (mkdtemp(fuzz_logstore_dir) == NULL)
			abort();
		atexit(fuzz_logstore_cleanup);
	}
	if (size < 1)
		return 0;
	char path[128];
	fuzz_logstore_path(ELECTOR_SNAPSHOT_FILE, path, sizeof(path));
	unlink(path);
	if (data[0] % 2 == 0) {
		fuzz_logstore_write(ELECTOR_LOG_FILE, data + 1, size - 1);
	} else {
		/* An empty log: its head and nothing else. */
		static const uint8_t head[16] = {'R', 'X', 'M', 'P', 'P', 'L', 'O', 'G', 1};
		fuzz_logstore_write(ELECTOR_LOG_FILE, head, sizeof(head));
		fuzz_logstore_write(ELECTOR_SNAPSHOT_FILE, data + 1, size - 1);
	}
	char why[1024], note[1024];
	struct elector_hard_state hard;
	struct elector_snapshot_meta meta;
	int rc = elector_log_store_check(fuzz_logstore_dir, &hard, &meta, why, sizeof(why));
	if (rc == -1) {
		if (strstr(why, fuzz_logstore_dir) == NULL)
			abort();
		return 0;
	}
	struct elector_log_loaded loaded;
	struct elector_log_store *s = elector_log_store_open(fuzz_logstore_dir, &loaded, note,
							     sizeof(note), why, sizeof(why));
	if (s == NULL)
		abort(); /* what the check took, the elector takes */
	if (loaded.meta.config.count > ELECTOR_MEMBERS_MAX)
		abort();
	uint64_t last = loaded.meta.index;
	for (size_t i = 0; i < loaded.count; i++) {
		if (loaded.entries[i].index != last + 1 ||
		    loaded.entries[i].len > ELECTOR_LOG_ENTRY_MAX)
			abort();
		last = loaded.entries[i].index;
	}
	if (loaded.hard.commit > last || elector_log_store_last_index(s) != last)
		abort();
	elector_log_store_free(s);
	return 0;
}
