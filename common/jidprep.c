/* SPDX-License-Identifier: MIT */
/*
 * JID preparation; see jidprep.h.  Each part is decoded from UTF-8 here
 * (strictly: libidn's own decoder lets overlong forms and surrogates
 * through), prepared by libidn's stringprep_4i with its XMPP profiles, and
 * encoded again.  When libidn refuses a part, the code point at fault is
 * found by preparing the part's code points one at a time: slow, but only
 * on the way to an error.
 */
#include "jidprep.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stringprep.h>

#include "jid.h"

/* Mapping and NFKC may lengthen a part (U+FDFA becomes 18 code points);
 * what would not fit here is far beyond the 1023-byte limit anyway. */
#define JIDPREP_UCS4_MAX (4 * JID_PART_MAX)

struct jidprep_part {
	const char *name; /* for reasons: "localpart" */
	const Stringprep_profile *profile;
	Stringprep_profile_flags flags;
	/* What the profile does to ASCII (see jidprep_ascii): fold A-Z
	 * (table B.2) or not, and which characters it refuses. */
	bool ascii_fold;
	const bool *ascii_refused; /* 128 entries */
};

/* Controls (C.2.1), and for Nodeprep also space (C.1.1) and its own table
 * (RFC 3920 A.5).  Nameprep refuses no ASCII (a NUL is refused before). */
static const bool jidprep_node_refused[128] = {
    [0x00 ... 0x20] = true, ['"'] = true, ['&'] = true, ['\''] = true, ['/'] = true,
    [':'] = true,	    ['<'] = true, ['>'] = true, ['@'] = true,  [0x7f] = true};
static const bool jidprep_resource_refused[128] = {[0x00 ... 0x1f] = true, [0x7f] = true};
static const bool jidprep_domain_refused[128] = {[0x00] = true};

/* Localparts name accounts and domainparts name this server and its
 * components: stored strings, where RFC 3454 7 refuses unassigned code
 * points (a later Unicode may give them a case mapping, and the stored name
 * would no longer be the prepared one).  A resourcepart is never stored and
 * clients choose it freely (a device name with an emoji, which Unicode 3.2
 * did not have): it is prepared as a query, as Prosody does. */
static const struct jidprep_part jidprep_local = {
    "localpart", stringprep_xmpp_nodeprep, STRINGPREP_NO_UNASSIGNED, true, jidprep_node_refused};
static const struct jidprep_part jidprep_domain = {
    "domainpart", stringprep_nameprep, STRINGPREP_NO_UNASSIGNED, true, jidprep_domain_refused};
static const struct jidprep_part jidprep_resource = {"resourcepart", stringprep_xmpp_resourceprep,
						     0, false, jidprep_resource_refused};

