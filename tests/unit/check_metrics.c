/* SPDX-License-Identifier: MIT */
/* Metrics: the exposition format (label values escaped as the format says:
 * backslash, double quote, line feed; help texts; thousandths written as
 * seconds, negative ones too), the names the conventions ask for, and the
 * strict decoder of METRICS (every way a payload can be wrong refused). */
#include <string.h>

#include "common/metrics.h"
#include "unit.h"

static char text[4096];

static const char *written(struct buf *b)
{
	ck_assert_uint_lt(buf_len(b), sizeof(text));
	memcpy(text, buf_head(b), buf_len(b));
	text[buf_len(b)] = '\0';
	buf_free(b);
	return text;
}

START_TEST(test_label_values_escaped)
{
	struct buf b;
	buf_init(&b, 4096);
	metrics_escape_label(&b, "CN=a \"quoted\" name\\with\nnewline, and 'apostrophes' {}=");
	ck_assert_str_eq(written(&b),
			 "CN=a \\\"quoted\\\" name\\\\with\\nnewline, and 'apostrophes' {}=");
}
END_TEST

START_TEST(test_sample_with_two_labels)
{
	struct buf b;
	buf_init(&b, 4096);
	static const char *const names[] = {"certificate", "subject"};
	const char *values[] = {"node", "O=\"Acme\\Labs\"\nCN=x"};
	metrics_write_sample(&b, &metrics_defs[METRICS_CERTIFICATE_EXPIRY], names, values, 2, -42);
	ck_assert_str_eq(written(&b), "rxmpp_certificate_expiry_seconds{certificate=\"node\","
				      "subject=\"O=\\\"Acme\\\\Labs\\\"\\nCN=x\"} -42\n");
}
END_TEST

START_TEST(test_milli_written_as_seconds)
{
	struct buf b;
	buf_init(&b, 4096);
	struct metrics_entry e = {.id = METRICS_HEARTBEAT_AGE, .member = 0xab, .value = 1234};
	metrics_write_entry(&b, &e);
	const char *none = NULL;
	metrics_write_sample(&b, &metrics_defs[METRICS_PROCESS_CPU], NULL, &none, 0, -5);
	metrics_write_sample(&b, &metrics_defs[METRICS_PROCESS_CPU], NULL, &none, 0, 7);
	ck_assert_str_eq(written(&b),
			 "rxmpp_cluster_heartbeat_age_seconds{member=\"00000000000000ab\"} 1.234\n"
			 "rxmpp_process_cpu_seconds_total -0.005\n"
			 "rxmpp_process_cpu_seconds_total 0.007\n");
}
END_TEST

START_TEST(test_family_lines)
{
	struct buf b;
	buf_init(&b, 4096);
	metrics_write_family(&b, &metrics_defs[METRICS_LOGINS]);
	struct metrics_entry e = {.id = METRICS_LOGINS, .label = METRICS_LOGIN_BRIDGE, .value = 3};
	metrics_write_entry(&b, &e);
	ck_assert_str_eq(written(&b), "# HELP rxmpp_logins_total Successful authentications: SASL "
				      "for clients, the handshake for bridges.\n"
				      "# TYPE rxmpp_logins_total counter\n"
				      "rxmpp_logins_total{kind=\"bridge\"} 3\n");
}
END_TEST

/* Counters end in _total, the others do not; units are base units. */
START_TEST(test_names_follow_the_conventions)
{
	for (int id = 0; id < METRICS_ID_END; id++) {
		const struct metrics_def *d = &metrics_defs[id];
		ck_assert_ptr_nonnull(d->name);
		ck_assert_ptr_nonnull(d->help);
		size_t n = strlen(d->name);
		bool total = n > 6 && strcmp(d->name + n - 6, "_total") == 0;
		ck_assert_msg(total == (d->type == METRICS_COUNTER), "%s", d->name);
		ck_assert_msg(strncmp(d->name, "rxmpp_", 6) == 0, "%s", d->name);
		ck_assert_msg(strstr(d->name, "_ms") == NULL && strstr(d->name, "milli") == NULL,
			      "%s", d->name);
		if (d->milli)
			ck_assert_msg(strstr(d->name, "_seconds") != NULL, "%s", d->name);
		ck_assert_msg(d->values == NULL || d->value_count > 0, "%s", d->name);
	}
}
END_TEST

static size_t payload(void *out, uint32_t count, const struct metrics_entry *entries)
{
	struct metrics_head head = {.count = count};
	memcpy(out, &head, sizeof(head));
	memcpy((char *)out + sizeof(head), entries, count * sizeof(entries[0]));
	return sizeof(head) + count * sizeof(entries[0]);
}

static struct metrics_entry got[METRICS_ENTRIES_MAX];

