/* SPDX-License-Identifier: MIT */
/*
 * Roster iqs as XML (RFC 6121 2.1-2.6, XEP-0237), pure: the request a
 * client sent, read out of its parsed <iq/> into owned strings (so that it
 * outlives the parser while the im process loads the roster), and the
 * stanzas the server answers with: the roster result, a push, an error.
 * im_roster.h decides; this only reads and writes.
 */
#ifndef RXMPP_IM_ROSTERIQ_H
#define RXMPP_IM_ROSTERIQ_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/ipc.h"
#include "common/xml.h"
#include "im_roster.h"

#define IM_ROSTERIQ_NS "jabber:iq:roster"
/* Groups of one item read at most; more is not-acceptable (RFC 6121
 * 2.3.3 leaves the bound to the server). */
#define IM_ROSTERIQ_GROUPS_MAX 64
/* Bytes of one group or name read at most, and of the name and groups
 * together: longer is refused as the request is read (not-acceptable),
 * and im_roster_set's limits are below this anyway. */
#define IM_ROSTERIQ_TEXT_MAX 4096
/* A get's ver kept at most; a longer one is none (the whole roster). */
#define IM_ROSTERIQ_VER_MAX 64
/* A roster result is one IPC frame from im to the router, and to the
 * listener, or on a peer link, with their headers: half a frame at most
 * (common/ipc.h).  Its <item/>s get all but 64 KiB of that: the rest is
 * for the iq's own head (an id of 255 bytes and two JIDs of 3071, each
 * escaped at worst six times over).  A write that would make the listed
 * items' XML longer is refused (im_work.c), so that every roster within
 * it is sent whole. */
#define IM_ROSTERIQ_RESULT_MAX (IPC_FRAME_MAX / 2)
#define IM_ROSTERIQ_ITEMS_MAX  (IM_ROSTERIQ_RESULT_MAX - 64 * 1024)

struct im_rosteriq_req {
	bool set;
	char *ver; /* a get's 'ver' (XEP-0237); NULL: none */
	/* A set's item: what im_roster_set takes (im_rosteriq_as_set). */
	size_t items;
	char *jid, *name;
	char *groups[IM_ROSTERIQ_GROUPS_MAX];
	size_t ngroups;
	bool remove;
	/* Set when the request is refused before im_roster_set sees it. */
	struct im_error bad;
	bool is_bad;
};

/* Reads an <iq type='get'|'set'/> whose first child is the roster
 * <query/>.  0, or -1 when memory ran out (*req then holds nothing to
 * free).  A request the server must refuse is 0 with is_bad set. */
int im_rosteriq_read(const struct xml_node *iq, bool set, struct im_rosteriq_req *req);
void im_rosteriq_req_free(struct im_rosteriq_req *req);
/* The view im_roster_set takes; valid while `req` is. */
void im_rosteriq_as_set(const struct im_rosteriq_req *req, struct im_roster_set *set);

/* The writers return -1 (size_t 0 for a push) when the stanza did not
 * fit `out`'s limit; what is in `out` then must not be sent. */
/* <item/> of a roster result or push (listed items only: the caller
 * skips the others). */
int im_rosteriq_item(struct buf *out, const struct im_roster_item *item);
/* The <item/>s of a result: every listed item of `roster`. */
int im_rosteriq_items(struct buf *out, const struct im_roster *roster);
/* The answer to a get: the items listed, with `ver` (NULL: none);
 * `roster` NULL: an empty result with no <query/> (2.6.3, the client's
 * copy is current).  `from` "" for none. */
int im_rosteriq_result(struct buf *out, const char *to, const char *from, const char *id,
		       const struct im_roster *roster, const char *ver);
/* An empty result (a set done). */
int im_rosteriq_done(struct buf *out, const char *to, const char *from, const char *id);
/* A push of `item`, or of the removal of `removed_jid` (item NULL), with
 * `ver` (NULL: none).  Returns the offset where the 'to' of each resource
 * goes (PROTO_IM_OUT's to_at), 0 when it did not fit. */
size_t im_rosteriq_push(struct buf *out, const char *id, const char *ver,
			const struct im_roster_item *item, const char *removed_jid);
/* An error answer (RFC 6120 8.3) with the condition and, when there is
 * one, the text. */
int im_rosteriq_error(struct buf *out, const char *to, const char *from, const char *id,
		      const struct im_error *err);

#endif
