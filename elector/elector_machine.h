/* SPDX-License-Identifier: MIT */
/*
 * The cluster's replicated state machine: what the elector's log carries
 * and every node applies in the same order (issue 15).  Pure and
 * deterministic: no I/O but elector_machine_materialise, no clock, no
 * randomness (salts and secrets are made by rxmppctl and travel in the
 * commands), so every node that applies the same entries holds the same
 * state and computes the same answer to each of them.
 *
 * The state:
 *   accounts      name -> salted SCRAM-SHA-1 and SCRAM-SHA-256 keys (never
 *                 passwords), the names in their nodeprep form
 *   call bridges  name -> address (the component's JID) and shared secret
 *   user data     per account, per collection (roster, offline, vcard,
 *                 block, meta), opaque key -> opaque value, each
 *                 collection with its version (elector_userdata.h)
 *
 * Commands are bytes (a log entry's DATA, at most ELECTOR_MACHINE_COMMAND_MAX),
 * big-endian, made by the elector_machine_encode_* functions:
 *
 *   u8 format (1) | u8 op | body
 *   USER_ADD, USER_PASSWD  str16 name | keys[SCRAM_HASH_COUNT]
 *   USER_DEL               str16 name
 *   BRIDGE_ADD, BRIDGE_ADD_SECRET  str8 name | str8 address | str8 secret
 *   BRIDGE_DEL             str8 name
 *   MERGE, MERGE_CHECK     u32 accounts | u32 bridges | (str16 name | keys)... |
 *                          (str8 name | str8 address | str8 secret)...
 *   SETTINGS, SETTINGS_CHECK  u64 node | u8 count | (str8 key | str8 value)...
 *   USERDATA_PUT           str16 user | u8 collection | limit | bytes16 key |
 *                          bytes16 value
 *   USERDATA_APPEND        str16 user | u8 collection | limit | bytes16 value
 *   USERDATA_DEL, USERDATA_TAKE  str16 user | u8 collection | bytes16 key
 *   USERDATA_CLEAR         str16 user
 *   limit                  u32 items | u32 bytes (the collection's quota,
 *                          1 to ELECTOR_USERDATA_COUNT_MAX and _BYTES_MAX)
 *   keys                   u32 iterations | str8 salt | stored key | server key
 *                          (the keys as long as the hash's output)
 *
 * Applying a command answers with a status and a text that names what it
 * changed and never holds a secret or a key:
 *   OK         changed as asked
 *   IDENTICAL  nothing to change: "already known, identical" (add-secret of
 *              the secret the cluster holds; a merge of entries it holds)
 *   REFUSED    nothing changed, and why: a user that exists (add) or does
 *              not (passwd, del); a bridge whose secret differs from the
 *              one the cluster holds (CMS's "scenario 2", made impossible:
 *              "the cluster holds a different secret"); each conflicting
 *              name of a merge; a command that does not decode
 * Every command is all or nothing, a MERGE too (all its entries or none).
 *
 * User data (issue 18; the IM process writes it, the machine does not
 * understand it): PUT inserts or replaces an item (IDENTICAL when the
 * value is the same), DEL removes one (REFUSED "no such item"), APPEND
 * inserts a value under the key made of the entry's log index (8 bytes,
 * big-endian: a queue in arrival order, the same on every node), TAKE
 * removes every key <= the one given (offline messages delivered;
 * IDENTICAL when there is none), CLEAR forgets all of a user's data.  A
 * change to a user without an account is REFUSED ("no user"), and so is
 * one past the collection's quota, which the command carries (the writer
 * reads it from its configuration; every node then applies the same one):
 * the text names the quota.  USER_DEL clears the user's data in the same
 * entry.  A collection's version is the log index of the entry that last
 * changed it, which PROTO_PROPOSE_RESULT carries as its index: strictly
 * increasing and the same on every node (XEP-0237 roster versions).  The
 * reads of the IM process and of `rxmppctl user data` come from the
 * machine in memory (elector_userdata_read.h); user data is never
 * materialised to files.
 *
 * Besides accounts and bridges the state holds, per node, the settings that
 * must agree across the cluster (config_cluster_wide, config/config.h) as
 * each node last reported them: SETTINGS records a node's (answering OK,
 * and naming what differs from the other nodes' as drift), SETTINGS_CHECK
 * changes nothing and answers REFUSED with each differing key and both
 * values (what the leader asks of a joining node before the membership
 * changes, among the current members: elector_machine_check_settings;
 * a joiner's accounts and bridges it compares as digests,
 * elector_digests.h).  A node's
 * entry is replaced by its next report; past ELECTOR_MACHINE_NODES_MAX
 * nodes the one reported longest ago is forgotten.
 * MERGE_CHECK answers what MERGE would and changes nothing; `cluster join`
 * runs it over every batch before it merges any.
 *
 * Snapshot (elector_machine_snapshot_encode/decode): the whole state as
 *
 *   "RXMS" | u32 version (2) | u32 accounts | u32 bridges |
 *   (str16 name | keys)... sorted | (str8 name | str8 address | str8 secret)...
 *   sorted | u32 nodes | (u64 node | u64 reported | u8 count |
 *   (str8 key | str8 value)...)... sorted by node | user data |
 *   SHA-256 of every byte before it
 *   user data  u32 users | (str16 name | u8 collections | (u8 collection |
 *              u64 version | u32 items | (bytes16 key | bytes16 value)...
 *              sorted by key)... ascending)... sorted by name
 *
 * Version 1 (the builds before issue 18, never released) is the same
 * without the user data and still decodes (no user holds data); encoding
 * writes version 2.
 *
 * decoded strictly (sizes, sorted and distinct names and keys, limits,
 * user data only for accounts, versions not 0, checksum): a
 * snapshot that fails any check is refused with the offset of the problem
 * and replaces nothing.
 *
 * Materialising writes what the other processes read, only when it changed:
 * state_directory/accounts (common/accounts.h), which the listener re-reads
 * when it is replaced, and state_directory/cluster-callbridges
 * (common/callbridge.h), which rxmppd reads instead of callbridges.yaml when
 * cluster.enabled is true (the administrator's YAML file is never
 * rewritten), and state_directory/cluster-settings (the nodes' reported
 * settings, for `cluster status`).  The elector calls it after applying a batch of entries and
 * after installing a snapshot, then tells rxmppd (PROTO_CLUSTER_APPLIED)
 * when the bridges changed so that it hands them to the listener.
 *
 * A machine that has applied nothing and installed no snapshot writes
 * nothing: a cluster whose log carries no state yet (just formed, or with
 * a member of an older release) leaves every node its own files, and the
 * commands keep working on them.  The first write on a node keeps its own
 * accounts file as state_directory/accounts.before-cluster (what `cluster
 * join` merges; never overwritten), so no account is lost silently.
 */
