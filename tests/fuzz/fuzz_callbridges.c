/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the call-bridges file parser (config/callbridges.c), which
 * the supervisor and rxmppctl read.  The input is the file.  Accepted
 * bridges have valid names, secrets and addresses that end within their
 * fields, and no two share a name; nothing may crash or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/callbridges.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct proto_callbridge *)a)->name,
		      ((const struct proto_callbridge *)b)->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config_errors errors;
	struct callbridges b;
	if (callbridges_parse("callbridges.yaml", (const char *)data, size, "example.com", &b,
			      &errors) == -1) {
		if (errors.count == 0 || b.count != 0)
			abort();
		return 0;
	}
	if (b.count > CALLBRIDGES_MAX)
		abort();
	for (size_t i = 0; i < b.count; i++) {
		const struct proto_callbridge *cb = &b.items[i];
		if (!callbridge_name_valid(cb->name) ||
		    strnlen(cb->secret, sizeof(cb->secret)) == sizeof(cb->secret) ||
		    strnlen(cb->address, sizeof(cb->address)) == sizeof(cb->address))
			abort();
	}
	/* No two share a name: neighbours once sorted (pair by pair would
	 * cost the fuzzer more than the parser). */
	if (b.count > 1)
		qsort(b.items, b.count, sizeof(*b.items), by_name);
	for (size_t i = 1; i < b.count; i++) {
		if (strcmp(b.items[i - 1].name, b.items[i].name) == 0)
			abort();
	}
	callbridges_free(&b);
	return 0;
}
