/* SPDX-License-Identifier: MIT */
/*
 * The joining node's accounts and call bridges as names and digests, and
 * the leader's comparison of them with the cluster's state (see
 * elector_digests.h).  Pure: runs in rxmppctl (encode) and in the elector
 * (valid, compare), no I/O.
 */
#include "elector_digests.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/callbridge.h"
#include "common/jid.h"
#include "common/scram.h"

#define DIGESTS_FORMAT 1
#define DIGESTS_HEAD   9 /* format, accounts, bridges */

/* SHA-256 of the label and the parts, cut to ELECTOR_DIGEST_LEN; the
 * parts are length-prefixed by the callers, so no two inputs run together. */
static void digest_of(const char *label, const void *data, size_t len,
		      uint8_t out[ELECTOR_DIGEST_LEN])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int full_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	/* SHA-256 in memory fails only without memory; the digest is then
	 * all zeros and compares unequal to the cluster's entry, which
	 * refuses the join rather than pass a conflict. */
	memset(out, 0, ELECTOR_DIGEST_LEN);
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, label, strlen(label) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, data, len) == 1 && EVP_DigestFinal_ex(ctx, full, &full_len) == 1)
		memcpy(out, full, ELECTOR_DIGEST_LEN);
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(full, sizeof(full));
}

static size_t put_be(unsigned char *p, uint32_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		p[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
	return width;
}

void elector_digests_account(const struct scram_keys keys[SCRAM_HASH_COUNT],
			     uint8_t out[ELECTOR_DIGEST_LEN])
{
	/* The fields the merge compares (elector_machine.c keys_equal). */
	unsigned char in[SCRAM_HASH_COUNT * (5 + SCRAM_SALT_LEN + 2 * SCRAM_KEY_MAX)];
	size_t n = 0;
	for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
		const struct scram_keys *k = &keys[h];
		size_t key_len = scram_key_len((enum scram_hash)h);
		size_t salt_len = k->salt_len < sizeof(k->salt) ? k->salt_len : sizeof(k->salt);
		n += put_be(in + n, k->iterations, 4);
		n += put_be(in + n, (uint32_t)salt_len, 1);
		memcpy(in + n, k->salt, salt_len);
		n += salt_len;
		memcpy(in + n, k->stored_key, key_len);
		n += key_len;
		memcpy(in + n, k->server_key, key_len);
		n += key_len;
	}
	digest_of("rxmpp account keys 1", in, n, out);
	OPENSSL_cleanse(in, sizeof(in));
}

void elector_digests_bridge(const struct proto_callbridge *bridge, uint8_t out[ELECTOR_DIGEST_LEN])
{
	unsigned char in[2 + sizeof(bridge->address) + sizeof(bridge->secret)];
	size_t n = 0;
	size_t address_len = strnlen(bridge->address, sizeof(bridge->address) - 1);
	size_t secret_len = strnlen(bridge->secret, sizeof(bridge->secret) - 1);
	n += put_be(in + n, (uint32_t)address_len, 1);
	memcpy(in + n, bridge->address, address_len);
	n += address_len;
	n += put_be(in + n, (uint32_t)secret_len, 1);
	memcpy(in + n, bridge->secret, secret_len);
	n += secret_len;
	digest_of("rxmpp call bridge 1", in, n, out);
	OPENSSL_cleanse(in, sizeof(in));
}

