/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl cluster initialize | join HOST[:PORT] | remove NODE | status:
 * requests to the node's elector, relayed by rxmppd.  Status gives the
 * quorum and each member once: address, node id, (Leader), reachable or
 * not at a glance, and how this node and the leader last heard from it.
 */
#include <inttypes.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certtool/cert_load.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "config/config_edit.h"

#include "common/accounts.h"
#include "common/callbridge.h"
#include "common/ipc.h"
#include "common/proto.h"
#include "config/callbridges.h"
#include "elector/elector_core.h"
#include "elector/elector_digests.h"
#include "elector/elector_machine.h"
#include "rxmppctl.h"

static void cluster_usage(FILE *out)
{
	fprintf(out, "usage: rxmppctl cluster enable | disable\n"
		     "       rxmppctl cluster trust FILE\n"
		     "       rxmppctl cluster initialize\n"
		     "       rxmppctl cluster join HOST[:PORT]\n"
		     "       rxmppctl cluster remove NODE\n"
		     "       rxmppctl cluster merge\n"
		     "       rxmppctl cluster leader [NODE]\n"
		     "       rxmppctl cluster status [--json]\n"
		     "\n"
		     "enable      set cluster.enabled: true in the configuration and reload\n"
		     "disable     set cluster.enabled: false and reload (the node runs alone)\n"
		     "trust       install FILE (PEM certificates of the nodes, or their CA) as\n"
		     "            cluster.trust_bundle, mode 0644, and reload; a file with a\n"
		     "            private key or anything but certificates is refused\n"
		     "initialize  make this node a one-node cluster (it leads at once); its\n"
		     "            accounts and call bridges become the cluster's state, then\n"
		     "            its users' data (STATE_DIRECTORY/local, kept while in no\n"
		     "            cluster; versions become the cluster's log indexes)\n"
		     "join        join the cluster of the member at HOST (port: cluster.port),\n"
		     "            following a follower's redirect to the leader and printing\n"
		     "            each step; a node that was reset replaces its old entry;\n"
		     "            the leader refuses a node whose settings that must agree\n"
		     "            differ from the members' (each key named with both values)\n"
		     "            or whose own accounts or call bridges it holds differently\n"
		     "            (each name listed; sent as digests, never a secret): the\n"
		     "            node is not a member and nothing changed; once joined,\n"
		     "            merges this node's own accounts and bridges (as merge, but\n"
		     "            a bridge merged before and unchanged since is not merged\n"
		     "            again: the cluster may have deleted it), then its users'\n"
		     "            data as initialize does (a user the cluster holds data of\n"
		     "            keeps the cluster's; named)\n"
		     "merge       merge this node's own accounts and its whole call-bridges\n"
		     "            file into the cluster's state: new or identical entries; a\n"
		     "            name the cluster holds differently is listed and nothing is\n"
		     "            merged; then the users' data of STATE_DIRECTORY/local if\n"
		     "            still there (a user the cluster holds data of keeps it)\n"
		     "remove      remove the member NODE (its node id or host:port); the leader\n"
		     "            tells it, so its reset needs no --force\n"
		     "leader      hand the leadership to the member NODE (node id or host:port),\n"
		     "            or to the most up-to-date other member when none is named,\n"
		     "            without an election timeout (the leader refuses membership\n"
		     "            changes meanwhile); waits until another member leads, or\n"
		     "            fails when the member did not take over within the election\n"
		     "            timeout (the leader then leads on)\n"
		     "status      this node's role and term, the quorum, and every member once:\n"
		     "            reachable or UNREACHABLE, as seen here and by the leader\n");
}

static const char *reach_name(uint32_t here)
{
	static const char *const names[] = {
	    [PROTO_REACH_SELF] = "self",	   [PROTO_REACH_HEARD] = "heard",
	    [PROTO_REACH_SILENT] = "silent",	   [PROTO_REACH_LINK_UP] = "link up",
	    [PROTO_REACH_LINK_DOWN] = "link down",
	};
	return here < sizeof(names) / sizeof(names[0]) ? names[here] : "unknown";
}

static void print_json_ms(const char *key, uint64_t ms)
{
	if (ms == UINT64_MAX)
		printf(", \"%s\": null", key);
	else
		printf(", \"%s\": %" PRIu64, key, ms);
}

