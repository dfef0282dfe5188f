/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the YAML configuration reader.  Whatever the input, it must
 * end in a configuration or a list of errors, and a configuration it
 * accepts must print in a canonical form that it accepts again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg, again;
	static struct config_errors errors;
	if (config_parse("fuzz.yaml", (const char *)data, size, "/", &cfg, &errors) == -1)
		return 0;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	config_print(&cfg, out);
	fclose(out);
	if (config_parse("canonical.yaml", text, len, "/", &again, &errors) == -1 ||
	    memcmp(&cfg, &again, sizeof(cfg)) != 0)
		abort();
	free(text);
	return 0;
}
