/* SPDX-License-Identifier: MIT */
/* The write path of the cluster's state; see elector_write.h.  Runs in
 * the elector. */
#include "elector_write.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "elector_wire.h"

enum pending_state {
	PENDING_FREE,
	PENDING_FORWARDED, /* follower: waiting for the leader's answer */
	PENDING_PROPOSED,  /* in the log at (index, term): waiting for its commit */
	PENDING_SPREADING, /* leader: committed; waiting for members to apply it */
	PENDING_CATCHING,  /* follower: the leader answered; waiting to apply it here */
};

struct pending {
	enum pending_state state;
	uint64_t origin; /* 0: this node's rxmppctl; else the member that forwarded it */
	uint64_t tag;	 /* the token, or the member's request number */
	uint64_t leader; /* FORWARDED, CATCHING: the leader asked */
	uint64_t request;
	uint64_t index, term;
	int64_t deadline;
	bool caught; /* CATCHING: applied here */
	struct proto_propose_result result;
	char outcome[ELECTOR_MACHINE_TEXT_MAX];
};

static struct {
	struct pending p[ELECTOR_WRITE_PENDING_MAX];
	uint64_t next_request;
	bool drawn; /* next_request was drawn at random */
} writes;

/* The number of a write forwarded to the leader.  They begin at random in
 * every process: a leader answers by (member id, number) over whatever
 * link that member has now, so after this elector restarted, an answer to
 * a request of the process before (the leader holds one up to
 * ELECTOR_WRITE_FORWARD_MS) must not match one of this process's.  -1 when
 * no random number can be drawn. */
static int request_next(uint64_t *request)
{
	if (!writes.drawn) {
		if (RAND_bytes((unsigned char *)&writes.next_request,
			       sizeof(writes.next_request)) != 1)
			return -1;
		writes.drawn = true;
	}
	*request = ++writes.next_request;
	return 0;
}

static void finish(const struct elector_write_env *env, struct pending *w, uint32_t status,
		   const char *text)
{
	w->result.status = status;
	if (status == PROTO_PROPOSE_REFUSED || status == PROTO_PROPOSE_UNKNOWN) {
		w->result.outcome = 0;
		w->outcome[0] = '\0';
	}
	if (w->origin == 0) {
		env->answer(w->tag, &w->result, w->outcome, text);
	} else {
		struct elector_wire_propose_reply reply = {.request = w->tag, .result = w->result};
		reply.result.outcome_len = (uint32_t)strlen(w->outcome);
		reply.result.text_len = (uint32_t)strnlen(text, PROTO_PROPOSE_TEXT_MAX);
		struct iovec iov[3] = {{&reply, sizeof(reply)},
				       {w->outcome, reply.result.outcome_len},
				       {(void *)text, reply.result.text_len}};
		/* A member that went away asks no more: nothing to tell. */
		env->send(w->origin, ELECTOR_WIRE_PROPOSE_REPLY, iov, 3);
	}
	if (status != PROTO_PROPOSE_APPLIED)
		log_info("write at entry %" PRIu64 ": %s", w->index,
			 text[0] != '\0' ? text : "answered");
	*w = (struct pending){0};
}

static struct pending *pending_new(void)
{
	for (size_t i = 0; i < ELECTOR_WRITE_PENDING_MAX; i++) {
		if (writes.p[i].state == PENDING_FREE)
			return &writes.p[i];
	}
	return NULL;
}

size_t elector_write_pending(void)
{
	size_t n = 0;
	for (size_t i = 0; i < ELECTOR_WRITE_PENDING_MAX; i++)
		n += writes.p[i].state != PENDING_FREE;
	return n;
}

/* Members not heard within an election timeout, named in `out`; how many
 * are heard (this node included). */
static uint32_t heard_members(const struct elector_write_env *env, char *out, size_t size)
{
	const struct elector_config *c = elector_config(env->core);
	uint32_t heard = 0;
	size_t at = 0;
	out[0] = '\0';
	for (uint32_t i = 0; i < c->count; i++) {
		uint64_t id = c->members[i].id;
		if (id == env->self || env->heard(id)) {
			heard++;
			continue;
		}
		char name[200];
		env->name(id, name, sizeof(name));
		if (at < size)
			at += (size_t)snprintf(out + at, size - at, "%s%s", at ? ", " : "", name);
	}
	return heard;
}

static void refuse(const struct elector_write_env *env, uint64_t origin, uint64_t tag,
		   const char *text)
{
	struct pending w = {.origin = origin, .tag = tag};
	finish(env, &w, PROTO_PROPOSE_REFUSED, text);
}

