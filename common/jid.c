/* SPDX-License-Identifier: MIT */
/* XMPP addresses; see jid.h. */
#include "jid.h"

#include <string.h>

static bool jid_local_valid(const char *p, size_t len)
{
	if (len == 0 || len > JID_PART_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		/* RFC 7622 3.3.1: these may not appear in a localpart; spaces and
		 * controls are outside the IdentifierClass. */
		if (c <= 0x20 || c == 0x7f || strchr("\"&'/:<>@", c) != NULL)
			return false;
	}
	return true;
}

static bool jid_domain_valid(const char *p, size_t len)
{
	if (len == 0 || len > JID_PART_MAX || p[len - 1] == '.')
		return false;
	/* An IPv6 literal in brackets is allowed by RFC 7622; DNS names are
	 * letters, digits and hyphens in labels of at most 63 bytes. */
	if (p[0] == '[')
		return len > 2 && p[len - 1] == ']' &&
		       strspn(p + 1, "0123456789abcdefABCDEF:.") >= len - 2;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80;
		if (!ok || ++label > 63)
			return false;
	}
	return true;
}

static bool jid_resource_valid(const char *p, size_t len)
{
	if (len == 0 || len > JID_PART_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

int jid_split(const char *text, size_t len, struct jid_parts *out)
{
	memset(out, 0, sizeof(*out));
	if (memchr(text, '\0', len) != NULL)
		return -1;
	/* RFC 7622 3.1: the first '/' starts the resource; before it, the
	 * first '@' ends the localpart. */
	const char *slash = memchr(text, '/', len);
	size_t head = slash ? (size_t)(slash - text) : len;
	const char *at = memchr(text, '@', head);
	const char *domain = text;
	if (at != NULL) {
		out->local = text;
		out->local_len = (size_t)(at - text);
		if (!jid_local_valid(out->local, out->local_len))
			return -1;
		domain = at + 1;
	}
	out->domain = domain;
	out->domain_len = (size_t)(text + head - domain);
	if (!jid_domain_valid(out->domain, out->domain_len))
		return -1;
	if (slash != NULL) {
		out->resource = slash + 1;
		out->resource_len = len - head - 1;
		if (!jid_resource_valid(out->resource, out->resource_len))
			return -1;
	}
	return 0;
}

size_t jid_bare(const char *jid, char *out, size_t out_size)
{
	size_t len = strcspn(jid, "/");
	if (len >= out_size)
		len = out_size - 1;
	memcpy(out, jid, len);
	out[len] = '\0';
	return len;
}
