/* SPDX-License-Identifier: MIT */
/*
 * JID preparation by libidn's stringprep profiles (RFC 3920 appendices A
 * and B, RFC 3491, RFC 3454): case folding beyond ASCII, compatibility
 * forms, prohibited characters, the bidirectional rules, unassigned code
 * points, invalid UTF-8 and the 1023-byte limit, each refused with its
 * reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "common/jid.h"
#include "common/jidprep.h"
#include "unit.h"

static char why[JIDPREP_WHY_MAX];

static const char *prep(const char *in)
{
	static char out[JID_MAX];
	why[0] = '\0';
	return jidprep_jid(in, strlen(in), out, sizeof(out), why, sizeof(why)) == -1 ? NULL : out;
}

static const char *node(const char *in, size_t len)
{
	static char out[JID_PART_MAX + 1];
	why[0] = '\0';
	return jidprep_node(in, len, out, sizeof(out), why, sizeof(why)) == -1 ? NULL : out;
}

/* Expects `in` refused with exactly `reason`. */
#define ck_refused(in, reason)                                                                     \
	do {                                                                                       \
		ck_assert_msg(prep(in) == NULL, "accepted '%s'", in);                              \
		ck_assert_str_eq(why, reason);                                                     \
	} while (0)

START_TEST(test_case_folding)
{
	/* The issue's case: "ÅSA" is the user "åsa". */
	ck_assert_str_eq(node("\xc3\x85SA", 4), "\xc3\xa5sa");
	ck_assert_str_eq(prep("Alice@Example.COM/Laptop"), "alice@example.com/Laptop");
	/* The resource keeps its case (Resourceprep has no B.2 mapping). */
	ck_assert_str_eq(prep("\xc3\x85SA@example.com/\xc3\x85SA"),
			 "\xc3\xa5sa@example.com/\xc3\x85SA");
	/* B.2: "Stra\xc3\x9f" folds to "strass"; U+212B ANGSTROM SIGN is U+00E5. */
	ck_assert_str_eq(node("Stra\xc3\x9f"
			      "e",
			      7),
			 "strasse");
	ck_assert_str_eq(node("\xe2\x84\xab", 3), "\xc3\xa5");
	/* Greek and Cyrillic capitals fold too. */
	ck_assert_str_eq(node("\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", 10),
			 "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1");
	ck_assert_str_eq(node("\xd0\x98\xd0\x92\xd0\x90\xd0\x9d", 8),
			 "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd");
	/* NFKC: full-width letters, ligatures; B.1: soft hyphen maps to nothing. */
	ck_assert_str_eq(node("\xef\xbc\xa1\xef\xbc\xa2", 6), "ab");
	ck_assert_str_eq(prep("juliet@example.com/\xef\xac\x81le"), "juliet@example.com/file");
	ck_assert_str_eq(node("a\xc2\xad"
			      "b",
			      4),
			 "ab");
	/* Nameprep folds an internationalised domain, kept as UTF-8. */
	ck_assert_str_eq(prep("\xc3\x89XAMPLE.com"), "\xc3\xa9xample.com");
	ck_assert_str_eq(prep("example.com"), "example.com");
	ck_assert_str_eq(prep("a@[::1]"), "a@[::1]");
	/* The first / starts the resource, where '@', '/' and a space may be. */
	ck_assert_str_eq(prep("a@b/c/d@e"), "a@b/c/d@e");
	ck_assert_str_eq(prep("juliet@example.com/ foo"), "juliet@example.com/ foo");
}
END_TEST

