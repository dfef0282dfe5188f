/* SPDX-License-Identifier: MIT */
/* This node's copy of the cluster's state; see elector_replica.h.  Runs
 * in the elector. */
#include "elector_replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "elector_log_store.h"

struct elector_replica {
	char dir[4096];
	struct elector_log_store *store;
	struct elector_machine *machine;
	/* The cluster holds state: a command was applied or a snapshot with
	 * a state machine installed, here or before a restart. */
	bool has_state;
	bool materialise_due;
	uint32_t snapshot_every;
	uint64_t applied, applied_term;
	struct elector_hard_state written; /* the hard state the log holds */
	struct elector_entry *boot_entries;
	struct elector_log_entry *scratch; /* entries on their way to the log */
	size_t scratch_cap;
};

static struct elector_log_entry log_entry(const struct elector_entry *e)
{
	return (struct elector_log_entry){
	    .index = e->index, .term = e->term, .type = e->type, .len = e->len, .data = e->data};
}

/* A node without a log (0.2.0, or new): the log is made from its
 * election file, membership only. */
static int replica_create(const char *dir, const struct elector_persistent *state, char *why,
			  size_t why_size)
{
	struct elector_boot b;
	struct elector_entry entry;
	static uint8_t buf[ELECTOR_CONFIG_ENCODED_MAX];
	elector_boot_from_state(state, &b, &entry, buf);
	struct elector_hard_state hard = {
	    .term = state->term, .vote = state->voted_for, .commit = b.commit_index};
	struct elector_snapshot_meta meta = {
	    .index = b.snapshot.index, .term = b.snapshot.term, .config = b.snapshot.config};
	struct elector_log_entry entries[1];
	size_t count = b.entry_count > 0 ? 1 : 0;
	if (count > 0)
		entries[0] = log_entry(&b.entries[0]);
	if (elector_log_store_create(dir, &hard, &meta, entries, count, why, why_size) == -1)
		return -1;
	if (state->config.count > 0)
		log_info("the membership of the election file (entry %" PRIu64 ", term %" PRIu64
			 ") is now the log's snapshot; the log starts behind it",
			 meta.index, meta.term);
	return 0;
}

