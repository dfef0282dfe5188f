/* SPDX-License-Identifier: MIT */
/*
 * What the elector keeps on disk, under the state directory:
 *   node-id   this node's permanent id (16 hex digits), made once
 *   election  term, vote, commit index and membership (each member's id,
 *             certificate fingerprint and address), and while that is not
 *             committed the last committed membership, rewritten atomically
 *             (temporary file, fsync, rename) before any message that
 *             depends on them is sent
 * Both are sealed (common/fileio.h: a "rxmpp-<kind> <version>" first line
 * and a SHA-256 last line) and parsed strictly: every field once, in
 * order, in its canonical form and range, nothing after it.  A file that
 * fails is an error naming the file and line, never a fresh start:
 * starting over could vote twice in one term.  For the same reason a
 * node whose node-id is there but whose election file is gone does not
 * start; `rxmppctl reset` and joining again is the way back.  Files
 * written before sealing, election files of version 1 (members without
 * the fingerprint of their certificate; such a member is bound to a
 * certificate when it is next heard from) and of version 2 (no committed
 * membership) are read once and rewritten.  A
 * node-id written before sealing with no election file beside it is a
 * node that never voted (version 0.1 wrote that file only then).
 */
#ifndef RXMPP_ELECTOR_STATE_H
#define RXMPP_ELECTOR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elector_core.h"

#define ELECTOR_STATE_NODE_ID_FILE  "node-id"
#define ELECTOR_STATE_ELECTION_FILE "election"

/* What the elector needs at start: reads the node id and the state, makes
 * both for a new node, rewrites files of the previous format (saying so
 * in the log), and refuses (-1, the file, line and what to do in `why`)
 * anything damaged or a node-id without its election state; -2 when a
 * file could not be written (disk full, read-only: worth retrying). */
int elector_state_open(const char *state_dir, uint64_t *id, struct elector_persistent *state,
		       char *why, size_t why_size);
/* What elector_state_open and the log (elector_log_store.h) would refuse
 * (-1, the reason in `why`), without writing anything: for rxmppctl while
 * rxmppd is stopped. */
int elector_state_check(const char *state_dir, char *why, size_t why_size);
/* Reads the persisted state: 0 when read (*unsealed: in the previous
 * format), 1 when there is no file (`state` is then empty), -1 when it
 * cannot be trusted.  Writes nothing. */
int elector_state_load(const char *state_dir, struct elector_persistent *state, bool *unsealed,
		       char *why, size_t why_size);
/* Reads the node id: 0 when read, 1 when there is none, -1 when the file
 * cannot be trusted.  Writes nothing. */
int elector_state_node_id(const char *state_dir, uint64_t *id, char *why, size_t why_size);
int elector_state_save(const char *state_dir, const struct elector_persistent *state, char *why,
		       size_t why_size);

#endif
