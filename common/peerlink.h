/* SPDX-License-Identifier: MIT */
/*
 * A link between two nodes of a cluster: TCP with mutual TLS (the cluster
 * trust bundle on both sides), carrying the frames of ipc.h (16-byte header
 * and payload).  The first frame each way is struct peerlink_hello, naming
 * the node (a claim: the certificate, peerlink_fingerprint, is the proof
 * that its owner checks); a link that says nothing within its deadline, sends a bad frame
 * or fails TLS is closed with one log line naming the address.
 *
 * Used by the elector for heartbeats and votes (and, separately, by the
 * router for stanzas), so the two kinds of traffic never share a queue.
 *
 * What is sent in one turn of the loop leaves as one TLS record before the
 * loop sleeps; peerlink_sendv gathers a frame from pieces straight into it.
 */
#ifndef RXMPP_PEERLINK_H
#define RXMPP_PEERLINK_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ev.h"
#include "ipc.h"

/* Stanza links carry stanzas of up to the configured maximum (1 MiB). */
#define PEERLINK_FRAME_MAX	  IPC_FRAME_MAX
#define PEERLINK_HELLO		  1  /* frame type of the hello; others are the user's */
#define PEERLINK_FINGERPRINT_SIZE 32 /* SHA-256 of the peer's certificate */

/*
 * Versions and compatibility: the rule (README "Upgrades and
 * compatibility"; CHANGELOG.md records which version each release speaks).
 *
 * PEERLINK_VERSION is the protocol this build speaks on every peer link,
 * both kinds (the elector's frames, elector/elector_wire.h, and the stanza
 * relay's, router/router_relay_wire.h): one number for the hello, every
 * frame type and every payload layout of both.  A release speaks its own
 * version N and the previous release's N-1 (PEERLINK_VERSION_MIN); each
 * side says its range in the hello, both take the highest version in both
 * ranges (peerlink_version_agree, the same answer on both ends without a
 * round trip), and a peer with no common version is refused with a log
 * line naming both ranges and what to do.  So:
 *
 *   - Any change to what goes over a link after a release (a new frame
 *     type, a field, a size: the heartbeat grew in d64d20d) raises
 *     PEERLINK_VERSION once in the next release's cycle, and the codecs
 *     keep encoding and decoding version N-1 for links that agreed on it
 *     (peerlink_version); PEERLINK_VERSION_MIN becomes the previous
 *     release's version.  tests/unit/check_wire_versions.c pins every
 *     layout of the released versions and fails when one changes under
 *     the same number.
 *   - A feature that needs version N of every node (replicated state)
 *     switches on only when the leader has heard every member speak N
 *     (the hellos of its links tell it each member's range); until then
 *     the cluster keeps to N-1.
 *   - A node more than one release behind is upgraded offline: every node
 *     stopped, upgraded, started.
 *
 * 1: rxmpp 0.1.0.  2: development builds between 0.1.0 and 0.2.0 (members
 * carry certificate fingerprints; the heartbeat grew twice), never released.
 * 3: rxmpp 0.2.0, the first release under this rule; it speaks only 3.
 * 4: the stanza links' KEEP_ frames (stream management across nodes,
 * router/router_relay_wire.h); a link that agreed on 3 carries none, and
 * the sessions of the nodes at its ends are not kept by each other.
 *    And the replicated log (elector/elector_wire.h: ELECTOR_WIRE_LOG and
 * after); links of 3 keep 0.2.0's frames, and the cluster's log carries
 * only memberships until every member speaks 4.
 */
#define PEERLINK_VERSION     4
#define PEERLINK_VERSION_MIN 3

struct peerlink_hello {
	uint16_t version;     /* the highest protocol version the sender speaks */
	uint16_t version_min; /* its lowest; 0 before 0.2.0 (a uint32_t version then) */
	uint32_t kind;	      /* what the link carries, so a wrong port is noticed */
	uint64_t node_id;
	char address[128]; /* where the sender listens; printable, ended */
};
_Static_assert(sizeof(struct peerlink_hello) == 144, "peerlink_hello has a fixed size");

