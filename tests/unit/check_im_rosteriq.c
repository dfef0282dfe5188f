/* SPDX-License-Identifier: MIT */
/*
 * Roster iqs as XML (im/im_rosteriq.c) read from one stanza's bytes
 * (im/im_stanza.c): a get's ver, a set's item with its name and groups,
 * the requests refused before im_roster_set sees them; the result (items
 * not listed left out, the empty result of a current ver), the push with
 * the place of its 'to', the error; and the IM_OUT message the im
 * process sends the router (proto_im_out_unpack).
 */
#include <stdio.h>
#include <string.h>

#include "common/proto.h"
#include "im/im_rosteriq.h"
#include "im/im_stanza.h"
#include "unit.h"

static const struct xml_limits limits = {
    .max_stanza_size = 65536, .max_depth = 16, .max_attributes = 32};

struct read {
	bool set;
	struct im_rosteriq_req req;
	int rc;
};

static void on_stanza(void *arg, struct xml_node *stanza)
{
	struct read *r = arg;
	r->rc = im_rosteriq_read(stanza, r->set, &r->req);
}

static int read_iq(const char *text, bool set, struct im_rosteriq_req *req)
{
	struct read r = {.set = set, .rc = -2};
	int parsed = im_stanza_parse(text, strlen(text), &limits, on_stanza, &r);
	*req = r.req;
	return parsed == -1 ? -1 : r.rc;
}

START_TEST(test_read_get)
{
	struct im_rosteriq_req req;
	ck_assert_int_eq(read_iq("<iq type='get' id='1'><query xmlns='jabber:iq:roster' "
				 "ver='42'/></iq>",
				 false, &req),
			 0);
	ck_assert(!req.is_bad && !req.set);
	ck_assert_str_eq(req.ver, "42");
	im_rosteriq_req_free(&req);
	ck_assert_int_eq(
	    read_iq("<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>", false, &req),
	    0);
	ck_assert_ptr_null(req.ver);
	im_rosteriq_req_free(&req);
	/* Another payload: refused before anything is read. */
	ck_assert_int_eq(
	    read_iq("<iq type='get' id='1'><query xmlns='jabber:iq:version'/></iq>", false, &req),
	    0);
	ck_assert(req.is_bad);
	ck_assert_str_eq(req.bad.condition, "bad-request");
	im_rosteriq_req_free(&req);
}
END_TEST

START_TEST(test_read_set)
{
	struct im_rosteriq_req req;
	ck_assert_int_eq(read_iq("<iq type='set' id='s'><query xmlns='jabber:iq:roster'>"
				 "<item jid='Bob@Example.com' name='B &amp; b'>"
				 "<group>Friends</group><group>W&#246;rk</group><other/>"
				 "</item></query></iq>",
				 true, &req),
			 0);
	ck_assert(!req.is_bad && req.set && !req.remove);
	ck_assert_uint_eq(req.items, 1);
	ck_assert_str_eq(req.jid, "Bob@Example.com");
	ck_assert_str_eq(req.name, "B & b");
	ck_assert_uint_eq(req.ngroups, 2);
	ck_assert_str_eq(req.groups[0], "Friends");
	ck_assert_str_eq(req.groups[1], "W\xc3\xb6rk");
	struct im_roster_set set;
	im_rosteriq_as_set(&req, &set);
	ck_assert_uint_eq(set.items, 1);
	ck_assert_uint_eq(set.ngroups, 2);
	ck_assert_str_eq(set.groups[1], req.groups[1]);
	im_rosteriq_req_free(&req);

	/* Two items are counted (im_roster_set refuses them); a removal. */
	ck_assert_int_eq(read_iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='a'/>"
				 "<item jid='b' subscription='remove'/></query></iq>",
				 true, &req),
			 0);
	ck_assert_uint_eq(req.items, 2);
	ck_assert_str_eq(req.jid, "a");
	ck_assert(!req.remove);
	im_rosteriq_req_free(&req);
	ck_assert_int_eq(read_iq("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='b' "
				 "subscription='remove'/></query></iq>",
				 true, &req),
			 0);
	ck_assert(req.remove);
	ck_assert_ptr_null(req.name);
	im_rosteriq_req_free(&req);
}
END_TEST

