/* SPDX-License-Identifier: MIT */
/* Comment-keeping edits of the configuration; see config_edit.h. */
#include "config_edit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "config_yaml.h"

struct span {
	bool found;
	size_t start, end; /* byte range of the value */
};

struct place {
	struct span value; /* the key's value, when the key exists */
	bool section_found;
	bool section_flow;	     /* written as {a: 1}: no insertion there */
	size_t section_after;	     /* end of the section's last value */
	unsigned section_key_column; /* indentation of the section's keys */
	size_t top_after;	     /* end of the top level's last value */
	bool top_flow;
};

/* Skips a whole value (nested or not); returns its end offset.  A block
 * collection's end event marks where the next key begins (its indentation
 * included), so its end is that of the last event inside it. */
static bool skip_value(yaml_parser_t *p, yaml_event_t *e, size_t *end)
{
	int depth = 0;
	bool block = (e->type == YAML_SEQUENCE_START_EVENT &&
		      e->data.sequence_start.style == YAML_BLOCK_SEQUENCE_STYLE) ||
		     (e->type == YAML_MAPPING_START_EVENT &&
		      e->data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE);
	for (;;) {
		if (e->type == YAML_MAPPING_START_EVENT || e->type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (e->type == YAML_MAPPING_END_EVENT || e->type == YAML_SEQUENCE_END_EVENT)
			depth--;
		if (!(block && depth == 0))
			*end = e->end_mark.index;
		yaml_event_delete(e);
		if (depth == 0)
			return true;
		if (!yaml_parser_parse(p, e))
			return false;
	}
}

/* Walks the mapping whose start event was consumed, noting where `key` is. */
static bool walk_mapping(yaml_parser_t *p, const char *key, const char *section,
			 struct place *place, bool top, char *why, size_t why_size)
{
	yaml_event_t e;
	for (;;) {
		if (!yaml_parser_parse(p, &e)) {
			snprintf(why, why_size, "the file is not valid YAML (line %zu)",
				 p->problem_mark.line + 1);
			return false;
		}
		if (e.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&e);
			return true;
		}
		if (e.type != YAML_SCALAR_EVENT) {
			size_t end;
			if (!skip_value(p, &e, &end) || !yaml_parser_parse(p, &e) ||
			    !skip_value(p, &e, &end))
				return false;
			continue;
		}
		char name[128];
		snprintf(name, sizeof(name), "%s", (const char *)e.data.scalar.value);
		unsigned column = (unsigned)e.start_mark.column;
		yaml_event_delete(&e);
		if (!yaml_parser_parse(p, &e))
			return false;
		bool is_section = top && section != NULL && strcmp(name, section) == 0;
		bool is_key = strcmp(name, key) == 0 && (top ? section == NULL : true);
		if (!top && !place->section_key_column)
			place->section_key_column = column;
		if (is_section && e.type == YAML_MAPPING_START_EVENT) {
			place->section_found = true;
			place->section_flow = e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
			yaml_event_delete(&e);
			if (!walk_mapping(p, key, section, place, false, why, why_size))
				return false;
			/* The section's end: its last value (set while walking). */
			place->top_after = place->section_after;
			continue;
		}
		bool list = e.type == YAML_SEQUENCE_START_EVENT;
		if (is_key && e.type != YAML_SCALAR_EVENT && !list) {
			snprintf(why, why_size,
				 "%s%s%s is not a single value here; edit it by hand",
				 section ? section : "", section ? "." : "", key);
			yaml_event_delete(&e);
			return false;
		}
		size_t start = e.start_mark.index, end;
		if (!skip_value(p, &e, &end))
			return false;
		/* A list is replaced whole, from its first item to its last. */
		if (is_key)
			place->value = (struct span){true, start, end};
		if (top)
			place->top_after = end;
		else
			place->section_after = end;
	}
}

/* The offset just past the end of the line that holds `offset`. */
static size_t line_end(const char *text, size_t len, size_t offset)
{
	while (offset < len && text[offset] != '\n')
		offset++;
	return offset < len ? offset + 1 : len;
}