/* "heard 0.1s ago", or "never heard" */
static void heard_text(char *out, size_t size, uint64_t ms)
{
	if (ms == UINT64_MAX)
		snprintf(out, size, "never heard");
	else
		snprintf(out, size, "heard %" PRIu64 ".%01" PRIu64 "s ago", ms / 1000,
			 ms % 1000 / 100);
}

/* Draining is the supervisor's to know, not the elector's: the status
 * answer tells it (rxmppctl_cluster_note_draining) before this prints. */
static bool cluster_self_draining;

void rxmppctl_cluster_note_draining(bool draining)
{
	cluster_self_draining = draining;
}

static int cluster_note_status(const struct ipc_msg *msg, void *arg)
{
	(void)arg;
	struct proto_status status;
	if (msg->type != PROTO_CTL_STATUS_REPLY || msg->len < sizeof(status))
		return CTL_FAILED;
	memcpy(&status, msg->data, sizeof(status));
	cluster_self_draining = status.draining != 0;
	return CTL_OK;
}

/* Where the cluster's applied state is, for the settings in the status. */
static const char *cluster_state_directory;

/* The members whose settings that must agree differ from the leader's (or,
 * without a leader, this node's), as this node applied their reports. */
static void cluster_print_drift(const struct proto_cluster_status *st, const char *members,
				bool json)
{
	char path[PATH_MAX], why[512];
	struct elector_machine_node_settings *nodes = NULL;
	size_t count = 0;
	if (cluster_state_directory == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", cluster_state_directory,
		 ELECTOR_MACHINE_SETTINGS_FILE);
	if (elector_machine_settings_load(path, &nodes, &count, why, sizeof(why)) == -1) {
		if (!json)
			printf("Settings: cannot be read (%s)\n", why);
		free(nodes);
		return;
	}
	uint64_t reference = st->leader ? st->leader : st->self;
	const struct elector_machine_node_settings *ref = NULL;
	for (size_t i = 0; i < count; i++)
		ref = nodes[i].node == reference ? &nodes[i] : ref;
	size_t drift = 0;
	if (json)
		printf(", \"settings_drift\": [");
	for (uint32_t i = 0; ref != NULL && i < st->members; i++) {
		struct proto_cluster_member m;
		memcpy(&m, members + i * sizeof(m), sizeof(m));
		for (size_t n = 0; m.id != reference && n < count; n++) {
			if (nodes[n].node != m.id)
				continue;
			for (size_t k = 0; k < nodes[n].count; k++) {
				const char *mine = NULL;
				for (size_t r = 0; r < ref->count; r++)
					mine = strcmp(ref->items[r].key, nodes[n].items[k].key) == 0
						   ? ref->items[r].value
						   : mine;
				if (mine == NULL || strcmp(mine, nodes[n].items[k].value) == 0)
					continue;
				if (json) {
					printf("%s{\"node\": \"%016" PRIx64 "\", \"key\": ",
					       drift ? ", " : "", m.id);
					rxmppctl_print_json_string(nodes[n].items[k].key);
					printf(", \"value\": ");
					rxmppctl_print_json_string(nodes[n].items[k].value);
					printf(", \"reference\": ");
					rxmppctl_print_json_string(mine);
					printf("}");
				} else {
					printf(
					    "%s  %016" PRIx64 " %s: %s (%s %016" PRIx64 ": %s)\n",
					    drift ? "" : "Settings that must agree DIFFER:\n", m.id,
					    nodes[n].items[k].key, nodes[n].items[k].value,
					    st->leader ? "leader" : "this node", reference, mine);
				}
				drift++;
			}
		}
	}
	if (json)
		printf("]");
	else if (count > 0 && drift == 0)
		printf("Settings that must agree: the same on every member that reported them\n");
	free(nodes);
}