void elector_write_propose(const struct elector_write_env *env, uint64_t origin, uint64_t tag,
			   const uint8_t *command, size_t len)
{
	char text[PROTO_PROPOSE_TEXT_MAX], names[PROTO_PROPOSE_TEXT_MAX - 200];
	const struct elector_config *c = elector_config(env->core);
	struct pending *w = pending_new();
	if (w == NULL) {
		refuse(env, origin, tag, "too many writes under way on this node; nothing changed");
		return;
	}
	uint64_t leader = elector_leader(env->core);
	if (elector_role(env->core) != ELECTOR_LEADER) {
		if (origin != 0) {
			/* Leadership moved while the write was on its way: the
			 * follower that sent it answers its rxmppctl with this. */
			refuse(env, origin, tag,
			       "the node asked no longer leads (leadership is changing); nothing "
			       "changed: try again");
			return;
		}
		if (leader == ELECTOR_NONE) {
			uint32_t heard = heard_members(env, names, sizeof(names));
			snprintf(text, sizeof(text),
				 "no leader: this node hears %u of %u members (a leader needs %u); "
				 "it cannot reach %s; nothing changed",
				 heard, c->count, c->count / 2 + 1, names[0] ? names : "none");
			refuse(env, origin, tag, text);
			return;
		}
		struct elector_wire_propose head = {.len = (uint32_t)len};
		if (request_next(&head.request) == -1) {
			refuse(env, origin, tag,
			       "this node cannot draw a random number for the request to the "
			       "leader; nothing changed");
			return;
		}
		struct iovec iov[2] = {{&head, sizeof(head)}, {(void *)command, len}};
		if (env->send(leader, ELECTOR_WIRE_PROPOSE, iov, 2) == -1) {
			char name[200];
			env->name(leader, name, sizeof(name));
			snprintf(text, sizeof(text),
				 "the leader %s cannot be reached from this node over protocol 4 "
				 "(no link, or it runs an older release); nothing changed",
				 name);
			refuse(env, origin, tag, text);
			return;
		}
		*w = (struct pending){.state = PENDING_FORWARDED,
				      .origin = origin,
				      .tag = tag,
				      .leader = leader,
				      .request = head.request,
				      .deadline = env->now_ms + ELECTOR_WRITE_FORWARD_MS};
		return;
	}
	uint32_t heard = heard_members(env, names, sizeof(names));
	if (heard < c->count / 2 + 1) {
		snprintf(text, sizeof(text),
			 "no quorum: the leader hears %u of %u members (it needs %u); it cannot "
			 "reach %s; nothing changed",
			 heard, c->count, c->count / 2 + 1, names);
		refuse(env, origin, tag, text);
		return;
	}
	if (env->compat(names, sizeof(names))) {
		snprintf(text, sizeof(text),
			 "the cluster keeps to protocol 3 (rxmpp 0.2.0), which carries no accounts "
			 "or bridges, until every member is heard speaking protocol 4: %s; nothing "
			 "changed",
			 names);
		refuse(env, origin, tag, text);
		return;
	}
	uint64_t index, term;
	const char *why = NULL;
	if (elector_propose(env->core, command, len, &index, &term, &why) == -1) {
		snprintf(text, sizeof(text), "refused by the leader: %s; nothing changed", why);
		refuse(env, origin, tag, text);
		return;
	}
	*w = (struct pending){.state = PENDING_PROPOSED,
			      .origin = origin,
			      .tag = tag,
			      .index = index,
			      .term = term,
			      .deadline = env->now_ms + ELECTOR_WRITE_COMMIT_MS};
	w->result.index = index;
	w->result.term = term;
	w->result.members = c->count;
}

void elector_write_reply(const struct elector_write_env *env, uint64_t from, uint64_t request,
			 const struct proto_propose_result *result, const char *outcome,
			 const char *text)
{
	for (size_t i = 0; i < ELECTOR_WRITE_PENDING_MAX; i++) {
		struct pending *w = &writes.p[i];
		if (w->state != PENDING_FORWARDED || w->request != request || w->leader != from)
			continue;
		w->result = *result;
		snprintf(w->outcome, sizeof(w->outcome), "%s", outcome);
		w->index = result->index;
		w->term = result->term;
		bool committed = result->status == PROTO_PROPOSE_APPLIED ||
				 result->status == PROTO_PROPOSE_COMMITTED;
		if (!committed || elector_applied_index(env->core) >= result->index) {
			finish(env, w, result->status, text);
			return;
		}
		/* So that a login here right after the answer finds it. */
		w->state = PENDING_CATCHING;
		w->deadline = env->now_ms + ELECTOR_WRITE_APPLY_MS;
		return;
	}
	/* Late (past its deadline, answered UNKNOWN already) or not ours:
	 * either way nothing is waiting for it. */
}

