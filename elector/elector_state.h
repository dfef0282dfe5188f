/*
 * What the elector keeps on disk, under the state directory:
 *   node-id   this node's permanent id (16 hex digits), made once
 *   election  term, vote, commit index and membership, rewritten atomically
 *             (temporary file, fsync, rename) before any message that
 *             depends on them is sent
 * A file that cannot be read is an error, never a fresh start: starting
 * over could vote twice in one term.
 */
#ifndef RXMPP_ELECTOR_STATE_H
#define RXMPP_ELECTOR_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "elector_core.h"

/* Reads the node id, making one when there is none yet. */
int elector_state_node_id(const char *state_dir, uint64_t *id, char *why, size_t why_size);
/* Reads the persisted state; a missing file is the empty state of a new node. */
int elector_state_load(const char *state_dir, struct elector_persistent *state, char *why,
		       size_t why_size);
int elector_state_save(const char *state_dir, const struct elector_persistent *state, char *why,
		       size_t why_size);

#endif
