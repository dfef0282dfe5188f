/* SPDX-License-Identifier: MIT */
/*
 * Replays a fuzz corpus without libFuzzer: every file named (or every file
 * in each folder named) goes through LLVMFuzzerTestOneInput once.  Built
 * with the ordinary compiler (and the sanitizers under SANITIZE=1) so that
 * `make check` exercises every corpus.  Ends with "N passed, 0 failed".
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	uint8_t *data = malloc(1 << 22);
	size_t size = data ? fread(data, 1, 1 << 22, f) : 0;
	fclose(f);
	if (data == NULL)
		return -1;
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == -1) {
			perror(argv[i]);
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			replay_file(argv[i]) == 0 ? passed++ : failed++;
			continue;
		}
		DIR *dir = opendir(argv[i]);
		struct dirent *entry;
		while (dir != NULL && (entry = readdir(dir)) != NULL) {
			if (entry->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], entry->d_name);
			replay_file(path) == 0 ? passed++ : failed++;
		}
		if (dir != NULL)
			closedir(dir);
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
