/* SPDX-License-Identifier: MIT */
/*
 * The settings that must agree across a cluster (config_cluster_wide,
 * config/config.h), reported by rxmppd into the cluster's state whenever
 * they may have changed -- when the node is ready and after every reload --
 * so that `rxmppctl cluster status` on any node shows a member whose
 * settings drifted from the leader's (elector/elector_machine.h keeps each
 * node's last report).  Only on a node that holds the cluster's state.
 *
 * Sends PROTO_PROPOSE to the elector with token 0 (no control client has
 * it) and takes the PROTO_PROPOSE_RESULT back here: a drift is a warning in
 * the log; a report the cluster could not take (no leader yet at start, no
 * quorum) is sent again every SETTINGS_RETRY_MS, at most SETTINGS_RETRIES
 * times, then left to the next reload or start, with an info line.
 */
#include <inttypes.h>
#include <string.h>

#include "common/buf.h"
#include "elector/elector_machine.h"
#include "elector/elector_state.h"
#include "supervisor.h"

#define SETTINGS_RETRY_MS 3000
#define SETTINGS_RETRIES  20

static struct {
	unsigned attempts;
	struct ev_timer *retry;
} settings;

static void settings_send(void)
{
	const struct config *cfg = &supervisor_state.cfg;
	if (!supervisor_bridges_clustered(cfg))
		return;
	uint64_t node;
	char why[512];
	if (elector_state_node_id(cfg->state_directory, &node, why, sizeof(why)) != 0)
		return; /* not a member yet: cluster join reports them */
	struct config_setting wide[CONFIG_CLUSTER_WIDE_MAX];
	struct elector_machine_setting items[CONFIG_CLUSTER_WIDE_MAX];
	size_t count = config_cluster_wide(cfg, wide);
	memset(items, 0, sizeof(items));
	for (size_t i = 0; i < count; i++) {
		memcpy(items[i].key, wide[i].key, sizeof(items[i].key));
		memcpy(items[i].value, wide[i].value, sizeof(items[i].value));
	}
	struct buf command;
	if (elector_machine_encode_settings(&command, ELECTOR_MACHINE_SETTINGS, node, items,
					    count) == -1) {
		log_warnx("this node's settings cannot be reported to the cluster");
		return;
	}
	static unsigned char payload[sizeof(struct proto_propose) + PROTO_PROPOSE_MAX];
	struct proto_propose head = {.len = (uint32_t)buf_len(&command)};
	memcpy(payload, &head, sizeof(head));
	memcpy(payload + sizeof(head), buf_head(&command), buf_len(&command));
	if (supervisor_children_send(PROC_ELECTOR, PROTO_PROPOSE, 0, payload,
				     sizeof(head) + buf_len(&command)) == -1)
		log_info("the elector is not running: this node's settings are reported at the "
			 "next reload");
	buf_free(&command);
}

static int64_t settings_retry(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	settings.retry = NULL;
	settings_send();
	return EV_TIMER_DONE;
}

void supervisor_settings_report(void)
{
	settings.attempts = 0;
	ev_timer_del(settings.retry);
	settings.retry = NULL;
	settings_send();
}

void supervisor_settings_answer(const void *data, size_t len)
{
	static struct proto_propose_result_view view;
	if (proto_propose_result_unpack(data, len, &view) == -1) {
		log_warnx("malformed answer to this node's settings report");
		return;
	}
	if (view.head.status == PROTO_PROPOSE_APPLIED ||
	    view.head.status == PROTO_PROPOSE_COMMITTED) {
		if (strstr(view.outcome, "differ") != NULL)
			log_warnx("cluster: %s", view.outcome);
		else
			log_debug("cluster: %s", view.outcome);
	} else if (++settings.attempts < SETTINGS_RETRIES && settings.retry == NULL) {
		log_debug("this node's settings were not reported to the cluster (%s); again in "
			  "%d s",
			  view.text, SETTINGS_RETRY_MS / 1000);
		settings.retry =
		    ev_timer_add(supervisor_state.loop, SETTINGS_RETRY_MS, settings_retry, NULL);
	} else {
		log_info("this node's settings were not reported to the cluster (%s); the next "
			 "reload reports them",
			 view.text);
	}
}