int rxmppctl_print_cluster_status(const struct ipc_msg *msg, bool json)
{
	struct proto_cluster_status st;
	if (msg->len < sizeof(st))
		return CTL_FAILED;
	memcpy(&st, msg->data, sizeof(st));
	if (st.members > ELECTOR_MEMBERS_MAX ||
	    msg->len != sizeof(st) + st.members * sizeof(struct proto_cluster_member))
		return CTL_FAILED;
	const char *members = (const char *)msg->data + sizeof(st);
	/* A removed node follows no one any more: its role says nothing. */
	const char *state = !st.enabled	 ? "DISABLED"
			    : st.removed ? "REMOVED"
					 : elector_role_name((enum elector_role)st.role);
	bool leads = st.enabled && st.role == ELECTOR_LEADER;
	bool quorum = st.members > 0 && !st.removed && st.reachable >= st.needed;
	if (json) {
		printf("{\"enabled\": %s, \"state\": \"%s\", \"term\": %" PRIu64
		       ", \"node\": \"%016" PRIx64 "\", \"leader\": ",
		       st.enabled ? "true" : "false", state, st.term, st.self);
		if (st.leader)
			printf("\"%016" PRIx64 "\"", st.leader);
		else
			printf("null");
		printf(", \"quorum\": {\"ok\": %s, \"reachable\": %u, \"needed\": %u}",
		       quorum ? "true" : "false", st.reachable, st.needed);
		print_json_ms("leader_report_age_ms", st.report_age_ms);
		if (st.protocol)
			printf(", \"protocol\": %u", st.protocol);
		else
			printf(", \"protocol\": null");
		printf(", \"draining\": %s", cluster_self_draining ? "true" : "false");
		printf(", \"members\": [");
	} else if (!st.enabled) {
		printf("State: DISABLED (cluster.enabled is false)\n");
		return CTL_OK;
	} else {
		printf("State: %s\nTerm: %" PRIu64 "\nNode: %016" PRIx64 "%s\n", state, st.term,
		       st.self, cluster_self_draining ? " (DRAINING: rxmppctl undrain)" : "");
		if (st.removed)
			printf(
			    "This node was removed from the cluster: stop rxmppd, rxmppctl reset, "
			    "start it and join again.\n");
		else if (st.members > 0)
			printf("Quorum: %s (%u of %u reachable, %u needed)\n",
			       quorum ? "yes" : "no", st.reachable, st.members, st.needed);
		if (!leads && !st.removed && st.members > 0) {
			if (st.report_age_ms == UINT64_MAX)
				printf("Leader's view: none lately (states are this node's own "
				       "view)\n");
			else
				printf("Leader's view: from %" PRIu64 ".%01" PRIu64 "s ago\n",
				       st.report_age_ms / 1000, st.report_age_ms % 1000 / 100);
		}
		if (st.members > 0 && !st.removed) {
			if (st.protocol)
				printf("Protocol: %u (every member speaks it)\n", st.protocol);
			else
				printf("Protocol: not known until every member is heard from\n");
		}
		printf(st.members ? "Members:\n" : "Members: none (cluster initialize or join)\n");
	}
	for (uint32_t i = 0; i < st.members; i++) {
		struct proto_cluster_member m;
		memcpy(&m, members + i * sizeof(m), sizeof(m));
		m.address[sizeof(m.address) - 1] = '\0';
		bool leader = m.id == st.leader, self = m.id == st.self;
		/* As rxmpp-certtool inspect prints it, to compare. */
		char fingerprint[3 * sizeof(m.fingerprint)];
		for (size_t k = 0; k < sizeof(m.fingerprint); k++)
			snprintf(fingerprint + 3 * k, 4, "%02X%s", m.fingerprint[k],
				 k + 1 < sizeof(m.fingerprint) ? ":" : "");
		if (json) {
			printf("%s{\"address\": ", i ? ", " : "");
			rxmppctl_print_json_string(m.address);
			printf(
			    ", \"node\": \"%016" PRIx64 "\", \"leader\": %s, \"self\": %s, "
			    "\"reachable\": %s, \"here\": \"%s\", \"certificate_sha256\": \"%s\"",
			    m.id, leader ? "true" : "false", self ? "true" : "false",
			    m.reachable ? "true" : "false", reach_name(m.here), fingerprint);
			print_json_ms("heartbeat_ms", m.heard_ms);
			print_json_ms("leader_heartbeat_ms", m.leader_heard_ms);
			if (m.version_max)
				printf(", \"protocol_versions\": [%u, %u]", m.version_min,
				       m.version_max);
			else
				printf(", \"protocol_versions\": null");
			printf("}");
			continue;
		}
		char here[48], view[48];
		if (m.here == PROTO_REACH_SELF)
			snprintf(here, sizeof(here), "this node");
		else if (m.here == PROTO_REACH_LINK_UP || m.here == PROTO_REACH_LINK_DOWN)
			snprintf(here, sizeof(here), "%s", reach_name(m.here));
		else
			heard_text(here, sizeof(here), m.heard_ms);
		if (leads)
			snprintf(view, sizeof(view), "(this node)");
		else if (st.report_age_ms == UINT64_MAX)
			snprintf(view, sizeof(view), "-");
		else
			heard_text(view, sizeof(view), m.leader_heard_ms);
		printf("  %-24s %016" PRIx64 " %-8s %-11s here: %-19s leader: %s\n", m.address,
		       m.id, leader ? "(Leader)" : "", m.reachable ? "reachable" : "UNREACHABLE",
		       here, view);
		printf("    certificate SHA-256 %s\n", fingerprint);
		if (m.version_max)
			printf("    speaks protocol versions %u to %u\n", m.version_min,
			       m.version_max);
		else
			printf("    speaks protocol versions not known yet\n");
	}
	if (json)
		printf("]");
	if (st.members > 0 && !st.removed)
		cluster_print_drift(&st, members, json);
	if (json)
		printf("}\n");
	return CTL_OK;
}