START_TEST(test_unpack_takes_a_good_set)
{
	char data[256];
	struct metrics_entry e[3] = {
	    {.id = METRICS_CLUSTER_TERM, .value = 7},
	    {.id = METRICS_CLUSTER_ROLE, .label = 3, .value = 1},
	    {.id = METRICS_PEER_LINK_UP, .member = 0x1234, .value = 1},
	};
	size_t len = payload(data, 3, e), count = 0;
	ck_assert_int_eq(metrics_unpack(data, len, PROC_ELECTOR, got, &count), 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(got[2].member, 0x1234);
	ck_assert_int_eq(
	    metrics_unpack(data, sizeof(struct metrics_head), PROC_ELECTOR, got, &count),
	    -1); /* count says 3 */
}
END_TEST

START_TEST(test_unpack_refuses_what_is_wrong)
{
	char data[256];
	size_t count = 99;
	struct {
		struct metrics_entry e;
		enum proc_role from;
	} bad[] = {
	    {{.id = METRICS_ID_END}, PROC_ELECTOR},		       /* unknown id */
	    {{.id = METRICS_CLUSTER_TERM}, PROC_LISTENER},	       /* not the listener's */
	    {{.id = METRICS_BUILD_INFO}, PROC_SUPERVISOR},	       /* never on the wire */
	    {{.id = METRICS_CLUSTER_ROLE, .label = 4}, PROC_ELECTOR},  /* label out of range */
	    {{.id = METRICS_CLUSTER_TERM, .label = 1}, PROC_ELECTOR},  /* label without labels */
	    {{.id = METRICS_CLUSTER_TERM, .member = 5}, PROC_ELECTOR}, /* member where none */
	    {{.id = METRICS_PEER_LINK_UP}, PROC_ELECTOR},	       /* member 0 */
	    {{.id = METRICS_PEER_LINK_UP, .member = 5, .label = 1}, PROC_ELECTOR}, /* both */
	    {{.id = METRICS_CLUSTER_TERM, .reserved = 1}, PROC_ELECTOR}, /* reserved set */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = payload(data, 1, &bad[i].e);
		ck_assert_msg(metrics_unpack(data, len, bad[i].from, got, &count) == -1, "case %zu",
			      i);
		ck_assert_uint_eq(count, 99);
	}
	/* The same figure twice. */
	struct metrics_entry twice[2] = {{.id = METRICS_LOGINS, .label = 1},
					 {.id = METRICS_LOGINS, .label = 1, .value = 2}};
	size_t len = payload(data, 2, twice);
	ck_assert_int_eq(metrics_unpack(data, len, PROC_LISTENER, got, &count), -1);
	/* Lengths: short head, a byte too many, a byte too few, reserved head. */
	ck_assert_int_eq(metrics_unpack(data, 7, PROC_LISTENER, got, &count), -1);
	ck_assert_int_eq(metrics_unpack(data, len + 1, PROC_LISTENER, got, &count), -1);
	ck_assert_int_eq(metrics_unpack(data, len - 1, PROC_LISTENER, got, &count), -1);
	struct metrics_head head = {.count = 0, .reserved = 1};
	memcpy(data, &head, sizeof(head));
	ck_assert_int_eq(metrics_unpack(data, sizeof(head), PROC_LISTENER, got, &count), -1);
	/* More than the bound, even when the length agrees. */
	static char big[sizeof(struct metrics_head) +
			(METRICS_ENTRIES_MAX + 1) * sizeof(struct metrics_entry)];
	head = (struct metrics_head){.count = METRICS_ENTRIES_MAX + 1};
	memcpy(big, &head, sizeof(head));
	ck_assert_int_eq(metrics_unpack(big, sizeof(big), PROC_LISTENER, got, &count), -1);
	ck_assert_uint_eq(count, 99);
}
END_TEST

START_TEST(test_add_stops_at_the_bound)
{
	static struct metrics_set set;
	for (int i = 0; i < METRICS_ENTRIES_MAX + 3; i++)
		metrics_add(&set, METRICS_CLUSTER_TERM, 0, 0, (uint64_t)i);
	ck_assert_uint_eq(set.head.count, METRICS_ENTRIES_MAX);
}
END_TEST

Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, test_label_values_escaped);
	tcase_add_test(tc, test_sample_with_two_labels);
	tcase_add_test(tc, test_milli_written_as_seconds);
	tcase_add_test(tc, test_family_lines);
	tcase_add_test(tc, test_names_follow_the_conventions);
	tcase_add_test(tc, test_unpack_takes_a_good_set);
	tcase_add_test(tc, test_unpack_refuses_what_is_wrong);
	tcase_add_test(tc, test_add_stops_at_the_bound);
	suite_add_tcase(s, tc);
	return s;
}
