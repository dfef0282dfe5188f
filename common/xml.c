/* SPDX-License-Identifier: MIT */
/*
 * The XML stream parser and its trees; see xml.h.  Shared: the listener
 * parses its clients' and call bridges' streams with it.
 *
 * expat reports names as "namespace\xFFlocal".  The tree of the element
 * being read lives in an arena that is emptied after each element, so a
 * connection holds no parsed XML between stanzas.
 *
 * What the parser holds is decrypted client traffic (a SASL <auth> carries
 * a password in base64): the arena, the text buffer and expat's own memory
 * are wiped with OPENSSL_cleanse before they are freed.
 */
#include "xml.h"

#include <expat.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xml_write.h"

#define XML_NS_SEPARATOR '\xff'
/* Input is handed to expat in pieces no larger than this, so the limits are
 * checked at least this often. */
#define XML_FEED_CHUNK	4096
#define XML_ARENA_CHUNK 4096
/* The namespace declarations of the stream root kept for a resume, and
 * the longest default namespace kept (the limit of the old array). */
#define XML_ROOT_NAMESPACES_MAX 1024
#define XML_CONTENT_NS_MAX	255

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t size;
	char data[];
};

struct xml_stream {
	XML_Parser parser;
	struct xml_limits limits;
	const struct xml_stream_events *events;
	void *arg;
	unsigned depth;		  /* 0 before the stream header, 1 inside it, 2+ in an element */
	char *content_ns;	  /* the root's default namespace ("" until declared) */
	struct xml_node *element; /* the top-level element being built */
	struct xml_node *current;
	struct buf text; /* character data not yet attached to the tree */
	struct arena_chunk *arena;
	size_t arena_total;
	size_t arena_limit;
	/* Bytes handed to expat in all, and where the last complete unit (the
	 * header, an element, stream-level whitespace) ended: the difference is
	 * what expat holds for an unfinished element. */
	uint64_t fed;
	uint64_t settled;
	uint64_t feed_base; /* `fed` when the current XML_Parse call began */
	size_t stop_at;	    /* bytes of the current call consumed at a stop */
	bool stopped;
	const char *error;
	char error_text[128];
	/* To rebuild the parser of an idle stream: the root's qualified name and
	 * the namespaces it declared, replayed in a header nobody else sees.
	 * Held at their size, not in fixed arrays: every idle session keeps
	 * them (a kilobyte each before, about 5% of an idle session). */
	char root_qname[64];
	struct buf root_namespaces;
	bool resuming;
};

/* The arena */

static void *arena_alloc(struct xml_stream *s, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	struct arena_chunk *chunk = s->arena;
	if (chunk == NULL || chunk->size - chunk->used < size) {
		size_t want = size > XML_ARENA_CHUNK ? size : XML_ARENA_CHUNK;
		if (s->arena_total + want > s->arena_limit)
			return NULL;
		chunk = malloc(sizeof(*chunk) + want);
		if (chunk == NULL)
			return NULL;
		chunk->next = s->arena;
		chunk->used = 0;
		chunk->size = want;
		s->arena = chunk;
		s->arena_total += want;
	}
	void *p = chunk->data + chunk->used;
	chunk->used += size;
	return p;
}

static char *arena_strndup(struct xml_stream *s, const char *text, size_t len)
{
	char *copy = arena_alloc(s, len + 1);
	if (copy != NULL) {
		memcpy(copy, text, len);
		copy[len] = '\0';
	}
	return copy;
}

static void arena_reset(struct xml_stream *s)
{
	while (s->arena != NULL) {
		struct arena_chunk *next = s->arena->next;
		buf_wipe_free(s->arena, sizeof(*s->arena) + s->arena->used);
		s->arena = next;
	}
	s->arena_total = 0;
}

/* Errors */

static void stream_fail(struct xml_stream *s, const char *condition, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void stream_fail(struct xml_stream *s, const char *condition, const char *fmt, ...)
{
	if (s->error == NULL) {
		s->error = condition;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->error_text, sizeof(s->error_text), fmt, ap);
		va_end(ap);
	}
	if (s->parser != NULL)
		XML_StopParser(s->parser, XML_FALSE);
}

