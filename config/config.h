/* SPDX-License-Identifier: MIT */
/*
 * The configuration schema (schema version 1) over the structure in
 * common/config.h: every key's type, limits and default, parsing of
 * literals, validation and canonical printing.  Only the supervisor and
 * rxmppctl use it (with config_yaml.c).  The schema table (config_keys)
 * drives parsing, defaults, canonical printing and the documentation test.
 */
#ifndef RXMPP_CONFIG_H
#define RXMPP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/config.h"

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
	CONFIG_TYPE_NAMES,     /* list of DNS names or certificate common names */
	CONFIG_TYPE_USER,      /* a system user name */
	CONFIG_TYPE_NETWORKS,  /* list of IPv4 or IPv6 networks (CIDR) or addresses */
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
#define CONFIG_SECTION_COUNT 6
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
/* Lists (CONFIG_TYPE_ADDRESSES, CONFIG_TYPE_NAMES, CONFIG_TYPE_NETWORKS): empties one, and adds
 * one entry to one; same contract. */
bool config_key_is_list(const struct config_key *key);
void config_key_clear(const struct config_key *key, struct config *cfg);
int config_key_append(const struct config_key *key, struct config *cfg, const char *literal,
		      char *why, size_t why_size);

/* Checks that only make sense across keys.  `mark` gives the position of a
 * key (line, column) for the message, or zeros when unknown. */
typedef void config_mark_fn(const struct config_key *key, unsigned *line, unsigned *column,
			    void *arg);
void config_validate(const struct config *cfg, const char *file, config_mark_fn *mark, void *arg,
		     struct config_errors *errors);

/* Prints every key with its value; the output parses back to the same struct. */
void config_print(const struct config *cfg, FILE *out);

/* The keys that must be the same on every member of a cluster (README "The
 * cluster's state"): the domain; the call-bridge policy a bridge meets on
 * whichever node it fails over to; the limits a stanza or a user's
 * resources meet on any node; stream management, whose sessions resume
 * across nodes; the election timing, which Raft needs alike everywhere.
 * Everything else is the node's own.  Each with its canonical value (as
 * config_print writes it), in the order of the list. */
#define CONFIG_CLUSTER_WIDE_MAX 9
struct config_setting {
	char key[64];
	char value[256];
};
size_t config_cluster_wide(const struct config *cfg, struct config_setting *out);

#endif
