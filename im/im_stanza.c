/* SPDX-License-Identifier: MIT */
/* One stanza's bytes parsed into a tree; see im_stanza.h. */
#include "im_stanza.h"

#include <stdbool.h>

struct parse {
	void (*fn)(void *arg, struct xml_node *stanza);
	void *arg;
	unsigned elements;
};

static void on_open(void *arg, const char *content_ns, const struct xml_attr *attrs)
{
	(void)arg, (void)content_ns, (void)attrs;
}

static void on_element(void *arg, struct xml_node *element)
{
	struct parse *p = arg;
	/* Only the first: the router hands over one stanza per message. */
	if (p->elements++ == 0)
		p->fn(p->arg, element);
}

static void on_close(void *arg)
{
	(void)arg;
}

int im_stanza_parse(const char *bytes, size_t len, const struct xml_limits *limits,
		    void (*fn)(void *arg, struct xml_node *stanza), void *arg)
{
	static const struct xml_stream_events events = {
	    .open = on_open,
	    .element = on_element,
	    .close = on_close,
	};
	static const char header[] =
	    "<stream:stream xmlns='" XML_NS_CLIENT "' xmlns:stream='" XML_NS_STREAM "'>";
	struct parse p = {.fn = fn, .arg = arg};
	struct xml_stream *s = xml_stream_new(limits, &events, &p);
	if (s == NULL)
		return -1;
	bool ok = xml_stream_feed(s, header, sizeof(header) - 1) == sizeof(header) - 1 &&
		  xml_stream_feed(s, bytes, len) == len && xml_stream_error(s) == NULL;
	xml_stream_free(s);
	return ok && p.elements == 1 ? 0 : -1;
}