#ifndef RXMPP_ELECTOR_MACHINE_H
#define RXMPP_ELECTOR_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/accounts.h"
#include "common/buf.h"
#include "common/callbridge.h"
#include "common/proto.h"
#include "elector_userdata.h"

/* Piece A's bound on a log entry's data. */
#define ELECTOR_MACHINE_COMMAND_MAX 8192
/* Far above a site's accounts; what keeps a snapshot's size bounded. */
#define ELECTOR_MACHINE_ACCOUNTS_MAX   1000000u
#define ELECTOR_MACHINE_SNAPSHOT_MAX   (256u * 1024u * 1024u)
#define ELECTOR_MACHINE_TEXT_MAX       1024
#define ELECTOR_MACHINE_BEFORE_CLUSTER "accounts.before-cluster"
#define ELECTOR_MACHINE_SETTINGS_FILE  "cluster-settings"
#define ELECTOR_MACHINE_SETTINGS_MAX   16
#define ELECTOR_MACHINE_NODES_MAX      64

enum elector_machine_op {
	ELECTOR_MACHINE_USER_ADD = 1,
	ELECTOR_MACHINE_USER_PASSWD,
	ELECTOR_MACHINE_USER_DEL,
	ELECTOR_MACHINE_BRIDGE_ADD,
	ELECTOR_MACHINE_BRIDGE_ADD_SECRET,
	ELECTOR_MACHINE_BRIDGE_DEL,
	ELECTOR_MACHINE_MERGE,
	ELECTOR_MACHINE_MERGE_CHECK,
	ELECTOR_MACHINE_SETTINGS,
	ELECTOR_MACHINE_SETTINGS_CHECK,
	ELECTOR_MACHINE_USERDATA_PUT,
	ELECTOR_MACHINE_USERDATA_DEL,
	ELECTOR_MACHINE_USERDATA_APPEND,
	ELECTOR_MACHINE_USERDATA_TAKE,
	ELECTOR_MACHINE_USERDATA_CLEAR,
};

/* One setting that must agree, with its canonical value (1 to 255 bytes,
 * no space or control). */
struct elector_machine_setting {
	char key[64];
	char value[256];
};

/* What one node reported. */
struct elector_machine_node_settings {
	uint64_t node;
	uint64_t reported; /* order of the reports, to forget the oldest */
	size_t count;
	struct elector_machine_setting items[ELECTOR_MACHINE_SETTINGS_MAX];
};

enum elector_machine_status {
	ELECTOR_MACHINE_OK,
	ELECTOR_MACHINE_IDENTICAL,
	ELECTOR_MACHINE_REFUSED,
};

struct elector_machine_result {
	uint32_t status; /* enum elector_machine_status */
	char text[ELECTOR_MACHINE_TEXT_MAX];
};

struct elector_machine;