static uint64_t stream_position(struct xml_stream *s)
{
	/* The end of the event being reported, counted over the whole stream. */
	XML_Index index = XML_GetCurrentByteIndex(s->parser);
	int count = XML_GetCurrentByteCount(s->parser);
	return (uint64_t)(index < 0 ? 0 : index) + (uint64_t)(count < 0 ? 0 : count);
}

/* Splits "ns\xFFlocal" into its parts, in the arena. */
static int split_name(struct xml_stream *s, const char *raw, const char **ns, const char **local)
{
	const char *sep = strchr(raw, XML_NS_SEPARATOR);
	if (sep == NULL) {
		*ns = "";
		*local = arena_strndup(s, raw, strlen(raw));
		return *local == NULL ? -1 : 0;
	}
	*ns = arena_strndup(s, raw, (size_t)(sep - raw));
	*local = arena_strndup(s, sep + 1, strlen(sep + 1));
	return *ns == NULL || *local == NULL ? -1 : 0;
}

static void add_child(struct xml_node *parent, struct xml_node *child)
{
	child->parent = parent;
	if (parent->last_child != NULL)
		parent->last_child->next = child;
	else
		parent->children = child;
	parent->last_child = child;
}

static int flush_text(struct xml_stream *s)
{
	if (buf_len(&s->text) == 0 || s->current == NULL)
		return 0;
	struct xml_node *node = arena_alloc(s, sizeof(*node));
	char *text = node ? arena_strndup(s, buf_head(&s->text), buf_len(&s->text)) : NULL;
	if (text == NULL)
		return -1;
	memset(node, 0, sizeof(*node));
	node->text = text;
	node->text_len = buf_len(&s->text);
	add_child(s->current, node);
	buf_reset(&s->text, 1024);
	return 0;
}

static void remember_root(struct xml_stream *s);

static void too_big(struct xml_stream *s)
{
	stream_fail(s, "policy-violation", "stanza larger than %zu bytes",
		    s->limits.max_stanza_size);
}

/* expat handlers */

static void on_start(void *data, const XML_Char *name, const XML_Char **atts)
{
	struct xml_stream *s = data;
	if (s->error != NULL || s->stopped)
		return;

	if (s->depth == 0 && s->resuming) {
		s->resuming = false;
		s->depth = 1;
		s->settled = stream_position(s);
		return;
	}
	if (s->depth == 0) {
		const char *sep = strchr(name, XML_NS_SEPARATOR);
		if (sep == NULL || strncmp(name, XML_NS_STREAM, (size_t)(sep - name)) != 0 ||
		    strlen(XML_NS_STREAM) != (size_t)(sep - name) ||
		    strcmp(sep + 1, "stream") != 0) {
			stream_fail(s, "invalid-namespace",
				    "the stream must open with stream:stream");
			return;
		}
		struct xml_attr *attrs = NULL, **tail = &attrs;
		for (int i = 0; atts[i] != NULL; i += 2) {
			struct xml_attr *a = arena_alloc(s, sizeof(*a));
			if (a == NULL || split_name(s, atts[i], &a->ns, &a->name) == -1 ||
			    (a->value = arena_strndup(s, atts[i + 1], strlen(atts[i + 1]))) ==
				NULL) {
				too_big(s);
				return;
			}
			a->next = NULL;
			*tail = a;
			tail = &a->next;
		}
		s->depth = 1;
		s->settled = stream_position(s);
		remember_root(s);
		s->events->open(s->arg, s->content_ns, attrs);
		arena_reset(s);
		return;
	}

	if (s->depth - 1 >= s->limits.max_depth) {
		stream_fail(s, "policy-violation", "elements nested deeper than %u",
			    s->limits.max_depth);
		return;
	}
	if (flush_text(s) == -1) {
		too_big(s);
		return;
	}
	struct xml_node *node = arena_alloc(s, sizeof(*node));
	if (node == NULL) {
		too_big(s);
		return;
	}
	memset(node, 0, sizeof(*node));
	if (split_name(s, name, &node->ns, &node->name) == -1) {
		too_big(s);
		return;
	}
	unsigned count = 0;
	struct xml_attr **tail = &node->attrs;
	for (int i = 0; atts[i] != NULL; i += 2) {
		if (++count > s->limits.max_attributes) {
			stream_fail(s, "policy-violation", "more than %u attributes on <%s>",
				    s->limits.max_attributes, node->name);
			return;
		}
		struct xml_attr *a = arena_alloc(s, sizeof(*a));
		if (a == NULL || split_name(s, atts[i], &a->ns, &a->name) == -1 ||
		    (a->value = arena_strndup(s, atts[i + 1], strlen(atts[i + 1]))) == NULL) {
			too_big(s);
			return;
		}
		a->next = NULL;
		*tail = a;
		tail = &a->next;
	}
	if (s->depth == 1)
		s->element = node;
	else
		add_child(s->current, node);
	s->current = node;
	s->depth++;
}

