/* SPDX-License-Identifier: MIT */
/*
 * The configuration schema: every key with its type, limits and default, and
 * the conversions between the literals of the file and the typed structure.
 * Linked into the supervisor and rxmppctl (with config_yaml.c); the children
 * only receive the structure (common/config.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define KIB    UINT64_C(1024)
#define MIB    (KIB * KIB)
#define SECOND UINT64_C(1000)
#define MINUTE (60 * SECOND)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

#define FIELD(member) offsetof(struct config, member), sizeof(((struct config *)0)->member)

static const char *const component_tls_choices[] = {"direct", "plain", NULL};
static const char *const tls_version_choices[] = {"1.2", "1.3", NULL};
static const char *const bridge_conflict_choices[] = {"replace", "refuse", NULL};

const char *const config_sections[CONFIG_SECTION_COUNT + 1] = {
    "listen", "tls", "limits", "stream_management", "cluster", "metrics", NULL};

const struct config_key config_keys[] = {
    {NULL, "version", CONFIG_TYPE_INT, FIELD(version), 1, 1, NULL, "1"},
    {NULL, "enabled", CONFIG_TYPE_BOOL, FIELD(enabled), 0, 1, NULL, "true"},
    {NULL, "domain", CONFIG_TYPE_DOMAIN, FIELD(domain), 0, 0, NULL, NULL},
    {NULL, "log_level", CONFIG_TYPE_LOG_LEVEL, FIELD(log_level), 0, 0, NULL, "info"},
    {NULL, "state_directory", CONFIG_TYPE_PATH, FIELD(state_directory), 0, 0, NULL,
     "/var/lib/rxmpp"},
    {NULL, "control_socket", CONFIG_TYPE_PATH, FIELD(control_socket), 0, 0, NULL,
     "/run/rxmpp/control.sock"},
    {NULL, "callbridges_file", CONFIG_TYPE_PATH, FIELD(callbridges_file), 0, 0, NULL,
     "/etc/rxmpp/callbridges.yaml"},
    {NULL, "user", CONFIG_TYPE_USER, FIELD(user), 0, 0, NULL, "rxmpp"},
    {NULL, "callbridge_conflict", CONFIG_TYPE_ENUM, FIELD(callbridge_conflict), 0, 0,
     bridge_conflict_choices, "replace"},

    {"listen", "addresses", CONFIG_TYPE_ADDRESSES, FIELD(listen.addresses), 0, 0, NULL, "[any]"},
    {"listen", "client_port", CONFIG_TYPE_INT, FIELD(listen.client_port), 1, 65535, NULL, "5222"},
    {"listen", "direct_tls_port", CONFIG_TYPE_INT_NONE, FIELD(listen.direct_tls_port), 1, 65535,
     NULL, "none"},
    {"listen", "component_port", CONFIG_TYPE_INT, FIELD(listen.component_port), 1, 65535, NULL,
     "5223"},
    {"listen", "component_tls", CONFIG_TYPE_ENUM, FIELD(listen.component_tls), 0, 0,
     component_tls_choices, "direct"},
    {"listen", "link_local", CONFIG_TYPE_BOOL, FIELD(listen.link_local), 0, 1, NULL, "false"},

    {"tls", "key", CONFIG_TYPE_PATH, FIELD(tls.key), 0, 0, NULL, "/etc/rxmpp/rxmpp.key"},
    {"tls", "certificate", CONFIG_TYPE_PATH, FIELD(tls.certificate), 0, 0, NULL,
     "/etc/rxmpp/rxmpp.crt"},
    {"tls", "bundle", CONFIG_TYPE_PATH_NONE, FIELD(tls.bundle), 0, 0, NULL, "none"},
    {"tls", "ticket_key", CONFIG_TYPE_PATH_NONE, FIELD(tls.ticket_key), 0, 0, NULL, "none"},
    {"tls", "required", CONFIG_TYPE_BOOL, FIELD(tls.required), 0, 1, NULL, "true"},
    {"tls", "min_version", CONFIG_TYPE_ENUM, FIELD(tls.min_version), 0, 0, tls_version_choices,
     "1.2"},
    {"tls", "expiry_warning", CONFIG_TYPE_DURATION, FIELD(tls.expiry_warning_ms), 0, 365 * DAY,
     NULL, "30d"},

    {"limits", "max_stanza_size", CONFIG_TYPE_SIZE, FIELD(limits.max_stanza_size), 1 * KIB, 1 * MIB,
     NULL, "256KiB"},
    {"limits", "max_depth", CONFIG_TYPE_INT, FIELD(limits.max_depth), 4, 256, NULL, "64"},
    {"limits", "max_attributes", CONFIG_TYPE_INT, FIELD(limits.max_attributes), 4, 1024, NULL,
     "64"},
    {"limits", "max_sessions", CONFIG_TYPE_INT_NONE, FIELD(limits.max_sessions), 1, 10000000, NULL,
     "none"},
    {"limits", "max_connections_per_address", CONFIG_TYPE_INT_NONE,
     FIELD(limits.max_connections_per_address), 1, 10000000, NULL, "none"},
    {"limits", "max_unauthenticated_per_address", CONFIG_TYPE_INT_NONE,
     FIELD(limits.max_unauthenticated_per_address), 1, 10000000, NULL, "256"},
    {"limits", "connection_rate_per_address", CONFIG_TYPE_INT_NONE,
     FIELD(limits.connection_rate_per_address), 1, 1000000, NULL, "100"},
    {"limits", "connection_burst_per_address", CONFIG_TYPE_INT,
     FIELD(limits.connection_burst_per_address), 1, 1000000, NULL, "1000"},
    {"limits", "trusted_networks", CONFIG_TYPE_NETWORKS, FIELD(limits.trusted_networks), 0, 0, NULL,
     "[]"},
    {"limits", "max_resources_per_user", CONFIG_TYPE_INT_NONE, FIELD(limits.max_resources_per_user),
     1, 100000, NULL, "64"},
    {"limits", "max_fanout_bytes", CONFIG_TYPE_SIZE, FIELD(limits.max_fanout_bytes), 64 * KIB,
     1024 * MIB, NULL, "4MiB"},
    /* At most the state machine's caps per collection (elector_userdata.h). */
    {"limits", "max_offline_messages", CONFIG_TYPE_INT, FIELD(limits.max_offline_messages), 1,
     10000, NULL, "200"},
    {"limits", "max_offline_bytes", CONFIG_TYPE_SIZE, FIELD(limits.max_offline_bytes), 1 * KIB,
     8 * MIB, NULL, "2MiB"},
    {"limits", "max_queued_bytes_total", CONFIG_TYPE_SIZE, FIELD(limits.max_queued_bytes_total),
     1 * MIB, 4095 * MIB, NULL, "64MiB"},
    {"limits", "tls_handshake_timeout", CONFIG_TYPE_DURATION,
     FIELD(limits.tls_handshake_timeout_ms), 100, 10 * MINUTE, NULL, "10s"},
    {"limits", "auth_timeout", CONFIG_TYPE_DURATION, FIELD(limits.auth_timeout_ms), 100,
     10 * MINUTE, NULL, "30s"},
    {"limits", "idle_timeout", CONFIG_TYPE_DURATION, FIELD(limits.idle_timeout_ms), 1 * SECOND, DAY,
     NULL, "5m"},
    {"limits", "keepalive_interval", CONFIG_TYPE_DURATION, FIELD(limits.keepalive_interval_ms),
     1 * SECOND, DAY, NULL, "60s"},

    {"stream_management", "enabled", CONFIG_TYPE_BOOL, FIELD(sm.enabled), 0, 1, NULL, "true"},
    {"stream_management", "resume_timeout", CONFIG_TYPE_DURATION, FIELD(sm.resume_timeout_ms),
     1 * SECOND, HOUR, NULL, "300s"},
    {"stream_management", "max_unacked_stanzas", CONFIG_TYPE_INT, FIELD(sm.max_unacked_stanzas), 8,
     100000, NULL, "1000"},
    {"stream_management", "max_unacked_bytes", CONFIG_TYPE_SIZE, FIELD(sm.max_unacked_bytes),
     64 * KIB, 256 * MIB, NULL, "2MiB"},
    {"stream_management", "csi_max_held", CONFIG_TYPE_INT, FIELD(sm.csi_max_held), 1, 10000, NULL,
     "100"},

    {"cluster", "enabled", CONFIG_TYPE_BOOL, FIELD(cluster.enabled), 0, 1, NULL, "false"},
    {"cluster", "port", CONFIG_TYPE_INT, FIELD(cluster.port), 1, 65535, NULL, "5224"},
    {"cluster", "address", CONFIG_TYPE_HOST_PORT, FIELD(cluster.address), 0, 0, NULL, "none"},
    {"cluster", "peer_names", CONFIG_TYPE_NAMES, FIELD(cluster.peer_names), 0, 0, NULL, "[]"},
    {"cluster", "trust_bundle", CONFIG_TYPE_PATH, FIELD(cluster.trust_bundle), 0, 0, NULL,
     "/etc/rxmpp/cluster-trust.pem"},
    {"cluster", "heartbeat_interval", CONFIG_TYPE_DURATION, FIELD(cluster.heartbeat_interval_ms),
     10, 10 * SECOND, NULL, "50ms"},
    {"cluster", "election_timeout_min", CONFIG_TYPE_DURATION,
     FIELD(cluster.election_timeout_min_ms), 50, MINUTE, NULL, "250ms"},
    {"cluster", "election_timeout_max", CONFIG_TYPE_DURATION,
     FIELD(cluster.election_timeout_max_ms), 50, MINUTE, NULL, "500ms"},
    {"cluster", "queue_max_stanzas", CONFIG_TYPE_INT, FIELD(cluster.queue_max_stanzas), 1, 10000000,
     NULL, "10000"},
    {"cluster", "queue_max_bytes", CONFIG_TYPE_SIZE, FIELD(cluster.queue_max_bytes), 64 * KIB,
     1024 * MIB, NULL, "16MiB"},
    {"cluster", "queue_max_wait", CONFIG_TYPE_DURATION, FIELD(cluster.queue_max_wait_ms), 100,
     10 * MINUTE, NULL, "10s"},
    {"cluster", "snapshot_entries", CONFIG_TYPE_INT, FIELD(cluster.snapshot_entries), 10, 10000000,
     NULL, "10000"},

    {"metrics", "listen", CONFIG_TYPE_HOST_PORT, FIELD(metrics.listen), 0, 0, NULL, "none"},
};
const size_t config_key_count = sizeof(config_keys) / sizeof(config_keys[0]);
_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CONFIG_KEYS_MAX,
	       "CONFIG_KEYS_MAX covers the schema");

