/* SPDX-License-Identifier: MIT */
/*
 * The stored form of a roster item; see im_rosterval.h.  Run by the im
 * process on every value it reads from the store and by the roster fuzz
 * target: the decoder bounds every length before it allocates, and a value
 * it accepts encodes back to the same bytes.
 */
#include "im_rosterval.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jid.h"
#include "common/jidprep.h"

#define IM_ROSTERVAL_APPROVED 0x01
#define IM_ROSTERVAL_LISTED   0x02

static size_t im_rosterval_strlen(const char *s)
{
	return s == NULL ? 0 : strlen(s);
}

size_t im_rosterval_size(const struct im_roster_item *item)
{
	size_t n =
	    3 + 2 + im_rosterval_strlen(item->name) + 2 + im_rosterval_strlen(item->status) + 2;
	for (size_t i = 0; i < item->ngroups; i++)
		n += 2 + strlen(item->groups[i]);
	return n;
}

static unsigned char *im_rosterval_put_str(unsigned char *p, const char *s)
{
	size_t n = im_rosterval_strlen(s);
	p[0] = (unsigned char)(n >> 8);
	p[1] = (unsigned char)n;
	if (n > 0)
		memcpy(p + 2, s, n);
	return p + 2 + n;
}

size_t im_rosterval_encode(const struct im_roster_item *item, unsigned char *out, size_t out_size)
{
	size_t n = im_rosterval_size(item);
	if (n > out_size || item->ngroups > UINT16_MAX)
		return 0;
	unsigned char *p = out;
	*p++ = IM_ROSTERVAL_FORMAT;
	*p++ = (unsigned char)item->sub.state;
	*p++ = (unsigned char)((item->sub.approved ? IM_ROSTERVAL_APPROVED : 0) |
			       (item->listed ? IM_ROSTERVAL_LISTED : 0));
	p = im_rosterval_put_str(p, item->name);
	p = im_rosterval_put_str(p, item->status);
	*p++ = (unsigned char)(item->ngroups >> 8);
	*p++ = (unsigned char)item->ngroups;
	for (size_t i = 0; i < item->ngroups; i++)
		p = im_rosterval_put_str(p, item->groups[i]);
	return n;
}

int im_rosterval_utf8_valid(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp, min;
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (len - i - 1 < n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

struct im_rosterval_reader {
	const unsigned char *p;
	size_t left;
};

static int im_rosterval_u8(struct im_rosterval_reader *r, unsigned *v)
{
	if (r->left < 1)
		return -1;
	*v = r->p[0];
	r->p++, r->left--;
	return 0;
}

static int im_rosterval_u16(struct im_rosterval_reader *r, size_t *v)
{
	if (r->left < 2)
		return -1;
	*v = (size_t)r->p[0] << 8 | r->p[1];
	r->p += 2, r->left -= 2;
	return 0;
}

/* A length-prefixed string of at most `max` bytes into a new allocation;
 * *out stays NULL for an empty one. */
static int im_rosterval_str(struct im_rosterval_reader *r, size_t max, char **out)
{
	size_t n;
	*out = NULL;
	if (im_rosterval_u16(r, &n) == -1 || n > r->left || n > max)
		return -1;
	if (n == 0)
		return 0;
	if (!im_rosterval_utf8_valid((const char *)r->p, n))
		return -1;
	if ((*out = malloc(n + 1)) == NULL)
		return -1;
	memcpy(*out, r->p, n);
	(*out)[n] = '\0';
	r->p += n, r->left -= n;
	return 0;
}

static int im_rosterval_key(const char *key, size_t key_len, struct im_roster_item *item)
{
	struct jid_parts parts;
	char prepared[JID_MAX], why[JIDPREP_WHY_MAX];
	if (jid_split(key, key_len, &parts) == -1 || parts.resource_len != 0)
		return -1;
	/* Keys are written prepared; one that is not would be a second item
	 * for the same contact. */
	int n = jidprep_jid(key, key_len, prepared, sizeof(prepared), why, sizeof(why));
	if (n == -1 || (size_t)n != key_len || memcmp(prepared, key, key_len) != 0)
		return -1;
	return (item->jid = strdup(prepared)) == NULL ? -1 : 0;
}

static const char *im_rosterval_fields(struct im_rosterval_reader *r,
				       const struct im_roster_limits *limits,
				       struct im_roster_item *item)
{
	unsigned format, state, flags;
	if (im_rosterval_u8(r, &format) == -1 || format != IM_ROSTERVAL_FORMAT)
		return "format";
	if (im_rosterval_u8(r, &state) == -1 || state >= IM_SUB_STATES)
		return "state";
	if (im_rosterval_u8(r, &flags) == -1 ||
	    (flags & ~(unsigned)(IM_ROSTERVAL_APPROVED | IM_ROSTERVAL_LISTED)) != 0)
		return "flags";
	item->sub.state = (enum im_sub_state)state;
	item->sub.approved = (flags & IM_ROSTERVAL_APPROVED) != 0;
	item->listed = (flags & IM_ROSTERVAL_LISTED) != 0;
	if (im_rosterval_str(r, limits->name_max, &item->name) == -1)
		return "name";
	if (im_rosterval_str(r, limits->item_bytes_max, &item->status) == -1)
		return "status";
	size_t ngroups;
	/* Each group takes at least three bytes: a count beyond what is left
	 * is refused before anything is allocated. */
	if (im_rosterval_u16(r, &ngroups) == -1 || ngroups > r->left / 3)
		return "groups";
	if (ngroups > 0 && (item->groups = calloc(ngroups, sizeof(*item->groups))) == NULL)
		return "groups";
	for (size_t i = 0; i < ngroups; i++) {
		if (im_rosterval_str(r, limits->group_max, &item->groups[i]) == -1 ||
		    item->groups[i] == NULL) {
			item->ngroups = i + 1;
			return "group";
		}
		item->ngroups = i + 1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(item->groups[k], item->groups[i]) == 0)
				return "group repeated";
	}
	if (r->left != 0)
		return "trailing bytes";
	return NULL;
}

/* The rules that tie the fields together (im_rosterval.h). */
static const char *im_rosterval_consistent(const struct im_roster_item *item)
{
	enum im_sub_state s = item->sub.state;
	if (item->sub.approved && !(s == IM_SUB_NONE || s == IM_SUB_NONE_OUT || s == IM_SUB_TO))
		return "pre-approval";
	if (item->status != NULL && !im_sub_pending_in(s))
		return "status";
	if (!item->listed &&
	    (s != IM_SUB_NONE_IN || item->sub.approved || item->name != NULL || item->ngroups != 0))
		return "unlisted";
	return NULL;
}

int im_rosterval_decode(const char *key, size_t key_len, const unsigned char *value, size_t len,
			const struct im_roster_limits *limits, struct im_roster_item *item,
			const char **why)
{
	memset(item, 0, sizeof(*item));
	*why = NULL;
	if (len > limits->item_bytes_max)
		*why = "size";
	else if (im_rosterval_key(key, key_len, item) == -1)
		*why = "key";
	if (*why == NULL) {
		struct im_rosterval_reader r = {value, len};
		*why = im_rosterval_fields(&r, limits, item);
	}
	if (*why == NULL)
		*why = im_rosterval_consistent(item);
	if (*why == NULL)
		return 0;
	im_roster_item_free(item);
	return -1;
}