static void on_end(void *data, const XML_Char *name)
{
	struct xml_stream *s = data;
	(void)name;
	if (s->error != NULL || s->stopped)
		return;
	if (s->depth == 1) {
		s->depth = 0;
		s->settled = stream_position(s);
		s->events->close(s->arg);
		return;
	}
	if (flush_text(s) == -1) {
		too_big(s);
		return;
	}
	s->depth--;
	if (s->depth > 1) {
		s->current = s->current->parent;
		return;
	}
	struct xml_node *element = s->element;
	s->element = NULL;
	s->current = NULL;
	s->settled = stream_position(s);
	s->events->element(s->arg, element);
	arena_reset(s);
	if (s->stopped && s->error == NULL) {
		/* Whatever follows belongs to whoever takes over (TLS, a new stream). */
		s->stop_at = (size_t)(s->settled - s->feed_base);
		XML_StopParser(s->parser, XML_FALSE);
	}
}

static void on_text(void *data, const XML_Char *text, int len)
{
	struct xml_stream *s = data;
	if (s->error != NULL || s->stopped)
		return;
	if (s->depth <= 1) {
		for (int i = 0; i < len; i++) {
			if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
			    text[i] != '\n') {
				stream_fail(s, "bad-format", "text outside any stanza");
				return;
			}
		}
		/* Whitespace keepalives: nothing to keep. */
		s->settled = stream_position(s);
		return;
	}
	if (buf_append(&s->text, text, (size_t)len) == -1)
		too_big(s);
}

static void on_namespace(void *data, const XML_Char *prefix, const XML_Char *uri)
{
	struct xml_stream *s = data;
	if (s->depth != 0 || s->resuming || uri == NULL)
		return;
	if (prefix == NULL) {
		char *ns = strndup(uri, XML_CONTENT_NS_MAX);
		if (ns == NULL) {
			stream_fail(s, "internal-server-error", "out of memory");
			return;
		}
		free(s->content_ns);
		s->content_ns = ns;
	}
	/* Kept (escaped as an attribute) for rebuilding the parser later. */
	struct buf decl;
	buf_init(&decl, XML_ROOT_NAMESPACES_MAX);
	buf_append(&decl, " xmlns", 6);
	if (prefix != NULL) {
		buf_append(&decl, ":", 1);
		buf_append(&decl, prefix, strlen(prefix));
	}
	buf_append(&decl, "=\"", 2);
	xml_escape(&decl, uri, strlen(uri), true);
	if (buf_append(&decl, "\"", 1) == 0 &&
	    buf_len(&s->root_namespaces) + buf_len(&decl) < XML_ROOT_NAMESPACES_MAX)
		buf_append(&s->root_namespaces, buf_head(&decl), buf_len(&decl));
	buf_free(&decl);
}

/* The root's qualified name as written ("stream:stream"), from the raw
 * bytes of its start tag: expat reports names without their prefixes. */
static void remember_root(struct xml_stream *s)
{
	int offset = 0, size = 0;
	const char *context = XML_GetInputContext(s->parser, &offset, &size);
	int count = XML_GetCurrentByteCount(s->parser);
	s->root_qname[0] = '\0';
	if (context == NULL || offset < 0 || count <= 1 || offset + count > size ||
	    context[offset] != '<')
		return;
	size_t len = strcspn(context + offset + 1, " \t\r\n/>");
	if (len < sizeof(s->root_qname) && (int)len < count)
		snprintf(s->root_qname, sizeof(s->root_qname), "%.*s", (int)len,
			 context + offset + 1);
}

static void on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal_subset)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
	stream_fail(data, "restricted-xml", "a DOCTYPE");
}

