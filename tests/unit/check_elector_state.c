/* SPDX-License-Identifier: MIT */
/*
 * The elector's files prove themselves: every way of damaging node-id and
 * election (a changed digit, a negative term, a cut line, a changed member
 * id, a repeated line, trailing junk, a wrong checksum, a missing file) is
 * refused with the file and line, and files of the previous format are
 * read strictly once and rewritten sealed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "elector/elector_state.h"
#include "unit.h"

static char dir[64];
static char election[128], node_id[128];

static void state_dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/rxmpp-state-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(election, sizeof(election), "%s/election", dir);
	snprintf(node_id, sizeof(node_id), "%s/node-id", dir);
}

static void state_dir_teardown(void)
{
	unlink(election);
	unlink(node_id);
	rmdir(dir);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	char *text, why[256];
	size_t len;
	ck_assert_int_eq(fileio_read_all(path, 1 << 20, &text, &len, why, sizeof(why)), 0);
	return text;
}

static void write_sealed_version(const char *body, unsigned version)
{
	char why[256];
	ck_assert_int_eq(fileio_write_sealed(election, "election", version, body, strlen(body),
					     0600, why, sizeof(why)),
			 0);
}

/* Version 1: members without the fingerprint of their certificate. */
static void write_sealed(const char *body)
{
	write_sealed_version(body, 1);
}

/* Loading fails, naming `where` (the file and line) in the reason. */
static void assert_refused(const char *where, const char *what)
{
	struct elector_persistent s;
	char why[1024], expect[192];
	bool unsealed;
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), -1);
	snprintf(expect, sizeof(expect), "%s%s", election, where);
	ck_assert_msg(strstr(why, expect) != NULL, "%s: \"%s\" lacks \"%s\"", what, why, expect);
	ck_assert_msg(strstr(why, "rxmppctl reset") != NULL, "%s: no advice in \"%s\"", what, why);
	ck_assert_uint_eq(s.term, 0);
	ck_assert_uint_eq(s.config.count, 0);
}

static const struct elector_persistent sample = {
    .term = 42,
    .voted_for = 0x1111111111111111,
    .commit_index = 7,
    .config = {.index = 7,
	       .term = 40,
	       .count = 3,
	       .members = {{.id = 0x1111111111111111,
			    .fingerprint = {0x11, 0xab},
			    .address = "10.0.0.1:5270"},
			   {.id = 0x2222222222222222,
			    .fingerprint = {0x22, 0xcd},
			    .address = "10.0.0.2:5270"},
			   {.id = 0x3333333333333333,
			    .fingerprint = {0x33, 0xef, [31] = 0x01},
			    .address = "[fd00::3]:5270"}}},
};

static void save_sample(void)
{
	char why[256];
	ck_assert_int_eq(elector_state_save(dir, &sample, why, sizeof(why)), 0);
}

/* Replaces the first `from` in the election file by `to`. */
static void edit_file(const char *from, const char *to)
{
	char *text = read_text(election);
	char *at = strstr(text, from);
	ck_assert_ptr_nonnull(at);
	char out[8192];
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	write_text(election, out);
	free(text);
}

START_TEST(test_round_trip_is_sealed)
{
	save_sample();
	char *text = read_text(election);
	ck_assert_msg(strncmp(text, "rxmpp-election 3\n", 17) == 0, "header: %s", text);
	/* Committed: no committed membership besides it. */
	ck_assert_ptr_null(strstr(text, "committed"));
	/* Each member with its certificate's fingerprint, in hex. */
	ck_assert_ptr_nonnull(strstr(text,
				     "\nmember 3333333333333333 33ef"
				     "000000000000000000000000000000000000000000000000000000000001 "
				     "[fd00::3]:5270\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nsha256 "));
	free(text);
	struct elector_persistent s;
	char why[512];
	bool unsealed = true;
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(!unsealed);
	struct elector_persistent expect = sample;
	expect.committed = expect.config;
	ck_assert_mem_eq(&s, &expect, sizeof(s));
}
END_TEST

/* While the latest membership is not committed, the one before goes
 * along, and comes back as it was; its lines are checked like the
 * others. */
