/* SPDX-License-Identifier: MIT */
/*
 * The cluster's health as the elector logs it: edge-triggered, so that a
 * member lost, the quorum lost (warnings) and either regained (info) make
 * one line each when they happen, never one per heartbeat.  The shell
 * (elector_io.c) works out, every so often, whether each member is
 * reachable and whether a quorum is; this remembers what was logged last.
 * Losing the leader is logged where the leader changes (elector_io.c).
 */
#ifndef RXMPP_ELECTOR_HEALTH_H
#define RXMPP_ELECTOR_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "elector_core.h"

struct elector_health_member {
	uint64_t id;
	const char *address;
	bool reachable;
	const char *why; /* when not: what says so, for the log line */
};

struct elector_health {
	uint32_t count;
	struct {
		uint64_t id;
		bool reachable;
	} logged[ELECTOR_MEMBERS_MAX];
	bool quorum_known;
	bool quorum;
};

/* Logs what changed since the last call: members that became unreachable
 * or reachable again (a member seen the first time is logged only when it
 * is unreachable), and the quorum (`reachable` of `count` members, `needed`
 * for a quorum).  Members no longer listed are forgotten quietly. */
void elector_health_watch(struct elector_health *h, const struct elector_health_member *members,
			  uint32_t count, uint32_t reachable, uint32_t needed);

#endif