static void on_entity(void *data, const XML_Char *name, int is_parameter, const XML_Char *value,
		      int value_len, const XML_Char *base, const XML_Char *sysid,
		      const XML_Char *pubid, const XML_Char *notation)
{
	(void)name, (void)is_parameter, (void)value, (void)value_len, (void)base, (void)sysid;
	(void)pubid, (void)notation;
	stream_fail(data, "restricted-xml", "an entity declaration");
}

static void on_pi(void *data, const XML_Char *target, const XML_Char *pi_data)
{
	(void)target, (void)pi_data;
	stream_fail(data, "restricted-xml", "a processing instruction");
}

static void on_comment(void *data, const XML_Char *text)
{
	(void)text;
	stream_fail(data, "restricted-xml", "a comment");
}

/* expat's memory, wiped when freed: expat does not say how large a block
 * is, so malloc_usable_size does (glibc, and the sanitizers' allocator). */

static void xml_wipe_free(void *p)
{
	if (p != NULL)
		buf_wipe_free(p, malloc_usable_size(p));
}

static void *xml_wipe_realloc(void *p, size_t size)
{
	return buf_wipe_realloc(p, p != NULL ? malloc_usable_size(p) : 0, size);
}

static const XML_Memory_Handling_Suite xml_wipe_memory = {malloc, xml_wipe_realloc, xml_wipe_free};
static const XML_Char xml_ns_separator[] = {XML_NS_SEPARATOR, '\0'};

/* The stream */

static int parser_create(struct xml_stream *s)
{
	s->parser = XML_ParserCreate_MM("UTF-8", &xml_wipe_memory, xml_ns_separator);
	if (s->parser == NULL)
		return -1;
	XML_SetUserData(s->parser, s);
	XML_SetElementHandler(s->parser, on_start, on_end);
	XML_SetCharacterDataHandler(s->parser, on_text);
	XML_SetNamespaceDeclHandler(s->parser, on_namespace, NULL);
	XML_SetStartDoctypeDeclHandler(s->parser, on_doctype);
	XML_SetEntityDeclHandler(s->parser, on_entity);
	XML_SetProcessingInstructionHandler(s->parser, on_pi);
	XML_SetCommentHandler(s->parser, on_comment);
	return 0;
}

bool xml_stream_loaded(const struct xml_stream *s)
{
	return s->parser != NULL;
}

bool xml_stream_release(struct xml_stream *s)
{
	if (s->parser == NULL || s->depth != 1 || s->fed != s->settled || s->error != NULL ||
	    s->stopped || s->root_qname[0] == '\0')
		return false;
	XML_ParserFree(s->parser);
	s->parser = NULL;
	buf_reset(&s->text, 0);
	return true;
}

/* A new parser standing where the old one stood: inside the stream root. */
static int parser_resume(struct xml_stream *s)
{
	char header[sizeof(s->root_qname) + XML_ROOT_NAMESPACES_MAX + 8];
	int n = snprintf(header, sizeof(header), "<%s%.*s>", s->root_qname,
			 (int)buf_len(&s->root_namespaces), buf_head(&s->root_namespaces));
	if (n < 0 || (size_t)n >= sizeof(header) || parser_create(s) == -1)
		return -1;
	s->depth = 0;
	s->resuming = true;
	s->fed = s->settled = 0;
	s->feed_base = 0;
	if (XML_Parse(s->parser, header, n, XML_FALSE) == XML_STATUS_ERROR || s->depth != 1) {
		stream_fail(s, "internal-server-error", "cannot resume the stream parser");
		return -1;
	}
	s->fed = (uint64_t)n;
	s->settled = s->fed;
	return 0;
}

