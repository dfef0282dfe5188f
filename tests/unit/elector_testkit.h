/* SPDX-License-Identifier: MIT */
/*
 * What the election core's tests share: a node as the shell would run it
 * (a disk that keeps what elector_ready says to persist, a state machine
 * that applies what it says is committed, a restart from that disk), and
 * copies of messages that outlive elector_advance (the network holds
 * them).  The state machine is a chain of hashes over the entries it
 * applied; its snapshot is (applied index, hash).
 */
#ifndef RXMPP_TESTS_ELECTOR_TESTKIT_H
#define RXMPP_TESTS_ELECTOR_TESTKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elector/elector_core.h"

struct elector_testkit_disk {
	uint64_t term;
	uint64_t voted_for;
	uint64_t commit_index;
	struct elector_snapshot snapshot; /* its data: owned */
	struct elector_entry *log;	  /* entries after it, data owned */
	size_t count;
	size_t cap;
};

struct elector_testkit_machine {
	uint64_t applied;
	uint64_t hash;
};

struct elector_testkit_node {
	uint64_t id;
	struct elector *e;
	bool up;
	struct elector_testkit_disk disk;
	struct elector_testkit_machine machine;
};

/* The fingerprint of node `id`'s certificate: distinct per node. */
const uint8_t *elector_testkit_cert(uint64_t id);
/* The member `id` as the tests list it. */
void elector_testkit_member(uint64_t id, struct elector_member *m);
/* A disk of a member of `config` at its start: the membership as the
 * snapshot at config->index, committed. */
void elector_testkit_disk_seed(struct elector_testkit_disk *d, const struct elector_config *config);
void elector_testkit_disk_free(struct elector_testkit_disk *d);
void elector_testkit_disk_copy(struct elector_testkit_disk *to,
			       const struct elector_testkit_disk *from);
/* Starts (or restarts) the node from its disk; false if the core refused it. */
bool elector_testkit_boot(struct elector_testkit_node *n, const struct elector_options *options);
void elector_testkit_crash(struct elector_testkit_node *n);
/* Persists what `r` says (hard state, snapshot, entries). */
void elector_testkit_persist(struct elector_testkit_node *n, const struct elector_ready *r);
/* The shell wrote the machine as a snapshot: the core and the disk drop
 * the entries before it.  False when the core refused. */
bool elector_testkit_compact(struct elector_testkit_node *n);
/* The machine's state after `x` when it stood at `hash`. */
uint64_t elector_testkit_chain(uint64_t hash, const struct elector_entry *x);
/* The machine applies `x`: a DATA entry changes its state, every entry
 * its applied index. */
void elector_testkit_apply(struct elector_testkit_machine *m, const struct elector_entry *x);
/* Installs a snapshot's bytes into the machine (unless membership-only). */
void elector_testkit_install(struct elector_testkit_node *n, const struct elector_snapshot *s);
/* The snapshot bytes of the machine (16 bytes into `out`). */
void elector_testkit_machine_bytes(const struct elector_testkit_machine *m, uint8_t out[16]);
/* What crosses a link to or from a protocol-3 peer (0.2.0): `m` (a
 * clone) cut to protocol 3's layout, as the shell translates it; a
 * snapshot goes as the heartbeat with the membership. */
void elector_testkit_msg_cut_v3(struct elector_msg *m);
/* A copy of `m` with its own entries and snapshot; freed with _msg_free. */
struct elector_msg *elector_testkit_msg_clone(const struct elector_msg *m);
void elector_testkit_msg_free(struct elector_msg *m);

#endif
