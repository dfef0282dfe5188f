/* SPDX-License-Identifier: MIT */
/*
 * Offline messages (im/im_offline.c): the quota and its error, the stored
 * form and its strict decoder, the order of delivery and the XEP-0203
 * delay added on delivery.
 */
#include <string.h>

#include "im/im_offline.h"
#include "unit.h"

START_TEST(test_admit)
{
	const struct im_offline_quota q = {.count_max = 3, .bytes_max = 100};
	struct im_error err = {0};
	ck_assert_int_eq(im_offline_admit(&q, &(struct im_offline_usage){0, 0}, 100, &err), 0);
	ck_assert_int_eq(im_offline_admit(&q, &(struct im_offline_usage){2, 60}, 40, &err), 0);
	/* Over the bytes, over the count, or a queue already past its
	 * quota (the quota was lowered): refused, never silently. */
	ck_assert_int_eq(im_offline_admit(&q, &(struct im_offline_usage){2, 60}, 41, &err), -1);
	ck_assert_str_eq(err.condition, "service-unavailable");
	ck_assert_str_eq(err.type, "cancel");
	ck_assert_ptr_null(err.text);
	ck_assert_int_eq(im_offline_admit(&q, &(struct im_offline_usage){3, 3}, 1, &err), -1);
	ck_assert_int_eq(im_offline_admit(&q, &(struct im_offline_usage){1, 150}, 0, &err), -1);
	ck_assert_int_eq(im_offline_admit(&q, &(struct im_offline_usage){0, 0}, 101, &err), -1);
	ck_assert_int_eq(im_offline_admit(&q, &(struct im_offline_usage){0, 0}, SIZE_MAX, &err),
			 -1);
}
END_TEST

static const char msg[] = "<message from='romeo@example.net/orchard' to='juliet@example.com' "
			  "type='chat'><body>Art thou not Romeo?</body></message>";

static void key_of(uint64_t k, unsigned char *out)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(k >> (56 - 8 * i));
}

START_TEST(test_value)
{
	unsigned char v[512], key[8];
	size_t n = im_offline_encode(1031699305, msg, strlen(msg), v, sizeof(v));
	ck_assert_uint_eq(n, IM_OFFLINE_HEADER + strlen(msg));
	ck_assert_uint_eq(im_offline_encode(1031699305, msg, strlen(msg), v, n - 1), 0);
	ck_assert_uint_eq(im_offline_encode(-1, msg, strlen(msg), v, sizeof(v)), 0);
	ck_assert_uint_eq(im_offline_encode(IM_OFFLINE_STAMP_MAX + 1, msg, 3, v, sizeof(v)), 0);
	ck_assert_uint_eq(im_offline_encode(0, msg, 3, v, 8), 0);
	key_of(0x0102030405060708u, key);
	struct im_offline_entry e;
	const char *why;
	ck_assert_int_eq(im_offline_decode(key, 8, v, n, 512, &e, &why), 0);
	ck_assert_uint_eq(e.key, 0x0102030405060708u);
	ck_assert_int_eq(e.stamp, 1031699305);
	ck_assert_uint_eq(e.len, strlen(msg));
	ck_assert_mem_eq(e.stanza, msg, e.len);

	ck_assert_int_eq(im_offline_decode(key, 7, v, n, 512, &e, &why), -1);
	ck_assert_str_eq(why, "key");
	ck_assert_int_eq(im_offline_decode(key, 8, v, n, strlen(msg) - 1, &e, &why), -1);
	ck_assert_str_eq(why, "size");
	ck_assert_int_eq(im_offline_decode(key, 8, v, 8, 512, &e, &why), -1);
	ck_assert_str_eq(why, "format");
	v[0] = 2;
	ck_assert_int_eq(im_offline_decode(key, 8, v, n, 512, &e, &why), -1);
	ck_assert_str_eq(why, "format");
	v[0] = 1, v[1] = 0xff;
	ck_assert_int_eq(im_offline_decode(key, 8, v, n, 512, &e, &why), -1);
	ck_assert_str_eq(why, "stamp");
	static const char *const bad[] = {
	    "",
	    "<message",
	    "<messages>x</messages>",
	    "<iq type='get'/>",
	    "<message to='a@b'>",
	    "<message><body/></message",
	    "<message>\0</message>",
	    "<message><body/>",
	    /* The quote is never closed: the start tag does not end. */
	    "<message id='x/>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = i == 6 ? 20 : strlen(bad[i]);
		n = im_offline_encode(0, bad[i], len, v, sizeof(v));
		ck_assert_int_eq(im_offline_decode(key, 8, v, n, 512, &e, &why), -1);
		ck_assert_str_eq(why, "stanza");
	}
	n = im_offline_encode(0, "<message/>", 10, v, sizeof(v));
	ck_assert_int_eq(im_offline_decode(key, 8, v, n, 512, &e, &why), 0);
	/* '>' unescaped in an attribute value, as xml_serialize writes it. */
	static const char *const good[] = {
	    "<message id=\"a>b\"/>",
	    "<message id='a/>b' type=\"chat\"/>",
	    "<message id=\"it's>\"><body>x</body></message>",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		n = im_offline_encode(0, good[i], strlen(good[i]), v, sizeof(v));
		ck_assert_int_eq(im_offline_decode(key, 8, v, n, 512, &e, &why), 0);
	}
}
END_TEST