int config_edit_text(const char *text, size_t len, const char *section, const char *key,
		     const char *literal, char **out, size_t *out_len, char *why, size_t why_size)
{
	struct place place = {0};
	yaml_parser_t p;
	yaml_event_t e;
	bool ok = yaml_parser_initialize(&p);
	if (!ok) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	/* STREAM_START, DOCUMENT_START, then the top-level mapping. */
	for (int i = 0; ok && i < 3; i++) {
		ok = yaml_parser_parse(&p, &e);
		if (ok && i == 2 && e.type != YAML_MAPPING_START_EVENT) {
			snprintf(why, why_size, "the file has no top-level mapping of keys");
			ok = false;
		}
		if (ok && i == 2)
			place.top_flow = e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
		if (ok)
			yaml_event_delete(&e);
		else if (why[0] == '\0')
			snprintf(why, why_size, "the file is not valid YAML");
	}
	if (ok)
		ok = walk_mapping(&p, key, section, &place, true, why, why_size);
	yaml_parser_delete(&p);
	if (!ok)
		return -1;

	struct buf b;
	buf_init(&b, len + 4096);
	/* The text may be the call-bridges file, secrets and all. */
	buf_set_sensitive(&b);
	if (place.value.found) {
		buf_append(&b, text, place.value.start);
		buf_append(&b, literal, strlen(literal));
		buf_append(&b, text + place.value.end, len - place.value.end);
	} else if (section != NULL && place.section_found) {
		if (place.section_flow) {
			snprintf(why, why_size,
				 "section %s is written inline ({...}); edit it by hand", section);
			buf_free(&b);
			return -1;
		}
		size_t at = line_end(text, len, place.section_after);
		unsigned indent = place.section_key_column ? place.section_key_column : 2;
		buf_append(&b, text, at);
		if (at > 0 && text[at - 1] != '\n')
			buf_append(&b, "\n", 1);
		for (unsigned i = 0; i < indent; i++)
			buf_append(&b, " ", 1);
		buf_append(&b, key, strlen(key));
		buf_append(&b, ": ", 2);
		buf_append(&b, literal, strlen(literal));
		buf_append(&b, "\n", 1);
		buf_append(&b, text + at, len - at);
	} else {
		if (place.top_flow) {
			snprintf(why, why_size,
				 "the file is written inline ({...}); edit it by hand");
			buf_free(&b);
			return -1;
		}
		/* A missing top-level key or section goes at the end of the file. */
		buf_append(&b, text, len);
		if (len > 0 && text[len - 1] != '\n')
			buf_append(&b, "\n", 1);
		if (section != NULL) {
			buf_append(&b, section, strlen(section));
			buf_append(&b, ":\n  ", 4);
		}
		buf_append(&b, key, strlen(key));
		buf_append(&b, ": ", 2);
		buf_append(&b, literal, strlen(literal));
		buf_append(&b, "\n", 1);
	}
	*out_len = buf_len(&b);
	*out = malloc(*out_len + 1);
	if (*out == NULL) {
		buf_free(&b);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	memcpy(*out, buf_head(&b), *out_len);
	(*out)[*out_len] = '\0';
	buf_free(&b);
	return 0;
}

int config_edit_quote(const char *value, char *out, size_t size)
{
	size_t n = 0;
	if (size < 3)
		return -1;
	out[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
		/* The longest escape, \xNN, and the closing quote must fit. */
		if (n + 6 > size)
			return -1;
		if (*p == '"' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", *p);
		} else {
			out[n++] = (char)*p;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

int config_edit_remove_text(const char *text, size_t len, const char *key, char **out,
			    size_t *out_len, char *why, size_t why_size)
{
	yaml_parser_t p;
	yaml_event_t e;
	size_t from = 0, to = 0;
	bool found = false, ok = yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (int i = 0; ok && i < 3; i++) {
		ok = yaml_parser_parse(&p, &e);
		if (ok && i == 2 && e.type != YAML_MAPPING_START_EVENT)
			ok = false;
		if (ok)
			yaml_event_delete(&e);
	}
	while (ok && !found) {
		ok = yaml_parser_parse(&p, &e);
		if (!ok || e.type == YAML_MAPPING_END_EVENT) {
			if (ok)
				yaml_event_delete(&e);
			break;
		}
		bool match = e.type == YAML_SCALAR_EVENT &&
			     strcmp((const char *)e.data.scalar.value, key) == 0;
		size_t key_start = e.start_mark.index, end;
		ok = skip_value(&p, &e, &end) && yaml_parser_parse(&p, &e) &&
		     skip_value(&p, &e, &end);
		if (ok && match) {
			/* The whole lines of the entry, from its key to its value's end. */
			from = key_start;
			while (from > 0 && text[from - 1] != '\n')
				from--;
			to = line_end(text, len, end > 0 ? end - 1 : 0);
			found = true;
		}
	}
	yaml_parser_delete(&p);
	if (!ok) {
		snprintf(why, why_size, "the file is not valid YAML");
		return -1;
	}
	if (!found) {
		snprintf(why, why_size, "no entry %s", key);
		return -1;
	}
	*out_len = len - (to - from);
	*out = malloc(*out_len + 1);
	if (*out == NULL) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	memcpy(*out, text, from);
	memcpy(*out + from, text + to, len - to);
	(*out)[*out_len] = '\0';
	return 0;
}

int config_edit_file(const char *path, const char *section, const char *key, const char *literal,
		     struct config_errors *errors)
{
	struct config_edit edit = {section, key, literal};
	return config_edit_file_many(path, &edit, 1, errors);
}

int config_edit_file_many(const char *path, const struct config_edit *edits, size_t count,
			  struct config_errors *errors)
{
	char why[512] = "", *text = NULL, *edited = NULL;
	size_t len, edited_len;
	static struct config check;
	memset(errors, 0, sizeof(*errors));
	int lock = fileio_lock(path, why, sizeof(why));
	if (lock == -1) {
		config_errors_add(errors, path, 0, 0, "%s", why);
		return -1;
	}
	int rc = -1;
	if (fileio_read_all(path, CONFIG_FILE_MAX, &text, &len, why, sizeof(why)) == -1) {
		config_errors_add(errors, path, 0, 0, "%s", why);
		goto done;
	}
	/* Every edit on the result of the one before; one validation, one write. */
	for (size_t i = 0; i < count; i++) {
		if (config_edit_text(text, len, edits[i].section, edits[i].key, edits[i].literal,
				     &edited, &edited_len, why, sizeof(why)) == -1) {
			config_errors_add(errors, path, 0, 0, "%s", why);
			goto done;
		}
		free(text);
		text = edited;
		len = edited_len;
		edited = NULL;
	}
	edited = text;
	edited_len = len;
	text = NULL;
	/* The edited file must be valid before it replaces the old one. */
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (config_parse(path, edited, edited_len, dir, &check, errors) == -1)
		goto done;
	struct stat st;
	mode_t mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0644;
	if (fileio_write_atomic(path, edited, edited_len, mode, why, sizeof(why)) == -1) {
		config_errors_add(errors, path, 0, 0, "%s", why);
		goto done;
	}
	rc = 0;
done:
	free(text);
	free(edited);
	close(lock);
	return rc;
}
