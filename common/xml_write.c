/* SPDX-License-Identifier: MIT */
/*
 * The XML writer; see xml_write.h.  Apart from the parser (xml.c) so that
 * a process that only writes XML links no expat.
 */
#include "xml_write.h"

#include <stdio.h>
#include <string.h>

int xml_escape(struct buf *out, const char *text, size_t len, bool attribute)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *entity = NULL;
		switch (text[i]) {
		case '&':
			entity = "&amp;";
			break;
		case '<':
			entity = "&lt;";
			break;
		case '>':
			/* Only "]]>" must be escaped in text; attributes never need it. */
			if (!attribute && i >= 2 && text[i - 1] == ']' && text[i - 2] == ']')
				entity = "&gt;";
			break;
		case '"':
			entity = attribute ? "&quot;" : NULL;
			break;
		case '\t':
			entity = attribute ? "&#9;" : NULL;
			break;
		case '\n':
			entity = attribute ? "&#10;" : NULL;
			break;
		case '\r':
			entity = "&#13;";
			break;
		}
		if (entity == NULL)
			continue;
		if (buf_append(out, text + start, i - start) == -1 ||
		    buf_append(out, entity, strlen(entity)) == -1)
			return -1;
		start = i + 1;
	}
	return buf_append(out, text + start, len - start);
}

static int put(struct buf *out, const char *text)
{
	return buf_append(out, text, strlen(text));
}

static int put_attr(struct buf *out, const char *prefix, const char *name, const char *value)
{
	if (put(out, " ") == -1 ||
	    (prefix != NULL && (put(out, prefix) == -1 || put(out, ":") == -1)) ||
	    put(out, name) == -1 || put(out, "=\"") == -1 ||
	    xml_escape(out, value, strlen(value), true) == -1)
		return -1;
	return put(out, "\"");
}

static int serialize(const struct xml_node *node, const char *parent_ns, const char *from,
		     const char *to, struct buf *out)
{
	if (node->name == NULL)
		return xml_escape(out, node->text, node->text_len, false);
	if (put(out, "<") == -1 || put(out, node->name) == -1)
		return -1;
	if (strcmp(node->ns, parent_ns) != 0 && put_attr(out, NULL, "xmlns", node->ns) == -1)
		return -1;
	if (from != NULL && put_attr(out, NULL, "from", from) == -1)
		return -1;
	if (to != NULL && put_attr(out, NULL, "to", to) == -1)
		return -1;
	unsigned prefixes = 0;
	for (const struct xml_attr *a = node->attrs; a != NULL; a = a->next) {
		if (a->ns[0] == '\0') {
			if ((from != NULL && strcmp(a->name, "from") == 0) ||
			    (to != NULL && strcmp(a->name, "to") == 0))
				continue;
			if (put_attr(out, NULL, a->name, a->value) == -1)
				return -1;
		} else if (strcmp(a->ns, XML_NS_XML) == 0) {
			if (put_attr(out, "xml", a->name, a->value) == -1)
				return -1;
		} else {
			/* A namespaced attribute gets a prefix of its own here. */
			char prefix[16];
			snprintf(prefix, sizeof(prefix), "a%u", prefixes++);
			if (put_attr(out, "xmlns", prefix, a->ns) == -1 ||
			    put_attr(out, prefix, a->name, a->value) == -1)
				return -1;
		}
	}
	if (node->children == NULL)
		return put(out, "/>");
	if (put(out, ">") == -1)
		return -1;
	for (const struct xml_node *c = node->children; c != NULL; c = c->next) {
		if (serialize(c, node->ns, NULL, NULL, out) == -1)
			return -1;
	}
	if (put(out, "</") == -1 || put(out, node->name) == -1)
		return -1;
	return put(out, ">");
}

int xml_serialize(const struct xml_node *node, const char *parent_ns, const char *from,
		  const char *to, struct buf *out)
{
	return serialize(node, parent_ns, from, to, out);
}