void elector_write_applied(const struct elector_write_env *env, const struct elector_entry *entry,
			   const struct elector_machine_result *result)
{
	for (size_t i = 0; i < ELECTOR_WRITE_PENDING_MAX; i++) {
		struct pending *w = &writes.p[i];
		if ((w->state != PENDING_PROPOSED && w->state != PENDING_CATCHING) ||
		    w->index != entry->index)
			continue;
		if (entry->term != w->term) {
			finish(env, w, PROTO_PROPOSE_REFUSED,
			       "a new leader replaced the entry before it was committed; nothing "
			       "changed");
			continue;
		}
		if (w->state == PENDING_CATCHING) {
			/* Answered on the next tick, once the files are written. */
			w->deadline = env->now_ms;
			w->caught = true;
			continue;
		}
		w->result.outcome = result->status;
		snprintf(w->outcome, sizeof(w->outcome), "%s", result->text);
		w->state = PENDING_SPREADING;
		w->deadline = env->now_ms + ELECTOR_WRITE_APPLY_MS;
	}
}

void elector_write_skipped(const struct elector_write_env *env, uint64_t index)
{
	for (size_t i = 0; i < ELECTOR_WRITE_PENDING_MAX; i++) {
		struct pending *w = &writes.p[i];
		if ((w->state == PENDING_PROPOSED || w->state == PENDING_CATCHING) &&
		    w->index <= index)
			finish(env, w, PROTO_PROPOSE_UNKNOWN,
			       "this node installed a snapshot over the entry: whether it was "
			       "committed is not known here; check with list");
	}
}

/* Leader: whether every member it hears applied `w`; the others named. */
static bool spread(const struct elector_write_env *env, struct pending *w, char *missing,
		   size_t size)
{
	const struct elector_config *c = elector_config(env->core);
	size_t at = 0;
	missing[0] = '\0';
	w->result.applied = 0;
	w->result.members = c->count;
	bool all = true;
	for (uint32_t i = 0; i < c->count; i++) {
		uint64_t id = c->members[i].id, match, applied;
		if (id == env->self) {
			w->result.applied++; /* it applied it: that is how it got here */
			continue;
		}
		if (elector_progress(env->core, id, &match, &applied) == 0 && applied >= w->index) {
			w->result.applied++;
			continue;
		}
		/* One not heard is not waited for. */
		all &= !env->heard(id);
		char name[200];
		env->name(id, name, sizeof(name));
		if (at < size)
			at +=
			    (size_t)snprintf(missing + at, size - at, "%s%s", at ? ", " : "", name);
	}
	return all;
}

void elector_write_tick(const struct elector_write_env *env)
{
	char text[PROTO_PROPOSE_TEXT_MAX], missing[PROTO_PROPOSE_TEXT_MAX - 200];
	bool leads = elector_role(env->core) == ELECTOR_LEADER;
	for (size_t i = 0; i < ELECTOR_WRITE_PENDING_MAX; i++) {
		struct pending *w = &writes.p[i];
		bool late = env->now_ms >= w->deadline;
		switch (w->state) {
		case PENDING_FREE:
			break;
		case PENDING_FORWARDED:
			if (late)
				finish(
				    env, w, PROTO_PROPOSE_UNKNOWN,
				    "the leader did not answer in time: the change may or may not "
				    "be committed; check with list");
			break;
		case PENDING_PROPOSED:
			if (late)
				finish(env, w, PROTO_PROPOSE_UNKNOWN,
				       "not committed in time (the leader lost its quorum or its "
				       "leadership): it may still be committed; check with list");
			break;
		case PENDING_SPREADING:
			if (!leads) {
				finish(env, w, PROTO_PROPOSE_COMMITTED,
				       "committed; this node stopped leading before the others "
				       "said they applied it");
			} else if (spread(env, w, missing, sizeof(missing))) {
				snprintf(text, sizeof(text),
					 "applied on every member the leader hears; not yet on %s, "
					 "which it does not hear",
					 missing);
				finish(env, w, PROTO_PROPOSE_APPLIED,
				       missing[0] == '\0' ? "" : text);
			} else if (late) {
				snprintf(text, sizeof(text), "committed; not yet applied on %s",
					 missing);
				finish(env, w, PROTO_PROPOSE_COMMITTED, text);
			}
			break;
		case PENDING_CATCHING:
			if (w->caught)
				finish(env, w, w->result.status, "");
			else if (late)
				finish(env, w, PROTO_PROPOSE_COMMITTED,
				       "committed; not yet applied on this node");
			break;
		}
	}
}

void elector_write_link_lost(const struct elector_write_env *env, uint64_t id)
{
	for (size_t i = 0; i < ELECTOR_WRITE_PENDING_MAX; i++) {
		struct pending *w = &writes.p[i];
		if (w->state == PENDING_FORWARDED && w->leader == id)
			finish(env, w, PROTO_PROPOSE_UNKNOWN,
			       "the link to the leader closed before it answered: the change may "
			       "or may not be committed; check with list");
	}
}