START_TEST(test_read_refused)
{
	struct im_rosteriq_req req;
	/* A group longer than what is read at all. */
	char text[IM_ROSTERIQ_TEXT_MAX + 256];
	int n = snprintf(text, sizeof(text),
			 "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>");
	memset(text + n, 'g', IM_ROSTERIQ_TEXT_MAX + 1);
	strcpy(text + n + IM_ROSTERIQ_TEXT_MAX + 1, "</group></item></query></iq>");
	ck_assert_int_eq(read_iq(text, true, &req), 0);
	ck_assert(req.is_bad);
	ck_assert_str_eq(req.bad.condition, "not-acceptable");
	im_rosteriq_req_free(&req);
	/* More groups than read. */
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_append(&b, "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='a@b'>", 63);
	for (int i = 0; i <= IM_ROSTERIQ_GROUPS_MAX; i++) {
		char g[32];
		buf_append(&b, g, (size_t)snprintf(g, sizeof(g), "<group>%d</group>", i));
	}
	buf_append(&b, "</item></query></iq>", 21);
	ck_assert_int_eq(read_iq(buf_head(&b), true, &req), 0);
	ck_assert(req.is_bad);
	ck_assert_str_eq(req.bad.text, "too many groups");
	im_rosteriq_req_free(&req);
	buf_free(&b);
	/* Refused as it is read, and no more of it kept: a name longer than
	 * what is read, groups longer than that together, a JID longer than
	 * any; a get's ver longer than any given is none. */
	static const char *const over[][2] = {
	    {"<item jid='a@b' name='%s'/>", "not-acceptable"},
	    {"<item jid='a@b'><group>%.3000s</group><group>%.3000s</group></item>",
	     "not-acceptable"},
	    {"<item jid='%.3100s@b'/>", "jid-malformed"},
	};
	static char big[IM_ROSTERIQ_TEXT_MAX + 2], iq[3 * sizeof(big)], item_text[2 * sizeof(big)];
	memset(big, 'n', sizeof(big) - 1);
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		snprintf(item_text, sizeof(item_text), over[i][0], big, big);
		snprintf(iq, sizeof(iq),
			 "<iq type='set'><query xmlns='jabber:iq:roster'>%s</query></iq>",
			 item_text);
		ck_assert_int_eq(read_iq(iq, true, &req), 0);
		ck_assert(req.is_bad);
		ck_assert_str_eq(req.bad.condition, over[i][1]);
		/* At most what was read until the bound was met. */
		ck_assert(req.name == NULL && req.ngroups == (i == 1 ? 2 : 0));
		im_rosteriq_req_free(&req);
	}
	snprintf(iq, sizeof(iq),
		 "<iq type='get'><query xmlns='jabber:iq:roster' ver='%.65s'/></iq>", big);
	ck_assert_int_eq(read_iq(iq, false, &req), 0);
	ck_assert(!req.is_bad && req.ver == NULL);
	im_rosteriq_req_free(&req);
	/* Not one well-formed element. */
	ck_assert_int_eq(read_iq("<iq type='set'><query", true, &req), -1);
	ck_assert_int_eq(read_iq("<iq/><iq/>", true, &req), -1);
	im_rosteriq_req_free(&req);
}
END_TEST

static struct im_roster_item item(const char *jid, const char *name, char **groups, size_t n,
				  enum im_sub_state state, bool listed)
{
	return (struct im_roster_item){.jid = (char *)jid,
				       .name = (char *)name,
				       .groups = groups,
				       .ngroups = n,
				       .sub = {.state = state},
				       .listed = listed};
}

static const char *text(struct buf *b)
{
	buf_append(b, "", 1);
	return buf_head(b);
}