START_TEST(test_committed_membership_kept)
{
	struct elector_persistent pending = sample;
	pending.commit_index = 6;
	pending.committed = sample.config;
	pending.committed.index = 6;
	pending.config.count = 2; /* the third removed, not yet committed */
	memset(&pending.config.members[2], 0, sizeof(pending.config.members[2]));
	char why[512];
	ck_assert_int_eq(elector_state_save(dir, &pending, why, sizeof(why)), 0);
	char *text = read_text(election);
	ck_assert_ptr_nonnull(strstr(text, "\ncommitted 6 40\ncommitted_member 1111111111111111 "));
	ck_assert_ptr_nonnull(strstr(text, "\ncommitted_member 3333333333333333 33ef"));
	free(text);
	struct elector_persistent s;
	bool unsealed = true;
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(!unsealed);
	ck_assert_mem_eq(&s, &pending, sizeof(s));
#define HEAD "term 5\nvoted_for 0000000000000000\ncommit 1\nconfig 2 5\n"
#define FP   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define M1   "member 1111111111111111 " FP " a:1\n"
#define C1   "committed_member 1111111111111111 " FP " a:1\n"
	static const struct {
		const char *body, *where, *what;
		unsigned version;
	} cases[] = {
	    {HEAD M1 "committed 1 5\n" C1, ":7:", "in a file of version 2", 2},
	    {"term 5\nvoted_for 0000000000000000\ncommit 2\nconfig 2 5\n" M1 "committed 1 5\n" C1,
	     ":7:", "beside a committed membership", 3},
	    {HEAD M1 "committed 2 5\n" C1, ":7:", "not one before the latest", 3},
	    {HEAD M1 "committed 1 6\n" C1, ":7:", "from a later term", 3},
	    {HEAD M1 C1, ":7:", "a committed member before its line", 3},
	    {HEAD M1 "committed 1 5\n", ":7:", "without members", 3},
	    {HEAD M1 "committed 1 5\n" C1 M1, ":9:", "a member after it", 3},
	    {HEAD M1 "committed 1 5\n" C1 "committed 1 5\n", ":9:", "twice", 3},
	    {HEAD M1 "committed 1 5\n" C1 C1, ":9:", "a committed member twice", 3},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_sealed_version(cases[i].body, cases[i].version);
		assert_refused(cases[i].where, cases[i].what);
	}
	/* A file of version 2 of a membership not committed: the committed
	 * one is not known, and the file is rewritten. */
	write_sealed_version(HEAD M1, 2);
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(unsealed);
	ck_assert_uint_eq(s.committed.count, 0);
#undef HEAD
#undef FP
#undef M1
#undef C1
}
END_TEST