static int set_enabled(const char *config_path, const char *socket_path, bool on)
{
	struct config_errors errors;
	if (config_edit_file(config_path, "cluster", "enabled", on ? "true" : "false", &errors) ==
	    -1) {
		config_errors_print(&errors, stderr);
		return CTL_FAILED;
	}
	return rxmppctl_reload_after(socket_path,
				     on ? "cluster.enabled: true" : "cluster.enabled: false");
}

/* Installs `file` as the trust bundle, mode 0644 (every node's user reads
 * it), only when it holds certificates and nothing else: a private key
 * pasted in by mistake would otherwise be published world-readable, as
 * rxmpp-certtool bundle make refuses too. */
static int trust(const char *file, const struct config *cfg, const char *socket_path)
{
	struct cert_file f;
	char *text = NULL, why[1024];
	size_t len;
	if (fileio_read_all(file, CERT_FILE_MAX, &text, &len, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		return CTL_FAILED;
	}
	if (cert_file_parse(file, text, len, &f, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		buf_wipe_free(text, len);
		return CTL_FAILED;
	}
	int count = sk_X509_num(f.certs);
	const char *refusal = f.keys > 0      ? "holds a private key"
			      : f.csr != NULL ? "holds a certificate request"
			      : f.unknown > 0 ? "holds PEM blocks that are not certificates"
			      : count == 0    ? "holds no PEM certificate"
					      : NULL;
	for (int i = 0; refusal == NULL && i < count; i++) {
		char subject[256];
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(f.certs, i)), subject,
				  sizeof(subject));
		printf("certificate %d: %s\n", i + 1, subject);
	}
	cert_file_free(&f);
	if (refusal != NULL) {
		fprintf(stderr,
			"rxmppctl: %s %s; a trust bundle holds certificates only (it is installed "
			"readable by all): %s is unchanged\n",
			file, refusal, cfg->cluster.trust_bundle);
		buf_wipe_free(text, len);
		return CTL_FAILED;
	}
	int written =
	    fileio_write_atomic(cfg->cluster.trust_bundle, text, len, 0644, why, sizeof(why));
	buf_wipe_free(text, len);
	if (written == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		return CTL_FAILED;
	}
	char done[1200];
	snprintf(done, sizeof(done), "installed %d certificates as %s (mode 0644)", count,
		 cfg->cluster.trust_bundle);
	return rxmppctl_reload_after(socket_path, done);
}

/* This node's own accounts and bridges, read before a join or initialize
 * can replace them: the accounts kept aside when the cluster's state first
 * replaced them (elector_machine.h), else the accounts file; the bridges of
 * callbridges_file, which stays the administrator's, and of those the ones
 * to merge: at a join, only those not merged before as they are now
 * (rxmppctl_merged.c), so that a join does not bring back a bridge the
 * cluster deleted; else all. */
