/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the listener's XML stream parser.  The first input byte
 * chooses where the rest is split into two feeds, so split points are
 * explored too; every element is serialized, as the listener does.
 * `make fuzz` runs it under libFuzzer; `make check` replays the corpus.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/xml.h"
#include "common/xml_write.h"

static void on_open(void *arg, const char *ns, const struct xml_attr *attrs)
{
	(void)arg, (void)ns, (void)attrs;
}

static void on_element(void *arg, struct xml_node *element)
{
	struct buf out;
	(void)arg;
	buf_init(&out, 1 << 20);
	xml_serialize(element, XML_NS_CLIENT, "a@b/c", NULL, &out);
	buf_free(&out);
}

static void on_close(void *arg)
{
	(void)arg;
}

static const struct xml_stream_events events = {on_open, on_element, on_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct xml_limits limits = {.max_stanza_size = 4096, .max_depth = 16, .max_attributes = 16};
	struct xml_stream *s = xml_stream_new(&limits, &events, NULL);
	if (s == NULL)
		return 0;
	size_t split = (size_t)data[0] * (size - 1) / 255;
	const char *text = (const char *)data + 1;
	size_t used = xml_stream_feed(s, text, split);
	if (used == split && xml_stream_error(s) == NULL)
		xml_stream_feed(s, text + split, size - 1 - split);
	xml_stream_free(s);
	return 0;
}
