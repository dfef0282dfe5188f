/* SPDX-License-Identifier: MIT */
/*
 * What `cluster join` tells the leader about the joining node's own
 * accounts and call bridges before the membership changes (issue 15,
 * point 5): every name with a digest of what a merge would compare (a
 * user's salted SCRAM keys; a bridge's address and secret), never the keys
 * or the secret themselves.  The leader compares the list with its state
 * (elector_digests_compare: pure, changes nothing) and refuses the join,
 * naming each name the cluster holds differently, so that a node whose
 * entries conflict does not become a member; new names and names held
 * identically are what the merge after the join takes.
 *
 * rxmppctl makes the list (it reads the same accounts and bridges it
 * merges after the join), rxmppd and the elector carry it unread, and a
 * protocol-4 JOIN carries it to the leader (elector_wire.h).  Format,
 * big-endian:
 *
 *   u8 format (1) | u32 accounts | u32 bridges |
 *   (str16 name | digest)... | (str8 name | digest)...
 *
 * names sorted and distinct (the accounts by byte, as the accounts file
 * keeps them; the bridges too), every name 1 to its limit bytes without
 * NUL, a bridge's name a valid bridge name, the whole at most
 * ELECTOR_DIGESTS_MAX bytes.  A list that breaks any of this is not valid
 * (elector_digests_valid): the link that carried it breaks the protocol.
 *
 * digest: the first ELECTOR_DIGEST_LEN bytes of SHA-256 over a label and
 * the fields the merge compares, so that an identical entry has an
 * identical digest and a differing one (another password, salt, address
 * or secret) a different one but with the odds of a 128-bit collision.
 * Digests are compared in constant time.  A joiner whose lists exceed the
 * limit (tens of thousands of accounts) sends none: rxmppctl says so, and
 * its entries are checked by the MERGE_CHECK after the join, as before.
 */
#ifndef RXMPP_ELECTOR_DIGESTS_H
#define RXMPP_ELECTOR_DIGESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/accounts.h"
#include "common/buf.h"
#include "common/proto.h"
#include "elector_machine.h"

#define ELECTOR_DIGEST_LEN 16
/* What fits in one peer-link frame after the JOIN and its settings, and
 * in one request from rxmppctl: about 35,000 accounts of short names. */
#define ELECTOR_DIGESTS_MAX (1024u * 1024u - 16u * 1024u)

void elector_digests_account(const struct scram_keys keys[SCRAM_HASH_COUNT],
			     uint8_t out[ELECTOR_DIGEST_LEN]);
void elector_digests_bridge(const struct proto_callbridge *bridge, uint8_t out[ELECTOR_DIGEST_LEN]);

/* The list of these accounts (sorted, as struct accounts keeps them) and
 * bridges (in any order: sorted here).  -1 when it would exceed
 * ELECTOR_DIGESTS_MAX or an entry is not valid; `out` is then freed. */
int elector_digests_encode(struct buf *out, const struct account *accounts, size_t account_count,
			   const struct proto_callbridge *bridges, size_t bridge_count);

bool elector_digests_valid(const void *data, size_t len);

/* REFUSED, naming every name (up to the text's length, then "and N
 * more") whose digest differs from the cluster's entry of that name; OK
 * with the counts of new and identical entries otherwise, and REFUSED for
 * a list that is not valid.  Changes nothing. */
void elector_digests_compare(const struct elector_machine *m, const void *data, size_t len,
			     struct elector_machine_result *result);

#endif