struct cluster_own {
	struct accounts accounts;
	struct callbridges bridges;
	struct proto_callbridge *merging;
	size_t merging_count;
	char accounts_path[PATH_MAX];
};

static int bridge_name_order(const void *a, const void *b)
{
	return strcmp(((const struct proto_callbridge *)a)->name,
		      ((const struct proto_callbridge *)b)->name);
}

/* The bridges to merge, in name order: a MERGE lists them so (the state
 * machine refuses any other order, so that a batch cannot hold a name
 * twice), and the file keeps the administrator's order. */
static int cluster_own_bridges(const struct config *cfg, struct cluster_own *own, bool joining)
{
	char why[PATH_MAX + 256];
	size_t skipped = 0;
	if (!joining) {
		own->merging =
		    calloc(own->bridges.count ? own->bridges.count : 1, sizeof(*own->merging));
		if (own->merging == NULL) {
			fprintf(stderr, "rxmppctl: out of memory\n");
			return -1;
		}
		if (own->bridges.count > 0)
			memcpy(own->merging, own->bridges.items,
			       own->bridges.count * sizeof(*own->merging));
		own->merging_count = own->bridges.count;
		qsort(own->merging, own->merging_count, sizeof(*own->merging), bridge_name_order);
		return 0;
	}
	if (rxmppctl_merged_filter(cfg->state_directory, own->bridges.items, own->bridges.count,
				   &own->merging, &own->merging_count, &skipped, why,
				   sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		return -1;
	}
	qsort(own->merging, own->merging_count, sizeof(*own->merging), bridge_name_order);
	if (skipped > 0)
		printf("%zu call bridge%s of %s %s merged into a cluster's state before and %s "
		       "not changed since: not merged again (the cluster's state decides "
		       "whether %s; `rxmppctl cluster merge` merges the whole file)\n",
		       skipped, skipped == 1 ? "" : "s", cfg->callbridges_file,
		       skipped == 1 ? "was" : "were", skipped == 1 ? "has" : "have",
		       skipped == 1 ? "it stays" : "they stay");
	return 0;
}

/* This node's own accounts file (see struct cluster_own). */
static void cluster_own_accounts_path(const struct config *cfg, char path[PATH_MAX])
{
	snprintf(path, PATH_MAX, "%s/%s", cfg->state_directory, ELECTOR_MACHINE_BEFORE_CLUSTER);
	if (access(path, F_OK) == -1)
		snprintf(path, PATH_MAX, "%s/%s", cfg->state_directory, ACCOUNTS_FILE_NAME);
}

static int cluster_own_read(const struct config *cfg, struct cluster_own *own, bool joining)
{
	char why[512];
	memset(own, 0, sizeof(*own));
	char *path = own->accounts_path;
	cluster_own_accounts_path(cfg, path);
	if (accounts_load(path, &own->accounts, NULL, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		return -1;
	}
	struct config_errors errors;
	if (callbridges_load(cfg->callbridges_file, cfg->domain, &own->bridges, &errors) == -1) {
		config_errors_print(&errors, stderr);
		accounts_free(&own->accounts);
		return -1;
	}
	if (cluster_own_bridges(cfg, own, joining) == -1) {
		accounts_free(&own->accounts);
		callbridges_free(&own->bridges);
		return -1;
	}
	return 0;
}

static void cluster_own_free(struct cluster_own *own)
{
	accounts_free(&own->accounts);
	callbridges_free(&own->bridges);
	if (own->merging != NULL)
		explicit_bzero(own->merging, own->merging_count * sizeof(*own->merging));
	free(own->merging);
}

/* Reports this node's settings that must agree and merges its own
 * accounts and bridges into the cluster's state (all checked first: a
 * conflict anywhere is named and changes nothing).  A joining node's
 * settings and entries were checked by the leader before it became a
 * member (elector_io.c join_refusal): what is refused here is what changed
 * in the cluster meanwhile, or entries too many to send with the join.
 * `seed`: merge even nothing, so that the cluster's state starts (the
 * first command makes every node's elector materialise it). */
static int cluster_merge_own(const struct config *cfg, const char *socket_path,
			     struct cluster_own *own, bool seed, bool joining)
{
	bool not_in_log = false;
	/* The first command waits for the new member's link to the leader (a
	 * cluster that carries no state refuses it all that while). */
	int patience_ms = seed || joining ? 10000 : 0;
	int rc = rxmppctl_state_settings(cfg, socket_path, patience_ms, &not_in_log);
	if (rc == CTL_OK && !seed && own->accounts.count == 0 && own->merging_count == 0) {
		printf("this node has no accounts or call bridges of its own to merge\n");
		return CTL_OK;
	}
	if (rc == CTL_OK)
		rc = rxmppctl_state_merge(socket_path, &own->accounts, own->merging,
					  own->merging_count, &not_in_log);
	char why[PATH_MAX + 256];
	if (rc == CTL_OK && rxmppctl_merged_save(cfg->state_directory, own->bridges.items,
						 own->bridges.count, why, sizeof(why)) == -1)
		fprintf(stderr,
			"rxmppctl: warning: the bridges of %s were merged, but which is not "
			"recorded (%s): the next join merges them again\n",
			cfg->callbridges_file, why);
	/* A cluster that carries no state (a member of an older release, or
	 * an elector that does not replicate): every node keeps its own files,
	 * which stay in force here, so nothing is lost or out of date. */
	if (rc != CTL_OK && not_in_log &&
	    !callbridge_state_in_use(cfg->state_directory, cfg->cluster.enabled)) {
		printf("the cluster's state is not replicated (see above): this node keeps its own "
		       "accounts and call bridges; run `rxmppctl cluster merge` once it is\n");
		return CTL_OK;
	}
	if (rc != CTL_OK)
		fprintf(stderr,
			"rxmppctl: this node's own accounts and call bridges are not in the "
			"cluster's state; they are kept (%s and %s): put right what is named "
			"above and run `rxmppctl cluster merge`\n",
			own->accounts_path, cfg->callbridges_file);
	return rc;
}

/* Its accounts first, which the users' data needs in the cluster's state;
 * read again, as the first write of the cluster's state kept them aside. */
static int cluster_merge_all(const struct config *cfg, const char *socket_path,
			     struct cluster_own *own, bool seed, bool joining)
{
	int rc = cluster_merge_own(cfg, socket_path, own, seed, joining);
	char path[PATH_MAX];
	cluster_own_accounts_path(cfg, path);
	return rc == CTL_OK ? rxmppctl_userdata_merge(cfg, socket_path, path) : rc;
}

/* A join carries this node's accounts and bridges as names and digests,
 * so that the leader refuses it, naming each conflict, before this node
 * becomes a member.  Too many for one message: none, said here, and the
 * merge after the join checks them (a conflict is then named, nothing is
 * merged, and the node is a member). */
static int cluster_join_digests(const struct cluster_own *own, struct buf *message)
{
	struct buf digests;
	if (own->accounts.count + own->merging_count == 0)
		return 0;
	if (elector_digests_encode(&digests, own->accounts.items, own->accounts.count, own->merging,
				   own->merging_count) == -1) {
		printf("this node's %zu accounts and %zu call bridges are too many to be checked "
		       "before it joins (more than %u bytes of names and digests): they are "
		       "checked when they are merged, once it is a member\n",
		       own->accounts.count, own->merging_count, PROTO_CLUSTER_JOIN_DIGESTS_MAX);
		return 0;
	}
	int rc = buf_append(message, buf_head(&digests), buf_len(&digests));
	buf_free(&digests);
	return rc;
}

int rxmppctl_cluster(int argc, char **argv, const char *config_path, const char *socket_path,
		     const struct config *cfg, bool json)
{
	struct proto_cluster_request request = {0};
	const char *verb = argc > 1 ? argv[1] : NULL;
	if (verb == NULL || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
		cluster_usage(verb ? stdout : stderr);
		return verb ? CTL_OK : CTL_USAGE;
	}
	if ((strcmp(verb, "enable") == 0 || strcmp(verb, "disable") == 0) && argc == 2)
		return set_enabled(config_path, socket_path, verb[0] == 'e');
	if (strcmp(verb, "trust") == 0 && argc == 3)
		return trust(argv[2], cfg, socket_path);
	if (strcmp(verb, "status") == 0 && argc == 2) {
		request.op = PROTO_CLUSTER_OP_STATUS;
		cluster_state_directory = cfg->state_directory;
		/* Without an answer the node is shown as not draining; the
		 * cluster request below says what is wrong. */
		rxmppctl_request_with(socket_path, PROTO_CTL_STATUS, NULL, 0, 5000,
				      cluster_note_status, NULL);
	} else if (strcmp(verb, "initialize") == 0 && argc == 2) {
		request.op = PROTO_CLUSTER_OP_INITIALIZE;
	} else if (strcmp(verb, "join") == 0 && argc == 3) {
		request.op = PROTO_CLUSTER_OP_JOIN;
		const char *host = argv[2];
		const char *colon = strrchr(host, ':');
		bool has_port = colon != NULL && (host[0] != '[' || colon[-1] == ']');
		if (has_port)
			snprintf(request.arg, sizeof(request.arg), "%s", host);
		else
			snprintf(request.arg, sizeof(request.arg), "%s:%u", host,
				 cfg->cluster.port);
	} else if (strcmp(verb, "merge") == 0 && argc == 2) {
		if (!cfg->cluster.enabled) {
			fprintf(stderr,
				"rxmppctl: the cluster is disabled (cluster.enabled: false); "
				"nothing to merge into\n");
			return CTL_FAILED;
		}
		struct cluster_own own;
		if (cluster_own_read(cfg, &own, false) == -1)
			return CTL_FAILED;
		int rc = cluster_merge_all(cfg, socket_path, &own, true, false);
		cluster_own_free(&own);
		return rc;
	} else if (strcmp(verb, "leader") == 0 && (argc == 2 || argc == 3)) {
		request.op = PROTO_CLUSTER_OP_LEADER;
		if (argc == 3)
			snprintf(request.arg, sizeof(request.arg), "%s", argv[2]);
	} else if (strcmp(verb, "remove") == 0 && argc == 3) {
		request.op = PROTO_CLUSTER_OP_REMOVE;
		snprintf(request.arg, sizeof(request.arg), "%s", argv[2]);
	} else {
		cluster_usage(stderr);
		return CTL_USAGE;
	}
	uint16_t expect =
	    request.op == PROTO_CLUSTER_OP_STATUS ? PROTO_CLUSTER_STATUS : PROTO_CLUSTER_RESULT;
	/* A join or remove may wait for a leader and a commit. */
	int timeout_ms = request.op == PROTO_CLUSTER_OP_STATUS ? 5000 : 35000;
	bool seeds =
	    request.op == PROTO_CLUSTER_OP_INITIALIZE || request.op == PROTO_CLUSTER_OP_JOIN;
	struct cluster_own own;
	/* Read before the request: once this node is a member, the elector
	 * may replace its accounts file with the cluster's. */
	if (seeds && cluster_own_read(cfg, &own, request.op == PROTO_CLUSTER_OP_JOIN) == -1)
		return CTL_FAILED;
	struct buf message;
	buf_init(&message, sizeof(request) + PROTO_CLUSTER_JOIN_DIGESTS_MAX);
	if (buf_append(&message, &request, sizeof(request)) == -1 ||
	    (request.op == PROTO_CLUSTER_OP_JOIN && cluster_join_digests(&own, &message) == -1)) {
		fprintf(stderr, "rxmppctl: out of memory\n");
		buf_free(&message);
		if (seeds)
			cluster_own_free(&own);
		return CTL_FAILED;
	}
	int rc = rxmppctl_request(socket_path, PROTO_CLUSTER_REQUEST, buf_head(&message),
				  buf_len(&message), expect, json, timeout_ms);
	buf_free(&message);
	if (seeds && rc == CTL_OK)
		rc = cluster_merge_all(cfg, socket_path, &own,
				       request.op == PROTO_CLUSTER_OP_INITIALIZE,
				       request.op == PROTO_CLUSTER_OP_JOIN);
	if (seeds)
		cluster_own_free(&own);
	return rc;
}