START_TEST(test_prohibited)
{
	/* Nodeprep's own table (RFC 3920 A.5) and spaces (C.1.1). */
	const char *chars = "\"&'/:<>@ ";
	for (const char *c = chars; *c != '\0'; c++) {
		char name[8], reason[64];
		snprintf(name, sizeof(name), "a%cb", *c);
		ck_assert_msg(node(name, 3) == NULL, "accepted '%s'", name);
		snprintf(reason, sizeof(reason), "prohibited character U+%04X", (unsigned)*c);
		ck_assert_str_eq(why, reason);
	}
	ck_refused("a\"b@example.com", "localpart: prohibited character U+0022");
	ck_refused("a:b@example.com", "localpart: prohibited character U+003A");
	/* '@' in full-width form becomes '@' by NFKC: still refused. */
	ck_assert_ptr_null(node("a\xef\xbc\xa0"
				"b",
				5));
	ck_assert_str_eq(why, "prohibited character U+FF20");
	/* In a resource, NFKC makes a no-break space a space, which is allowed;
	 * a line separator (C.2.2), a non-ASCII space that NFKC keeps (C.1.2)
	 * and controls (C.2.1) are refused. */
	ck_assert_str_eq(prep("a@example.com/x\xc2\xa0y"), "a@example.com/x y");
	ck_refused("a@example.com/x\xe2\x80\xa8y", "resourcepart: prohibited character U+2028");
	ck_refused("a@example.com/x\xe1\x9a\x80y", "resourcepart: prohibited character U+1680");
	ck_refused("alice@example.com/\x01", "resourcepart: prohibited character U+0001");
	/* A NUL inside a part (the length says where it ends). */
	char with_nul[] = "alice@example.com";
	with_nul[3] = '\0';
	char out[64];
	ck_assert_int_eq(
	    jidprep_jid(with_nul, sizeof(with_nul) - 1, out, sizeof(out), why, sizeof(why)), -1);
	ck_assert_str_eq(why, "localpart: prohibited character U+0000");
	ck_assert_str_eq(out, "");
	/* Private use (C.3) and tags (C.9). */
	ck_refused("a\xee\x80\x80@example.com", "localpart: prohibited character U+E000");
	ck_refused("a@example.com/\xf3\xa0\x80\x81", "resourcepart: prohibited character U+E0001");
	/* Domains: what is not a host name after Nameprep, and a full-width
	 * solidus that NFKC would turn into a resource separator. */
	ck_refused("exa mple.com", "domainpart: not a host name or an IP literal");
	ck_refused("a@exa_mple!.com", "domainpart: not a host name or an IP literal");
	ck_refused("example..com", "domainpart: not a host name or an IP literal");
	ck_refused("a@example\xef\xbc\x8f"
		   "b.com",
		   "domainpart: not a host name or an IP literal");
}
END_TEST

START_TEST(test_bidi)
{
	/* RFC 3454 6: right-to-left text must not mix with left-to-right
	 * letters and must start and end with a right-to-left character. */
	ck_assert_str_eq(node("\xd7\x90\xd7\x91", 4), "\xd7\x90\xd7\x91");
	ck_assert_ptr_null(node("\xd7\x90"
				"a\xd7\x91",
				5));
	ck_assert_str_eq(why, "mixes left-to-right and right-to-left characters");
	ck_assert_ptr_null(node("\xd7\x90"
				"1",
				3));
	ck_assert_str_eq(why,
			 "right-to-left text must start and end with a right-to-left character");
	ck_refused("a@example.com/\xd7\x90"
		   "a",
		   "resourcepart: mixes left-to-right and right-to-left characters");
}
END_TEST

START_TEST(test_unassigned)
{
	/* Unicode 3.2 left U+0221 unassigned (RFC 3454 A.1): refused in the
	 * stored parts, let through in a resource (see jidprep.h). */
	ck_refused("\xc8\xa1@example.com", "localpart: unassigned code point U+0221");
	ck_refused("a@\xc8\xa1.example.com", "domainpart: unassigned code point U+0221");
	ck_assert_str_eq(prep("a@example.com/\xc8\xa1"), "a@example.com/\xc8\xa1");
	/* U+1F4F1 MOBILE PHONE (Unicode 6.0) in a resource. */
	ck_assert_str_eq(prep("a@example.com/\xf0\x9f\x93\xb1"), "a@example.com/\xf0\x9f\x93\xb1");
}
END_TEST

START_TEST(test_invalid_utf8)
{
	ck_refused("a\xc3(@example.com", "localpart: invalid UTF-8 at byte 2");
	ck_refused("\xc0\xaf@example.com", "localpart: invalid UTF-8 at byte 1"); /* overlong */
	ck_refused("\xed\xa0\x80@example.com",
		   "localpart: invalid UTF-8 at byte 1"); /* surrogate */
	ck_refused("\xf4\x90\x80\x80@example.com", "localpart: invalid UTF-8 at byte 1");
	ck_refused("a@example.com/ab\xc3", "resourcepart: invalid UTF-8 at byte 3"); /* cut */
	ck_refused("a@\xff.com", "domainpart: invalid UTF-8 at byte 1");
	ck_assert_ptr_null(node("\xe5", 1));
	ck_assert_str_eq(why, "invalid UTF-8 at byte 1");
}
END_TEST