struct xml_stream *xml_stream_new(const struct xml_limits *limits,
				  const struct xml_stream_events *events, void *arg)
{
	struct xml_stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->limits = *limits;
	/* The parser comes with the first byte (xml_stream_feed): a
	 * stream restarted for STARTTLS waits through the TLS handshake, and a
	 * crowd of handshakes would each hold one for nothing. */
	s->events = events;
	s->arg = arg;
	/* The tree costs more than its text: names and values are copied, and
	 * every node and attribute has its bookkeeping. */
	s->arena_limit = 3 * limits->max_stanza_size + 64 * 1024;
	buf_init(&s->text, limits->max_stanza_size);
	buf_set_sensitive(&s->text);
	buf_init(&s->root_namespaces, XML_ROOT_NAMESPACES_MAX);
	s->content_ns = strdup("");
	if (s->content_ns == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void xml_stream_free(struct xml_stream *s)
{
	if (s == NULL)
		return;
	arena_reset(s);
	buf_free(&s->text);
	buf_free(&s->root_namespaces);
	free(s->content_ns);
	if (s->parser != NULL)
		XML_ParserFree(s->parser);
	free(s);
}

void xml_stream_stop(struct xml_stream *s)
{
	s->stopped = true;
}

const char *xml_stream_error(const struct xml_stream *s)
{
	return s->error;
}

const char *xml_stream_error_text(const struct xml_stream *s)
{
	return s->error_text;
}

/* XML's white space (the S production). */
static bool xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t xml_stream_feed(struct xml_stream *s, const char *data, size_t len)
{
	size_t done = 0;
	/* Before expat has seen a byte: an XML declaration must be the very
	 * first thing it sees, and the whitespace that may stand here (a client
	 * ending <auth/> or <starttls/> with a newline, just before the stream
	 * restarts) still belongs between the previous stream's elements. */
	while (s->fed == 0 && done < len && xml_space(data[done]))
		done++;
	if (s->parser == NULL && done < len) {
		/* Not begun yet, or released while idle inside the stream. */
		bool begun = s->root_qname[0] != '\0';
		if (begun ? parser_resume(s) == -1 : parser_create(s) == -1) {
			if (!begun)
				stream_fail(s, "internal-server-error", "out of memory");
			return done;
		}
	}
	while (done < len && s->error == NULL && !s->stopped) {
		size_t chunk = len - done > XML_FEED_CHUNK ? XML_FEED_CHUNK : len - done;
		/* What expat would hold for an unfinished element must stay within
		 * the stanza limit, checked before expat buffers it. */
		if (s->fed + chunk - s->settled > s->limits.max_stanza_size) {
			too_big(s);
			break;
		}
		s->feed_base = s->fed;
		s->stop_at = chunk;
		s->fed += chunk;
		if (XML_Parse(s->parser, data + done, (int)chunk, XML_FALSE) == XML_STATUS_ERROR &&
		    s->error == NULL && !s->stopped) {
			enum XML_Error code = XML_GetErrorCode(s->parser);
			/* Bad syntax, bad UTF-8 and unbound prefixes alike (RFC 6120 4.9.3.13). */
			stream_fail(s, "not-well-formed", "%s at line %lu", XML_ErrorString(code),
				    (unsigned long)XML_GetCurrentLineNumber(s->parser));
		}
		done += s->stopped && s->error == NULL ? s->stop_at : chunk;
	}
	return done;
}

/* Tree helpers */

const char *xml_attr_get(const struct xml_node *node, const char *name)
{
	for (const struct xml_attr *a = node->attrs; a != NULL; a = a->next) {
		if (a->ns[0] == '\0' && strcmp(a->name, name) == 0)
			return a->value;
	}
	return NULL;
}

bool xml_is(const struct xml_node *node, const char *ns, const char *name)
{
	return node != NULL && node->name != NULL && strcmp(node->name, name) == 0 &&
	       strcmp(node->ns, ns) == 0;
}

struct xml_node *xml_child(const struct xml_node *node, const char *ns, const char *name)
{
	for (struct xml_node *c = node->children; c != NULL; c = c->next) {
		if (xml_is(c, ns, name))
			return c;
	}
	return NULL;
}

struct xml_node *xml_first_element(const struct xml_node *node)
{
	for (struct xml_node *c = node->children; c != NULL; c = c->next) {
		if (c->name != NULL)
			return c;
	}
	return NULL;
}

int xml_text(const struct xml_node *node, char *out, size_t size)
{
	size_t used = 0;
	for (const struct xml_node *c = node->children; c != NULL; c = c->next) {
		if (c->name != NULL)
			continue;
		if (used + c->text_len + 1 > size)
			return -1;
		memcpy(out + used, c->text, c->text_len);
		used += c->text_len;
	}
	out[used] = '\0';
	return (int)used;
}