void config_errors_add(struct config_errors *errors, const char *file, unsigned line,
		       unsigned column, const char *fmt, ...)
{
	if (errors->count == CONFIG_ERRORS_MAX) {
		errors->dropped++;
		return;
	}
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	char *out = errors->message[errors->count++];
	if (line > 0)
		snprintf(out, sizeof(errors->message[0]), "%s:%u:%u: %s", file, line, column, text);
	else
		snprintf(out, sizeof(errors->message[0]), "%s: %s", file, text);
}

void config_errors_print(const struct config_errors *errors, FILE *out)
{
	for (unsigned i = 0; i < errors->count; i++)
		fprintf(out, "%s\n", errors->message[i]);
	if (errors->dropped > 0)
		fprintf(out, "(%u more errors not shown)\n", errors->dropped);
}

static uint32_t *config_u32(const struct config_key *key, struct config *cfg)
{
	return (uint32_t *)((char *)cfg + key->offset);
}

static char *config_str(const struct config_key *key, struct config *cfg)
{
	return (char *)cfg + key->offset;
}

/* Copies a string into a fixed field, zero-filling the rest so that two
 * configurations with equal values are equal byte for byte. */
static void config_copy(char *field, size_t size, const char *value)
{
	memset(field, 0, size);
	memcpy(field, value, strnlen(value, size - 1));
}

