/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a stored offline message (im/im_offline.c), which every
 * node decodes from the replicated store and delivers.  The input is the
 * 8-byte key then the value.  A value is refused with a reason, or decoded
 * into a message that encodes back to the same bytes and takes its
 * <delay/> as its last child.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "im/im_offline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { STANZA_MAX = 65536 };
	static unsigned char again[STANZA_MAX + IM_OFFLINE_HEADER];
	static char out[STANZA_MAX + IM_OFFLINE_DELAY_MAX + 16];
	if (size < 8)
		return 0;
	struct im_offline_entry e;
	const char *why;
	if (im_offline_decode(data, 8, data + 8, size - 8, STANZA_MAX, &e, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	size_t n = im_offline_encode(e.stamp, e.stanza, e.len, again, sizeof(again));
	if (n != size - 8 || memcmp(again, data + 8, n) != 0)
		abort();
	char delay[IM_OFFLINE_DELAY_MAX];
	if (im_offline_delay("example.com", e.stamp, delay, sizeof(delay)) == -1)
		abort();
	int m = im_offline_stamp(e.stanza, e.len, delay, out, sizeof(out));
	if (m < (int)(e.len + strlen(delay)) || memcmp(out + m - 10, "</message>", 10) != 0 ||
	    strstr(out, delay) == NULL)
		abort();
	return 0;
}