START_TEST(test_order)
{
	struct im_offline_entry e[4] = {{.key = 9}, {.key = 2}, {.key = 300}, {.key = 3}};
	im_offline_sort(e, 4);
	ck_assert(e[0].key == 2 && e[1].key == 3 && e[2].key == 9 && e[3].key == 300);
	/* Big-endian keys: the store's byte order is the numeric order. */
	unsigned char a[8], b[8];
	key_of(255, a);
	key_of(256, b);
	ck_assert_int_lt(memcmp(a, b, 8), 0);
}
END_TEST

START_TEST(test_delay)
{
	char d[IM_OFFLINE_DELAY_MAX];
	/* XEP-0203's example instant. */
	ck_assert_int_gt(im_offline_delay("capulet.com", 1031699305, d, sizeof(d)), 0);
	ck_assert_str_eq(d, "<delay xmlns='urn:xmpp:delay' from='capulet.com' "
			    "stamp='2002-09-10T23:08:25Z'>Offline Storage</delay>");
	ck_assert_int_gt(im_offline_delay("example.com", 0, d, sizeof(d)), 0);
	ck_assert(strstr(d, "stamp='1970-01-01T00:00:00Z'") != NULL);
	ck_assert_int_gt(im_offline_delay("example.com", IM_OFFLINE_STAMP_MAX, d, sizeof(d)), 0);
	ck_assert(strstr(d, "stamp='9999-12-31T23:59:59Z'") != NULL);
	/* 2024-02-29, a leap day, 12:00:00 UTC. */
	ck_assert_int_gt(im_offline_delay("example.com", 1709208000, d, sizeof(d)), 0);
	ck_assert(strstr(d, "stamp='2024-02-29T12:00:00Z'") != NULL);
	ck_assert_int_eq(im_offline_delay("example.com", -1, d, sizeof(d)), -1);
	ck_assert_int_eq(im_offline_delay("example.com", IM_OFFLINE_STAMP_MAX + 1, d, sizeof(d)),
			 -1);
	ck_assert_int_eq(im_offline_delay("user@example.com", 0, d, sizeof(d)), -1);
	ck_assert_int_eq(im_offline_delay("example.com/r", 0, d, sizeof(d)), -1);
	ck_assert_int_eq(im_offline_delay("exa'mple.com", 0, d, sizeof(d)), -1);
	ck_assert_int_eq(im_offline_delay("example.com", 0, d, 40), -1);
}
END_TEST

START_TEST(test_stamp)
{
	const char *delay = "<delay xmlns='urn:xmpp:delay' from='example.com' "
			    "stamp='2002-09-10T23:08:25Z'>Offline Storage</delay>";
	char out[1024];
	int n = im_offline_stamp(msg, strlen(msg), delay, out, sizeof(out));
	ck_assert_int_eq(n, (int)(strlen(msg) + strlen(delay)));
	ck_assert_int_eq(n, (int)strlen(out));
	ck_assert(strstr(out, "</body><delay xmlns='urn:xmpp:delay'") != NULL);
	ck_assert(strstr(out, "Offline Storage</delay></message>") != NULL);
	const char *empty = "<message to='juliet@example.com'/>";
	n = im_offline_stamp(empty, strlen(empty), "<delay/>", out, sizeof(out));
	ck_assert_str_eq(out, "<message to='juliet@example.com'><delay/></message>");
	ck_assert_int_eq(n, (int)strlen(out));
	/* Exactly too small, then exactly enough (with the NUL). */
	ck_assert_int_eq(im_offline_stamp(empty, strlen(empty), "<delay/>", out, (size_t)n), -1);
	ck_assert_int_eq(im_offline_stamp(empty, strlen(empty), "<delay/>", out, (size_t)n + 1), n);
	/* The root's "/>" after a '>' in an attribute value. */
	const char *quoted = "<message id=\"a>b\" to='c/>d'/>";
	n = im_offline_stamp(quoted, strlen(quoted), "<delay/>", out, sizeof(out));
	ck_assert_str_eq(out, "<message id=\"a>b\" to='c/>d'><delay/></message>");
	ck_assert_int_eq(n, (int)strlen(out));
	ck_assert_int_eq(im_offline_stamp("<iq/>", 5, "<delay/>", out, sizeof(out)), -1);
	ck_assert_int_eq(im_offline_stamp("<message>", 9, "<delay/>", out, sizeof(out)), -1);
}
END_TEST

Suite *im_offline_suite(void)
{
	Suite *s = suite_create("im_offline");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_admit);
	tcase_add_test(tc, test_value);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_delay);
	tcase_add_test(tc, test_stamp);
	suite_add_tcase(s, tc);
	return s;
}
