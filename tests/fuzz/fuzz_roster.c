/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the stored roster item (im/im_rosterval.c), which every
 * node decodes from the replicated store.  The input is a key and a value:
 * one byte of key length, the key, then the value.  A value is refused
 * with a reason, or decoded into an item that encodes back to exactly the
 * same bytes (the format has one spelling for each item).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "im/im_rosterval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct im_roster_limits limits = {
	    .items_max = 100, .item_bytes_max = 4096, .name_max = 256, .group_max = 128};
	static unsigned char again[4096];
	if (size < 1 || (size_t)data[0] + 1 > size)
		return 0;
	size_t key_len = data[0];
	const char *key = (const char *)data + 1;
	const unsigned char *value = data + 1 + key_len;
	size_t len = size - 1 - key_len;
	struct im_roster_item item;
	const char *why;
	if (im_rosterval_decode(key, key_len, value, len, &limits, &item, &why) == -1) {
		if (why == NULL || item.jid != NULL)
			abort();
		return 0;
	}
	if (strlen(item.jid) != key_len || memcmp(item.jid, key, key_len) != 0)
		abort();
	size_t n = im_rosterval_encode(&item, again, sizeof(again));
	if (n != len || memcmp(again, value, len) != 0)
		abort();
	im_roster_item_free(&item);
	return 0;
}
