/* SPDX-License-Identifier: MIT */
/*
 * The users' data of a node that is in no cluster (cluster.enabled false,
 * or enabled but neither initialized nor joined yet; issue 18): the same
 * state machine as a cluster's (elector_machine.h, its user data), fed by
 * a log of this node alone in state_directory/local/, with the cluster
 * log's formats and code (elector_log_store.h: records checksummed, the
 * snapshot = the machine's snapshot, written atomically, mode 0600 as it
 * holds the accounts' keys).  A damaged file is refused with its path,
 * byte offset and what is wrong, and the elector does not start: serving
 * a guess could hand a client a roster it never had.
 *
 * Runs in the elector (elector_io.c), and in rxmppctl when it carries the
 * data into a cluster (`cluster initialize`, `join`, `merge`) or clears a
 * deleted user's data while rxmppd is stopped.  One user at a time: the
 * elector closes the store once the node is a member, and an open takes
 * the folder's flock, waiting up to 2 s for another holder (then refused,
 * saying so): two writers would append over each other's entries.
 *
 * A write (a PROPOSE of a USERDATA_* command, the only commands taken
 * here) is checked against the machine.  One that changes something is
 * applied at the next index (term 1), which is the changed collection's
 * version as in a cluster: strictly increasing across restarts, as the
 * log (or, once compacted, its snapshot) keeps the last index.  It is
 * staged, and the writes staged in one turn of the elector's loop are
 * appended to the log with one flush (elector_local_flush) before any of
 * them is answered, and before a read is: as a cluster's commit, one
 * flush serves a batch.  One that changes nothing (IDENTICAL, REFUSED)
 * writes nothing: a refused command in the log could be applied at the
 * next start, against accounts made since.  After `snapshot_every` writes
 * (cluster.snapshot_entries), once the log holds a quarter of the last
 * snapshot's bytes (or past ELECTOR_REPLICA_LOG_BYTES), the machine is
 * written as the snapshot and the log emptied behind it: a write costs
 * its own bytes, not the whole state's.
 *
 * Accounts are the node's accounts file (state_directory/accounts, which
 * rxmppctl writes), not commands: the machine's are replaced by the
 * file's whenever the file changed (its inode, size or modification
 * time, looked at before each write and read), and the data of a user
 * who lost an account is cleared by a USERDATA_CLEAR written to the log
 * like any other change, so that a snapshot never holds data of a user
 * without an account (it would not decode).  `rxmppctl user del` also
 * clears it at once, so that an account deleted and made again before
 * the next look does not inherit the old roster.
 */
#ifndef RXMPP_ELECTOR_LOCAL_H
#define RXMPP_ELECTOR_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elector_machine.h"

#define ELECTOR_LOCAL_DIR "local"
/* What a damaged local store's refusal ends with. */
#define ELECTOR_LOCAL_ADVICE                                                                       \
	"restore it from a backup, or move the folder away to start with no user data "            \
	"(rosters, offline messages...; see rxmppd(8), DAMAGED STATE FILES)"

struct elector_local;

/* Opens state_dir/local (made when missing) and reads the accounts file
 * `accounts_path` (the node's: state_dir/accounts while in no cluster, or
 * the one kept aside when a cluster's state replaced it).  NULL with the
 * file, offset and advice in `why`. */
struct elector_local *elector_local_open(const char *state_dir, const char *accounts_path,
					 uint32_t snapshot_every, char *why, size_t why_size);
void elector_local_free(struct elector_local *l);

/* Whether `command` is one this store takes (a USERDATA_* command). */
bool elector_local_takes(const void *command, size_t len);
/* Applies one command that elector_local_takes, staged for the next
 * flush: 0 with the machine's answer in *result and its index in *index
 * (0 when nothing needed writing); -1 with `why` (the accounts file could
 * not be read, or memory ran out): nothing changed. */
int elector_local_stage(struct elector_local *l, const void *command, size_t len,
			struct elector_machine_result *result, uint64_t *index, char *why,
			size_t why_size);
/* Appends every staged write to the log and flushes it (then compacts
 * when due).  -1 with `why`: memory holds what the disk may not; nothing
 * staged may be answered, and the store must not be used further (the
 * elector stops; its restart reads the disk). */
int elector_local_flush(struct elector_local *l, char *why, size_t why_size);
/* Both, for one write (rxmppctl). */
int elector_local_propose(struct elector_local *l, const void *command, size_t len,
			  struct elector_machine_result *result, uint64_t *index, char *why,
			  size_t why_size);

/* The machine for reads, its accounts first brought up to date (an
 * accounts file that cannot be read is warned about; the last one read
 * stays in force): flush before answering from it (a deleted account's
 * data may have been cleared, staged). */
const struct elector_machine *elector_local_machine(struct elector_local *l);
/* What elector_local_open would refuse of state_dir/local (the files'
 * structure, the snapshot's user data, entries that are no user-data
 * command), reading only (no folder or no log: 0); for `rxmppctl config check` and `status` of a
 * stopped node.  -1 with the file, offset and advice in `why`. */
int elector_local_check(const char *state_dir, char *why, size_t why_size);
/* How many items of user data state_dir/local holds, reading only (no
 * folder: 0): for a member, what a carry into the cluster left (see
 * rxmppctl_userdata_merge.c).  -1 with `why`. */
int elector_local_left(const char *state_dir, size_t *items, char *why, size_t why_size);

#endif
