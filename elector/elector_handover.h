/* SPDX-License-Identifier: MIT */
/*
 * Leadership transfer as the elector's shell drives it (the protocol is
 * the core's: elector_transfer, Raft thesis 3.10).  Runs in the elector
 * process; it logs the transfers (begun, given up) and does no other I/O:
 * the shell asks, feeds the clock, and sends the answers it is given.
 *
 * Who asks: the supervisor before this node stops (PROTO_CLUSTER_OP_YIELD
 * on SIGTERM; rxmppctl drain the same), rxmppctl cluster leader on the
 * leader (PROTO_CLUSTER_OP_LEADER), and other members for theirs
 * (ELECTOR_CHANGE_LEADER on a peer link, answered by the shell).  One
 * local request waits at a time; it is answered once another member leads
 * (ok), or when the core gave the transfer up (the target did not take
 * over within the election timeout: this node leads on), or when no
 * leader is known within two maximum election timeouts of this node
 * stepping down.
 */
#ifndef RXMPP_ELECTOR_HANDOVER_H
#define RXMPP_ELECTOR_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elector_core.h"

struct elector_handover {
	bool waiting;	  /* a local request waits for the outcome */
	uint64_t token;	  /* its token (header peer of the answer) */
	int64_t deadline; /* ms: the outcome is said by then */
	uint64_t watched; /* the transfer under way when last watched */
	uint64_t gave_up; /* the target of the last transfer given up */
	int64_t gave_up_at;
};

/* An answer for the local request, when `answer`. */
struct elector_handover_news {
	bool answer;
	bool ok;
	uint64_t token;
	char text[256];
};

/* A local request to hand leadership to `target` (ELECTOR_NONE: the most
 * up-to-date other member; `yield`: only if this node leads).  Answered
 * at once in `news` when there is nothing to do or it cannot be done. */
void elector_handover_start(struct elector_handover *h, struct elector *core, uint64_t self,
			    uint64_t token, uint64_t target, bool yield, int64_t now_ms,
			    int64_t election_max_ms, struct elector_handover_news *news);
/* Each tick, after the core's output was handled. */
void elector_handover_watch(struct elector_handover *h, struct elector *core, int64_t now_ms,
			    struct elector_handover_news *news);
/* A member's request (ELECTOR_CHANGE_LEADER) at the leader: starts or
 * continues the transfer.  Returns 1 while it is under way, 0 when
 * `target` is this node (it leads already), -1 with `*why` when it cannot
 * be done (or was just given up). */
int elector_handover_remote(struct elector_handover *h, struct elector *core, uint64_t self,
			    uint64_t target, int64_t now_ms, const char **why);

#endif