static int jidprep_fail(char *why, size_t why_size, const char *reason)
{
	snprintf(why, why_size, "%s", reason);
	return -1;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF.  The number of code points, or -1 with the byte offset
 * of the first bad sequence in `*bad`. */
static long jidprep_decode(const unsigned char *in, size_t len, uint32_t *out, size_t out_max,
			   size_t *bad)
{
	size_t n = 0;
	for (size_t i = 0; i < len; n++) {
		unsigned char c = in[i];
		uint32_t cp, min;
		size_t more;
		if (c < 0x80) {
			cp = c, more = 0, min = 0;
		} else if (c >= 0xc2 && c <= 0xdf) {
			cp = c & 0x1f, more = 1, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			cp = c & 0x0f, more = 2, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			cp = c & 0x07, more = 3, min = 0x10000;
		} else {
			*bad = i;
			return -1;
		}
		if (more >= len - i || n == out_max) {
			*bad = i;
			return -1;
		}
		for (size_t k = 1; k <= more; k++) {
			if ((in[i + k] & 0xc0) != 0x80) {
				*bad = i;
				return -1;
			}
			cp = (cp << 6) | (in[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*bad = i;
			return -1;
		}
		out[n] = cp;
		i += more + 1;
	}
	return (long)n;
}

/* The UTF-8 length of `n` code points, or -1 when over `max` bytes. */
static long jidprep_encode(const uint32_t *in, size_t n, char *out, size_t max)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t cp = in[i];
		size_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		if (len + need > max)
			return -1;
		if (need == 1) {
			out[len++] = (char)cp;
			continue;
		}
		static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
		out[len++] = (char)(lead[need] | (cp >> (6 * (need - 1))));
		for (size_t k = need - 1; k > 0; k--)
			out[len++] = (char)(0x80 | ((cp >> (6 * (k - 1))) & 0x3f));
	}
	return (long)len;
}

/* Why libidn refused the whole part: the first code point that the
 * profile refuses on its own, or the bidirectional rule that failed. */
static int jidprep_explain(const struct jidprep_part *part, const uint32_t *cps, size_t n, int rc,
			   char *why, size_t why_size)
{
	char reason[64];
	switch (rc) {
	case STRINGPREP_CONTAINS_PROHIBITED:
	case STRINGPREP_CONTAINS_UNASSIGNED:
	case STRINGPREP_BIDI_CONTAINS_PROHIBITED:
		for (size_t i = 0; i < n; i++) {
			uint32_t one[32] = {cps[i]};
			size_t one_len = 1;
			int one_rc = stringprep_4i(one, &one_len, sizeof(one) / sizeof(one[0]),
						   part->flags, part->profile);
			if (one_rc == STRINGPREP_CONTAINS_UNASSIGNED) {
				snprintf(reason, sizeof(reason), "unassigned code point U+%04X",
					 (unsigned)cps[i]);
				return jidprep_fail(why, why_size, reason);
			}
			if (one_rc == STRINGPREP_CONTAINS_PROHIBITED ||
			    one_rc == STRINGPREP_BIDI_CONTAINS_PROHIBITED) {
				snprintf(reason, sizeof(reason), "prohibited character U+%04X",
					 (unsigned)cps[i]);
				return jidprep_fail(why, why_size, reason);
			}
		}
		break;
	case STRINGPREP_BIDI_BOTH_L_AND_RAL:
		return jidprep_fail(why, why_size,
				    "mixes left-to-right and right-to-left characters");
	case STRINGPREP_BIDI_LEADTRAIL_NOT_RAL:
		return jidprep_fail(why, why_size,
				    "right-to-left text must start and end with a "
				    "right-to-left character");
	case STRINGPREP_TOO_SMALL_BUFFER:
		return jidprep_fail(why, why_size, "longer than 1023 bytes");
	}
	return jidprep_fail(why, why_size, stringprep_strerror((Stringprep_rc)rc));
}

/*
 * ASCII, by far the common case, is prepared here, as libidn would: on ASCII
 * the three profiles' mappings (B.1 has no ASCII; B.2 folds A-Z), NFKC,
 * bidi rules and unassigned table change nothing, and their prohibitions
 * come down to controls (C.2.1: Nodeprep, Resourceprep), space (C.1.1) and
 * Nodeprep's own "&'/:<>@.  libidn normalises through UTF-8 with
 * allocations, about 5 us a JID, against 0.1 us here, on a path every stanza
 * takes.  check_jidprep and the jidprep fuzz target compare the two.
 * 1 when `in` is not all ASCII (then libidn prepares it).
 */
static int jidprep_ascii(const struct jidprep_part *part, const char *in, size_t len, char *out,
			 size_t max, char *why, size_t why_size)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)in[i] >= 0x80)
			return 1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (part->ascii_refused[c]) {
			char reason[48];
			snprintf(reason, sizeof(reason), "prohibited character U+%04X", c);
			return jidprep_fail(why, why_size, reason);
		}
	}
	if (len > max)
		return jidprep_fail(why, why_size, "longer than 1023 bytes");
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		out[i] = part->ascii_fold && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return 0;
}

/* What is not ASCII, by libidn. */
static int jidprep_unicode(const struct jidprep_part *part, const char *in, size_t len, char *out,
			   size_t max, char *why, size_t why_size)
{
	uint32_t cps[JIDPREP_UCS4_MAX], prepared[JIDPREP_UCS4_MAX];
	size_t bad = 0;
	long n = jidprep_decode((const unsigned char *)in, len, cps, JIDPREP_UCS4_MAX, &bad);
	if (n < 0) {
		char reason[48];
		snprintf(reason, sizeof(reason), "invalid UTF-8 at byte %zu", bad + 1);
		return jidprep_fail(why, why_size, reason);
	}
	/* libidn's normalisation ends a string at its first zero and would
	 * prepare only what comes before; no profile allows a NUL anyway. */
	for (long i = 0; i < n; i++) {
		if (cps[i] == 0)
			return jidprep_fail(why, why_size, "prohibited character U+0000");
	}
	memcpy(prepared, cps, (size_t)n * sizeof(cps[0]));
	size_t prepared_len = (size_t)n;
	int rc =
	    stringprep_4i(prepared, &prepared_len, JIDPREP_UCS4_MAX, part->flags, part->profile);
	if (rc != STRINGPREP_OK)
		return jidprep_explain(part, cps, (size_t)n, rc, why, why_size);
	if (prepared_len == 0)
		return jidprep_fail(why, why_size, "empty when prepared");
	long out_len = jidprep_encode(prepared, prepared_len, out, max);
	if (out_len < 0)
		return jidprep_fail(why, why_size, "longer than 1023 bytes");
	out[out_len] = '\0';
	return (int)out_len;
}

