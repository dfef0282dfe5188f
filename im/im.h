/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-im: the IM process of a node (issue 18; /work/notes/iface18.md's
 * "im process").  Its parts:
 *
 *   im_main.c      the process: configuration, its channels to the router
 *                  and the elector
 *   im_work.c      the jobs the router hands over, one at a time
 *                  (im_job.h): reads of a user's roster from the elector,
 *                  writes of an item (PROPOSE), stanzas out to the router
 *   im_rosterjob.c roster iqs: answer, decide (im_roster.h), write, push
 *   im_presjob.c   broadcast presence and subscriptions between users
 *   im_avail.c     who is available, with each resource's last presence
 *   im_stanza.c    one stanza's bytes parsed into a tree
 *   im_rosteriq.c  roster iqs read and written as XML
 *   im_roster.c, im_rosterval.c, im_sub.c, im_presence.c, im_offline.c
 *                  the pure cores (rosters, subscriptions, presence,
 *                  offline messages)
 *
 * Only the leader's im (or a lone node's) gets stanzas: the routers send
 * the IM work of the cluster there, so that each user's data has one
 * writer.  It keeps nothing that must outlive it: the users' data is the
 * elector's replicated state, read and written over the channel to it.
 */
#ifndef RXMPP_IM_H
#define RXMPP_IM_H

#include <stdbool.h>

#include "common/config.h"
#include "common/ipc.h"

/* im_work.c */
/* -1 when the timer it needs cannot be made. */
int im_work_configure(const struct config *cfg);
/* PROTO_IM_STANZA from the router; false for a malformed one or a kind
 * im does not take. */
bool im_work_stanza(const struct ipc_msg *msg);
/* PROTO_USERDATA_ANSWER or PROTO_PROPOSE_RESULT from the elector; false
 * for another type or a malformed one. */
bool im_work_elector_message(const struct ipc_msg *msg);
/* The elector went away: what waited for it is answered (wait). */
void im_work_elector_down(void);

#endif