void config_set_defaults(struct config *cfg)
{
	char why[128];
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *key = &config_keys[i];
		if (key->default_literal == NULL)
			continue;
		if (key->type == CONFIG_TYPE_ADDRESSES) {
			config_key_append(key, cfg, "any", why, sizeof(why));
			continue;
		}
		if (key->type == CONFIG_TYPE_NAMES || key->type == CONFIG_TYPE_NETWORKS)
			continue; /* empty */
		if (config_key_parse(key, cfg, key->default_literal, "/", why, sizeof(why)) == -1)
			fatalx("default of %s is invalid: %s", key->name, why);
	}
}

/* Numbers with an optional unit; `units` maps suffixes to multipliers. */
struct config_unit {
	const char *suffix;
	uint64_t factor;
};

static const struct config_unit size_units[] = {
    {"", 1}, {"B", 1}, {"KiB", KIB}, {"MiB", MIB}, {"GiB", 1024 * MIB}, {NULL, 0},
};

static const struct config_unit duration_units[] = {
    {"ms", 1}, {"s", SECOND}, {"m", MINUTE}, {"h", HOUR}, {"d", DAY}, {NULL, 0},
};

static int config_parse_number(const char *literal, const struct config_unit *units,
			       uint64_t *value)
{
	if (!isdigit((unsigned char)literal[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long number = strtoull(literal, &end, 10);
	if (errno != 0)
		return -1;
	for (const struct config_unit *unit = units; unit->suffix != NULL; unit++) {
		if (strcmp(end, unit->suffix) == 0) {
			if (number > UINT64_MAX / unit->factor)
				return -1;
			*value = number * unit->factor;
			return 0;
		}
	}
	return -1;
}

static void config_format_size(uint64_t bytes, char *out, size_t size)
{
	if (bytes % MIB == 0)
		snprintf(out, size, "%" PRIu64 "MiB", bytes / MIB);
	else if (bytes % KIB == 0)
		snprintf(out, size, "%" PRIu64 "KiB", bytes / KIB);
	else
		snprintf(out, size, "%" PRIu64, bytes);
}

static void config_format_duration(uint64_t ms, char *out, size_t size)
{
	if (ms != 0 && ms % DAY == 0)
		snprintf(out, size, "%" PRIu64 "d", ms / DAY);
	else if (ms != 0 && ms % HOUR == 0)
		snprintf(out, size, "%" PRIu64 "h", ms / HOUR);
	else if (ms != 0 && ms % MINUTE == 0)
		snprintf(out, size, "%" PRIu64 "m", ms / MINUTE);
	else if (ms != 0 && ms % SECOND == 0)
		snprintf(out, size, "%" PRIu64 "s", ms / SECOND);
	else
		snprintf(out, size, "%" PRIu64 "ms", ms);
}

static bool config_domain_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len >= CONFIG_DOMAIN_MAX || name[len - 1] == '.')
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		label++;
	}
	return true;
}