/* Prepares one part into out (NUL-terminated); its length, or -1. */
static int jidprep_one(const struct jidprep_part *part, const char *in, size_t len, char *out,
		       size_t out_size, char *why, size_t why_size)
{
	if (len == 0)
		return jidprep_fail(why, why_size, "empty");
	if (len > JIDPREP_UCS4_MAX)
		return jidprep_fail(why, why_size, "longer than 1023 bytes");
	size_t max = out_size - 1 < JID_PART_MAX ? out_size - 1 : JID_PART_MAX;
	int ascii = jidprep_ascii(part, in, len, out, max, why, why_size);
	if (ascii != 1)
		return ascii == 0 ? (int)len : -1;
	return jidprep_unicode(part, in, len, out, max, why, why_size);
}

int jidprep_node(const char *text, size_t len, char *out, size_t out_size, char *why,
		 size_t why_size)
{
	int n = jidprep_one(&jidprep_local, text, len, out, out_size, why, why_size);
	if (n == -1)
		out[0] = '\0';
	return n;
}

/* Prepares one part of a JID and appends it at out + *n; the reason
 * carries the part's name. */
static int jidprep_append(const struct jidprep_part *part, const char *in, size_t len, char *out,
			  size_t *n, size_t out_size, char *why, size_t why_size)
{
	char prepared[JID_PART_MAX + 1], reason[JIDPREP_WHY_MAX];
	int k = jidprep_one(part, in, len, prepared, sizeof(prepared), reason, sizeof(reason));
	if (k != -1 && part == &jidprep_domain && strpbrk(prepared, "@/") != NULL) {
		/* NFKC makes '@' and '/' of their full-width forms: in a
		 * domain they would move the boundaries of the parts. */
		snprintf(reason, sizeof(reason), "not a host name or an IP literal");
		k = -1;
	}
	if (k != -1 && *n + (size_t)k >= out_size) {
		snprintf(reason, sizeof(reason), "too long");
		k = -1;
	}
	if (k == -1) {
		snprintf(why, why_size, "%s: %s", part->name, reason);
		return -1;
	}
	memcpy(out + *n, prepared, (size_t)k);
	*n += (size_t)k;
	return 0;
}

static int jidprep_parts(const char *text, size_t len, char *out, size_t out_size, char *why,
			 size_t why_size)
{
	/* RFC 7622 3.1: the first '/' starts the resource; before it, the
	 * first '@' ends the localpart.  Split before preparing, as the
	 * profiles may map other characters to either. */
	const char *slash = memchr(text, '/', len);
	size_t head = slash ? (size_t)(slash - text) : len;
	const char *at = memchr(text, '@', head);
	const char *domain = at ? at + 1 : text;
	size_t n = 0;
	if (at != NULL) {
		if (jidprep_append(&jidprep_local, text, (size_t)(at - text), out, &n, out_size - 1,
				   why, why_size) == -1)
			return -1;
		out[n++] = '@';
	}
	if (jidprep_append(&jidprep_domain, domain, (size_t)(text + head - domain), out, &n,
			   out_size - 1, why, why_size) == -1)
		return -1;
	if (slash != NULL) {
		out[n++] = '/';
		if (jidprep_append(&jidprep_resource, slash + 1, len - head - 1, out, &n,
				   out_size - 1, why, why_size) == -1)
			return -1;
	}
	out[n] = '\0';
	/* Nameprep knows no DNS syntax: the prepared domain must still be a
	 * host name or an IP literal (RFC 7622 3.2). */
	struct jid_parts parts;
	if (jid_split(out, n, &parts) == -1) {
		snprintf(why, why_size, "domainpart: not a host name or an IP literal");
		return -1;
	}
	return (int)n;
}

int jidprep_jid(const char *text, size_t len, char *out, size_t out_size, char *why,
		size_t why_size)
{
	int n = jidprep_parts(text, len, out, out_size, why, why_size);
	if (n == -1)
		out[0] = '\0';
	return n;
}
