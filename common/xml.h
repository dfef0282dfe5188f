/* SPDX-License-Identifier: MIT */
/*
 * The XML stream of one connection (RFC 6120 section 4), parsed with expat
 * in namespace mode, with no socket: bytes in, events out.
 *
 * The stream header is reported with its attributes; every top-level
 * element (a stanza, or a STARTTLS, SASL or handshake element) is built into
 * a small tree in an arena and handed over whole.  The limits are enforced as
 * bytes arrive, before expat buffers them: bytes since the last complete
 * element (so a start tag that never ends is caught too), nesting depth,
 * attributes per element, and the arena that holds the tree.  DOCTYPE,
 * entity declarations, processing instructions and comments are refused
 * (RFC 6120 11.1, restricted-xml).  Writing the trees (and escaping) is
 * xml_write.h's.
 */
#ifndef RXMPP_XML_H
#define RXMPP_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XML_NS_STREAM	     "http://etherx.jabber.org/streams"
#define XML_NS_CLIENT	     "jabber:client"
#define XML_NS_COMPONENT     "jabber:component:accept"
#define XML_NS_TLS	     "urn:ietf:params:xml:ns:xmpp-tls"
#define XML_NS_SASL	     "urn:ietf:params:xml:ns:xmpp-sasl"
#define XML_NS_BIND	     "urn:ietf:params:xml:ns:xmpp-bind"
#define XML_NS_SESSION	     "urn:ietf:params:xml:ns:xmpp-session"
#define XML_NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define XML_NS_STANZA_ERRORS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define XML_NS_XML	     "http://www.w3.org/XML/1998/namespace"

struct xml_attr {
	const char *ns; /* "" when none */
	const char *name;
	const char *value;
	struct xml_attr *next;
};

/* An element (name != NULL) or a run of text (name == NULL). */
struct xml_node {
	const char *ns; /* "" when none */
	const char *name;
	struct xml_attr *attrs;
	struct xml_node *children;
	struct xml_node *last_child;
	struct xml_node *next;
	struct xml_node *parent;
	char *text;
	size_t text_len;
};

struct xml_limits {
	size_t max_stanza_size;
	unsigned max_depth; /* inside a stanza, the stanza itself being 1 */
	unsigned max_attributes;
};

struct xml_stream;

struct xml_stream_events {
	/* The stream header: its default namespace and attributes. */
	void (*open)(void *arg, const char *content_ns, const struct xml_attr *attrs);
	/* A complete top-level element; valid until the call returns. */
	void (*element)(void *arg, struct xml_node *element);
	/* </stream:stream> */
	void (*close)(void *arg);
};

struct xml_stream *xml_stream_new(const struct xml_limits *limits,
				  const struct xml_stream_events *events, void *arg);
void xml_stream_free(struct xml_stream *s);

/*
 * Parses `len` bytes; whitespace before the stream header is skipped.
 * Returns how many were consumed: all of them, or fewer
 * when a callback asked for a restart (xml_stream_stop) or an error stopped
 * the stream.  After an error, xml_stream_error() names the RFC 6120 stream
 * error condition and further input is refused.
 */
size_t xml_stream_feed(struct xml_stream *s, const char *data, size_t len);
/* Gives expat's memory back while nothing is pending between stanzas; the
 * next xml_stream_feed builds a new parser positioned inside the stream.
 * True when released. */
bool xml_stream_release(struct xml_stream *s);
bool xml_stream_loaded(const struct xml_stream *s);
/* From a callback: stop after the current element (a stream restart, or
 * the connection is closing); xml_stream_feed then returns early. */
void xml_stream_stop(struct xml_stream *s);
const char *xml_stream_error(const struct xml_stream *s);
const char *xml_stream_error_text(const struct xml_stream *s);

/* Tree helpers. */
const char *xml_attr_get(const struct xml_node *node, const char *name);
struct xml_node *xml_child(const struct xml_node *node, const char *ns, const char *name);
struct xml_node *xml_first_element(const struct xml_node *node);
/* The concatenated text directly inside `node`, in `out` (NUL-terminated);
 * -1 when it does not fit. */
int xml_text(const struct xml_node *node, char *out, size_t size);
bool xml_is(const struct xml_node *node, const char *ns, const char *name);

#endif
