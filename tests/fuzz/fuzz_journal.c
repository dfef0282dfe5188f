/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the accounts journal (common/accounts_journal.c), which
 * rxmppd, rxmppctl and the listener read beside the accounts file.  The
 * input is the journal of an accounts file sealed with 64 zeros (its
 * seeds carry that seal); it is read whole, and again followed from a
 * reader's position part way.  What it accepts holds sorted, distinct,
 * prepared names with keys of the right sizes, the same both ways; a
 * refusal names the journal; nothing may crash or read out of bounds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/accounts.h"
#include "common/accounts_journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct accounts *a)
{
	for (size_t i = 0; i < a->count; i++) {
		if (i > 0 && strcmp(a->items[i - 1].name, a->items[i].name) >= 0)
			abort();
		for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
			if (a->items[i].keys[h].salt_len > sizeof(a->items[i].keys[h].salt) ||
			    a->items[i].keys[h].iterations == 0)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/rxmpp-fuzz-journal-XXXXXX", path[64], journal[80];
	static const char seal[ACCOUNTS_SEAL_LEN + 1] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	if (path[0] == '\0') {
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/accounts", dir);
		snprintf(journal, sizeof(journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, path);
	}
	FILE *f = fopen(journal, "wb");
	if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	struct accounts whole = {0}, followed = {0};
	struct accounts_journal_pos pos = {0}, part = {0};
	char why[1024];
	int rc = accounts_journal_apply(path, seal, &whole, &pos, why, sizeof(why));
	if (rc == -1 && strstr(why, journal) == NULL)
		abort();
	check(&whole);
	if (rc == 0 && pos.present) {
		/* A follower that read the first part of it, then the rest. */
		if (truncate(journal, (off_t)(size / 2)) == -1)
			abort();
		if (accounts_journal_apply(path, seal, &followed, &part, why, sizeof(why)) == 0 &&
		    part.present) {
			f = fopen(journal, "wb");
			if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
				abort();
			if (accounts_journal_apply(path, seal, &followed, &part, why,
						   sizeof(why)) != 0 ||
			    part.offset != pos.offset || followed.count != whole.count)
				abort();
			check(&followed);
		}
	}
	accounts_free(&whole);
	accounts_free(&followed);
	return 0;
}
