/* SPDX-License-Identifier: MIT */
/*
 * This node's copy of the cluster's state (runs in the elector): the log
 * and snapshot on disk (elector_log_store.h) and the state machine
 * (elector_machine.h), fed from the core's elector_ready in the order the
 * core's contract asks: install a snapshot, write the entries, (the shell
 * sends) apply what is committed, then materialise the files the other
 * processes read.
 *
 * Files: the election file (elector_state.h) stays what 0.2.0 wrote and
 * reads (term, vote, commit index, memberships), so a rolling upgrade
 * reads it unchanged and a node can still be inspected as before; the
 * log and snapshot hold the entries and the state machine.  A node of
 * 0.2.0 has no log: at its first start its membership becomes the
 * snapshot's meta at the membership's index and term (the committed one;
 * a membership not yet committed the one entry after it), and the log
 * starts empty behind it (elector_boot_from_state).  Nothing else is
 * migrated: 0.2.0 replicated nothing else.
 *
 * The commit index a node starts with is the one its log recorded with
 * its entries: never past the last whole entry, whatever a crash between
 * the two files left.
 *
 * A snapshot is taken after applying, every `snapshot_every` entries
 * (cluster.snapshot_entries) once the log holds a quarter of the last
 * snapshot's bytes, or when the log file passes
 * ELECTOR_REPLICA_LOG_BYTES: the
 * machine is encoded, written with the membership in effect at the
 * applied index, and the core told (elector_compact) so that it drops the
 * entries behind it and sends the snapshot to followers that need it.
 */
#ifndef RXMPP_ELECTOR_REPLICA_H
#define RXMPP_ELECTOR_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elector_core.h"
#include "elector_machine.h"

#define ELECTOR_REPLICA_LOG_BYTES (64u * 1024u * 1024u)

struct elector_replica;

/* Opens the log of `state_dir` (making it from `state`, the election
 * file, when there is none) and fills `boot` for elector_new: valid until
 * elector_replica_free.  -1 with the file, offset and advice in `why`
 * (refused: the node must not start). */
struct elector_replica *elector_replica_open(const char *state_dir, uint32_t snapshot_every,
					     const struct elector_persistent *state,
					     struct elector_boot *boot, char *why, size_t why_size);
void elector_replica_free(struct elector_replica *r);

/* Before the messages of `ready` leave: installs its snapshot and writes
 * its entries and hard state, flushed.  -1: nothing may be sent. */
int elector_replica_persist(struct elector_replica *r, const struct elector_ready *ready, char *why,
			    size_t why_size);

/* One committed entry of `ready`, in order.  DATA entries are applied
 * (their answer in *result); others leave *result empty.  -1 only when
 * the machine ran out of memory: the elector must stop rather than
 * diverge. */
int elector_replica_apply(struct elector_replica *r, const struct elector_entry *entry,
			  struct elector_machine_result *result);
/* After a batch: writes the files the listener and rxmppd read, when the
 * cluster holds state (not before a first command or snapshot, so a
 * node's own files are never replaced by an empty set).  *bridges_changed:
 * rxmppd must hand the bridges over again. */
int elector_replica_materialise(struct elector_replica *r, bool *bridges_changed, char *why,
				size_t why_size);
/* After elector_advance: takes a snapshot when one is due (see above). */
int elector_replica_compact(struct elector_replica *r, struct elector *core, char *why,
			    size_t why_size);

const struct elector_machine *elector_replica_machine(const struct elector_replica *r);
/* Whether the cluster's state holds anything yet (a command applied or a
 * snapshot with a state machine installed). */
bool elector_replica_has_state(const struct elector_replica *r);
/* The last index applied here, and its term. */
uint64_t elector_replica_applied(const struct elector_replica *r, uint64_t *term);

#endif
