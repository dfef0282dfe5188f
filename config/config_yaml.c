/* SPDX-License-Identifier: MIT */
/*
 * The YAML reader for the configuration: walks libyaml's event stream (the
 * events carry the line and column of every key and value), fills struct
 * config through the schema table in config.c and collects every error with
 * its position instead of stopping at the first.  Aliases are refused: a
 * configuration has no use for them and they can multiply a small file into
 * a huge one.
 */
#include "config_yaml.h"
#include "yaml_events.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

struct config_reader {
	struct yaml_events y;
	const char *base_dir;
	struct config *cfg;
	/* Where each key of config_keys was set, for cross-key messages. */
	unsigned key_line[CONFIG_KEYS_MAX];
	unsigned key_column[CONFIG_KEYS_MAX];
};

static const char *event_kind(const yaml_event_t *event)
{
	switch (event->type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	default:
		return "a single value";
	}
}

static void reader_value_error(struct config_reader *r, const struct config_key *key,
			       const yaml_event_t *event, const char *expected)
{
	char where[64];
	snprintf(where, sizeof(where), "%s%s%s", key->section ? key->section : "",
		 key->section ? "." : "", key->name);
	if (event->type == YAML_SCALAR_EVENT) {
		const char *value = (const char *)event->data.scalar.value;
		yaml_events_error(&r->y, &event->start_mark, "%s: expected %s, got '%.40s%s'",
				  where, expected, value, strlen(value) > 40 ? "..." : "");
	} else {
		yaml_events_error(&r->y, &event->start_mark, "%s: expected %s, got %s", where,
				  expected, event_kind(event));
	}
}

static bool reader_list(struct config_reader *r, const struct config_key *key, yaml_event_t *event)
{
	char why[128];
	config_key_clear(key, r->cfg);
	if (event->type == YAML_SCALAR_EVENT) {
		/* A single entry is a list of one. */
		if (config_key_append(key, r->cfg, (const char *)event->data.scalar.value, why,
				      sizeof(why)) == -1)
			reader_value_error(r, key, event, why);
		yaml_event_delete(event);
		return true;
	}
	if (event->type != YAML_SEQUENCE_START_EVENT) {
		reader_value_error(r, key, event, "a list");
		return yaml_events_skip(&r->y, event);
	}
	yaml_event_delete(event);
	for (;;) {
		if (!yaml_events_next(&r->y, event))
			return false;
		if (event->type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(event);
			return true;
		}
		if (event->type != YAML_SCALAR_EVENT) {
			reader_value_error(r, key, event, "a single entry");
			if (!yaml_events_skip(&r->y, event))
				return false;
			continue;
		}
		if (config_key_append(key, r->cfg, (const char *)event->data.scalar.value, why,
				      sizeof(why)) == -1)
			reader_value_error(r, key, event, why);
		yaml_event_delete(event);
	}
}

/* Reads the value of `key`, whose name event has been consumed. */
static bool reader_value(struct config_reader *r, const struct config_key *key)
{
	yaml_event_t event;
	char why[160];

	if (!yaml_events_next(&r->y, &event))
		return false;
	if (config_key_is_list(key))
		return reader_list(r, key, &event);
	if (event.type != YAML_SCALAR_EVENT) {
		reader_value_error(r, key, &event, "a single value");
		return yaml_events_skip(&r->y, &event);
	}
	const char *literal = (const char *)event.data.scalar.value;
	if (literal[0] == '\0' && event.data.scalar.plain_implicit)
		reader_value_error(r, key, &event, "a value");
	else if (config_key_parse(key, r->cfg, literal, r->base_dir, why, sizeof(why)) == -1)
		reader_value_error(r, key, &event, why);
	yaml_event_delete(&event);
	return true;
}

static const struct config_key *reader_find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *key = &config_keys[i];
		bool same_section =
		    section == NULL ? key->section == NULL
				    : key->section != NULL && strcmp(key->section, section) == 0;
		if (same_section && strcmp(key->name, name) == 0)
			return key;
	}
	return NULL;
}

static bool is_section(const char *name)
{
	for (const char *const *s = config_sections; *s != NULL; s++) {
		if (strcmp(*s, name) == 0)
			return true;
	}
	return false;
}

static void reader_unknown_key(struct config_reader *r, const char *section,
			       const yaml_event_t *event)
{
	char known[256] = "";
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *key = &config_keys[i];
		bool in_section = section == NULL
				      ? key->section == NULL
				      : key->section && strcmp(key->section, section) == 0;
		if (!in_section)
			continue;
		size_t used = strlen(known);
		snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "", key->name);
	}
	if (section == NULL) {
		for (const char *const *s = config_sections; *s != NULL; s++) {
			size_t used = strlen(known);
			snprintf(known + used, sizeof(known) - used, ", %s", *s);
		}
	}
	yaml_events_error(&r->y, &event->start_mark, "unknown key '%.40s'%s%s; expected one of: %s",
			  (const char *)event->data.scalar.value, section ? " in section " : "",
			  section ? section : "", known);
}

/* Reads a mapping of keys (the top level, or a section); the MAPPING_START
 * event has been consumed. */
