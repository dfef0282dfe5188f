/*
 * rxmpp-router: shared declarations of its parts.
 *
 *   router_main.c   the process: configuration, the channel to the listener
 *   router_table.c  the routing table: sessions, full and bare JIDs, components
 *   router_route.c  routing rules (RFC 6120 10, RFC 6121 8), errors and the
 *                   server's own iqs
 *
 * The router never parses XML: it routes on the header the listener sends
 * with each stanza, and writes the few replies it makes itself.
 */
#ifndef RXMPP_ROUTER_H
#define RXMPP_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/proto.h"
#include "config/config.h"

struct rsession {
	uint64_t id;
	uint32_t kind; /* enum proto_session_kind */
	char *jid;     /* full JID of a client, or a component's address */
	char *bare;
	bool available;
	int priority;
	uint64_t seq; /* when it last bound or sent presence: newer wins ties */
	struct rsession *next_of_bare;
};

/* router_table.c */
int routing_table_init(void);
struct rsession *session_add(uint64_t id, uint32_t kind, const char *jid);
void session_remove(uint64_t id);
void session_presence(uint64_t id, int priority, bool available);
struct rsession *session_by_id(uint64_t id);
struct rsession *session_by_jid(const char *jid);
struct rsession *sessions_of_bare(const char *bare);
/* Forgets every session (the listener went away). */
void sessions_clear(void);
size_t session_count(void);
/* Calls fn for every component session. */
void components_each(void (*fn)(struct rsession *s, void *arg), void *arg);

/* router_route.c */
void route_init(const struct config *cfg);
void route_stanza(uint64_t origin, const void *data, size_t len);

/* router_main.c */
void router_deliver(uint64_t session, const char *bytes, size_t len);
void router_kick(uint64_t session, uint32_t reason);

#endif