static int bridge_order(const void *a, const void *b)
{
	const struct proto_callbridge *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

int elector_digests_encode(struct buf *out, const struct account *accounts, size_t account_count,
			   const struct proto_callbridge *bridges, size_t bridge_count)
{
	unsigned char head[DIGESTS_HEAD];
	uint8_t d[ELECTOR_DIGEST_LEN];
	const struct proto_callbridge **sorted = NULL;
	buf_init(out, ELECTOR_DIGESTS_MAX);
	head[0] = DIGESTS_FORMAT;
	put_be(head + 1, (uint32_t)account_count, 4);
	put_be(head + 5, (uint32_t)bridge_count, 4);
	if (account_count > ELECTOR_MACHINE_ACCOUNTS_MAX || bridge_count > CALLBRIDGES_MAX ||
	    buf_append(out, head, sizeof(head)) == -1)
		goto fail;
	for (size_t i = 0; i < account_count; i++) {
		size_t len = strlen(accounts[i].name);
		unsigned char prefix[2];
		if (len == 0 || len > JID_PART_MAX ||
		    (i > 0 && strcmp(accounts[i - 1].name, accounts[i].name) >= 0) ||
		    buf_len(out) + 2 + len + sizeof(d) > ELECTOR_DIGESTS_MAX)
			goto fail;
		put_be(prefix, (uint32_t)len, 2);
		elector_digests_account(accounts[i].keys, d);
		if (buf_append(out, prefix, 2) == -1 ||
		    buf_append(out, accounts[i].name, len) == -1 ||
		    buf_append(out, d, sizeof(d)) == -1)
			goto fail;
	}
	sorted = calloc(bridge_count ? bridge_count : 1, sizeof(*sorted));
	if (sorted == NULL)
		goto fail;
	for (size_t i = 0; i < bridge_count; i++)
		sorted[i] = &bridges[i];
	qsort(sorted, bridge_count, sizeof(*sorted), bridge_order);
	for (size_t i = 0; i < bridge_count; i++) {
		size_t len = strlen(sorted[i]->name);
		unsigned char prefix = (unsigned char)len;
		if (!callbridge_name_valid(sorted[i]->name) ||
		    (i > 0 && strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) ||
		    buf_len(out) + 1 + len + sizeof(d) > ELECTOR_DIGESTS_MAX)
			goto fail;
		elector_digests_bridge(sorted[i], d);
		if (buf_append(out, &prefix, 1) == -1 ||
		    buf_append(out, sorted[i]->name, len) == -1 ||
		    buf_append(out, d, sizeof(d)) == -1)
			goto fail;
	}
	free(sorted);
	return 0;
fail:
	free(sorted);
	buf_free(out);
	return -1;
}

/* One entry of a list: its name (NUL-terminated copy) and digest. */
struct digests_entry {
	bool account;
	char name[JID_PART_MAX + 1];
	const uint8_t *digest;
};

typedef void digests_fn(const struct digests_entry *e, void *arg);

/* Walks a list strictly (see the header); calls `each` on every entry
 * when given.  false at the first thing that breaks the format. */
static bool digests_walk(const void *data, size_t len, digests_fn *each, void *arg)
{
	const unsigned char *p = data;
	size_t at = DIGESTS_HEAD;
	if (len < DIGESTS_HEAD || len > ELECTOR_DIGESTS_MAX || p[0] != DIGESTS_FORMAT)
		return false;
	uint32_t counts[2] = {0, 0};
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 4; i++)
			counts[k] = counts[k] << 8 | p[1 + 4 * k + i];
	if (counts[0] > ELECTOR_MACHINE_ACCOUNTS_MAX || counts[1] > CALLBRIDGES_MAX)
		return false;
	struct digests_entry e[2];
	for (uint32_t i = 0; i < counts[0] + counts[1]; i++) {
		struct digests_entry *cur = &e[i % 2], *prev = &e[(i + 1) % 2];
		cur->account = i < counts[0];
		size_t width = cur->account ? 2 : 1;
		if (len - at < width)
			return false;
		size_t n = width == 2 ? (size_t)p[at] << 8 | p[at + 1] : p[at];
		at += width;
		if (n == 0 || n > JID_PART_MAX || len - at < n + ELECTOR_DIGEST_LEN ||
		    memchr(p + at, '\0', n) != NULL)
			return false;
		memcpy(cur->name, p + at, n);
		cur->name[n] = '\0';
		at += n;
		cur->digest = p + at;
		at += ELECTOR_DIGEST_LEN;
		if (!cur->account && !callbridge_name_valid(cur->name))
			return false;
		/* Sorted and distinct within each kind: no name twice. */
		if (i > 0 && i != counts[0] && strcmp(prev->name, cur->name) >= 0)
			return false;
		if (each != NULL)
			each(cur, arg);
	}
	return at == len;
}

bool elector_digests_valid(const void *data, size_t len)
{
	return digests_walk(data, len, NULL, NULL);
}

struct digests_tally {
	const struct elector_machine *m;
	size_t new_entries, same_entries, conflicts, listed;
	char names[ELECTOR_MACHINE_TEXT_MAX - 300];
	size_t names_len;
	bool names_cut;
};

static void digests_count(const struct digests_entry *e, void *arg)
{
	struct digests_tally *t = arg;
	uint8_t held[ELECTOR_DIGEST_LEN];
	if (e->account) {
		const struct account *a = accounts_find(elector_machine_accounts(t->m), e->name);
		if (a == NULL) {
			t->new_entries++;
			return;
		}
		elector_digests_account(a->keys, held);
	} else {
		const struct proto_callbridge *b = elector_machine_bridge_find(t->m, e->name);
		if (b == NULL) {
			t->new_entries++;
			return;
		}
		elector_digests_bridge(b, held);
	}
	if (CRYPTO_memcmp(held, e->digest, sizeof(held)) == 0) {
		t->same_entries++;
		return;
	}
	t->conflicts++;
	if (t->names_cut)
		return;
	int n = snprintf(t->names + t->names_len, sizeof(t->names) - t->names_len, "%s%s %s",
			 t->names_len ? ", " : "", e->account ? "user" : "call bridge", e->name);
	if (n < 0 || (size_t)n >= sizeof(t->names) - t->names_len) {
		t->names[t->names_len] = '\0';
		t->names_cut = true;
		return;
	}
	t->names_len += (size_t)n;
	t->listed++;
}

void elector_digests_compare(const struct elector_machine *m, const void *data, size_t len,
			     struct elector_machine_result *result)
{
	struct digests_tally *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		result->status = ELECTOR_MACHINE_REFUSED;
		snprintf(result->text, sizeof(result->text), "out of memory");
		return;
	}
	t->m = m;
	if (!digests_walk(data, len, digests_count, t)) {
		result->status = ELECTOR_MACHINE_REFUSED;
		snprintf(result->text, sizeof(result->text),
			 "this node's list of accounts and call bridges is malformed (%zu bytes)",
			 len);
	} else if (t->conflicts > 0) {
		char more[64] = "";
		if (t->conflicts > t->listed)
			snprintf(more, sizeof(more), " and %zu more", t->conflicts - t->listed);
		result->status = ELECTOR_MACHINE_REFUSED;
		snprintf(result->text, sizeof(result->text),
			 "the cluster holds different keys or secrets for %zu name%s of this "
			 "node's own accounts and call bridges: %s%s; this node is not a member "
			 "and nothing changed: delete or put right these entries here, then "
			 "join again",
			 t->conflicts, t->conflicts == 1 ? "" : "s", t->names, more);
	} else {
		result->status = ELECTOR_MACHINE_OK;
		snprintf(result->text, sizeof(result->text),
			 "%zu new and %zu identical accounts and call bridges", t->new_entries,
			 t->same_entries);
	}
	free(t);
}