START_TEST(test_result)
{
	char *groups[] = {"A<B", "C"};
	struct im_roster_item items[] = {
	    item("a@x", "\"Al\"", groups, 2, IM_SUB_TO, true),
	    item("b@x", NULL, NULL, 0, IM_SUB_NONE_IN, false),
	    item("c@x", "", NULL, 0, IM_SUB_NONE_OUT, true),
	};
	struct im_roster r = {.items = items, .count = 3, .cap = 3};
	struct buf b;
	buf_init(&b, 65536);
	im_rosteriq_result(&b, "u@x/r", "u@x", "i&1", &r, "7");
	ck_assert_str_eq(
	    text(&b),
	    "<iq type=\"result\" id=\"i&amp;1\" to=\"u@x/r\" from=\"u@x\"><query "
	    "xmlns=\"jabber:iq:roster\" ver=\"7\"><item jid=\"a@x\" name=\"&quot;Al&quot;\" "
	    "subscription=\"to\"><group>A&lt;B</group><group>C</group></item><item jid=\"c@x\" "
	    "subscription=\"none\" ask=\"subscribe\"/></query></iq>");
	buf_reset(&b, 0);
	/* The client's copy is current (RFC 6121 2.6.3); no 'from'. */
	im_rosteriq_result(&b, "u@x/r", "", "2", NULL, "7");
	ck_assert_str_eq(text(&b), "<iq type=\"result\" id=\"2\" to=\"u@x/r\"/>");
	buf_reset(&b, 0);
	/* Outside a cluster: no ver. */
	struct im_roster empty = {0};
	im_rosteriq_result(&b, "u@x/r", "", "3", &empty, NULL);
	ck_assert_str_eq(text(&b), "<iq type=\"result\" id=\"3\" to=\"u@x/r\"><query "
				   "xmlns=\"jabber:iq:roster\"></query></iq>");
	buf_reset(&b, 0);
	im_rosteriq_done(&b, "u@x/r", "", "4");
	ck_assert_str_eq(text(&b), "<iq type=\"result\" id=\"4\" to=\"u@x/r\"/>");
	buf_free(&b);
}
END_TEST

START_TEST(test_push_and_error)
{
	struct buf b;
	buf_init(&b, 65536);
	struct im_roster_item it = item("a@x", "A", NULL, 0, IM_SUB_BOTH, true);
	size_t at = im_rosteriq_push(&b, "push1", "9", &it, NULL);
	ck_assert_str_eq(text(&b),
			 "<iq type=\"set\" id=\"push1\"><query xmlns=\"jabber:iq:roster\" "
			 "ver=\"9\"><item jid=\"a@x\" name=\"A\" "
			 "subscription=\"both\"/></query></iq>");
	ck_assert_uint_eq(at, strlen("<iq type=\"set\" id=\"push1\""));
	buf_reset(&b, 0);
	im_rosteriq_push(&b, "push2", "10", NULL, "a@x");
	ck_assert(strstr(text(&b), "<item jid=\"a@x\" subscription=\"remove\"/>") != NULL);
	buf_reset(&b, 0);
	struct im_error err = {.type = "wait", .condition = "resource-constraint", .text = "a<b"};
	im_rosteriq_error(&b, "u@x/r", "", "e", &err);
	ck_assert_str_eq(text(&b), "<iq type=\"error\" id=\"e\" to=\"u@x/r\"><error type=\"wait\">"
				   "<resource-constraint "
				   "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/><text "
				   "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\">a&lt;b</text>"
				   "</error></iq>");
	buf_free(&b);
}
END_TEST

/* Every writer at every limit around its stanza's size: whole or -1,
 * never a stanza with a piece missing (a short append that still fits
 * after a long one that did not). */
