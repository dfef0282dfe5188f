/* SPDX-License-Identifier: MIT */
/*
 * The listener's XML stream parser: a normal stream, stanzas split at every
 * byte boundary, whitespace before the header, serialization, and each
 * hostile input (restricted XML, oversized stanzas and start tags, nesting,
 * attributes, bad syntax, the wrong root) refused with its RFC 6120
 * condition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xml.h"
#include "common/xml_write.h"
#include "unit.h"

struct events {
	int opens;
	int closes;
	int elements;
	char content_ns[64];
	char to[64];
	char serialized[8][1024];
	bool stop_after_first;
	struct xml_stream *stream;
};

static void on_open(void *arg, const char *content_ns, const struct xml_attr *attrs)
{
	struct events *e = arg;
	e->opens++;
	snprintf(e->content_ns, sizeof(e->content_ns), "%s", content_ns);
	for (const struct xml_attr *a = attrs; a != NULL; a = a->next) {
		if (strcmp(a->name, "to") == 0)
			snprintf(e->to, sizeof(e->to), "%s", a->value);
	}
}

static void on_element(void *arg, struct xml_node *element)
{
	struct events *e = arg;
	struct buf out;
	buf_init(&out, 1 << 20);
	ck_assert_int_eq(xml_serialize(element, XML_NS_CLIENT, NULL, NULL, &out), 0);
	if (e->elements < 8)
		snprintf(e->serialized[e->elements], sizeof(e->serialized[0]), "%.*s",
			 (int)buf_len(&out), buf_head(&out));
	buf_free(&out);
	e->elements++;
	if (e->stop_after_first)
		xml_stream_stop(e->stream);
}

static void on_close(void *arg)
{
	((struct events *)arg)->closes++;
}

static const struct xml_stream_events callbacks = {on_open, on_element, on_close};

static struct xml_stream *make_stream(struct events *e, size_t max_stanza)
{
	struct xml_limits limits = {
	    .max_stanza_size = max_stanza, .max_depth = 8, .max_attributes = 8};
	memset(e, 0, sizeof(*e));
	e->stream = xml_stream_new(&limits, &callbacks, e);
	ck_assert_ptr_nonnull(e->stream);
	return e->stream;
}

#define HEADER                                                                                     \
	"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' "              \
	"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

static const char good_stream[] =
    HEADER "<message to='bob@example.com' type='chat' id='m1'><body>hi &amp; &lt;3 "
	   "&#x1F600;</body><x xmlns='urn:example:x' a='1'/></message>  \n"
	   "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
	   "<presence xml:lang='en'><status>a\"b</status></presence></stream:stream>";

static void check_good(const struct events *e)
{
	ck_assert_int_eq(e->opens, 1);
	ck_assert_str_eq(e->content_ns, "jabber:client");
	ck_assert_str_eq(e->to, "example.com");
	ck_assert_int_eq(e->elements, 3);
	ck_assert_str_eq(
	    e->serialized[0],
	    "<message to=\"bob@example.com\" type=\"chat\" id=\"m1\"><body>hi &amp; "
	    "&lt;3 \xf0\x9f\x98\x80</body><x xmlns=\"urn:example:x\" a=\"1\"/></message>");
	ck_assert_str_eq(e->serialized[1],
			 "<iq type=\"get\" id=\"p\"><ping xmlns=\"urn:xmpp:ping\"/></iq>");
	ck_assert_str_eq(e->serialized[2],
			 "<presence xml:lang=\"en\"><status>a\"b</status></presence>");
	ck_assert_int_eq(e->closes, 1);
}

START_TEST(test_normal_stream)
{
	struct events e;
	struct xml_stream *s = make_stream(&e, 65536);
	size_t len = strlen(good_stream);
	ck_assert_uint_eq(xml_stream_feed(s, good_stream, len), len);
	ck_assert_ptr_null(xml_stream_error(s));
	check_good(&e);
	xml_stream_free(s);
}
END_TEST

START_TEST(test_split_at_every_byte)
{
	size_t len = strlen(good_stream);
	for (size_t split = 1; split < len; split++) {
		struct events e;
		struct xml_stream *s = make_stream(&e, 65536);
		ck_assert_uint_eq(xml_stream_feed(s, good_stream, split), split);
		ck_assert_uint_eq(xml_stream_feed(s, good_stream + split, len - split),
				  len - split);
		ck_assert_ptr_null(xml_stream_error(s));
		check_good(&e);
		xml_stream_free(s);
	}
}
END_TEST

START_TEST(test_one_byte_at_a_time)
{
	struct events e;
	struct xml_stream *s = make_stream(&e, 65536);
	for (size_t i = 0; good_stream[i] != '\0'; i++)
		ck_assert_uint_eq(xml_stream_feed(s, good_stream + i, 1), 1);
	check_good(&e);
	xml_stream_free(s);
}
END_TEST

START_TEST(test_stop_returns_the_rest)
{
	/* A stream restart (STARTTLS, SASL success): what follows the element
	 * must be left for whoever takes over. */
	const char text[] =
	    HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01";
	struct events e;
	struct xml_stream *s = make_stream(&e, 65536);
	e.stop_after_first = true;
	size_t len = strlen(text);
	size_t used = xml_stream_feed(s, text, len);
	ck_assert_int_eq(e.elements, 1);
	ck_assert_uint_eq(used, len - 3);
	ck_assert_ptr_null(xml_stream_error(s));
	xml_stream_free(s);
}
END_TEST

