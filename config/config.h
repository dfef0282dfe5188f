/*
 * The rxmpp configuration (schema version 1) as one typed structure.
 *
 * Only the supervisor reads YAML (config_yaml.c); children receive this
 * structure as it is over IPC, so it holds no pointers: strings are fixed
 * arrays whose limits validation enforces.  The schema table (config_keys)
 * drives parsing, defaults, canonical printing and the documentation test.
 */
#ifndef RXMPP_CONFIG_H
#define RXMPP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#define CONFIG_VERSION	   1
#define CONFIG_PATH_MAX	   1024
#define CONFIG_DOMAIN_MAX  254
#define CONFIG_LISTEN_MAX  16
#define CONFIG_ADDRESS_MAX 64
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
	char bundle[CONFIG_PATH_MAX]; /* "" when none */
	uint32_t required;	      /* TLS before authentication */
	uint32_t min_version;	      /* enum config_tls_version */
	uint32_t expiry_warning_ms;
};

struct config_limits {
	uint32_t max_stanza_size;
	uint32_t max_depth;
	uint32_t max_attributes;
	uint32_t max_sessions;		      /* CONFIG_NONE: unlimited */
	uint32_t max_connections_per_address; /* CONFIG_NONE: unlimited */
	uint32_t tls_handshake_timeout_ms;
	uint32_t auth_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t keepalive_interval_ms;
};

#define CONFIG_CLUSTER_ADDRESS_MAX 128

struct config_cluster {
	uint32_t enabled;
	uint32_t port;
	char address[CONFIG_CLUSTER_ADDRESS_MAX]; /* host:port peers reach us at; "" derived */
	char trust_bundle[CONFIG_PATH_MAX];
	uint32_t heartbeat_interval_ms;
	uint32_t election_timeout_min_ms;
	uint32_t election_timeout_max_ms;
	uint32_t queue_max_stanzas;
	uint32_t queue_max_bytes;
	uint32_t queue_max_wait_ms;
};

struct config {
	uint32_t version;
	uint32_t enabled; /* false: the node accepts no connections (CMS xmpp disable) */
	char domain[CONFIG_DOMAIN_MAX];
	uint32_t log_level; /* enum log_level */
	char state_directory[CONFIG_PATH_MAX];
	char control_socket[CONFIG_PATH_MAX];
	char callbridges_file[CONFIG_PATH_MAX];
	uint32_t callbridge_conflict; /* enum config_bridge_conflict */
	struct config_listen listen;
	struct config_tls tls;
	struct config_limits limits;
	struct config_cluster cluster;
};

enum config_type {
	CONFIG_TYPE_INT,       /* whole number in [min, max] */
	CONFIG_TYPE_INT_NONE,  /* whole number in [min, max], or `none` */
	CONFIG_TYPE_BOOL,      /* true or false */
	CONFIG_TYPE_SIZE,      /* bytes: 262144, 256KiB, 1MiB */
	CONFIG_TYPE_DURATION,  /* 500ms, 10s, 5m, 1h, 30d; stored in ms */
	CONFIG_TYPE_ENUM,      /* one of `choices` */
	CONFIG_TYPE_LOG_LEVEL, /* err, warning, info, debug */
	CONFIG_TYPE_DOMAIN,    /* DNS name */
	CONFIG_TYPE_PATH,      /* file name; relative ones are taken from the file's folder */
	CONFIG_TYPE_PATH_NONE, /* file name, or `none` */
	CONFIG_TYPE_ADDRESSES, /* list of IP addresses, interface names, or `any` */
	CONFIG_TYPE_HOST_PORT, /* host:port, [v6]:port, or `none` */
};

struct config_key {
	const char *section; /* NULL at the top level */
	const char *name;
	enum config_type type;
	size_t offset;
	size_t size;		     /* of the field */
	uint64_t min, max;	     /* numbers, sizes and durations (ms) */
	const char *const *choices;  /* CONFIG_TYPE_ENUM, NULL-terminated */
	const char *default_literal; /* as it would be written in the file */
};

extern const struct config_key config_keys[];
extern const size_t config_key_count;
#define CONFIG_SECTION_COUNT 4
/* The section names, NULL-terminated. */
extern const char *const config_sections[CONFIG_SECTION_COUNT + 1];

/* "file:line:column: message" lines, in the order found. */
#define CONFIG_ERRORS_MAX 32
struct config_errors {
	unsigned count;
	unsigned dropped;
	char message[CONFIG_ERRORS_MAX][320];
};

void config_errors_add(struct config_errors *errors, const char *file, unsigned line,
		       unsigned column, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void config_errors_print(const struct config_errors *errors, FILE *out);

/* Every key at its default; the domain stays empty (none: not set yet). */
void config_set_defaults(struct config *cfg);

/* Why a valid configuration cannot serve yet (no domain), or NULL: a freshly
 * installed node's file is valid but names no domain, and rxmppd refuses to
 * start, or to reload into, such a configuration. */
const char *config_unready(const struct config *cfg);

/* Converts a literal as it appears in the file into the field's value.
 * `base_dir` resolves relative paths.  On error, writes what was expected. */
int config_key_parse(const struct config_key *key, struct config *cfg, const char *literal,
		     const char *base_dir, char *why, size_t why_size);
/* Adds one entry to a CONFIG_TYPE_ADDRESSES list; same contract. */
int config_key_append_address(const struct config_key *key, struct config *cfg, const char *literal,
			      char *why, size_t why_size);

/* Checks that only make sense across keys.  `mark` gives the position of a
 * key (line, column) for the message, or zeros when unknown. */
typedef void config_mark_fn(const struct config_key *key, unsigned *line, unsigned *column,
			    void *arg);
void config_validate(const struct config *cfg, const char *file, config_mark_fn *mark, void *arg,
		     struct config_errors *errors);

/* A listen.addresses entry that names an interface (not `any`, not an IP
 * address): the supervisor follows its addresses. */
bool config_address_is_interface(const char *entry);

/* The address peers reach this node at: cluster.address, or the first IP
 * address in listen.addresses with cluster.port; -1 when neither gives one. */
int config_cluster_address(const struct config *cfg, char *out, size_t size);

/* Prints every key with its value; the output parses back to the same struct. */
void config_print(const struct config *cfg, FILE *out);

#endif
