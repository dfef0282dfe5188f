/* SPDX-License-Identifier: MIT */
/*
 * Editing the YAML configuration the way an administrator would: only the
 * value that changes is rewritten; comments, key order, blank lines and the
 * formatting of everything else stay byte for byte.  libyaml's event marks
 * give the byte range of the value to splice; a key that is missing is
 * inserted in its section (with the section's indentation), a section that
 * is missing is appended.  The result must validate before it replaces the
 * file, which is written atomically under a lock.
 */
#ifndef RXMPP_CONFIG_EDIT_H
#define RXMPP_CONFIG_EDIT_H

#include <stddef.h>

#include "config.h"

/*
 * Sets `section`.`key` (section NULL: a top-level key) to `literal` (as it
 * would be written in the file, e.g. "true" or "\"/etc/rxmpp/x.pem\"") in
 * `text`, returning the edited text in *out (caller frees).  -1 with the
 * reason in `why` when the file cannot be edited that way.
 */
int config_edit_text(const char *text, size_t len, const char *section, const char *key,
		     const char *literal, char **out, size_t *out_len, char *why, size_t why_size);

/* `value` as a YAML double-quoted scalar in `out`: quotes, backslashes and
 * control characters escaped, so that any text (a secret with `"`, `'`,
 * `: ` or ` #`) reads back as itself.  -1 when it does not fit `size`. */
int config_edit_quote(const char *value, char *out, size_t size);

/* Removes the top-level entry `key` (its whole lines) from `text`. */
int config_edit_remove_text(const char *text, size_t len, const char *key, char **out,
			    size_t *out_len, char *why, size_t why_size);

/* The same on a file: lock, edit, validate (errors as file:line:column in
 * `errors`), write atomically.  The old file is untouched on any error. */
int config_edit_file(const char *path, const char *section, const char *key, const char *literal,
		     struct config_errors *errors);

/* Several values at once: all of them, or (on any error) none. */
struct config_edit {
	const char *section;
	const char *key;
	const char *literal;
};
int config_edit_file_many(const char *path, const struct config_edit *edits, size_t count,
			  struct config_errors *errors);

#endif
