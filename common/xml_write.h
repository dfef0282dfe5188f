/* SPDX-License-Identifier: MIT */
/*
 * Writing XML: escaped text and attribute values, and a tree of xml.h
 * written out.  Attribute values are written in double quotes; '>' is
 * left as it is in them (XML does not ask for it to be escaped there).
 * No parser here: a process that only writes XML links this without expat.
 */
#ifndef RXMPP_XML_WRITE_H
#define RXMPP_XML_WRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/xml.h"

/*
 * Serializes `node` into `out`.  Its namespace is left out when it equals
 * `parent_ns` (so a stanza inherits the default namespace of whatever stream
 * it is written to); children declare theirs where it changes.  `from` and
 * `to`, when not NULL, replace those attributes of the top element.
 */
int xml_serialize(const struct xml_node *node, const char *parent_ns, const char *from,
		  const char *to, struct buf *out);

/* Escaped text and attribute values. */
int xml_escape(struct buf *out, const char *text, size_t len, bool attribute);

#endif