START_TEST(test_empty_and_length)
{
	ck_refused("", "domainpart: empty");
	ck_refused("@example.com", "localpart: empty");
	ck_refused("alice@", "domainpart: empty");
	ck_refused("alice@example.com/", "resourcepart: empty");
	/* A part that maps to nothing at all. */
	ck_refused("\xc2\xad@example.com", "localpart: empty when prepared");
	/* Each part is limited to 1023 bytes, counted in UTF-8. */
	char *big = malloc(4200);
	memset(big, 'a', 1023);
	strcpy(big + 1023, "@example.com");
	ck_assert_ptr_nonnull(prep(big));
	memset(big, 'a', 1024);
	strcpy(big + 1024, "@example.com");
	ck_refused(big, "localpart: longer than 1023 bytes");
	for (int i = 0; i < 511; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2); /* 1022 bytes */
	strcpy(big + 1022, "@example.com");
	ck_assert_ptr_nonnull(prep(big));
	memcpy(big + 1022, "\xc3\xa9@example.com", 15); /* 1024 bytes */
	ck_refused(big, "localpart: longer than 1023 bytes");
	/* NFKC may lengthen a part: U+FDFA is 3 bytes and 33 when prepared. */
	strcpy(big, "a@example.com/");
	size_t n = strlen(big);
	for (int i = 0; i < 40; i++, n += 3)
		memcpy(big + n, "\xef\xb7\xba", 3);
	big[n] = '\0';
	ck_refused(big, "resourcepart: longer than 1023 bytes");
	strcpy(big + 14 + 3, "");
	ck_assert_ptr_nonnull(prep(big));
	ck_assert_uint_gt(strlen(prep(big)), 14 + 30);
	free(big);
}
END_TEST

/* libidn's verdict on `in` under `profile`: the prepared form, or NULL. */
static const char *libidn(const char *in, Stringprep_profile_flags flags,
			  const Stringprep_profile *profile)
{
	static char out[64];
	snprintf(out, sizeof(out), "%s", in);
	return stringprep(out, sizeof(out), flags, profile) == STRINGPREP_OK ? out : NULL;
}

START_TEST(test_ascii_shortcut_agrees_with_libidn)
{
	/* jidprep prepares ASCII itself (it is 20 times faster); every ASCII
	 * character, alone and between letters of both cases, must come out
	 * as libidn's profiles make it, or be refused where they refuse it. */
	for (int c = 1; c < 128; c++) {
		for (int form = 0; form < 2; form++) {
			char in[8];
			snprintf(in, sizeof(in), form ? "A%cb" : "%c", c);
			const char *want =
			    libidn(in, STRINGPREP_NO_UNASSIGNED, stringprep_xmpp_nodeprep);
			const char *got = node(in, strlen(in));
			ck_assert_msg((want == NULL) == (got == NULL), "nodeprep U+%04X", c);
			if (want != NULL)
				ck_assert_str_eq(got, want);
			char jid[32];
			want = libidn(in, 0, stringprep_xmpp_resourceprep);
			snprintf(jid, sizeof(jid), "a@example.com/%s", in);
			got = prep(jid);
			ck_assert_msg((want == NULL) == (got == NULL), "resourceprep U+%04X", c);
			if (want != NULL)
				ck_assert_str_eq(got + strlen("a@example.com/"), want);
			/* Nameprep refuses no ASCII and folds A-Z; what is not a
			 * host name is jid_split's to refuse. */
			want = libidn(in, STRINGPREP_NO_UNASSIGNED, stringprep_nameprep);
			ck_assert_msg(want != NULL, "nameprep U+%04X", c);
			snprintf(jid, sizeof(jid), "%s.example", in);
			got = prep(jid);
			if (got != NULL)
				ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "nameprep %s",
					      in);
		}
	}
}
END_TEST

Suite *jidprep_suite(void)
{
	Suite *s = suite_create("jidprep");
	TCase *tc = tcase_create("jidprep");
	tcase_add_test(tc, test_case_folding);
	tcase_add_test(tc, test_prohibited);
	tcase_add_test(tc, test_bidi);
	tcase_add_test(tc, test_unassigned);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_empty_and_length);
	tcase_add_test(tc, test_ascii_shortcut_agrees_with_libidn);
	suite_add_tcase(s, tc);
	return s;
}
