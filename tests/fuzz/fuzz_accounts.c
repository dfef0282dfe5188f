/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the accounts file parser (common/accounts.c), which the
 * listener, rxmppd and rxmppctl read from the state directory, sealed
 * (fileio: header and SHA-256) or of the format before sealing.  The input is the
 * file, written into a memory file and read through its /proc path as the
 * listener reads the real one.  A file it accepts holds sorted, distinct,
 * valid names with keys of the right sizes; nothing may crash or read out
 * of bounds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/accounts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd == -1) {
		fd = memfd_create("accounts", MFD_CLOEXEC);
		if (fd == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	struct accounts a;
	char why[512];
	bool unsealed;
	if (accounts_load(path, &a, &unsealed, why, sizeof(why)) == -1) {
		if (a.count != 0 || why[0] == '\0')
			abort();
		return 0;
	}
	for (size_t i = 0; i < a.count; i++) {
		if (i > 0 && strcmp(a.items[i - 1].name, a.items[i].name) >= 0)
			abort();
		for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
			if (a.items[i].keys[h].salt_len > sizeof(a.items[i].keys[h].salt))
				abort();
		}
	}
	accounts_free(&a);
	return 0;
}
