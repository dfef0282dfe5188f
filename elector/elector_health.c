/* SPDX-License-Identifier: MIT */
/*
 * The elector's health log lines (elector_health.h): a warning when a
 * member or the quorum is lost, an info line when it is back.  Runs in the
 * elector process; it only logs, so nothing here can fail.
 */
#include "elector_health.h"

#include <inttypes.h>
#include <string.h>

#include "common/log.h"

void elector_health_watch(struct elector_health *h, const struct elector_health_member *members,
			  uint32_t count, uint32_t reachable, uint32_t needed)
{
	struct elector_health next = {.count = count};
	for (uint32_t i = 0; i < count && i < ELECTOR_MEMBERS_MAX; i++) {
		const struct elector_health_member *m = &members[i];
		next.logged[i].id = m->id;
		next.logged[i].reachable = m->reachable;
		int before = -1;
		for (uint32_t k = 0; k < h->count; k++) {
			if (h->logged[k].id == m->id)
				before = h->logged[k].reachable;
		}
		if (m->reachable && before == 0)
			log_info("cluster member %016" PRIx64 " at %s is reachable again", m->id,
				 m->address);
		else if (!m->reachable && before != 0)
			log_warnx("cluster member %016" PRIx64 " at %s is unreachable: %s", m->id,
				  m->address, m->why);
	}
	bool quorum = reachable >= needed;
	if (!h->quorum_known || quorum != h->quorum) {
		if (!quorum)
			log_warnx("cluster quorum lost: %u of %u members reachable, %u needed",
				  reachable, count, needed);
		else if (h->quorum_known)
			log_info("cluster quorum regained: %u of %u members reachable, %u needed",
				 reachable, count, needed);
	}
	next.quorum_known = true;
	next.quorum = quorum;
	*h = next;
}
