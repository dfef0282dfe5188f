/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the router's decoding of a STANZA message, the routing
 * header, its strings and the serialized stanza (proto_route_unpack, as
 * the router runs it on what the listener and the stanza links send).
 * Whatever the input, it must end in a header or a refusal; a header it
 * accepts holds only known kinds and types, and packed again it gives the
 * input back byte for byte (nothing skipped, nothing read past the end).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_route_put(uint8_t *out, size_t at, const char *text, size_t len)
{
	memcpy(out + at, text, len);
	return at + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_route_view r;
	if (proto_route_unpack(data, size, &r) == -1)
		return 0;
	if (r.kind > PROTO_STANZA_IQ || r.type >= PROTO_STANZA_TYPE_END ||
	    r.stanza < (const char *)data || r.stanza_len == 0 ||
	    r.stanza + r.stanza_len != (const char *)data + size)
		abort();
	struct proto_route route = {
	    .kind = r.kind,
	    .type = (uint16_t)r.type,
	    .id_len = (uint16_t)strlen(r.id),
	    .from_len = (uint16_t)strlen(r.from),
	    .to_len = (uint16_t)strlen(r.to),
	    .payload_ns_len = (uint16_t)strlen(r.payload_ns),
	    .payload_name_len = (uint16_t)strlen(r.payload_name),
	    .stanza_len = (uint32_t)r.stanza_len,
	};
	uint8_t *again = malloc(size);
	if (again == NULL)
		return 0;
	size_t at = fuzz_route_put(again, 0, (const char *)&route, sizeof(route));
	if (at + route.id_len + route.from_len + route.to_len + route.payload_ns_len +
		route.payload_name_len + r.stanza_len !=
	    size)
		abort();
	at = fuzz_route_put(again, at, r.id, route.id_len);
	at = fuzz_route_put(again, at, r.from, route.from_len);
	at = fuzz_route_put(again, at, r.to, route.to_len);
	at = fuzz_route_put(again, at, r.payload_ns, route.payload_ns_len);
	at = fuzz_route_put(again, at, r.payload_name, route.payload_name_len);
	fuzz_route_put(again, at, r.stanza, r.stanza_len);
	if (memcmp(again, data, size) != 0)
		abort();
	free(again);
	return 0;
}
