/* SPDX-License-Identifier: MIT */
/*
 * XEP-0352 client state indication of one client session, pure: while the
 * client says it is inactive, what it is sent is sorted into what needs
 * prompt delivery (an iq, a message with a body or to the bare JID, anything
 * unknown) and what can wait (presence, messages to this full JID without a
 * body, such as chat states).  What waits is held, bounded in count, with
 * only the latest presence of each sender kept; an urgent stanza,
 * <active/>, the bound or the end of the session flushes it, in order,
 * before anything else.
 *
 * The stanzas are the router's deliveries, serialised by this listener
 * (xml_serialize: attributes in double quotes, `from` first after
 * any xmlns), so the sorting reads their first tag, never parses them.
 */
#ifndef RXMPP_LISTENER_CSI_H
#define RXMPP_LISTENER_CSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XML_NS_CSI "urn:xmpp:csi:0"

struct listener_csi_item {
	struct listener_csi_item *next;
	bool presence; /* available or unavailable presence: replaced by a later one */
	char *from;    /* in `bytes`' allocation; "" when it has none */
	uint32_t len;
	char bytes[];
};

struct listener_csi {
	bool inactive;
	struct listener_csi_item *head, **tail;
	uint32_t count;
};

enum listener_csi_verdict {
	LISTENER_CSI_SEND,  /* send it now (flush what is held first) */
	LISTENER_CSI_HELD,  /* kept */
	LISTENER_CSI_FLUSH, /* kept, and the bound is reached: flush all */
};

void listener_csi_init(struct listener_csi *csi);
/* Sorts a stanza for an inactive client; -1 (ENOMEM) keeps nothing. */
int listener_csi_offer(struct listener_csi *csi, uint32_t max_held, const char *bytes, size_t len,
		       enum listener_csi_verdict *verdict);
/* Takes the oldest held stanza (the caller frees it), or NULL. */
struct listener_csi_item *listener_csi_take(struct listener_csi *csi);
/* True when the stanza needs prompt delivery. */
bool listener_csi_urgent(const char *bytes, size_t len);

#endif