START_TEST(test_writers_at_their_limit)
{
	char *groups[] = {"A&&&&&&&&B", "C"};
	struct im_roster_item items[] = {
	    item("a@x", "\"&&&&&&&&&&\"", groups, 2, IM_SUB_TO, true),
	    item("c@x", "", NULL, 0, IM_SUB_NONE_OUT, true),
	};
	struct im_roster r = {.items = items, .count = 2, .cap = 2};
	struct im_error err = {.type = "wait", .condition = "resource-constraint", .text = "a<b"};
	struct buf whole[4], b;
	for (int k = 0; k < 4; k++)
		buf_init(&whole[k], 65536);
	im_rosteriq_result(&whole[0], "u@x/r", "u@x", "i&1", &r, "7");
	im_rosteriq_push(&whole[1], "push1", "9", &items[0], NULL);
	im_rosteriq_error(&whole[2], "u@x/r", "", "e", &err);
	im_rosteriq_items(&whole[3], &r);
	for (int k = 0; k < 4; k++) {
		size_t n = buf_len(&whole[k]);
		for (size_t limit = 0; limit <= n + 1; limit++) {
			buf_init(&b, limit);
			int rc =
			    k == 0 ? im_rosteriq_result(&b, "u@x/r", "u@x", "i&1", &r, "7")
			    : k == 1
				? (im_rosteriq_push(&b, "push1", "9", &items[0], NULL) == 0 ? -1
											    : 0)
			    : k == 2 ? im_rosteriq_error(&b, "u@x/r", "", "e", &err)
				     : im_rosteriq_items(&b, &r);
			ck_assert_int_eq(rc, limit >= n ? 0 : -1);
			if (rc == 0)
				ck_assert(buf_len(&b) == n &&
					  memcmp(buf_head(&b), buf_head(&whole[k]), n) == 0);
			buf_free(&b);
		}
		buf_free(&whole[k]);
	}
}
END_TEST

static size_t out_msg(unsigned char *m, uint32_t target, uint32_t to_at, const char *bare,
		      const char *stanza)
{
	struct proto_im_out h = {.target = target,
				 .to_at = to_at,
				 .origin = {1, 2},
				 .bare_len = (uint32_t)strlen(bare),
				 .stanza_len = (uint32_t)strlen(stanza)};
	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), bare, h.bare_len);
	memcpy(m + sizeof(h) + h.bare_len, stanza, h.stanza_len);
	return sizeof(h) + h.bare_len + h.stanza_len;
}

START_TEST(test_im_out)
{
	static struct proto_im_out_view v;
	unsigned char m[256];
	size_t n = out_msg(m, PROTO_IM_TO_RESOURCES, 3, "u@x", "<iq/>");
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), 0);
	ck_assert_str_eq(v.bare, "u@x");
	ck_assert_int_eq(memcmp(v.stanza, "<iq/>", 5), 0);
	ck_assert_uint_eq(v.head.origin.session, 2);
	n = out_msg(m, PROTO_IM_TO_ORIGIN, PROTO_IM_NO_TO, "", "<iq/>");
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), 0);
	/* Short, long, a bare JID where none belongs or none where one does,
	 * to_at past the stanza, an unknown target, a NUL in the JID. */
	ck_assert_int_eq(proto_im_out_unpack(m, n - 1, &v), -1);
	ck_assert_int_eq(proto_im_out_unpack(m, n + 1, &v), -1);
	n = out_msg(m, PROTO_IM_TO_ORIGIN, PROTO_IM_NO_TO, "u@x", "<iq/>");
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), -1);
	n = out_msg(m, PROTO_IM_TO_RESOURCES, PROTO_IM_NO_TO, "", "<iq/>");
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), -1);
	n = out_msg(m, PROTO_IM_TO_RESOURCES, 6, "u@x", "<iq/>");
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), -1);
	n = out_msg(m, PROTO_IM_TARGET_END, PROTO_IM_NO_TO, "", "<iq/>");
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), -1);
	n = out_msg(m, PROTO_IM_TO_RESOURCES, 0, "u@x", "<iq/>");
	m[sizeof(struct proto_im_out) + 1] = '\0';
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), -1);
	n = out_msg(m, PROTO_IM_TO_ORIGIN, PROTO_IM_NO_TO, "", "");
	ck_assert_int_eq(proto_im_out_unpack(m, n, &v), -1);
}
END_TEST

Suite *im_rosteriq_suite(void)
{
	Suite *s = suite_create("im_rosteriq");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_read_get);
	tcase_add_test(tc, test_read_set);
	tcase_add_test(tc, test_read_refused);
	tcase_add_test(tc, test_result);
	tcase_add_test(tc, test_push_and_error);
	tcase_add_test(tc, test_writers_at_their_limit);
	tcase_add_test(tc, test_im_out);
	suite_add_tcase(s, tc);
	return s;
}
