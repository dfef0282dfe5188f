/* SPDX-License-Identifier: MIT */
/* Growable buffers: append, consume, compaction, the hard limit, and the
 * wiping of sensitive buffers. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "unit.h"

START_TEST(test_append_and_consume)
{
	struct buf b;
	buf_init(&b, 1024);
	ck_assert_int_eq(buf_append(&b, "hello ", 6), 0);
	ck_assert_int_eq(buf_append(&b, "world", 5), 0);
	ck_assert_uint_eq(buf_len(&b), 11);
	ck_assert_mem_eq(buf_head(&b), "hello world", 11);
	buf_consume(&b, 6);
	ck_assert_uint_eq(buf_len(&b), 5);
	ck_assert_mem_eq(buf_head(&b), "world", 5);
	buf_consume(&b, 100);
	ck_assert_uint_eq(buf_len(&b), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_limit_refuses_growth)
{
	struct buf b;
	char block[100];
	memset(block, 'x', sizeof(block));
	buf_init(&b, 250);
	ck_assert_int_eq(buf_append(&b, block, 100), 0);
	ck_assert_int_eq(buf_append(&b, block, 100), 0);
	errno = 0;
	ck_assert_int_eq(buf_append(&b, block, 100), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	/* What was accepted is intact. */
	ck_assert_uint_eq(buf_len(&b), 200);
	/* Consumed bytes make room again. */
	buf_consume(&b, 150);
	ck_assert_int_eq(buf_append(&b, block, 100), 0);
	ck_assert_uint_eq(buf_len(&b), 150);
	buf_free(&b);
}
END_TEST

START_TEST(test_compaction_keeps_order)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	unsigned char expect = 0, next = 0;
	for (int round = 0; round < 1000; round++) {
		unsigned char chunk[37];
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = next++;
		ck_assert_int_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
		size_t take = buf_len(&b) > 30 ? 30 : buf_len(&b);
		for (size_t i = 0; i < take; i++)
			ck_assert_uint_eq((unsigned char)buf_head(&b)[i],
					  (unsigned char)(expect + i));
		expect = (unsigned char)(expect + take);
		buf_consume(&b, take);
	}
	ck_assert_uint_eq(buf_len(&b), 1000 * 7);
	buf_free(&b);
}
END_TEST

START_TEST(test_reset_releases_memory)
{
	struct buf b;
	char big[8192] = {0};
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_append(&b, big, sizeof(big)), 0);
	buf_reset(&b, 1024);
	ck_assert_uint_eq(buf_len(&b), 0);
	ck_assert_ptr_null(b.data);
	buf_free(&b);
}
END_TEST

static const char buf_test_secret[] =
    "correct horse battery staple: a password long enough to outlast the allocator's pointers";

/* Volatile: to the compiler a fresh malloc block holds nothing defined, and
 * it may fold reads of it away. */
static bool buf_test_zero(const volatile char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

/* What a sensitive buffer still owns but no longer holds reads as zeros. */
START_TEST(test_sensitive_wipes_what_it_lets_go)
{
	struct buf b;
	size_t n = sizeof(buf_test_secret);
	buf_init(&b, 1 << 20);
	buf_set_sensitive(&b);
	ck_assert_int_eq(buf_append(&b, buf_test_secret, n), 0);
	const char *at = b.data;
	buf_consume(&b, 10);
	ck_assert(buf_test_zero(at, 10));
	ck_assert_mem_eq(buf_head(&b), buf_test_secret + 10, n - 10);
	/* Moving the rest down leaves nothing behind past its new end. */
	ck_assert_int_eq(buf_reserve(&b, b.cap - (n - 10)), 0);
	ck_assert_ptr_eq(b.data, at);
	ck_assert_mem_eq(buf_head(&b), buf_test_secret + 10, n - 10);
	ck_assert(buf_test_zero(b.data + n - 10, 10));
	/* A reset that keeps the memory wipes it. */
	buf_reset(&b, 1 << 20);
	ck_assert_ptr_eq(b.data, at);
	ck_assert(buf_test_zero(b.data, n));
	/* The flag outlives free and reset; an ordinary buffer is left alone. */
	buf_free(&b);
	ck_assert(b.sensitive);
	struct buf plain;
	buf_init(&plain, 1024);
	ck_assert_int_eq(buf_append(&plain, buf_test_secret, n), 0);
	buf_consume(&plain, 10);
	ck_assert_mem_eq(plain.data, buf_test_secret, 10);
	buf_free(&plain);
}
END_TEST

/* When most of it was consumed before the move, the little that is left
 * moves over wiped bytes, and its old copy is wiped. */
START_TEST(test_sensitive_move_after_large_consume)
{
	struct buf b;
	size_t n = sizeof(buf_test_secret);
	buf_init(&b, 1 << 20);
	buf_set_sensitive(&b);
	ck_assert_int_eq(buf_append(&b, buf_test_secret, n), 0);
	const char *at = b.data;
	buf_consume(&b, n - 10);
	ck_assert_int_eq(buf_reserve(&b, b.cap - 10), 0);
	ck_assert_ptr_eq(b.data, at);
	ck_assert_mem_eq(buf_head(&b), buf_test_secret + n - 10, 10);
	ck_assert(buf_test_zero(b.data + 10, n - 10));
	buf_free(&b);
}
END_TEST

/*
 * Freed and outgrown blocks: glibc hands a block just freed back to the next
 * allocation of its size, so what it held can be read again without
 * touching freed memory.  Its first 32 bytes may be the allocator's list
 * pointers.  AddressSanitizer never reuses a block so soon, so under it
 * only the plain build concludes.
 */
static void buf_test_reuse(const char *freed, size_t cap, size_t n)
{
	char *again = malloc(cap);
	ck_assert_ptr_nonnull(again);
#ifndef __SANITIZE_ADDRESS__
	ck_assert_ptr_eq(again, freed);
	ck_assert(buf_test_zero(again + 32, n - 32));
#else
	(void)freed, (void)n;
#endif
	free(again);
}

START_TEST(test_sensitive_wipes_freed_memory)
{
	struct buf b;
	size_t n = sizeof(buf_test_secret);
	buf_init(&b, 1 << 20);
	buf_set_sensitive(&b);
	ck_assert_int_eq(buf_append(&b, buf_test_secret, n), 0);
	char *old = b.data;
	size_t cap = b.cap;
	/* Growing moves the bytes to a new block and wipes the old one. */
	ck_assert_int_eq(buf_reserve(&b, 4 * cap), 0);
	ck_assert_ptr_ne(b.data, old);
	ck_assert_mem_eq(buf_head(&b), buf_test_secret, n);
	buf_test_reuse(old, cap, n);
	old = b.data;
	cap = b.cap;
	buf_free(&b);
	buf_test_reuse(old, cap, n);

	char *secret = malloc(n);
	ck_assert_ptr_nonnull(secret);
	memcpy(secret, buf_test_secret, n);
	buf_wipe_free(secret, n);
	buf_test_reuse(secret, n, n);
}
END_TEST

Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");
	tcase_add_test(tc, test_append_and_consume);
	tcase_add_test(tc, test_limit_refuses_growth);
	tcase_add_test(tc, test_compaction_keeps_order);
	tcase_add_test(tc, test_reset_releases_memory);
	tcase_add_test(tc, test_sensitive_wipes_what_it_lets_go);
	tcase_add_test(tc, test_sensitive_move_after_large_consume);
	tcase_add_test(tc, test_sensitive_wipes_freed_memory);
	suite_add_tcase(s, tc);
	return s;
}