struct elector_replica *elector_replica_open(const char *state_dir, uint32_t snapshot_every,
					     const struct elector_persistent *state,
					     struct elector_boot *boot, char *why, size_t why_size)
{
	struct elector_replica *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	snprintf(r->dir, sizeof(r->dir), "%s", state_dir);
	r->snapshot_every = snapshot_every;
	if (!elector_log_store_exists(state_dir) &&
	    replica_create(state_dir, state, why, why_size) == -1)
		goto fail;
	struct elector_log_loaded loaded;
	char note[512];
	r->store = elector_log_store_open(state_dir, &loaded, note, sizeof(note), why, why_size);
	if (r->store == NULL)
		goto fail;
	if (note[0] != '\0')
		log_warnx("%s", note);
	r->machine = elector_machine_new();
	if (r->machine == NULL) {
		snprintf(why, why_size, "out of memory");
		goto fail;
	}
	if (loaded.snapshot_len > 0) {
		char reason[512];
		if (elector_machine_snapshot_decode(r->machine, loaded.snapshot,
						    loaded.snapshot_len, reason,
						    sizeof(reason)) == -1) {
			snprintf(why, why_size, "%s/%s: the state machine in it: %s", state_dir,
				 ELECTOR_SNAPSHOT_FILE, reason);
			goto fail;
		}
		r->has_state = true;
	}
	r->boot_entries = calloc(loaded.count + 1, sizeof(*r->boot_entries));
	if (r->boot_entries == NULL) {
		snprintf(why, why_size, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < loaded.count; i++) {
		const struct elector_log_entry *x = &loaded.entries[i];
		r->boot_entries[i] = (struct elector_entry){.index = x->index,
							    .term = x->term,
							    .type = x->type,
							    .len = x->len,
							    .data = x->data};
		r->has_state |= x->type == ELECTOR_ENTRY_DATA;
	}
	/* The election file is written first (elector_io.c): its term and
	 * vote are the latest unless the log's are higher. */
	bool log_newer = loaded.hard.term > state->term;
	*boot = (struct elector_boot){
	    .term = log_newer ? loaded.hard.term : state->term,
	    .voted_for = log_newer ? loaded.hard.vote : state->voted_for,
	    .commit_index = loaded.hard.commit,
	    .snapshot = {.index = loaded.meta.index,
			 .term = loaded.meta.term,
			 .config = loaded.meta.config,
			 .data = loaded.snapshot,
			 .len = loaded.snapshot_len},
	    .entries = r->boot_entries,
	    .entry_count = loaded.count,
	};
	/* The log's hard state lags the election file's after a crash
	 * between the two (elector_io.c writes the election file first):
	 * brought level now, so that the log never holds entries of a term
	 * its hard state does not know. */
	struct elector_hard_state level = {
	    .term = boot->term, .vote = boot->voted_for, .commit = loaded.hard.commit};
	if ((level.term != loaded.hard.term || level.vote != loaded.hard.vote) &&
	    elector_log_store_append(r->store, &level, NULL, 0, why, why_size) == -1)
		goto fail;
	r->written = level;
	r->applied = loaded.meta.index;
	r->applied_term = loaded.meta.term;
	return r;
fail:
	elector_replica_free(r);
	return NULL;
}

void elector_replica_free(struct elector_replica *r)
{
	if (r == NULL)
		return;
	elector_log_store_free(r->store);
	elector_machine_free(r->machine);
	free(r->boot_entries);
	free(r->scratch);
	free(r);
}

static int install(struct elector_replica *r, const struct elector_snapshot *s, char *why,
		   size_t why_size)
{
	struct buf kept;
	buf_init(&kept, ELECTOR_MACHINE_SNAPSHOT_MAX);
	buf_set_sensitive(&kept);
	const uint8_t *data = s->data;
	size_t len = s->len;
	struct elector_machine *next = NULL;
	int rc = -1;
	if (s->membership_only) {
		/* From a member of 0.2.0: the membership only; this node's
		 * state machine stays as it is. */
		if (r->has_state && elector_machine_snapshot_encode(r->machine, &kept) == -1) {
			snprintf(why, why_size, "the state machine does not fit a snapshot");
			goto out;
		}
		data = (const uint8_t *)buf_head(&kept);
		len = buf_len(&kept);
	} else {
		next = elector_machine_new();
		char reason[512];
		if (next == NULL ||
		    (len > 0 && elector_machine_snapshot_decode(next, data, len, reason,
								sizeof(reason)) == -1)) {
			snprintf(why, why_size, "the leader's snapshot at %" PRIu64 ": %s",
				 s->index, next == NULL ? "out of memory" : reason);
			goto out;
		}
	}
	struct elector_snapshot_meta meta = {
	    .index = s->index, .term = s->term, .config = s->config};
	if (elector_log_store_snapshot(r->store, &meta, data, len, why, why_size) == -1)
		goto out;
	if (next != NULL) {
		elector_machine_free(r->machine);
		r->machine = next;
		next = NULL;
		r->has_state |= len > 0;
		r->materialise_due = true;
	}
	r->applied = s->index;
	r->applied_term = s->term;
	log_info("installed the leader's snapshot at entry %" PRIu64 " (term %" PRIu64
		 ", %zu bytes)",
		 s->index, s->term, len);
	rc = 0;
out:
	elector_machine_free(next);
	buf_free(&kept);
	return rc;
}

int elector_replica_persist(struct elector_replica *r, const struct elector_ready *ready, char *why,
			    size_t why_size)
{
	if (ready->snapshot != NULL && install(r, ready->snapshot, why, why_size) == -1)
		return -1;
	struct elector_hard_state hard = {.term = ready->state.term,
					  .vote = ready->state.voted_for,
					  .commit = ready->state.commit_index};
	bool hard_changed = ready->persist && memcmp(&hard, &r->written, sizeof(hard)) != 0;
	if (ready->entry_count == 0 && !hard_changed)
		return 0;
	if (ready->entry_count > r->scratch_cap) {
		struct elector_log_entry *grown =
		    realloc(r->scratch, ready->entry_count * sizeof(*grown));
		if (grown == NULL) {
			snprintf(why, why_size, "out of memory");
			return -1;
		}
		r->scratch = grown;
		r->scratch_cap = ready->entry_count;
	}
	for (size_t i = 0; i < ready->entry_count; i++)
		r->scratch[i] = log_entry(&ready->entries[i]);
	if (elector_log_store_append(r->store, hard_changed ? &hard : NULL, r->scratch,
				     ready->entry_count, why, why_size) == -1)
		return -1;
	if (hard_changed)
		r->written = hard;
	return 0;
}

int elector_replica_apply(struct elector_replica *r, const struct elector_entry *entry,
			  struct elector_machine_result *result)
{
	memset(result, 0, sizeof(*result));
	if (entry->type == ELECTOR_ENTRY_DATA) {
		if (elector_machine_apply(r->machine, entry->index, entry->data, entry->len,
					  result) == -1)
			return -1;
		r->has_state = true;
		r->materialise_due = true;
	}
	r->applied = entry->index;
	r->applied_term = entry->term;
	return 0;
}

int elector_replica_materialise(struct elector_replica *r, bool *bridges_changed, char *why,
				size_t why_size)
{
	*bridges_changed = false;
	if (!r->has_state || !r->materialise_due)
		return 0;
	if (elector_machine_materialise(r->machine, r->dir, bridges_changed, why, why_size) == -1)
		return -1;
	r->materialise_due = false;
	return 0;
}

/* The membership in effect at the applied index: the latest CONFIG entry
 * up to it, else the snapshot's. */
static int config_at(struct elector *core, uint64_t index, struct elector_config *c)
{
	const struct elector_snapshot *snap = elector_snapshot(core);
	for (uint64_t i = index; i > snap->index; i--) {
		const struct elector_entry *x = elector_entry(core, i);
		if (x == NULL)
			return -1;
		if (x->type == ELECTOR_ENTRY_CONFIG) {
			if (elector_config_decode(x->data, x->len, c) == -1)
				return -1;
			c->index = x->index;
			c->term = x->term;
			return 0;
		}
	}
	*c = snap->config;
	return 0;
}

int elector_replica_compact(struct elector_replica *r, struct elector *core, char *why,
			    size_t why_size)
{
	why[0] = '\0';
	const struct elector_snapshot *last = elector_snapshot(core);
	uint64_t since = last->index, log = elector_log_store_log_bytes(r->store);
	/* A snapshot writes the whole state: with many accounts and small
	 * entries, one every snapshot_every entries would cost far more than
	 * the entries (100,000 accounts: 15 MB per 1,000 writes of 250 bytes,
	 * on every node).  Waiting also for the log to hold a quarter of the
	 * last snapshot's bytes keeps that cost within four times what the
	 * log took, whatever the size of the state. */
	bool due = r->applied - since >= r->snapshot_every && log >= last->len / 4;
	if (r->applied <= since || (!due && log < ELECTOR_REPLICA_LOG_BYTES))
		return 0;
	struct elector_snapshot_meta meta = {.index = r->applied, .term = r->applied_term};
	if (config_at(core, r->applied, &meta.config) == -1) {
		snprintf(why, why_size, "no membership known at entry %" PRIu64, r->applied);
		return -1;
	}
	struct buf out;
	buf_init(&out, ELECTOR_MACHINE_SNAPSHOT_MAX);
	buf_set_sensitive(&out);
	int rc = -1;
	if (elector_machine_snapshot_encode(r->machine, &out) == -1)
		snprintf(why, why_size, "the state machine does not fit a snapshot");
	else if (elector_log_store_snapshot(r->store, &meta, (const uint8_t *)buf_head(&out),
					    buf_len(&out), why, why_size) == 0 &&
		 elector_compact(core, r->applied, (const uint8_t *)buf_head(&out),
				 buf_len(&out)) == 0)
		rc = 0;
	else if (why[0] == '\0')
		snprintf(why, why_size, "the core refused a snapshot at %" PRIu64, r->applied);
	if (rc == 0)
		log_info("snapshot at entry %" PRIu64 " (%zu bytes); the log behind it dropped",
			 r->applied, buf_len(&out));
	buf_free(&out);
	return rc;
}

const struct elector_machine *elector_replica_machine(const struct elector_replica *r)
{
	return r->machine;
}

bool elector_replica_has_state(const struct elector_replica *r)
{
	return r->has_state;
}

uint64_t elector_replica_applied(const struct elector_replica *r, uint64_t *term)
{
	if (term != NULL)
		*term = r->applied_term;
	return r->applied;
}
