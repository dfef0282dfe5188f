/* SPDX-License-Identifier: MIT */
/*
 * The router's figures for the supervisor's metrics (common/metrics.h):
 * stanzas routed, bounced and handed to the cluster relay, by kind, and the
 * relay's queue.  The routing code calls the counting functions; the child
 * runtime asks for the set once a second.
 */
#include "router.h"

static struct {
	uint64_t routed[METRICS_STANZA_KIND_END];
	uint64_t bounced[METRICS_STANZA_KIND_END];
	uint64_t queued[METRICS_STANZA_KIND_END];
	uint64_t overflows;
} counts;

/* A kind the listener did not set cannot be counted under any name; the
 * routing header's unpacking keeps it from arriving (proto_route_unpack). */
static bool kind_known(uint32_t kind)
{
	return kind < METRICS_STANZA_KIND_END;
}

void router_metrics_routed(uint32_t kind)
{
	if (kind_known(kind))
		counts.routed[kind]++;
}

void router_metrics_bounced(uint32_t kind)
{
	if (kind_known(kind))
		counts.bounced[kind]++;
}

void router_metrics_queued(uint32_t kind, bool overflow)
{
	if (overflow)
		counts.overflows++;
	else if (kind_known(kind))
		counts.queued[kind]++;
}

void router_metrics(struct metrics_set *set)
{
	for (uint16_t i = 0; i < METRICS_STANZA_KIND_END; i++) {
		metrics_add(set, METRICS_STANZAS_ROUTED, i, 0, counts.routed[i]);
		metrics_add(set, METRICS_STANZAS_BOUNCED, i, 0, counts.bounced[i]);
		metrics_add(set, METRICS_STANZAS_QUEUED, i, 0, counts.queued[i]);
	}
	metrics_add(set, METRICS_RELAY_QUEUE_STANZAS, 0, 0, router_cluster_queued());
	metrics_add(set, METRICS_RELAY_QUEUE_OVERFLOWS, 0, 0, counts.overflows);
}
