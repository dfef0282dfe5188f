/* SPDX-License-Identifier: MIT */
/* Runs every unit suite; Check prints the summary line, the exit status is
 * 0 only when every test passed. */
#include <stdlib.h>

#include "common/log.h"
#include "unit.h"

int main(void)
{
	log_init("unit", LOG_LEVEL_ERR, LOG_TARGET_STDERR);
	SRunner *runner = srunner_create(buf_suite());
	srunner_add_suite(runner, ev_suite());
	srunner_add_suite(runner, ipc_suite());
	srunner_add_suite(runner, config_suite());
	srunner_add_suite(runner, log_suite());
	srunner_add_suite(runner, xml_suite());
	srunner_add_suite(runner, sasl_suite());
	srunner_add_suite(runner, jid_suite());
	srunner_add_suite(runner, jidprep_suite());
	srunner_add_suite(runner, table_suite());
	srunner_add_suite(runner, accounts_suite());
	srunner_add_suite(runner, accounts_journal_suite());
	srunner_add_suite(runner, elector_suite());
	srunner_add_suite(runner, elector_sim_suite());
	srunner_add_suite(runner, elector_explore_suite());
	srunner_add_suite(runner, elector_scenarios_suite());
	srunner_add_suite(runner, elector_state_suite());
	srunner_add_suite(runner, elector_machine_suite());
	srunner_add_suite(runner, elector_userdata_suite());
	srunner_add_suite(runner, elector_local_suite());
	srunner_add_suite(runner, elector_log_store_suite());
	srunner_add_suite(runner, elector_wire_log_suite());
	srunner_add_suite(runner, elector_write_suite());
	srunner_add_suite(runner, relay_suite());
	srunner_add_suite(runner, keep_suite());
	srunner_add_suite(runner, fileio_suite());
	srunner_add_suite(runner, cert_suite());
	srunner_add_suite(runner, srv_suite());
	srunner_add_suite(runner, rtnl_suite());
	srunner_add_suite(runner, netaddr_suite());
	srunner_add_suite(runner, peerlink_suite());
	srunner_add_suite(runner, listener_index_suite());
	srunner_add_suite(runner, listener_sm_suite());
	srunner_add_suite(runner, listener_admit_suite());
	srunner_add_suite(runner, listener_pace_suite());
	srunner_add_suite(runner, supervisor_table_suite());
	srunner_add_suite(runner, stream_suite());
	srunner_add_suite(runner, router_members_suite());
	srunner_add_suite(runner, proto_suite());
	srunner_add_suite(runner, elector_health_suite());
	srunner_add_suite(runner, wire_versions_suite());
	srunner_add_suite(runner, metrics_suite());
	srunner_add_suite(runner, tls_suite());
	srunner_add_suite(runner, im_sub_suite());
	srunner_add_suite(runner, im_roster_suite());
	srunner_add_suite(runner, im_presence_suite());
	srunner_add_suite(runner, im_offline_suite());
	srunner_add_suite(runner, im_rosteriq_suite());
	srunner_add_suite(runner, im_avail_suite());
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
