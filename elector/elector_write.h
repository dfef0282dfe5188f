/* SPDX-License-Identifier: MIT */
/*
 * The write path of the cluster's state (runs in the elector): a command
 * from rxmppctl (PROTO_PROPOSE, common/proto.h) goes into the log and is
 * answered once it is committed and applied, here and on every member the
 * leader hears.
 *
 * On the leader, the command is proposed to the core (elector_propose)
 * unless the leader has not heard a majority of the members within an
 * election timeout: then it is refused at once, naming the members it
 * does not hear, and it is in no log (the core's check-quorum would
 * depose such a leader anyway).  On a follower it is forwarded to the
 * leader (ELECTOR_WIRE_PROPOSE, protocol 4) and the leader's answer is
 * passed on once this node applied the entry too (at most
 * ELECTOR_WRITE_APPLY_MS later); without a leader it is refused at once.
 *
 * An entry is answered by its (index, term): when this node applies the
 * entry at that index, it is ours if its term is ours (committed), and
 * not ours if it is another's (a new leader replaced it: refused, nothing
 * changed).  Once committed, the leader waits up to ELECTOR_WRITE_APPLY_MS
 * for every member it hears to say it applied it (elector_progress), then
 * answers APPLIED, or COMMITTED naming those that did not yet.  What is
 * not committed within ELECTOR_WRITE_COMMIT_MS (the leader lost its
 * quorum after appending it), or a forwarded write whose leader did not
 * answer, is answered UNKNOWN: Raft cannot take an entry back, so the
 * honest answer is that it may still commit.
 */
#ifndef RXMPP_ELECTOR_WRITE_H
#define RXMPP_ELECTOR_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/proto.h"
#include "elector_core.h"
#include "elector_machine.h"

#define ELECTOR_WRITE_COMMIT_MS	  5000
#define ELECTOR_WRITE_APPLY_MS	  2000
#define ELECTOR_WRITE_FORWARD_MS  9000
#define ELECTOR_WRITE_PENDING_MAX 256

struct elector_write_env {
	struct elector *core;
	uint64_t self;
	int64_t now_ms;
	/* Whether member `id`'s link is up and it spoke within an election
	 * timeout, as this node's shell saw it (a link that closed is known
	 * at once). */
	bool (*heard)(uint64_t id);
	/* The answer to this node's rxmppctl. */
	void (*answer)(uint64_t token, const struct proto_propose_result *result,
		       const char *outcome, const char *text);
	/* A frame to member `id` on a protocol-4 link; -1 when there is none. */
	int (*send)(uint64_t id, uint16_t type, const struct iovec *iov, size_t count);
	/* Printable name of member `id` for texts ("0123456789abcdef at host:port"). */
	void (*name)(uint64_t id, char *out, size_t size);
	/* Whether the cluster keeps to protocol 3, which carries no commands
	 * (the core's compat mode), naming in `why` the members that hold it
	 * there. */
	bool (*compat)(char *why, size_t size);
};

/* A command from this node's rxmppctl (origin 0, `tag` its token) or
 * forwarded by member `origin` (`tag` its request number). */
void elector_write_propose(const struct elector_write_env *env, uint64_t origin, uint64_t tag,
			   const uint8_t *command, size_t len);
/* The leader `from` answered a forwarded write. */
void elector_write_reply(const struct elector_write_env *env, uint64_t from, uint64_t request,
			 const struct proto_propose_result *result, const char *outcome,
			 const char *text);
/* This node applied `entry` (its DATA answer in `result`).  Nothing is
 * answered from here: the answers that wait for this node's files come
 * with the next elector_write_tick, which the shell calls once it wrote
 * them. */
void elector_write_applied(const struct elector_write_env *env, const struct elector_entry *entry,
			   const struct elector_machine_result *result);
/* This node applied everything up to `index` at once (a snapshot). */
void elector_write_skipped(const struct elector_write_env *env, uint64_t index);
/* Deadlines and waits for members; on every tick. */
void elector_write_tick(const struct elector_write_env *env);
/* The link to member `id` went down: forwarded writes to it are unknown. */
void elector_write_link_lost(const struct elector_write_env *env, uint64_t id);
/* Writes under way (metrics, tests). */
size_t elector_write_pending(void);

#endif
