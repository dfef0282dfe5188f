/* SPDX-License-Identifier: MIT */
/* The call-bridges file; see callbridges.h.  Runs in the supervisor. */
#include "callbridges.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/jid.h"
#include "common/jidprep.h"
#include "common/log.h"
#include "common/table.h"
#include "yaml_events.h"

struct reader {
	struct yaml_events y;
};

/* The array grows by doubling: growing by one entry copied (and wiped)
 * the whole array each time, quadratic in the file's length. */
static int add(struct callbridges *out, const struct proto_callbridge *b)
{
	if (out->count == out->capacity) {
		size_t capacity = out->capacity == 0 ? 8 : 2 * out->capacity;
		struct proto_callbridge *items = buf_wipe_realloc(
		    out->items, out->capacity * sizeof(*items), capacity * sizeof(*items));
		if (items == NULL)
			return -1;
		out->items = items;
		out->capacity = capacity;
	}
	out->items[out->count++] = *b;
	return 0;
}

/* The value of one bridge: a secret, or a mapping with secret and address. */
static bool read_bridge(struct reader *r, struct proto_callbridge *b, const char *domain,
			const yaml_mark_t *name_mark)
{
	yaml_event_t e;
	bool have_secret = false, have_address = false;
	snprintf(b->address, sizeof(b->address), "%s.%s", b->name, domain);
	if (!yaml_events_next(&r->y, &e))
		return false;
	if (e.type == YAML_SCALAR_EVENT) {
		const char *secret = (const char *)e.data.scalar.value;
		if (!callbridge_secret_valid(secret))
			yaml_events_error(&r->y, &e.start_mark,
					  "%s: the secret must be %d to 255 characters, without "
					  "control characters or a space at either end",
					  b->name, CALLBRIDGE_SECRET_MIN);
		snprintf(b->secret, sizeof(b->secret), "%s", secret);
		/* libyaml frees its copy without wiping it. */
		OPENSSL_cleanse(e.data.scalar.value, e.data.scalar.length);
		yaml_event_delete(&e);
		return true;
	}
	if (e.type != YAML_MAPPING_START_EVENT) {
		yaml_events_error(&r->y, &e.start_mark,
				  "%s: expected a secret or a mapping with secret and address",
				  b->name);
		yaml_event_delete(&e);
		r->y.failed = true;
		return false;
	}
	yaml_event_delete(&e);
	for (;;) {
		if (!yaml_events_next(&r->y, &e))
			return false;
		if (e.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		char key[32];
		yaml_mark_t key_mark = e.start_mark;
		snprintf(key, sizeof(key), "%s",
			 e.type == YAML_SCALAR_EVENT ? (const char *)e.data.scalar.value : "");
		yaml_event_delete(&e);
		if (!yaml_events_next(&r->y, &e))
			return false;
		if (e.type != YAML_SCALAR_EVENT) {
			yaml_events_error(&r->y, &e.start_mark, "%s.%s: expected a single value",
					  b->name, key);
			yaml_event_delete(&e);
			r->y.failed = true;
			return false;
		}
		const char *value = (const char *)e.data.scalar.value;
		char normal[JID_MAX], prep_why[JIDPREP_WHY_MAX] = "too long";
		/* YAML would let the last of two win: an edit that added a key
		 * instead of changing it must not silently replace a secret. */
		if ((strcmp(key, "secret") == 0 && have_secret) ||
		    (strcmp(key, "address") == 0 && have_address)) {
			yaml_events_error(&r->y, &key_mark, "%s.%s: given twice", b->name, key);
			yaml_event_delete(&e);
			continue;
		}
		if (strcmp(key, "secret") == 0) {
			have_secret = true;
			if (!callbridge_secret_valid(value))
				yaml_events_error(
				    &r->y, &e.start_mark,
				    "%s.secret: must be %d to 255 characters, without control "
				    "characters or a space at either end",
				    b->name, CALLBRIDGE_SECRET_MIN);
			snprintf(b->secret, sizeof(b->secret), "%s", value);
			OPENSSL_cleanse(e.data.scalar.value, e.data.scalar.length);
		} else if (strcmp(key, "address") == 0) {
			have_address = true;
			if (strchr(value, '@') != NULL || strchr(value, '/') != NULL ||
			    jidprep_jid(value, strlen(value), normal, sizeof(normal), prep_why,
					sizeof(prep_why)) == -1 ||
			    strlen(normal) >= sizeof(b->address))
				yaml_events_error(
				    &r->y, &e.start_mark,
				    "%s.address: expected a domain name, got '%.40s' (%s)", b->name,
				    value, prep_why);
			else
				snprintf(b->address, sizeof(b->address), "%s", normal);
		} else {
			yaml_events_error(&r->y, &key_mark,
					  "%s: unknown key '%s'; expected secret or address",
					  b->name, key);
		}
		yaml_event_delete(&e);
	}
	if (!have_secret)
		yaml_events_error(&r->y, name_mark, "%s: no secret", b->name);
	return true;
}

int callbridges_load(const char *path, const char *domain, struct callbridges *out,
		     struct config_errors *errors)
{
	char *text, why[512];
	size_t len;
	memset(out, 0, sizeof(*out));
	memset(errors, 0, sizeof(*errors));
	struct stat st;
	if (stat(path, &st) == -1 && errno == ENOENT)
		return 0;
	if (fileio_read_all(path, 1024 * 1024, &text, &len, why, sizeof(why)) == -1) {
		config_errors_add(errors, path, 0, 0, "%s", why);
		return -1;
	}
	if (st.st_mode & S_IROTH)
		log_warnx("%s is readable by every user; it holds secrets (chmod 0640)", path);
	int rc = callbridges_parse(path, text, len, domain, out, errors);
	buf_wipe_free(text, len);
	return rc;
}

int callbridges_parse(const char *path, const char *text, size_t len, const char *domain,
		      struct callbridges *out, struct config_errors *errors)
{
	memset(out, 0, sizeof(*out));
	memset(errors, 0, sizeof(*errors));
	struct table *names = table_new(), *addresses = table_new();
	struct reader r;
	if (names == NULL || addresses == NULL) {
		config_errors_add(errors, path, 0, 0, "cannot make the tables of names: %s",
				  strerror(errno));
		table_free(names);
		table_free(addresses);
		return -1;
	}
	if (yaml_events_open(&r.y, path, text, len, errors) == -1) {
		table_free(names);
		table_free(addresses);
		return -1;
	}
	yaml_event_t e;
	bool ok = yaml_events_next(&r.y, &e); /* STREAM_START */
	if (ok)
		yaml_event_delete(&e);
	ok = ok && yaml_events_next(&r.y, &e);
	if (ok && e.type == YAML_DOCUMENT_START_EVENT) {
		yaml_event_delete(&e);
		ok = yaml_events_next(&r.y, &e);
		if (ok && e.type != YAML_MAPPING_START_EVENT && e.type != YAML_SCALAR_EVENT) {
			yaml_events_error(&r.y, &e.start_mark,
					  "expected a mapping of bridge names to secrets");
			ok = false;
		}
		/* An empty document (a file of comments) is no bridges. */
		bool empty = ok && e.type == YAML_SCALAR_EVENT && e.data.scalar.length == 0;
		if (ok && e.type == YAML_SCALAR_EVENT && !empty) {
			yaml_events_error(&r.y, &e.start_mark,
					  "expected a mapping of bridge names to secrets");
			ok = false;
		}
		bool mapping = ok && e.type == YAML_MAPPING_START_EVENT;
		yaml_event_delete(&e);
		while (mapping && yaml_events_next(&r.y, &e)) {
			if (e.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&e);
				break;
			}
			struct proto_callbridge b;
			memset(&b, 0, sizeof(b));
			yaml_mark_t mark = e.start_mark;
			if (out->count == CALLBRIDGES_MAX) {
				yaml_events_error(&r.y, &mark, "more than %d call bridges",
						  CALLBRIDGES_MAX);
				yaml_event_delete(&e);
				break;
			}
			const char *name =
			    e.type == YAML_SCALAR_EVENT ? (const char *)e.data.scalar.value : "";
			if (!callbridge_name_valid(name))
				yaml_events_error(
				    &r.y, &mark,
				    "bridge name '%.40s': expected 1 to 63 lower-case letters, "
				    "digits and hyphens",
				    name);
			snprintf(b.name, sizeof(b.name), "%s", name);
			yaml_event_delete(&e);
			if (!read_bridge(&r, &b, domain, &mark)) {
				OPENSSL_cleanse(&b, sizeof(b));
				break;
			}
			/* Earlier bridges by name and by address: a table each,
			 * so that a long file is not checked pair by pair. */
			uintptr_t same_name = (uintptr_t)table_get(names, b.name, strlen(b.name));
			uintptr_t same_address =
			    (uintptr_t)table_get(addresses, b.address, strlen(b.address));
			if (same_name != 0)
				yaml_events_error(&r.y, &mark, "bridge %s appears twice", b.name);
			else if (same_address != 0)
				yaml_events_error(
				    &r.y, &mark, "bridges %s and %s have the same address %s",
				    out->items[same_address - 1].name, b.name, b.address);
			void *value = (void *)(uintptr_t)(out->count + 1), *replaced;
			if ((same_name == 0 &&
			     table_put(names, b.name, strlen(b.name), value, &replaced) == -1) ||
			    (same_address == 0 && table_put(addresses, b.address, strlen(b.address),
							    value, &replaced) == -1) ||
			    add(out, &b) == -1)
				config_errors_add(errors, path, 0, 0, "out of memory");
			OPENSSL_cleanse(&b, sizeof(b));
		}
		/* Nothing after the mapping: a second document would be ignored. */
		if (mapping && !r.y.failed && yaml_events_next(&r.y, &e)) {
			bool end = e.type == YAML_DOCUMENT_END_EVENT;
			yaml_event_delete(&e);
			if (end && yaml_events_next(&r.y, &e)) {
				if (e.type != YAML_STREAM_END_EVENT)
					yaml_events_error(&r.y, &e.start_mark,
							  "a second YAML document; the file is one "
							  "mapping of bridge names");
				yaml_event_delete(&e);
			}
		}
	} else if (ok) {
		yaml_event_delete(&e); /* STREAM_END: an empty file */
	}
	yaml_events_close(&r.y);
	table_free(names);
	table_free(addresses);
	if (errors->count > 0) {
		callbridges_free(out);
		return -1;
	}
	return 0;
}

void callbridges_free(struct callbridges *b)
{
	buf_wipe_free(b->items, b->capacity * sizeof(*b->items));
	b->items = NULL;
	b->count = 0;
	b->capacity = 0;
}
