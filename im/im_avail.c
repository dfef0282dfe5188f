/* SPDX-License-Identifier: MIT */
/* Who is available; see im_avail.h. */
#include "im_avail.h"

#include <stdlib.h>
#include <string.h>

#include "common/table.h"

static struct table *users;

int im_avail_init(void)
{
	if (users == NULL)
		users = table_new();
	return users == NULL ? -1 : 0;
}

static void res_free(struct im_avail_res *r)
{
	free(r->full);
	free(r->stanza);
}

int im_avail_set(const char *bare, const char *full, const char *stanza, size_t len)
{
	char *copy = malloc(len);
	if (copy == NULL)
		return -1;
	memcpy(copy, stanza, len);
	struct im_avail_user *u = table_get(users, bare, strlen(bare));
	if (u != NULL) {
		for (size_t i = 0; i < u->count; i++) {
			if (strcmp(u->res[i].full, full) == 0) {
				free(u->res[i].stanza);
				u->res[i].stanza = copy;
				u->res[i].len = len;
				return 0;
			}
		}
	} else {
		void *replaced;
		if ((u = calloc(1, sizeof(*u))) == NULL ||
		    table_put(users, bare, strlen(bare), u, &replaced) == -1) {
			free(u);
			free(copy);
			return -1;
		}
	}
	struct im_avail_res *grown = realloc(u->res, (u->count + 1) * sizeof(*grown));
	char *name = strdup(full);
	if (grown == NULL || name == NULL) {
		if (grown != NULL)
			u->res = grown;
		free(name);
		free(copy);
		if (u->count == 0) {
			table_remove(users, bare, strlen(bare));
			free(u->res);
			free(u);
		}
		return -1;
	}
	u->res = grown;
	u->res[u->count++] = (struct im_avail_res){.full = name, .stanza = copy, .len = len};
	return 1;
}

bool im_avail_remove(const char *bare, const char *full)
{
	struct im_avail_user *u = table_get(users, bare, strlen(bare));
	if (u == NULL)
		return false;
	for (size_t i = 0; i < u->count; i++) {
		if (strcmp(u->res[i].full, full) != 0)
			continue;
		res_free(&u->res[i]);
		u->res[i] = u->res[--u->count];
		if (u->count == 0) {
			table_remove(users, bare, strlen(bare));
			free(u->res);
			free(u);
		}
		return true;
	}
	return false;
}

const struct im_avail_user *im_avail_of(const char *bare)
{
	return users == NULL ? NULL : table_get(users, bare, strlen(bare));
}