struct peerlink;

struct peerlink_events {
	/* The peer said hello: its id and address are known. */
	void (*up)(struct peerlink *l, void *arg);
	void (*message)(struct peerlink *l, const struct ipc_msg *msg, void *arg);
	/* Called once; the owner frees the link (it may do so inside). */
	void (*closed)(struct peerlink *l, const char *reason, void *arg);
};

/* Connects to host:port (numeric or resolvable); NULL with the reason. */
struct peerlink *peerlink_connect(struct ev_loop *loop, SSL_CTX *ctx, const char *address,
				  const struct peerlink_hello *hello,
				  const struct peerlink_events *events, void *arg, char *why,
				  size_t why_size);
void peerlink_free(struct peerlink *l);

/* A listening socket for links from other nodes.  Each connection that
 * arrives is offered to the owner's admit callback, which fills in how to
 * serve it, or refuses it with a reason that is logged (at most once per
 * LOG_LIMIT_INTERVAL_MS) with the peer's address.  Until its TLS handshake
 * and hello are done the link belongs to the listener, which bounds such
 * links per source address and in all (see peerlink.c); the owner gets it
 * in events->up and keeps or frees it from there. */
struct peerlink_admission {
	SSL_CTX *ctx;
	struct peerlink_hello hello;
	const struct peerlink_events *events;
	void *arg;
};
typedef int peerlink_admit_cb(struct peerlink_admission *admission, const char **refusal,
			      void *arg);
struct peerlink_listener;
/* Takes `fd`; `what` names the links in the log ("cluster link"). */
struct peerlink_listener *peerlink_listen(struct ev_loop *loop, int fd, const char *what,
					  peerlink_admit_cb *admit, void *arg);
/* Stops listening and closes the socket; links already accepted stay. */
void peerlink_listener_free(struct peerlink_listener *pl);

/* Queues one frame for this turn's record; -1 if the link is not up, the
 * frame too long or the output full.  The frame is the pieces in order.
 * A frame that cannot be queued on an up link breaks it: it is down from
 * then on (every later frame is refused, so none overtakes the lost one)
 * and closes on the next loop turn through events->closed, whose owner
 * then sends again what the peer did not confirm. */
int peerlink_sendv(struct peerlink *l, uint16_t type, const struct iovec *iov, size_t count);
int peerlink_send(struct peerlink *l, uint16_t type, const void *data, size_t len);
bool peerlink_is_up(const struct peerlink *l);
/* Stops reading frames from the peer for now, or reads again
 * (backpressure: where they go is congested).  Its end is still noticed. */
void peerlink_pause_input(struct peerlink *l, bool paused);
/* Bytes queued on the link and not yet sent: what a sender of bulk (a
 * snapshot in chunks) paces itself by, well below the link's limit. */
size_t peerlink_queued(const struct peerlink *l);
/* The version both ends agreed on (see above); valid once the link is up. */
unsigned peerlink_version(const struct peerlink *l);
/* The highest version in both [local_min, local_max] and the remote's
 * range (remote_min 0: it speaks only remote_max), or 0 with the refusal
 * in `why`: both ranges, and which node to upgrade. */
unsigned peerlink_version_agree(unsigned local_min, unsigned local_max, unsigned remote_min,
				unsigned remote_max, char *why, size_t why_size);
const struct peerlink_hello *peerlink_remote(const struct peerlink *l);
const char *peerlink_peer(const struct peerlink *l);
/* The peer's certificate and its SHA-256 fingerprint: who the peer is
 * (its hello only says what it claims); valid once the link is up. */
const uint8_t *peerlink_fingerprint(const struct peerlink *l);
X509 *peerlink_certificate(const struct peerlink *l);

#endif
