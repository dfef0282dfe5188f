/* SPDX-License-Identifier: MIT */
/*
 * The rxmpp configuration (schema version 1) as one typed structure, and the
 * few pure helpers that the processes receiving it need.
 *
 * Only the supervisor and rxmppctl read YAML (config/); children receive
 * this structure as it is over IPC, so it holds no pointers: strings are
 * fixed arrays whose limits validation (config/config.c) enforces.  It lives
 * in common/ so that the children depend on nothing above common/.
 */
#ifndef RXMPP_COMMON_CONFIG_H
#define RXMPP_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/netaddr.h"

#define CONFIG_VERSION	   1
#define CONFIG_PATH_MAX	   1024
#define CONFIG_DOMAIN_MAX  254
#define CONFIG_LISTEN_MAX  16
#define CONFIG_ADDRESS_MAX 64
#define CONFIG_USER_MAX	   33
/* Room the YAML reader keeps per key; config.c asserts the table fits. */
#define CONFIG_KEYS_MAX 64
/* uint32 fields that accept `none` store it as this. */
#define CONFIG_NONE UINT32_MAX

enum config_component_tls {
	CONFIG_COMPONENT_TLS_DIRECT, /* TLS from the first byte, as CMS call bridges expect */
	CONFIG_COMPONENT_TLS_PLAIN,  /* plain TCP, e.g. for a bridge on the same host */
};

enum config_bridge_conflict {
	CONFIG_BRIDGE_REPLACE, /* a bridge that connects again replaces its old connection */
	CONFIG_BRIDGE_REFUSE,  /* the new connection is refused while the old one lives */
};

enum config_tls_version {
	CONFIG_TLS_1_2,
	CONFIG_TLS_1_3,
};

struct config_listen {
	uint32_t address_count;
	char addresses[CONFIG_LISTEN_MAX][CONFIG_ADDRESS_MAX];
	uint32_t client_port;
	uint32_t direct_tls_port; /* CONFIG_NONE: off */
	uint32_t component_port;
	uint32_t component_tls; /* enum config_component_tls */
	uint32_t link_local;	/* interfaces: their link-local addresses too */
};

struct config_tls {
	char key[CONFIG_PATH_MAX];
	char certificate[CONFIG_PATH_MAX];
	char bundle[CONFIG_PATH_MAX];	  /* "" when none */
	char ticket_key[CONFIG_PATH_MAX]; /* the cluster's TLS ticket key; "" when none */
	uint32_t required;		  /* TLS before authentication */
	uint32_t min_version;		  /* enum config_tls_version */
	uint32_t expiry_warning_ms;
};

/* limits.trusted_networks: peers exempt from the per-address limits. */
#define CONFIG_NETWORKS_MAX 32
struct config_networks {
	uint32_t count;
	struct netaddr_net nets[CONFIG_NETWORKS_MAX];
};

struct config_limits {
	uint32_t max_stanza_size;
	uint32_t max_depth;
	uint32_t max_attributes;
	uint32_t max_sessions; /* CONFIG_NONE: unlimited */
	/* Per peer address, except from trusted_networks (listener_admit.h). */
	uint32_t max_connections_per_address;	  /* CONFIG_NONE: unlimited */
	uint32_t max_unauthenticated_per_address; /* CONFIG_NONE: unlimited */
	uint32_t connection_rate_per_address;	  /* new ones a second; CONFIG_NONE: unlimited */
	uint32_t connection_burst_per_address;	  /* new ones at once after a quiet spell */
	struct config_networks trusted_networks;
	uint32_t max_resources_per_user; /* CONFIG_NONE: unlimited */
	uint32_t max_fanout_bytes;	 /* one stanza to all of an account's resources */
	uint32_t max_queued_bytes_total; /* output queued for all connections */
	/* Offline messages kept per account (XEP-0160; the leader's im puts
	 * them in each command, the state machine enforces them). */
	uint32_t max_offline_messages;
	uint32_t max_offline_bytes;
	uint32_t tls_handshake_timeout_ms;
	uint32_t auth_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t keepalive_interval_ms;
};

/* stream_management: XEP-0198 and XEP-0352 for clients. */
struct config_sm {
	uint32_t enabled;
	uint32_t resume_timeout_ms;   /* a detached session waits this long at most */
	uint32_t max_unacked_stanzas; /* sent and not acknowledged, per session */
	uint32_t max_unacked_bytes;
	uint32_t csi_max_held; /* stanzas held back for an inactive client */
};

#define CONFIG_CLUSTER_ADDRESS_MAX 128
#define CONFIG_PEER_NAMES_MAX	   16

/* Names a peer's certificate may carry (DNS names in its subjectAltName, or
 * its common name) to be let into the cluster when the trust bundle holds
 * a CA. */
struct config_names {
	uint32_t count;
	char names[CONFIG_PEER_NAMES_MAX][CONFIG_DOMAIN_MAX];
};

struct config_cluster {
	uint32_t enabled;
	uint32_t port;
	char address[CONFIG_CLUSTER_ADDRESS_MAX]; /* host:port peers reach us at; "" derived */
	char trust_bundle[CONFIG_PATH_MAX];
	struct config_names peer_names;
	uint32_t heartbeat_interval_ms;
	uint32_t election_timeout_min_ms;
	uint32_t election_timeout_max_ms;
	uint32_t queue_max_stanzas;
	uint32_t queue_max_bytes;
	uint32_t queue_max_wait_ms;
	uint32_t snapshot_entries; /* the log is compacted every this many entries */
};

/* The metrics endpoint (supervisor_http.c). */
struct config_metrics {
	char listen[CONFIG_CLUSTER_ADDRESS_MAX]; /* address:port; "" off */
};

struct config {
	uint32_t version;
	uint32_t enabled; /* false: the node accepts no connections (CMS xmpp disable) */
	char domain[CONFIG_DOMAIN_MAX];
	uint32_t log_level; /* enum log_level */
	char state_directory[CONFIG_PATH_MAX];
	char control_socket[CONFIG_PATH_MAX];
	char callbridges_file[CONFIG_PATH_MAX];
	char user[CONFIG_USER_MAX];   /* rxmppd started as root runs as this user */
	uint32_t callbridge_conflict; /* enum config_bridge_conflict */
	struct config_listen listen;
	struct config_tls tls;
	struct config_limits limits;
	struct config_sm sm;
	struct config_cluster cluster;
	struct config_metrics metrics;
};

/* A listen.addresses entry that names an interface (not `any`, not an IP
 * address): the supervisor follows its addresses. */
bool config_address_is_interface(const char *entry);

/* The address peers reach this node at: cluster.address, or the first IP
 * address in listen.addresses with cluster.port; -1 when neither gives one. */
int config_cluster_address(const struct config *cfg, char *out, size_t size);

#endif