struct elector_machine *elector_machine_new(void);
void elector_machine_free(struct elector_machine *m);

/* Applies one committed command, the log's entry `index`.  Returns 0 with
 * the answer in *result (a REFUSED answer included: refusing is part of
 * the replicated outcome); -1 only when memory ran out, after which the
 * machine is unchanged and the elector must not go on applying (it would
 * diverge from the others). */
int elector_machine_apply(struct elector_machine *m, uint64_t index, const void *command,
			  size_t len, struct elector_machine_result *result);
/* What applying would answer, without changing anything (an APPEND as at
 * an index past every key). */
void elector_machine_check(const struct elector_machine *m, const void *command, size_t len,
			   struct elector_machine_result *result);

/* A SETTINGS_CHECK compared only with the reports of `members` (the
 * current membership, as the leader knows it), so that the report a
 * removed node left behind refuses no one; what a join is checked with.
 * Any other command is refused as malformed.  Changes nothing. */
void elector_machine_check_settings(const struct elector_machine *m, const void *command,
				    size_t len, const uint64_t *members, size_t member_count,
				    struct elector_machine_result *result);

/* The whole state into `out` (a sensitive buffer: it holds secrets), or
 * replaced by a snapshot; on -1 the reason with the byte offset in `why`
 * and the machine unchanged. */
int elector_machine_snapshot_encode(const struct elector_machine *m, struct buf *out);
int elector_machine_snapshot_decode(struct elector_machine *m, const void *data, size_t len,
				    char *why, size_t why_size);

/* Writes what changed since the last call (or everything, the first time)
 * under `state_directory`; *bridges_changed tells whether rxmppd must hand
 * new bridges to the listener.  -1 with the reason; the files then keep
 * what they held and the next call writes them again. */
int elector_machine_materialise(struct elector_machine *m, const char *state_directory,
				bool *bridges_changed, char *why, size_t why_size);

/* What the state holds, for `list` and tests (sorted by name). */
const struct accounts *elector_machine_accounts(const struct elector_machine *m);
/* A node outside a cluster (elector_local.h): its accounts are its
 * accounts file's, not the log's.  Replaces the machine's with a copy of
 * `accounts`; the users' data stays (the caller clears that of users who
 * lost their account: a snapshot holds data of accounts only).  -1: out
 * of memory, nothing changed. */
int elector_machine_set_accounts(struct elector_machine *m, const struct accounts *accounts);
const struct proto_callbridge *elector_machine_bridges(const struct elector_machine *m,
						       size_t *count);
/* The bridge of that name, or NULL. */
const struct proto_callbridge *elector_machine_bridge_find(const struct elector_machine *m,
							   const char *name);

/* Commands, made by rxmppctl.  -1 when an argument is not valid or it
 * would not fit ELECTOR_MACHINE_COMMAND_MAX. */
int elector_machine_encode_user(struct buf *out, enum elector_machine_op op, const char *name,
				const struct scram_keys keys[SCRAM_HASH_COUNT]);
int elector_machine_encode_bridge(struct buf *out, enum elector_machine_op op,
				  const struct proto_callbridge *bridge);
/* A MERGE or MERGE_CHECK of as many of the given entries as fit, accounts
 * first; *accounts_taken and *bridges_taken say how many went in. */
int elector_machine_encode_merge(struct buf *out, enum elector_machine_op op,
				 const struct account *accounts, size_t account_count,
				 const struct proto_callbridge *bridges, size_t bridge_count,
				 size_t *accounts_taken, size_t *bridges_taken);

/* A USERDATA_* command: `collection` but for CLEAR; `limit` for PUT and
 * APPEND; `key` for PUT, DEL and TAKE; `value` for PUT and APPEND. */
int elector_machine_encode_userdata(struct buf *out, enum elector_machine_op op, const char *user,
				    uint32_t collection, const struct elector_userdata_limit *limit,
				    const void *key, size_t key_len, const void *value,
				    size_t value_len);
/* The users' data as applied, for reads (elector_userdata.h). */
const struct elector_userdata *elector_machine_userdata(const struct elector_machine *m);

/* SETTINGS or SETTINGS_CHECK of `node` (not 0): `count` settings sorted by
 * key. */
int elector_machine_encode_settings(struct buf *out, enum elector_machine_op op, uint64_t node,
				    const struct elector_machine_setting *items, size_t count);
/* The nodes' reports as applied (sorted by node). */
const struct elector_machine_node_settings *
elector_machine_settings(const struct elector_machine *m, size_t *count);
/* The file materialise writes (state_directory/cluster-settings), read back
 * for `cluster status`; a missing file is no reports.  *out is freed with
 * free(). */
int elector_machine_settings_load(const char *path, struct elector_machine_node_settings **out,
				  size_t *count, char *why, size_t why_size);

const char *elector_machine_status_name(uint32_t status); /* "ok", "identical", "refused" */

#endif
