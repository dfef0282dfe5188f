/* SPDX-License-Identifier: MIT */
/*
 * One call bridge (struct proto_callbridge: name, address, secret): what a
 * valid name and secret are, for every reader of them (the hand-edited
 * call-bridges file, config/callbridges.h; the cluster's replicated state,
 * elector/elector_machine.h), and the file in which a node of a cluster
 * finds the cluster's bridges.
 *
 * That file, state_directory/cluster-callbridges (mode 0640), is written
 * by the elector after it applied a committed change (nobody edits it, so
 * it is sealed like the accounts, common/fileio.h) and read by rxmppd when
 * cluster.enabled is true, instead of the administrator's callbridges.yaml,
 * which stays as they wrote it and seeds the cluster at `cluster
 * initialize` and `cluster join`.  One bridge a line, its secret in base64
 * so that any byte the secret may hold keeps the line splittable:
 *
 *   NAME ADDRESS BASE64(SECRET)
 */
#ifndef RXMPP_CALLBRIDGE_H
#define RXMPP_CALLBRIDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

#define CALLBRIDGE_SECRET_MIN	   8
#define CALLBRIDGE_STATE_FILE_NAME "cluster-callbridges"
/* Far more bridges than a conferencing cluster has (dozens); more are
 * refused, which keeps the duplicate checks and the listener's table small
 * whatever a file or a command holds. */
#define CALLBRIDGES_MAX 1024

/* 1 to 63 lower-case letters, digits and hyphens, as a DNS label. */
bool callbridge_name_valid(const char *name);
/* 8 to 255 bytes, no control character, no space at either end. */
bool callbridge_secret_valid(const char *secret);
/* 1 to 255 bytes, no control character and no space: a JID's domain. */
bool callbridge_address_valid(const char *address);

/* Whether a node reads its bridges (and its accounts change) through the
 * cluster's state: cluster.enabled, and the elector has materialised that
 * state under `state_directory` (the file exists).  Until then -- outside
 * a cluster, or in one all of whose state is still per node (an older
 * release) -- the node keeps its own files. */
bool callbridge_state_in_use(const char *state_directory, bool cluster_enabled);
/* The cluster's bridges, `count` of them sorted by name, sealed into
 * `path`; and read back (a missing file is no bridges; a damaged one is
 * refused with the line in `why`).  *items is freed with buf_wipe_free
 * (count * sizeof(**items)): it holds secrets. */
int callbridge_state_save(const char *path, const struct proto_callbridge *items, size_t count,
			  char *why, size_t why_size);
int callbridge_state_load(const char *path, struct proto_callbridge **items, size_t *count,
			  char *why, size_t why_size);

#endif