static int config_parse_path(char *field, size_t size, const char *literal, const char *base_dir,
			     char *why, size_t why_size)
{
	for (const char *p = literal; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20) {
			snprintf(why, why_size, "a file name without control characters");
			return -1;
		}
	}
	char path[CONFIG_PATH_MAX + 1];
	int n;
	if (literal[0] == '/')
		n = snprintf(path, sizeof(path), "%s", literal);
	else
		n = snprintf(path, sizeof(path), "%s%s%s", base_dir,
			     base_dir[strlen(base_dir) - 1] == '/' ? "" : "/", literal);
	if (literal[0] == '\0' || n < 0 || (size_t)n >= size) {
		snprintf(why, why_size, "a file name of 1 to %zu bytes", size - 1);
		return -1;
	}
	config_copy(field, size, path);
	return 0;
}

int config_key_parse(const struct config_key *key, struct config *cfg, const char *literal,
		     const char *base_dir, char *why, size_t why_size)
{
	uint64_t value;

	switch (key->type) {
	case CONFIG_TYPE_INT_NONE:
		if (strcmp(literal, "none") == 0) {
			*config_u32(key, cfg) = CONFIG_NONE;
			return 0;
		}
		/* fall through */
	case CONFIG_TYPE_INT:
		if (strspn(literal, "0123456789") != strlen(literal) ||
		    config_parse_number(literal, size_units, &value) == -1 || value < key->min ||
		    value > key->max) {
			snprintf(why, why_size, "a whole number from %" PRIu64 " to %" PRIu64 "%s",
				 key->min, key->max,
				 key->type == CONFIG_TYPE_INT_NONE ? ", or none" : "");
			return -1;
		}
		*config_u32(key, cfg) = (uint32_t)value;
		return 0;
	case CONFIG_TYPE_BOOL:
		if (strcmp(literal, "true") == 0 || strcmp(literal, "false") == 0) {
			*config_u32(key, cfg) = literal[0] == 't';
			return 0;
		}
		snprintf(why, why_size, "true or false");
		return -1;
	case CONFIG_TYPE_SIZE:
		if (config_parse_number(literal, size_units, &value) == -1 || value < key->min ||
		    value > key->max) {
			char lo[32], hi[32];
			config_format_size(key->min, lo, sizeof(lo));
			config_format_size(key->max, hi, sizeof(hi));
			snprintf(why, why_size, "a size from %s to %s (bytes, KiB or MiB)", lo, hi);
			return -1;
		}
		*config_u32(key, cfg) = (uint32_t)value;
		return 0;
	case CONFIG_TYPE_DURATION:
		if (config_parse_number(literal, duration_units, &value) == -1 ||
		    value < key->min || value > key->max) {
			char lo[32], hi[32];
			config_format_duration(key->min, lo, sizeof(lo));
			config_format_duration(key->max, hi, sizeof(hi));
			snprintf(why, why_size,
				 "a duration from %s to %s with a unit (ms, s, m, h or d)", lo, hi);
			return -1;
		}
		*config_u32(key, cfg) = (uint32_t)value;
		return 0;
	case CONFIG_TYPE_ENUM:
		for (uint32_t i = 0; key->choices[i] != NULL; i++) {
			if (strcmp(literal, key->choices[i]) == 0) {
				*config_u32(key, cfg) = i;
				return 0;
			}
		}
		snprintf(why, why_size, "one of:");
		for (uint32_t i = 0; key->choices[i] != NULL; i++) {
			size_t used = strlen(why);
			snprintf(why + used, why_size - used, " %s", key->choices[i]);
		}
		return -1;
	case CONFIG_TYPE_LOG_LEVEL: {
		enum log_level level;
		if (log_level_parse(literal, &level) == -1) {
			snprintf(why, why_size, "one of: err warning info debug");
			return -1;
		}
		*config_u32(key, cfg) = level;
		return 0;
	}
	case CONFIG_TYPE_DOMAIN:
		/* A node installed but not yet set up has no domain; it does
		 * not start until it has one (config_unready).  Domains are
		 * case-insensitive, so "NONE" is that same word: were it a
		 * domain it would print as none and read back as unset. */
		if (strcasecmp(literal, "none") == 0) {
			memset(config_str(key, cfg), 0, key->size);
			return 0;
		}
		if (!config_domain_valid(literal)) {
			snprintf(why, why_size,
				 "a DNS domain name such as example.com (letters, digits, hyphens "
				 "and dots)");
			return -1;
		}
		config_copy(config_str(key, cfg), key->size, literal);
		for (char *p = config_str(key, cfg); *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		return 0;
	case CONFIG_TYPE_USER:
		/* The portable user names of POSIX, as adduser takes them. */
		if (literal[0] == '\0' || literal[0] == '-' || strlen(literal) >= key->size ||
		    strspn(literal,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			strlen(literal)) {
			snprintf(why, why_size,
				 "a user name of 1 to %zu letters, digits, dots, underscores and "
				 "hyphens",
				 key->size - 1);
			return -1;
		}
		config_copy(config_str(key, cfg), key->size, literal);
		return 0;
	case CONFIG_TYPE_PATH_NONE:
		if (strcmp(literal, "none") == 0) {
			memset(config_str(key, cfg), 0, key->size);
			return 0;
		}
		/* fall through */
	case CONFIG_TYPE_PATH:
		return config_parse_path(config_str(key, cfg), key->size, literal, base_dir, why,
					 why_size);
	case CONFIG_TYPE_ADDRESSES:
		snprintf(why, why_size, "a list such as [any] or [192.0.2.10, \"2001:db8::10\"]");
		return -1;
	case CONFIG_TYPE_NAMES:
		snprintf(why, why_size, "a list such as [node1.example.com, node2.example.com]");
		return -1;
	case CONFIG_TYPE_NETWORKS:
		snprintf(why, why_size, "a list such as [192.0.2.0/24, \"2001:db8::/32\"]");
		return -1;
	case CONFIG_TYPE_HOST_PORT: {
		if (strcmp(literal, "none") == 0) {
			memset(config_str(key, cfg), 0, key->size);
			return 0;
		}
		const char *colon = strrchr(literal, ':');
		char *end = NULL;
		long port = colon ? strtol(colon + 1, &end, 10) : 0;
		bool bracketed = literal[0] == '[';
		bool host_ok =
		    colon != NULL && colon > literal &&
		    (bracketed ? colon[-1] == ']'
			       : memchr(literal, ':', (size_t)(colon - literal)) == NULL);
		if (!host_ok || end == NULL || *end != '\0' || port < 1 || port > 65535 ||
		    strlen(literal) >= key->size || strpbrk(literal, " /@") != NULL) {
			snprintf(why, why_size, "host:port (an IPv6 address in brackets), or none");
			return -1;
		}
		config_copy(config_str(key, cfg), key->size, literal);
		return 0;
	}
	}
	snprintf(why, why_size, "a known type");
	return -1;
}

/* The kernel's rule for interface names (dev_valid_name). */
static bool interface_name_valid(const char *name)
{
	size_t length = strlen(name);
	if (length == 0 || length >= IF_NAMESIZE || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	}
	return true;
}

static int config_append_address(const struct config_key *key, struct config *cfg,
				 const char *literal, char *why, size_t why_size)
{
	struct config_listen *listen =
	    (struct config_listen *)((char *)cfg + key->offset -
				     offsetof(struct config_listen, addresses));

	if (config_address_is_interface(literal) && !interface_name_valid(literal)) {
		snprintf(why, why_size, "an IPv4 or IPv6 address, an interface name, or any");
		return -1;
	}
	for (uint32_t i = 0; i < listen->address_count; i++) {
		if (strcmp(listen->addresses[i], literal) == 0) {
			snprintf(why, why_size, "each address once");
			return -1;
		}
	}
	if (listen->address_count == CONFIG_LISTEN_MAX) {
		snprintf(why, why_size, "at most %d addresses", CONFIG_LISTEN_MAX);
		return -1;
	}
	config_copy(listen->addresses[listen->address_count++], CONFIG_ADDRESS_MAX, literal);
	return 0;
}

/* A DNS name or a common name: printable, no spaces (a name with a control
 * character would reach the log). */
static int config_append_name(const struct config_key *key, struct config *cfg, const char *literal,
			      char *why, size_t why_size)
{
	struct config_names *names = (struct config_names *)((char *)cfg + key->offset);
	size_t length = strlen(literal);
	bool ok = length > 0 && length < CONFIG_DOMAIN_MAX;
	for (const char *p = literal; ok && *p != '\0'; p++)
		ok = *p > ' ' && *p < 0x7f;
	if (!ok) {
		snprintf(why, why_size, "a DNS name or common name (printable, no spaces)");
		return -1;
	}
	for (uint32_t i = 0; i < names->count; i++) {
		if (strcasecmp(names->names[i], literal) == 0) {
			snprintf(why, why_size, "each name once");
			return -1;
		}
	}
	if (names->count == CONFIG_PEER_NAMES_MAX) {
		snprintf(why, why_size, "at most %d names", CONFIG_PEER_NAMES_MAX);
		return -1;
	}
	config_copy(names->names[names->count++], CONFIG_DOMAIN_MAX, literal);
	return 0;
}

static int config_append_network(const struct config_key *key, struct config *cfg,
				 const char *literal, char *why, size_t why_size)
{
	struct config_networks *networks = (struct config_networks *)((char *)cfg + key->offset);
	struct netaddr_net net;
	if (netaddr_net_parse(literal, &net, why, why_size) == -1)
		return -1;
	for (uint32_t i = 0; i < networks->count; i++) {
		if (memcmp(&networks->nets[i], &net, sizeof(net)) == 0) {
			snprintf(why, why_size, "each network once");
			return -1;
		}
	}
	if (networks->count == CONFIG_NETWORKS_MAX) {
		snprintf(why, why_size, "at most %d networks", CONFIG_NETWORKS_MAX);
		return -1;
	}
	networks->nets[networks->count++] = net;
	return 0;
}

bool config_key_is_list(const struct config_key *key)
{
	return key->type == CONFIG_TYPE_ADDRESSES || key->type == CONFIG_TYPE_NAMES ||
	       key->type == CONFIG_TYPE_NETWORKS;
}

void config_key_clear(const struct config_key *key, struct config *cfg)
{
	if (key->type == CONFIG_TYPE_ADDRESSES) {
		cfg->listen.address_count = 0;
		memset(cfg->listen.addresses, 0, sizeof(cfg->listen.addresses));
	} else {
		memset((char *)cfg + key->offset, 0, key->size);
	}
}

int config_key_append(const struct config_key *key, struct config *cfg, const char *literal,
		      char *why, size_t why_size)
{
	if (key->type == CONFIG_TYPE_ADDRESSES)
		return config_append_address(key, cfg, literal, why, why_size);
	if (key->type == CONFIG_TYPE_NETWORKS)
		return config_append_network(key, cfg, literal, why, why_size);
	return config_append_name(key, cfg, literal, why, why_size);
}

static const struct config_key *config_find(const char *section, const char *name)
{
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *key = &config_keys[i];
		if (strcmp(key->name, name) == 0 && ((section == NULL && key->section == NULL) ||
						     (section != NULL && key->section != NULL &&
						      strcmp(section, key->section) == 0)))
			return key;
	}
	return NULL;
}

void config_validate(const struct config *cfg, const char *file, config_mark_fn *mark, void *arg,
		     struct config_errors *errors)
{
	unsigned line = 0, column = 0;
#define CONFIG_CHECK(condition, section, name, ...)                                                \
	do {                                                                                       \
		if (!(condition)) {                                                                \
			mark(config_find((section), (name)), &line, &column, arg);                 \
			config_errors_add(errors, file, line, column, __VA_ARGS__);                \
		}                                                                                  \
	} while (0)

	CONFIG_CHECK(cfg->listen.address_count > 0, "listen", "addresses",
		     "listen.addresses: at least one address, or any");
	bool any_with_others = false;
	for (uint32_t i = 0; i < cfg->listen.address_count; i++)
		any_with_others |=
		    cfg->listen.address_count > 1 && strcmp(cfg->listen.addresses[i], "any") == 0;
	CONFIG_CHECK(!any_with_others, "listen", "addresses",
		     "listen.addresses: 'any' already covers every address; list it alone");
	/* Checked here, where the node will run: a name that is not there now
	 * is far more often a typing error than an interface still to come. */
	for (uint32_t i = 0; i < cfg->listen.address_count; i++) {
		const char *entry = cfg->listen.addresses[i];
		CONFIG_CHECK(!config_address_is_interface(entry) || if_nametoindex(entry) != 0,
			     "listen", "addresses",
			     "listen.addresses: there is no interface named '%s' on this host",
			     entry);
	}
	CONFIG_CHECK(cfg->listen.client_port != cfg->listen.component_port, "listen",
		     "component_port", "listen.component_port: must differ from client_port (%u)",
		     cfg->listen.client_port);
	CONFIG_CHECK(cfg->listen.direct_tls_port != cfg->listen.client_port &&
			 cfg->listen.direct_tls_port != cfg->listen.component_port,
		     "listen", "direct_tls_port",
		     "listen.direct_tls_port: must differ from client_port and component_port");
	/* cluster.port carries heartbeats and votes, the next port stanzas. */
	uint32_t stanza_port = cfg->cluster.port + 1;
	CONFIG_CHECK(!cfg->cluster.enabled || (cfg->cluster.port < 65535 &&
					       cfg->cluster.port != cfg->listen.client_port &&
					       cfg->cluster.port != cfg->listen.component_port &&
					       cfg->cluster.port != cfg->listen.direct_tls_port &&
					       stanza_port != cfg->listen.client_port &&
					       stanza_port != cfg->listen.component_port &&
					       stanza_port != cfg->listen.direct_tls_port),
		     "cluster", "port",
		     "cluster.port: it and the port after it must differ from the XMPP ports");
	char cluster_address[CONFIG_CLUSTER_ADDRESS_MAX + 16];
	CONFIG_CHECK(!cfg->cluster.enabled ||
			 config_cluster_address(cfg, cluster_address, sizeof(cluster_address)) == 0,
		     "cluster", "address",
		     "cluster.address: required when listen.addresses holds no IP address (any "
		     "or interfaces only): the host:port other nodes reach this one at");
	CONFIG_CHECK(cfg->cluster.election_timeout_min_ms < cfg->cluster.election_timeout_max_ms,
		     "cluster", "election_timeout_max",
		     "cluster.election_timeout_max: must be above election_timeout_min (%ums)",
		     cfg->cluster.election_timeout_min_ms);
	/* Followers must hear several heartbeats within the shortest timeout, or a
	 * single late packet starts an election. */
	CONFIG_CHECK(cfg->cluster.heartbeat_interval_ms * 3 <= cfg->cluster.election_timeout_min_ms,
		     "cluster", "heartbeat_interval",
		     "cluster.heartbeat_interval: at most a third of election_timeout_min (%ums)",
		     cfg->cluster.election_timeout_min_ms);
	CONFIG_CHECK(cfg->limits.keepalive_interval_ms < cfg->limits.idle_timeout_ms, "limits",
		     "keepalive_interval",
		     "limits.keepalive_interval: must be shorter than idle_timeout");
	/* Otherwise a stanza the listener accepts could reach nobody at all. */
	CONFIG_CHECK(cfg->limits.max_fanout_bytes >= cfg->limits.max_stanza_size, "limits",
		     "max_fanout_bytes",
		     "limits.max_fanout_bytes: must be at least max_stanza_size (%u bytes)",
		     cfg->limits.max_stanza_size);
	/* A session must be able to hold the largest stanza it may be sent. */
	CONFIG_CHECK(cfg->sm.max_unacked_bytes >= cfg->limits.max_stanza_size, "stream_management",
		     "max_unacked_bytes",
		     "stream_management.max_unacked_bytes: must be at least limits.max_stanza_size "
		     "(%u bytes)",
		     cfg->limits.max_stanza_size);
#undef CONFIG_CHECK
}

static void config_print_string(FILE *out, const char *value)
{
	fputc('"', out);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

static void config_print_value(const struct config_key *key, const struct config *cfg, FILE *out)
{
	struct config *mutable_cfg = (struct config *)cfg;
	uint32_t number = *config_u32(key, mutable_cfg);
	const char *text = config_str(key, mutable_cfg);
	char formatted[32];

	switch (key->type) {
	case CONFIG_TYPE_INT_NONE:
		if (number == CONFIG_NONE) {
			fputs("none", out);
			return;
		}
		/* fall through */
	case CONFIG_TYPE_INT:
		fprintf(out, "%" PRIu32, number);
		return;
	case CONFIG_TYPE_BOOL:
		fputs(number ? "true" : "false", out);
		return;
	case CONFIG_TYPE_SIZE:
		config_format_size(number, formatted, sizeof(formatted));
		fputs(formatted, out);
		return;
	case CONFIG_TYPE_DURATION:
		config_format_duration(number, formatted, sizeof(formatted));
		fputs(formatted, out);
		return;
	case CONFIG_TYPE_ENUM:
		config_print_string(out, key->choices[number]);
		return;
	case CONFIG_TYPE_LOG_LEVEL:
		fputs(log_level_name((enum log_level)number), out);
		return;
	case CONFIG_TYPE_PATH_NONE:
	case CONFIG_TYPE_HOST_PORT:
	case CONFIG_TYPE_DOMAIN:
		if (text[0] == '\0') {
			fputs("none", out);
			return;
		}
		/* fall through */
	case CONFIG_TYPE_PATH:
	case CONFIG_TYPE_USER:
		config_print_string(out, text);
		return;
	case CONFIG_TYPE_ADDRESSES:
		fputc('[', out);
		for (uint32_t i = 0; i < cfg->listen.address_count; i++) {
			if (i > 0)
				fputs(", ", out);
			config_print_string(out, cfg->listen.addresses[i]);
		}
		fputc(']', out);
		return;
	case CONFIG_TYPE_NAMES: {
		const struct config_names *names =
		    (const struct config_names *)((const char *)cfg + key->offset);
		fputc('[', out);
		for (uint32_t i = 0; i < names->count; i++) {
			if (i > 0)
				fputs(", ", out);
			config_print_string(out, names->names[i]);
		}
		fputc(']', out);
		return;
	}
	case CONFIG_TYPE_NETWORKS: {
		const struct config_networks *networks =
		    (const struct config_networks *)((const char *)cfg + key->offset);
		fputc('[', out);
		for (uint32_t i = 0; i < networks->count; i++) {
			char text[NETADDR_NET_TEXT_MAX];
			netaddr_net_format(&networks->nets[i], text, sizeof(text));
			if (i > 0)
				fputs(", ", out);
			config_print_string(out, text);
		}
		fputc(']', out);
		return;
	}
	}
}

void config_print(const struct config *cfg, FILE *out)
{
	fprintf(out, "# rxmpp configuration, canonical form (every key, with its value)\n");
	for (size_t i = 0; i < config_key_count; i++) {
		if (config_keys[i].section != NULL)
			continue;
		fprintf(out, "%s: ", config_keys[i].name);
		config_print_value(&config_keys[i], cfg, out);
		fputc('\n', out);
	}
	for (const char *const *section = config_sections; *section != NULL; section++) {
		fprintf(out, "%s:\n", *section);
		for (size_t i = 0; i < config_key_count; i++) {
			const struct config_key *key = &config_keys[i];
			if (key->section == NULL || strcmp(key->section, *section) != 0)
				continue;
			fprintf(out, "  %s: ", key->name);
			config_print_value(key, cfg, out);
			fputc('\n', out);
		}
	}
}

size_t config_cluster_wide(const struct config *cfg, struct config_setting *out)
{
	/* Sorted: the state machine takes them sorted. */
	static const char *const wide[CONFIG_CLUSTER_WIDE_MAX] = {
	    "callbridge_conflict",
	    "cluster.election_timeout_max",
	    "cluster.election_timeout_min",
	    "cluster.heartbeat_interval",
	    "domain",
	    "limits.max_resources_per_user",
	    "limits.max_stanza_size",
	    "stream_management.enabled",
	    "stream_management.resume_timeout",
	};
	size_t n = 0;
	for (size_t w = 0; w < CONFIG_CLUSTER_WIDE_MAX; w++) {
		for (size_t i = 0; i < config_key_count; i++) {
			const struct config_key *key = &config_keys[i];
			char name[64];
			snprintf(name, sizeof(name), "%s%s%s", key->section ? key->section : "",
				 key->section ? "." : "", key->name);
			if (strcmp(name, wide[w]) != 0)
				continue;
			char *text = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&text, &len);
			if (f == NULL)
				break;
			config_print_value(key, cfg, f);
			fclose(f);
			snprintf(out[n].key, sizeof(out[n].key), "%s", name);
			snprintf(out[n].value, sizeof(out[n].value), "%s", text ? text : "");
			free(text);
			n++;
			break;
		}
	}
	return n;
}

const char *config_unready(const struct config *cfg)
{
	if (cfg->domain[0] == '\0')
		return "domain: not set; the XMPP domain this service is for is needed before "
		       "it starts (rxmppctl domain NAME)";
	return NULL;
}
