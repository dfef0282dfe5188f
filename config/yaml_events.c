/* SPDX-License-Identifier: MIT */
/* YAML event reading with positioned errors; see yaml_events.h. */
#include "yaml_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int yaml_events_open(struct yaml_events *y, const char *name, const char *text, size_t len,
		     struct config_errors *errors)
{
	memset(y, 0, sizeof(*y));
	y->name = name;
	y->errors = errors;
	if (!yaml_parser_initialize(&y->parser)) {
		config_errors_add(errors, name, 0, 0, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&y->parser, (const unsigned char *)text, len);
	return 0;
}

void yaml_events_close(struct yaml_events *y)
{
	yaml_parser_delete(&y->parser);
}

void yaml_events_error(struct yaml_events *y, const yaml_mark_t *mark, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	config_errors_add(y->errors, y->name, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
			  "%s", text);
}

bool yaml_events_next(struct yaml_events *y, yaml_event_t *event)
{
	if (y->failed)
		return false;
	if (!yaml_parser_parse(&y->parser, event)) {
		const yaml_mark_t *mark = &y->parser.problem_mark;
		if (y->parser.context != NULL)
			yaml_events_error(y, mark, "YAML syntax error: %s %s", y->parser.problem,
					  y->parser.context);
		else
			yaml_events_error(y, mark, "YAML syntax error: %s",
					  y->parser.problem ? y->parser.problem
							    : "unreadable input");
		y->failed = true;
		return false;
	}
	if (event->type == YAML_ALIAS_EVENT) {
		yaml_events_error(y, &event->start_mark, "YAML aliases (*%s) are not allowed here",
				  (const char *)event->data.alias.anchor);
		yaml_event_delete(event);
		y->failed = true;
		return false;
	}
	return true;
}

bool yaml_events_skip(struct yaml_events *y, yaml_event_t *event)
{
	int depth = 0;
	do {
		if (event->type == YAML_MAPPING_START_EVENT ||
		    event->type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (event->type == YAML_MAPPING_END_EVENT ||
			 event->type == YAML_SEQUENCE_END_EVENT)
			depth--;
		yaml_event_delete(event);
		if (depth == 0)
			return true;
	} while (yaml_events_next(y, event));
	return false;
}
