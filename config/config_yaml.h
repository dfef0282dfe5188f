/* SPDX-License-Identifier: MIT */
/*
 * Reading the YAML configuration file into struct config (libyaml).
 * Only the supervisor and rxmppctl link this.
 */
#ifndef RXMPP_CONFIG_YAML_H
#define RXMPP_CONFIG_YAML_H

#include <stddef.h>

#include "config.h"

/* The largest configuration file read; anything bigger is a mistake. */
#define CONFIG_FILE_MAX (1024 * 1024)

/*
 * Loads and validates `path`.  Returns 0, or -1 with every problem found in
 * `errors` as "path:line:column: message".  On -1, *cfg holds every value
 * that was read correctly and defaults elsewhere: good enough for rxmppctl
 * to find the control socket, never to run on, so the daemon loads into a
 * scratch struct and keeps its old configuration.
 */
int config_load(const char *path, struct config *cfg, struct config_errors *errors);

/* The same for text in memory; `name` is used in messages and relative paths
 * are taken from `base_dir`. */
int config_parse(const char *name, const char *text, size_t len, const char *base_dir,
		 struct config *cfg, struct config_errors *errors);

#endif
