/* Growable buffers: append, consume, compaction and the hard limit. */
#include <errno.h>
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

Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");
	tcase_add_test(tc, test_append_and_consume);
	tcase_add_test(tc, test_limit_refuses_growth);
	tcase_add_test(tc, test_compaction_keeps_order);
	tcase_add_test(tc, test_reset_releases_memory);
	suite_add_tcase(s, tc);
	return s;
}
