/* SPDX-License-Identifier: MIT */
/*
 * Reading YAML as libyaml's event stream, for the configuration and the
 * call-bridges file alike: every error goes into a config_errors list with
 * its file:line:column, a syntax error stops the reading, and aliases are
 * refused (no file of ours needs them, and they can multiply a small file
 * into a huge one).
 */
#ifndef RXMPP_YAML_EVENTS_H
#define RXMPP_YAML_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "config.h"

struct yaml_events {
	yaml_parser_t parser;
	const char *name;
	struct config_errors *errors;
	bool failed; /* a syntax error or an alias: nothing more is read */
};

int yaml_events_open(struct yaml_events *y, const char *name, const char *text, size_t len,
		     struct config_errors *errors);
void yaml_events_close(struct yaml_events *y);
void yaml_events_error(struct yaml_events *y, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The next event; false (the error recorded) when there is none to read. */
bool yaml_events_next(struct yaml_events *y, yaml_event_t *event);
/* Skips the value that starts with `event` (already fetched), however nested. */
bool yaml_events_skip(struct yaml_events *y, yaml_event_t *event);

#endif
