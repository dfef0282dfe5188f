/* SPDX-License-Identifier: MIT */
/*
 * The hash table (common/table.c): SipHash-2-4 under the process's key,
 * and a set of keys chosen to collide under the unkeyed FNV-1a hash the
 * table used before, which put every one of them in one chain.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/table.h"
#include "unit.h"

static void table_test_key(unsigned char first)
{
	unsigned char key[TABLE_KEY_LEN];
	for (int i = 0; i < TABLE_KEY_LEN; i++)
		key[i] = (unsigned char)(first + i);
	ck_assert_int_eq(table_set_key(key), 0);
}

START_TEST(test_siphash_is_keyed)
{
	/* The reference vectors of the SipHash paper (Aumasson and Bernstein,
	 * appendix A): key 00..0f, messages 00..0e and the empty one. */
	table_test_key(0);
	unsigned char message[15];
	for (int i = 0; i < 15; i++)
		message[i] = (unsigned char)i;
	ck_assert_uint_eq(table_hash(message, sizeof(message)), 0xa129ca6149be45e5ull);
	ck_assert_uint_eq(table_hash("", 0), 0x726fdb47dd0e0e31ull);
	const char *jids[] = {"alice@example.com", "alice@example.com/laptop", "a", ""};
	uint64_t first[4];
	for (int i = 0; i < 4; i++)
		first[i] = table_hash(jids[i], strlen(jids[i]));
	table_test_key(1);
	for (int i = 0; i < 4; i++)
		ck_assert_msg(table_hash(jids[i], strlen(jids[i])) != first[i],
			      "'%s' hashes alike under two keys", jids[i]);
}
END_TEST

static uint64_t table_test_fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

START_TEST(test_colliding_resources_spread)
{
	/* 1500 resources of one user whose FNV-1a hashes agree in the low 11
	 * bits: with FNV, every bucket index up to 2048 buckets is the same. */
	enum { WANT = 1500, MASK = 0x7ff };
	static char keys[WANT][48];
	int found = 0;
	for (uint32_t i = 0; found < WANT && i < (1u << 24); i++) {
		snprintf(keys[found], sizeof(keys[found]), "mallory@example.com/r%x", i);
		if ((table_test_fnv1a(keys[found]) & MASK) == 0)
			found++;
	}
	ck_assert_int_eq(found, WANT);
	struct table *t = table_new();
	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < WANT; i++)
		ck_assert_int_eq(table_put(t, keys[i], strlen(keys[i]), keys[i], NULL), 0);
	ck_assert_uint_eq(table_count(t), WANT);
	/* About 7 is what 1500 random keys in 2048 buckets give at worst. */
	ck_assert_uint_lt(table_longest_chain(t), 32);
	for (int i = 0; i < WANT; i++)
		ck_assert_ptr_eq(table_get(t, keys[i], strlen(keys[i])), keys[i]);
	for (int i = 0; i < WANT; i += 2)
		ck_assert_ptr_eq(table_remove(t, keys[i], strlen(keys[i])), keys[i]);
	for (int i = 0; i < WANT; i++)
		ck_assert_ptr_eq(table_get(t, keys[i], strlen(keys[i])), i % 2 ? keys[i] : NULL);
	ck_assert_uint_eq(table_count(t), WANT / 2);
	void *old = NULL;
	ck_assert_int_eq(table_put(t, keys[1], strlen(keys[1]), keys[3], &old), 0);
	ck_assert_ptr_eq(old, keys[1]);
	ck_assert_ptr_eq(table_get(t, keys[1], strlen(keys[1])), keys[3]);
	table_free(t);
}
END_TEST

Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, test_siphash_is_keyed);
	tcase_add_test(tc, test_colliding_resources_spread);
	suite_add_tcase(s, tc);
	return s;
}