START_TEST(test_whitespace_before_the_header_is_skipped)
{
	/* go-xmpp ends <auth/> and <starttls/> with a newline: it reaches the
	 * restarted stream's parser before the next header, in the same read or
	 * in a read of its own, and must not make the declaration "not at the
	 * start of the entity". */
	static const char lead[] = "\r\n \t\n";
	char text[sizeof(good_stream) + sizeof(lead)];
	snprintf(text, sizeof(text), "%s%s", lead, good_stream);
	size_t len = strlen(text);
	for (size_t split = 0; split <= strlen(lead) + 1; split++) {
		struct events e;
		struct xml_stream *s = make_stream(&e, 65536);
		ck_assert_uint_eq(xml_stream_feed(s, text, split), split);
		ck_assert_uint_eq(xml_stream_feed(s, text + split, len - split), len - split);
		ck_assert_ptr_null(xml_stream_error(s));
		check_good(&e);
		xml_stream_free(s);
	}
	/* Only whitespace: anything else before the declaration is refused. */
	struct events e;
	struct xml_stream *s = make_stream(&e, 65536);
	ck_assert_uint_eq(xml_stream_feed(s, "\n", 1), 1);
	xml_stream_feed(s, "x" HEADER, strlen(HEADER) + 1);
	ck_assert_str_eq(xml_stream_error(s), "not-well-formed");
	ck_assert_int_eq(e.opens, 0);
	xml_stream_free(s);
}
END_TEST

static void expect_error(const char *text, const char *condition, size_t max_stanza)
{
	struct events e;
	struct xml_stream *s = make_stream(&e, max_stanza);
	xml_stream_feed(s, text, strlen(text));
	ck_assert_msg(xml_stream_error(s) != NULL, "no error for: %.80s", text);
	ck_assert_str_eq(xml_stream_error(s), condition);
	/* Nothing more is taken after an error. */
	ck_assert_uint_eq(xml_stream_feed(s, "<a/>", 4), 0);
	xml_stream_free(s);
}

START_TEST(test_restricted_xml)
{
	expect_error(
	    "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;'>]>" HEADER,
	    "restricted-xml", 65536);
	expect_error(HEADER "<!-- a comment -->", "restricted-xml", 65536);
	expect_error(HEADER "<?php echo 1; ?>", "restricted-xml", 65536);
	expect_error(HEADER "<message><!-- inside --></message>", "restricted-xml", 65536);
}
END_TEST

START_TEST(test_size_limits)
{
	char *big = malloc(20000);
	int n = snprintf(big, 20000, HEADER "<message><body>");
	memset(big + n, 'x', 10000);
	strcpy(big + n + 10000, "</body></message>");
	expect_error(big, "policy-violation", 4096);
	/* A start tag that never ends is caught before expat keeps it all. */
	n = snprintf(big, 20000, HEADER "<message to='");
	memset(big + n, 'y', 15000);
	big[n + 15000] = '\0';
	expect_error(big, "policy-violation", 4096);
	/* Many small stanzas are fine: the limit is per stanza. */
	struct events e;
	struct xml_stream *s = make_stream(&e, 1024);
	xml_stream_feed(s, HEADER, strlen(HEADER));
	for (int i = 0; i < 2000; i++)
		xml_stream_feed(s, "<presence/> ", 12);
	ck_assert_ptr_null(xml_stream_error(s));
	ck_assert_int_eq(e.elements, 2000);
	xml_stream_free(s);
	free(big);
}
END_TEST

