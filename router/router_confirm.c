/* SPDX-License-Identifier: MIT */
/*
 * Telling the listener which of its stanzas this router is done with
 * (PROTO_ROUTED), so that a router that dies does not take unconfirmed
 * stanzas with it silently: the listener keeps a note of every stanza it
 * sent until it is confirmed here, and answers the rest when this process
 * goes (listener_route.c).  Runs in rxmpp-router.
 *
 * Both ends count the STANZA messages of the channel, which is ordered and
 * starts at zero with each new channel.  A stanza is done once routed here
 * (delivered, bounced or ended by rule), unless it went to the relay: then
 * once the relay no longer keeps it (acknowledged by the leader, or
 * bounced by the relay).  Each ROUTED says how far the router has read
 * (`through`), which of those stanzas the relay took since the last one
 * (`kept`), and the number of the oldest stanza the relay still keeps
 * (`oldest`): the relay keeps its stanzas in sequence order, so what it
 * took before that one is gone from it.  (One acknowledged behind an older
 * one still kept is released only with that one.)  ROUTED goes once per
 * loop turn, from a hook of the peer-link phase, before the IPC phase
 * flushes the channel to the listener.
 */
#include <stdlib.h>
#include <sys/uio.h>

#include "common/child.h"
#include "common/log.h"
#include "router.h"

/* Numbers in one ROUTED, well within an IPC frame. */
#define CONFIRM_KEPT_MAX 8192

/* One stanza handed to the relay: its relay sequence number and its
 * number on the listener's channel, oldest first. */
struct confirm_entry {
	uint64_t relay_seq;
	uint64_t number;
};

static struct {
	uint64_t received; /* STANZAs from the listener on this channel */
	uint64_t told;	   /* the last `through` sent */
	uint64_t oldest;   /* the last `oldest` sent */
	struct confirm_entry *ring;
	size_t head, count, cap;
	size_t unreported; /* entries at the back not yet in a `kept` */
} confirm;

void router_confirm_reset(void)
{
	free(confirm.ring);
	confirm = (typeof(confirm)){0};
}

static struct confirm_entry *confirm_at(size_t i)
{
	return &confirm.ring[(confirm.head + i) % confirm.cap];
}

void router_confirm_stanza(uint64_t relay_seq)
{
	confirm.received++;
	if (relay_seq == 0)
		return;
	if (confirm.count == confirm.cap) {
		size_t cap = confirm.cap ? 2 * confirm.cap : 256;
		struct confirm_entry *grown = malloc(cap * sizeof(*grown));
		/* Restarted (and the listener answers what was unconfirmed)
		 * rather than confirm what is not done. */
		if (grown == NULL)
			fatalx("out of memory for the stanzas the relay keeps");
		for (size_t i = 0; i < confirm.count; i++)
			grown[i] = *confirm_at(i);
		free(confirm.ring);
		confirm.ring = grown;
		confirm.head = 0;
		confirm.cap = cap;
	}
	confirm.count++;
	confirm.unreported++;
	*confirm_at(confirm.count - 1) = (struct confirm_entry){relay_seq, confirm.received};
}

static bool router_confirm_flush(struct ev_loop *loop, void *arg)
{
	(void)loop, (void)arg;
	uint64_t oldest_seq = router_cluster_oldest_kept();
	while (confirm.count > 0 && confirm.ring[confirm.head].relay_seq < oldest_seq) {
		confirm.head = (confirm.head + 1) % confirm.cap;
		confirm.count--;
		if (confirm.unreported > confirm.count)
			confirm.unreported = confirm.count; /* done before it was reported */
	}
	if (!child_peer_connected(PROC_LISTENER))
		return false;
	for (;;) {
		uint64_t oldest = confirm.count > 0 ? confirm.ring[confirm.head].number : 0;
		size_t first = confirm.count - confirm.unreported;
		size_t n =
		    confirm.unreported < CONFIRM_KEPT_MAX ? confirm.unreported : CONFIRM_KEPT_MAX;
		/* Beyond this message's numbers, the next one says the rest. */
		uint64_t through =
		    n < confirm.unreported ? confirm_at(first + n)->number - 1 : confirm.received;
		if (through == confirm.told && oldest == confirm.oldest && n == 0)
			return false;
		static uint64_t kept[CONFIRM_KEPT_MAX];
		for (size_t i = 0; i < n; i++)
			kept[i] = confirm_at(first + i)->number;
		struct proto_routed routed = {.through = through, .oldest = oldest, .kept = n};
		struct iovec iov[] = {{&routed, sizeof(routed)}, {kept, n * sizeof(kept[0])}};
		/* Not sent now (the channel is beyond its budget): with the next. */
		if (child_send_v(PROC_LISTENER, PROTO_ROUTED, 0, iov, 2) == -1)
			return false;
		confirm.told = through;
		confirm.oldest = oldest;
		confirm.unreported -= n;
		if (confirm.unreported == 0)
			return false;
	}
}

int router_confirm_init(struct ev_loop *loop)
{
	return ev_hook_add(loop, EV_PHASE_PEERLINKS, router_confirm_flush, NULL);
}