/* Damage a checksum catches, whatever the parser would make of it. */
START_TEST(test_damage_breaks_the_checksum)
{
	static const struct {
		const char *from, *to, *where, *what;
	} cases[] = {
	    {"term 42", "term 43", ":", "a changed digit"},
	    {"term 42", "term -1", ":", "a negative term"},
	    {"member 2222222222222222", "member 2222222222222223", ":", "a changed member id"},
	    {"member 3333333333333333 33ef", "", ":", "a member line cut off"},
	    {"22cd0000", "22cd0001", ":", "a changed fingerprint"},
	    {"commit 7\n", "commit 7\ncommit 9\n", ":", "a repeated line"},
	    {"sha256 ", "sha256 0", ":", "a wrong checksum"},
	    {"rxmpp-election 3\n", "", ":1:", "no header"},
	    {"rxmpp-election 3", "rxmpp-election 4", ":", "another version"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		save_sample();
		edit_file(cases[i].from, cases[i].to);
		assert_refused(cases[i].where, cases[i].what);
	}
	/* Trailing junk after the checksum, and a file cut in its checksum. */
	save_sample();
	char *text = read_text(election);
	char out[8192];
	snprintf(out, sizeof(out), "%sjunk\n", text);
	write_text(election, out);
	assert_refused(":", "trailing junk");
	text[strlen(text) - 10] = '\0';
	write_text(election, text);
	assert_refused(":", "a cut checksum");
	free(text);
}
END_TEST

/* Damage behind a valid checksum (or in a file of the previous format):
 * the parser refuses it by itself, with the line. */
START_TEST(test_strict_parsing)
{
	static const char head[] = "term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n";
	static const struct {
		const char *body, *where, *what;
	} cases[] = {
	    {"term -1\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n", ":2:", "term -1"},
	    {"term 18446744073709551616\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n",
	     ":2:", "a term past 2^64-1"},
	    {"term 05\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n", ":2:", "a leading 0"},
	    {"term 5 junk\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n",
	     ":2:", "junk after a value"},
	    {"term 5\nterm 6\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n",
	     ":3:", "a repeated line"},
	    {"term 5\nvoted_for 00000000000000\ncommit 0\nconfig 0 0\n", ":3:", "a short vote"},
	    {"term 5\ncommit 0\nconfig 0 0\n", ":3:", "a missing line"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 9\n",
	     ":5:", "a membership from the future"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\n", ": incomplete", "no config"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\nmember 1111111111111111\n",
	     ":6:", "a member line cut short"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\nmember 11111111 "
	     "a:1\n",
	     ":6:", "a short member id"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\nmember "
	     "1111111111111111 a:1\nmember 1111111111111111 b:1\n",
	     ":7:", "a member twice"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\nmember "
	     "1111111111111111 nowhere\n",
	     ":6:", "an address without a port"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\nmember "
	     "1111111111111111 a:1 junk\n",
	     ":6:", "junk after a member"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n\n",
	     ":6:", "an empty line"},
	    {"term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\nquorum 2\n",
	     ":6:", "an unknown line"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_sealed(cases[i].body);
		assert_refused(cases[i].where, cases[i].what);
	}
	/* The same parser reads the previous format: line numbers from 1. */
	write_text(election, "term -1\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n");
	assert_refused(":1:", "term -1 unsealed");
	char cut[256];
	snprintf(cut, sizeof(cut), "%smember 1111111111111111 a:5", head);
	write_text(election, cut);
	assert_refused(":5:", "an unsealed file cut in a line");
}
END_TEST

/* Version 2: every member line carries a fingerprint of 64 hex digits. */
START_TEST(test_strict_fingerprints)
{
#define HEAD "term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\nmember 1111111111111111 "
#define FP   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	static const struct {
		const char *body, *what;
	} cases[] = {
	    {HEAD "a:1\n", "no fingerprint"},
	    {HEAD "0011 a:1\n", "a short fingerprint"},
	    {HEAD "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff a:1\n",
	     "upper case"},
	    {HEAD FP "0 a:1\n", "a long fingerprint"},
	    {HEAD FP " a:1 b\n", "junk after the address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_sealed_version(cases[i].body, 3);
		assert_refused(":6:", cases[i].what);
	}
	write_sealed_version(HEAD FP " a:1\n", 3);
	struct elector_persistent s;
	char why[512];
	bool unsealed = true;
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(!unsealed);
	ck_assert_uint_eq(s.config.members[0].fingerprint[31], 0xff);
	/* Version 2 reads the same, to be rewritten as version 3. */
	write_sealed_version(HEAD FP " a:1\n", 2);
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(unsealed);
	ck_assert_uint_eq(s.config.members[0].fingerprint[31], 0xff);
	/* A sealed file of version 1: read (no fingerprints), to be rewritten. */
	write_sealed(HEAD "a:1\n");
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(unsealed);
	ck_assert_uint_eq(s.config.members[0].fingerprint[0], 0);
#undef HEAD
#undef FP
}
END_TEST

/* A newer release's format, sealed: refused with both versions and what to
 * do, never read as if it were this one's. */
START_TEST(test_a_newer_format_is_refused)
{
	write_sealed_version("term 5\nvoted_for 0000000000000000\ncommit 0\nconfig 0 0\n", 4);
	struct elector_persistent s;
	char why[1024];
	bool unsealed;
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "format version 4: a newer rxmpp wrote it") != NULL &&
			  strstr(why, "reads 1 to 3)") != NULL &&
			  strstr(why, "run that release") != NULL,
		      "%s", why);
	ck_assert_uint_eq(s.term, 0);
}
END_TEST

