/* SPDX-License-Identifier: MIT */
#include "srv.h"

#include <stdlib.h>
#include <string.h>

static int by_priority_then_zero_weight_first(const void *a, const void *b)
{
	const struct srv_record *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	/* RFC 2782: within a priority, zero-weight records go first in the
	 * list, so that the running sum gives them a sliver of a chance. */
	return (x->weight != 0) - (y->weight != 0);
}

void srv_order(struct srv_record *records, size_t count, srv_random_fn *random, void *arg)
{
	qsort(records, count, sizeof(*records), by_priority_then_zero_weight_first);
	size_t start = 0;
	while (start < count) {
		size_t end = start;
		while (end < count && records[end].priority == records[start].priority)
			end++;
		/* Pick the next record among [first, end) until one is left. */
		for (size_t first = start; first + 1 < end; first++) {
			uint32_t sum = 0;
			for (size_t i = first; i < end; i++)
				sum += records[i].weight;
			uint32_t draw = random(sum, arg);
			size_t pick = first;
			uint32_t running = 0;
			for (size_t i = first; i < end; i++) {
				running += records[i].weight;
				if (running >= draw) {
					pick = i;
					break;
				}
			}
			struct srv_record chosen = records[pick];
			memmove(&records[first + 1], &records[first],
				(pick - first) * sizeof(*records));
			records[first] = chosen;
		}
		start = end;
	}
}

unsigned srv_first_share(const struct srv_record *records, size_t count, size_t index)
{
	uint32_t sum = 0, peers = 0;
	for (size_t i = 0; i < count; i++) {
		if (records[i].priority == records[index].priority) {
			sum += records[i].weight;
			peers++;
		}
	}
	if (sum == 0)
		return 1000 / peers;
	return (unsigned)((uint64_t)records[index].weight * 1000 / sum);
}
