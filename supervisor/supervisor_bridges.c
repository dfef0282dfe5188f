/* SPDX-License-Identifier: MIT */
/*
 * Where rxmppd takes the call bridges it hands to the listener: the
 * administrator's callbridges.yaml (config/callbridges.h) on a node of its
 * own, or the cluster's replicated bridges, which the elector materialises
 * into state_directory/cluster-callbridges (common/callbridge.h), on a node
 * that holds the cluster's state.  The YAML file is never rewritten; in a
 * cluster it is what `cluster initialize` and `cluster join` merge.
 *
 * Receives PROTO_CLUSTER_APPLIED from the elector when the cluster's
 * bridges changed: reads them again and reconfigures the children (the
 * listener takes the new bridges as on a reload).  A file it cannot read
 * keeps the bridges in force, with a warning: refusing them all would cut
 * off every call bridge for damage the next change rewrites.
 */
#include <stdio.h>
#include <string.h>

#include "common/callbridge.h"
#include "common/log.h"
#include "supervisor.h"

bool supervisor_bridges_clustered(const struct config *cfg)
{
	return callbridge_state_in_use(cfg->state_directory, cfg->cluster.enabled);
}

int supervisor_bridges_load(const struct config *cfg, struct callbridges *out,
			    struct config_errors *errors, char *why, size_t why_size)
{
	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	if (!supervisor_bridges_clustered(cfg))
		return callbridges_load(cfg->callbridges_file, cfg->domain, out, errors);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", cfg->state_directory, CALLBRIDGE_STATE_FILE_NAME);
	if (callbridge_state_load(path, &out->items, &out->count, why, why_size) == -1)
		return -1;
	out->capacity = out->items != NULL ? CALLBRIDGES_MAX : 0;
	return 0;
}

void supervisor_bridges_applied(void)
{
	struct callbridges next;
	struct config_errors errors;
	char why[512];
	if (supervisor_bridges_load(&supervisor_state.cfg, &next, &errors, why, sizeof(why)) ==
	    -1) {
		log_warnx("the cluster's call bridges cannot be read (%s); keeping the %zu in "
			  "force",
			  why[0] ? why : "see above", supervisor_state.bridges.count);
		return;
	}
	callbridges_free(&supervisor_state.bridges);
	supervisor_state.bridges = next;
	log_info("the cluster's call bridges changed: %zu in force", next.count);
	supervisor_children_reconfigure();
}