START_TEST(test_previous_format_is_migrated)
{
	write_text(node_id, "00000000000000ab\n");
	write_text(election, "# rxmpp election state (written by the elector; do not edit)\n"
			     "term 3\nvoted_for 00000000000000ab\ncommit 1\nconfig 1 2\n"
			     "member 00000000000000ab 127.0.0.1:5270\n");
	struct elector_persistent s;
	char why[512];
	bool unsealed = false;
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(unsealed);
	uint64_t id = 0;
	ck_assert_int_eq(elector_state_open(dir, &id, &s, why, sizeof(why)), 0);
	ck_assert_uint_eq(id, 0xab);
	ck_assert_uint_eq(s.term, 3);
	ck_assert_uint_eq(s.config.count, 1);
	char *text = read_text(election);
	ck_assert_msg(strncmp(text, "rxmpp-election 3\n", 17) == 0, "not rewritten: %s", text);
	free(text);
	text = read_text(node_id);
	ck_assert_msg(strncmp(text, "rxmpp-node-id 1\n00000000000000ab\nsha256 ", 40) == 0,
		      "not rewritten: %s", text);
	free(text);
	ck_assert_int_eq(elector_state_load(dir, &s, &unsealed, why, sizeof(why)), 0);
	ck_assert(!unsealed);
}
END_TEST

START_TEST(test_open_new_node_and_lost_files)
{
	struct elector_persistent s;
	char why[1024];
	uint64_t id = 0, again = 0;
	/* A new node: both files made, the election file first. */
	ck_assert_int_eq(elector_state_open(dir, &id, &s, why, sizeof(why)), 0);
	ck_assert_uint_ne(id, 0);
	ck_assert_int_eq(access(election, F_OK), 0);
	ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), 0);
	ck_assert_uint_eq(again, id);

	/* The election state gone under a known id: no vote until told. */
	unlink(election);
	ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, election) != NULL && strstr(why, "rxmppctl reset") != NULL, "%s",
		      why);
	ck_assert_int_eq(access(election, F_OK), -1); /* nothing written */

	/* A node-id of the previous format alone: version 0.1 wrote the
	 * election file only at the first vote, so this node never voted. */
	write_text(node_id, "00000000000000ab\n");
	ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), 0);
	ck_assert_uint_eq(again, 0xab);
	ck_assert_uint_eq(s.term, 0);
	ck_assert_int_eq(access(election, F_OK), 0);
	unlink(election);
	ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), -1);

	/* The node id gone beside a state that has voted. */
	unlink(node_id);
	save_sample();
	ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, node_id) != NULL, "%s", why);

	/* A damaged node id: changed digit, junk, cut. */
	static const char *const bad[] = {"00000000000000ab\n00\n", "00000000000000a\n",
					  "00000000000000ab", "-0000000000000ab\n",
					  "00000000000000ab junk\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(node_id, bad[i]);
		ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), -1);
		ck_assert_msg(strstr(why, node_id) != NULL, "%s", why);
	}
	ck_assert_int_eq(fileio_write_sealed(node_id, "node-id", 1, "00000000000000ab\n", 17, 0600,
					     why, sizeof(why)),
			 0);
	ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), 0);
	ck_assert_uint_eq(again, 0xab);
	char *text = read_text(node_id);
	text[17] = 'c'; /* a changed digit */
	write_text(node_id, text);
	free(text);
	ck_assert_int_eq(elector_state_open(dir, &again, &s, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "checksum") != NULL, "%s", why);
}
END_TEST

Suite *elector_state_suite(void)
{
	Suite *s = suite_create("elector_state");
	TCase *tc = tcase_create("files");
	tcase_add_checked_fixture(tc, state_dir_setup, state_dir_teardown);
	tcase_add_test(tc, test_round_trip_is_sealed);
	tcase_add_test(tc, test_committed_membership_kept);
	tcase_add_test(tc, test_damage_breaks_the_checksum);
	tcase_add_test(tc, test_strict_parsing);
	tcase_add_test(tc, test_strict_fingerprints);
	tcase_add_test(tc, test_a_newer_format_is_refused);
	tcase_add_test(tc, test_previous_format_is_migrated);
	tcase_add_test(tc, test_open_new_node_and_lost_files);
	suite_add_tcase(s, tc);
	return s;
}
