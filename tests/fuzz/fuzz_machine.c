/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the decoders of the cluster's state machine
 * (elector/elector_machine.c): commands, which reach every node's elector
 * through the replicated log, and snapshots, which a follower installs
 * from the leader or reads from its disk at start.  The first byte picks
 * one: even, the rest is a command applied to a machine that holds a user
 * and a bridge (so that the exists/identical/conflict paths are reached)
 * and some user data (a roster item, an offline message); odd, the rest is
 * a snapshot.  An accepted snapshot must encode again to the same bytes
 * (one of format 1 to a format 2 that encodes again to itself); a command
 * answers with a known status and a text that never holds the bridge's
 * secret, and checking it answers the same; nothing may crash or read out
 * of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elector/elector_machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SECRET "fuzz-secret-1234"

static struct elector_machine *fuzz_seeded(void)
{
	struct elector_machine *m = elector_machine_new();
	struct scram_keys keys[SCRAM_HASH_COUNT];
	memset(keys, 0, sizeof(keys));
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		keys[h].iterations = 4096;
		keys[h].salt_len = SCRAM_SALT_LEN;
	}
	struct proto_callbridge b;
	memset(&b, 0, sizeof(b));
	strcpy(b.name, "cb1");
	strcpy(b.address, "cb1.example.com");
	strcpy(b.secret, FUZZ_SECRET);
	struct buf cmd;
	struct elector_machine_result r;
	if (m == NULL || elector_machine_encode_user(&cmd, ELECTOR_MACHINE_USER_ADD, "alice", keys))
		abort();
	if (elector_machine_apply(m, 1, buf_head(&cmd), buf_len(&cmd), &r) == -1)
		abort();
	buf_free(&cmd);
	if (elector_machine_encode_bridge(&cmd, ELECTOR_MACHINE_BRIDGE_ADD, &b) == -1 ||
	    elector_machine_apply(m, 2, buf_head(&cmd), buf_len(&cmd), &r) == -1)
		abort();
	buf_free(&cmd);
	struct elector_userdata_limit roster =
	    elector_userdata_default_limit(ELECTOR_USERDATA_ROSTER);
	if (elector_machine_encode_userdata(&cmd, ELECTOR_MACHINE_USERDATA_PUT, "alice",
					    ELECTOR_USERDATA_ROSTER, &roster, "bob@example.com", 15,
					    "item", 4) == -1 ||
	    elector_machine_apply(m, 3, buf_head(&cmd), buf_len(&cmd), &r) == -1)
		abort();
	buf_free(&cmd);
	struct elector_userdata_limit offline =
	    elector_userdata_default_limit(ELECTOR_USERDATA_OFFLINE);
	if (elector_machine_encode_userdata(&cmd, ELECTOR_MACHINE_USERDATA_APPEND, "alice",
					    ELECTOR_USERDATA_OFFLINE, &offline, NULL, 0, "message",
					    7) == -1 ||
	    elector_machine_apply(m, 4, buf_head(&cmd), buf_len(&cmd), &r) == -1)
		abort();
	buf_free(&cmd);
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct elector_machine *m = fuzz_seeded();
	struct elector_machine_result r;
	char why[512];
	if (data[0] % 2 == 0) {
		elector_machine_check(m, data + 1, size - 1, &r);
		struct elector_machine_result checked = r;
		if (elector_machine_apply(m, 5, data + 1, size - 1, &r) == -1)
			abort();
		if (r.status > ELECTOR_MACHINE_REFUSED || strstr(r.text, FUZZ_SECRET) != NULL ||
		    checked.status != r.status || strcmp(checked.text, r.text) != 0)
			abort();
	} else if (elector_machine_snapshot_decode(m, data + 1, size - 1, why, sizeof(why)) == 0) {
		struct buf out;
		buf_init(&out, ELECTOR_MACHINE_SNAPSHOT_MAX);
		if (elector_machine_snapshot_encode(m, &out) == -1)
			abort();
		if (data[8] == 1) {
			/* Format 1: what it encodes to must be stable. */
			struct buf again;
			buf_init(&again, ELECTOR_MACHINE_SNAPSHOT_MAX);
			if (elector_machine_snapshot_decode(m, buf_head(&out), buf_len(&out), why,
							    sizeof(why)) == -1 ||
			    elector_machine_snapshot_encode(m, &again) == -1 ||
			    buf_len(&again) != buf_len(&out) ||
			    memcmp(buf_head(&again), buf_head(&out), buf_len(&out)) != 0)
				abort();
			buf_free(&again);
		} else if (buf_len(&out) != size - 1 ||
			   memcmp(buf_head(&out), data + 1, size - 1) != 0) {
			abort();
		}
		buf_free(&out);
	} else if (strstr(why, "snapshot") == NULL) {
		abort();
	}
	elector_machine_free(m);
	return 0;
}