static bool reader_mapping(struct config_reader *r, const char *section)
{
	bool seen[CONFIG_KEYS_MAX] = {false};
	bool seen_sections[CONFIG_SECTION_COUNT] = {false};
	yaml_event_t event;

	for (;;) {
		if (!yaml_events_next(&r->y, &event))
			return false;
		if (event.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&event);
			return true;
		}
		if (event.type != YAML_SCALAR_EVENT) {
			yaml_events_error(&r->y, &event.start_mark, "expected a key name, got %s",
					  event_kind(&event));
			if (!yaml_events_skip(&r->y, &event) || !yaml_events_next(&r->y, &event) ||
			    !yaml_events_skip(&r->y, &event))
				return false;
			continue;
		}
		char name[64];
		snprintf(name, sizeof(name), "%s", (const char *)event.data.scalar.value);
		yaml_mark_t mark = event.start_mark;
		const struct config_key *key = reader_find_key(section, name);

		if (section == NULL && is_section(name)) {
			unsigned index = 0;
			while (strcmp(config_sections[index], name) != 0)
				index++;
			if (seen_sections[index])
				yaml_events_error(&r->y, &mark, "section '%s' appears twice", name);
			seen_sections[index] = true;
			yaml_event_delete(&event);
			if (!yaml_events_next(&r->y, &event))
				return false;
			if (event.type != YAML_MAPPING_START_EVENT) {
				yaml_events_error(
				    &r->y, &event.start_mark,
				    "%s: expected a mapping of keys (indented below '%s:'), "
				    "got %s",
				    name, name, event_kind(&event));
				if (!yaml_events_skip(&r->y, &event))
					return false;
				continue;
			}
			yaml_event_delete(&event);
			if (!reader_mapping(r, config_sections[index]))
				return false;
			continue;
		}
		if (key == NULL) {
			reader_unknown_key(r, section, &event);
			yaml_event_delete(&event);
			if (!yaml_events_next(&r->y, &event) || !yaml_events_skip(&r->y, &event))
				return false;
			continue;
		}
		size_t index = (size_t)(key - config_keys);
		if (seen[index])
			yaml_events_error(&r->y, &mark, "%s%s%s appears twice",
					  section ? section : "", section ? "." : "", name);
		seen[index] = true;
		r->key_line[index] = (unsigned)mark.line + 1;
		r->key_column[index] = (unsigned)mark.column + 1;
		yaml_event_delete(&event);
		if (!reader_value(r, key))
			return false;
	}
}

static void reader_mark(const struct config_key *key, unsigned *line, unsigned *column, void *arg)
{
	struct config_reader *r = arg;
	size_t index = (size_t)(key - config_keys);
	*line = r->key_line[index];
	*column = r->key_column[index];
}

static bool reader_document(struct config_reader *r)
{
	yaml_event_t event;

	if (!yaml_events_next(&r->y, &event))
		return false;
	yaml_event_delete(&event); /* STREAM_START */
	if (!yaml_events_next(&r->y, &event))
		return false;
	if (event.type == YAML_STREAM_END_EVENT) {
		yaml_events_error(&r->y, &event.start_mark,
				  "the file is empty; at least 'domain: example.com' is required");
		yaml_event_delete(&event);
		return false;
	}
	yaml_event_delete(&event); /* DOCUMENT_START */
	if (!yaml_events_next(&r->y, &event))
		return false;
	if (event.type != YAML_MAPPING_START_EVENT) {
		yaml_events_error(&r->y, &event.start_mark,
				  "expected a mapping of keys such as 'domain: "
				  "example.com' at the top level, got %s",
				  event_kind(&event));
		yaml_event_delete(&event);
		return false;
	}
	yaml_event_delete(&event);
	if (!reader_mapping(r, NULL))
		return false;
	if (!yaml_events_next(&r->y, &event))
		return false;
	yaml_event_delete(&event); /* DOCUMENT_END */
	if (!yaml_events_next(&r->y, &event))
		return false;
	if (event.type != YAML_STREAM_END_EVENT)
		yaml_events_error(
		    &r->y, &event.start_mark,
		    "a second YAML document ('---'); the configuration is one document");
	yaml_event_delete(&event);
	return true;
}

int config_parse(const char *name, const char *text, size_t len, const char *base_dir,
		 struct config *cfg, struct config_errors *errors)
{
	struct config_reader r;

	memset(&r, 0, sizeof(r));
	memset(errors, 0, sizeof(*errors));
	config_set_defaults(cfg);
	r.base_dir = base_dir;
	r.cfg = cfg;
	if (yaml_events_open(&r.y, name, text, len, errors) == -1)
		return -1;
	bool complete = reader_document(&r);
	yaml_events_close(&r.y);
	/* Checks across keys would only echo a value already reported as bad. */
	if (complete && errors->count == 0)
		config_validate(cfg, name, reader_mark, &r, errors);
	return errors->count == 0 ? 0 : -1;
}

int config_load(const char *path, struct config *cfg, struct config_errors *errors)
{
	memset(errors, 0, sizeof(*errors));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		config_errors_add(errors, path, 0, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
		config_errors_add(errors, path, 0, 0, "not a regular file of at most %d bytes",
				  CONFIG_FILE_MAX);
		close(fd);
		return -1;
	}
	char *text = malloc((size_t)st.st_size + 1);
	size_t len = 0;
	ssize_t n = 0;
	while (text != NULL && len < (size_t)st.st_size &&
	       (n = read(fd, text + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	int read_errno = errno;
	close(fd);
	if (text == NULL || n == -1) {
		config_errors_add(errors, path, 0, 0, "cannot read: %s", strerror(read_errno));
		free(text);
		return -1;
	}

	char dir_buf[PATH_MAX];
	snprintf(dir_buf, sizeof(dir_buf), "%s", path);
	char resolved[PATH_MAX];
	const char *dir = dirname(dir_buf);
	if (realpath(dir, resolved) != NULL)
		dir = resolved;
	int rc = config_parse(path, text, len, dir, cfg, errors);
	free(text);
	return rc;
}
