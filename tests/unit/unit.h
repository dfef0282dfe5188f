/* SPDX-License-Identifier: MIT */
/* The Check suites of the unit test runner, one per module. */
#ifndef RXMPP_TESTS_UNIT_H
#define RXMPP_TESTS_UNIT_H

#include <check.h>

Suite *buf_suite(void);
Suite *ev_suite(void);
Suite *ipc_suite(void);
Suite *config_suite(void);
Suite *log_suite(void);
Suite *xml_suite(void);
Suite *sasl_suite(void);
Suite *jid_suite(void);
Suite *jidprep_suite(void);
Suite *table_suite(void);
Suite *accounts_suite(void);
Suite *accounts_journal_suite(void);
Suite *elector_suite(void);
Suite *elector_sim_suite(void);
Suite *elector_explore_suite(void);
Suite *elector_scenarios_suite(void);
Suite *elector_state_suite(void);
Suite *elector_machine_suite(void);
Suite *elector_userdata_suite(void);
Suite *elector_local_suite(void);
Suite *elector_log_store_suite(void);
Suite *elector_wire_log_suite(void);
Suite *elector_write_suite(void);
Suite *relay_suite(void);
Suite *keep_suite(void);
Suite *fileio_suite(void);
Suite *cert_suite(void);
Suite *srv_suite(void);
Suite *rtnl_suite(void);
Suite *netaddr_suite(void);
Suite *peerlink_suite(void);
Suite *listener_index_suite(void);
Suite *listener_sm_suite(void);
Suite *listener_admit_suite(void);
Suite *listener_pace_suite(void);
Suite *supervisor_table_suite(void);
Suite *stream_suite(void);
Suite *router_members_suite(void);
Suite *proto_suite(void);
Suite *elector_health_suite(void);
Suite *wire_versions_suite(void);
Suite *metrics_suite(void);
Suite *tls_suite(void);
Suite *im_sub_suite(void);
Suite *im_roster_suite(void);
Suite *im_presence_suite(void);
Suite *im_offline_suite(void);
Suite *im_rosteriq_suite(void);
Suite *im_avail_suite(void);

/* Runs `emit` with stderr redirected to a pipe and returns what it wrote
 * (at most `size` - 1 bytes, ended); check_log.c. */
void unit_capture_stderr(void (*emit)(void), char *out, size_t size);

#endif
