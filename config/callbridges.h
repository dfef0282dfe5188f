/* SPDX-License-Identifier: MIT */
/*
 * The call-bridges file (callbridges_file, mode 0640): the name and shared
 * secret of each call bridge allowed to connect as an XMPP component, and
 * optionally its address (default NAME.DOMAIN):
 *
 *   cb1: "the secret rxmppctl callbridge add printed"
 *   cb2:
 *     secret: "..."
 *     address: bridge2.example.com
 *
 * Read by the supervisor only; the listener receives the entries over IPC.
 *
 * Unlike the state files (common/fileio.h), this file carries no checksum:
 * administrators edit it by hand (rxmppctl callbridge edits keep their
 * comments), and a checksum would make every such edit look like damage,
 * or teach them to recompute it, which proves nothing.  Its proof is a
 * strict parser: every problem is named with file:line:column; a name, a
 * key or a secret given twice, an alias, an unknown key or a second
 * document is refused rather than resolved by "the last one wins"; and a
 * refused file stops rxmppd at start (status 78) or keeps the previous
 * bridges on a reload.  What no parser can see is a whole bridge deleted
 * by a bad edit; `rxmppctl callbridge list` shows what is in force.
 */
#ifndef RXMPP_CALLBRIDGES_H
#define RXMPP_CALLBRIDGES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/callbridge.h"
#include "common/proto.h"
#include "config.h"

struct callbridges {
	struct proto_callbridge *items;
	size_t count;
	size_t capacity;
};

/* A missing file is no bridges.  On -1 every problem is in `errors`. */
int callbridges_load(const char *path, const char *domain, struct callbridges *out,
		     struct config_errors *errors);
/* The same for text in memory (`path` names it in messages). */
int callbridges_parse(const char *path, const char *text, size_t len, const char *domain,
		      struct callbridges *out, struct config_errors *errors);
void callbridges_free(struct callbridges *b);

#endif