START_TEST(test_depth_and_attributes)
{
	expect_error(HEADER "<message><a><b><c><d><e><f><g><h>", "policy-violation", 65536);
	expect_error(HEADER "<message a='1' b='2' c='3' d='4' e='5' f='6' g='7' h='8' i='9'/>",
		     "policy-violation", 65536);
}
END_TEST

START_TEST(test_bad_syntax_and_wrong_root)
{
	expect_error(HEADER "<message><body></message>", "not-well-formed", 65536);
	expect_error(HEADER "<message \xff\xfe='x'/>", "not-well-formed", 65536);
	expect_error(HEADER "<p:message/>", "not-well-formed", 65536);
	expect_error("<html xmlns='http://www.w3.org/1999/xhtml'>", "invalid-namespace", 65536);
	expect_error(HEADER "plain text at the stream level", "bad-format", 65536);
}
END_TEST

START_TEST(test_release_and_resume_between_stanzas)
{
	/* A root with its own prefix and a prefix declared on it, used by a
	 * stanza after the parser was rebuilt. */
	const char header[] = "<s:stream xmlns:s='http://etherx.jabber.org/streams' "
			      "xmlns='jabber:client' xmlns:x='urn:example:x' to='example.com' "
			      "version='1.0'>";
	struct events e;
	struct xml_stream *s = make_stream(&e, 65536);
	xml_stream_feed(s, header, strlen(header));
	ck_assert(!xml_stream_release(s) || e.opens == 1);
	const char one[] = "<message><body>one</body></message>";
	xml_stream_feed(s, one, strlen(one));
	ck_assert(xml_stream_release(s));
	ck_assert(!xml_stream_loaded(s));
	const char two[] = "<message><x:data>two</x:data></message>";
	ck_assert_uint_eq(xml_stream_feed(s, two, strlen(two)), strlen(two));
	ck_assert(xml_stream_loaded(s));
	/* Not released in the middle of an element. */
	xml_stream_feed(s, "<presence>", 10);
	ck_assert(!xml_stream_release(s));
	xml_stream_feed(s, "</presence>", 11);
	ck_assert(xml_stream_release(s));
	xml_stream_feed(s, "</s:stream>", 11);
	ck_assert_ptr_null(xml_stream_error(s));
	ck_assert_int_eq(e.opens, 1); /* the rebuilt header is nobody's business */
	ck_assert_int_eq(e.elements, 3);
	ck_assert_str_eq(e.serialized[1],
			 "<message><data xmlns=\"urn:example:x\">two</data></message>");
	ck_assert_int_eq(e.closes, 1);
	xml_stream_free(s);
}
END_TEST

START_TEST(test_escaping)
{
	struct buf out;
	buf_init(&out, 1024);
	const char text[] = "a&b<c>d]]>e\"f";
	ck_assert_int_eq(xml_escape(&out, text, strlen(text), false), 0);
	ck_assert_str_eq(buf_len(&out) ? (buf_append(&out, "", 1), buf_head(&out)) : "",
			 "a&amp;b&lt;c>d]]&gt;e\"f");
	buf_reset(&out, 0);
	ck_assert_int_eq(xml_escape(&out, text, strlen(text), true), 0);
	buf_append(&out, "", 1);
	ck_assert_str_eq(buf_head(&out), "a&amp;b&lt;c>d]]>e&quot;f");
	buf_free(&out);
}
END_TEST

Suite *xml_suite(void)
{
	Suite *s = suite_create("xml");
	TCase *tc = tcase_create("xml");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_normal_stream);
	tcase_add_test(tc, test_split_at_every_byte);
	tcase_add_test(tc, test_one_byte_at_a_time);
	tcase_add_test(tc, test_stop_returns_the_rest);
	tcase_add_test(tc, test_whitespace_before_the_header_is_skipped);
	tcase_add_test(tc, test_restricted_xml);
	tcase_add_test(tc, test_size_limits);
	tcase_add_test(tc, test_depth_and_attributes);
	tcase_add_test(tc, test_bad_syntax_and_wrong_root);
	tcase_add_test(tc, test_release_and_resume_between_stanzas);
	tcase_add_test(tc, test_escaping);
	suite_add_tcase(s, tc);
	return s;
}
