/* SPDX-License-Identifier: MIT */
/*
 * The routing table of the router: sessions by (node, session id) and by
 * JID, clients grouped by bare JID (for bare-JID messages and presence),
 * components by address.  A follower holds its own sessions; the leader
 * holds every node's (registered over the stanza links).  A second login
 * with the same full JID replaces the first, which is told to end (RFC 6120
 * 7.7.2.2, conflict).
 */
#include <stdlib.h>
#include <string.h>

#include "common/jid.h"
#include "common/log.h"
#include "common/table.h"
#include "router.h"

static struct table *by_ref, *by_jid, *by_bare;
static uint64_t next_seq;

int router_routing_table_init(void)
{
	by_ref = table_new();
	by_jid = table_new();
	by_bare = table_new();
	return by_ref && by_jid && by_bare ? 0 : -1;
}

struct rsession *router_session_by_ref(struct rref ref)
{
	return table_get(by_ref, &ref, sizeof(ref));
}

struct rsession *router_session_by_jid(const char *jid)
{
	return table_get(by_jid, jid, strlen(jid));
}

struct rsession *router_sessions_of_bare(const char *bare)
{
	return table_get(by_bare, bare, strlen(bare));
}

size_t router_session_count(void)
{
	return table_count(by_ref);
}

static void bare_unlink(struct rsession *s)
{
	struct rsession *head = router_sessions_of_bare(s->bare);
	if (head == s) {
		if (s->next_of_bare != NULL)
			table_put(by_bare, s->bare, strlen(s->bare), s->next_of_bare, NULL);
		else
			table_remove(by_bare, s->bare, strlen(s->bare));
		return;
	}
	for (struct rsession *p = head; p != NULL; p = p->next_of_bare) {
		if (p->next_of_bare == s) {
			p->next_of_bare = s->next_of_bare;
			return;
		}
	}
}

static void session_free(struct rsession *s)
{
	free(s->sm_id);
	free(s->jid);
	free(s->bare);
	free(s);
}

void router_session_remove(struct rref ref)
{
	struct rsession *s = table_remove(by_ref, &ref, sizeof(ref));
	if (s == NULL)
		return;
	if (router_session_by_jid(s->jid) == s)
		table_remove(by_jid, s->jid, strlen(s->jid));
	if (s->kind == PROTO_SESSION_CLIENT)
		bare_unlink(s);
	log_debug("session %s ended (%zu left)", s->jid, router_session_count());
	session_free(s);
}

struct rsession *router_session_add(struct rref ref, uint32_t kind, const char *jid)
{
	struct rsession *s = calloc(1, sizeof(*s));
	char bare[JID_MAX];
	jid_bare(jid, bare, sizeof(bare));
	if (s == NULL || (s->jid = strdup(jid)) == NULL || (s->bare = strdup(bare)) == NULL) {
		if (s != NULL)
			session_free(s);
		return NULL;
	}
	s->ref = ref;
	s->kind = kind;
	s->seq = ++next_seq;
	/* Announced again after a restart or a leader change: what the keeper
	 * knows of it stays (router_sm.c). */
	struct rsession *same = router_session_by_ref(ref);
	if (same != NULL && kind == same->kind && strcmp(same->jid, jid) == 0) {
		s->sm_id = same->sm_id;
		s->sm_keeping = same->sm_keeping;
		same->sm_id = NULL;
	}
	router_session_remove(ref);
	struct rsession *older = router_session_by_jid(jid);
	if (older != NULL) {
		if (kind == PROTO_SESSION_CLIENT) {
			if (older->ref.node == ROUTER_LOCAL)
				router_kick(older->ref.session, PROTO_KICK_CONFLICT);
			else
				router_cluster_kick(older, PROTO_KICK_CONFLICT);
		}
		router_session_remove(older->ref);
	}
	void *replaced;
	if (table_put(by_ref, &s->ref, sizeof(s->ref), s, &replaced) == -1 ||
	    table_put(by_jid, s->jid, strlen(s->jid), s, &replaced) == -1) {
		table_remove(by_ref, &s->ref, sizeof(s->ref));
		session_free(s);
		return NULL;
	}
	if (kind == PROTO_SESSION_CLIENT) {
		s->next_of_bare = router_sessions_of_bare(s->bare);
		table_put(by_bare, s->bare, strlen(s->bare), s, &replaced);
	}
	log_debug("session %s up (%zu in all)", jid, router_session_count());
	return s;
}

void router_session_presence(struct rref ref, int priority, bool available)
{
	struct rsession *s = router_session_by_ref(ref);
	if (s == NULL)
		return;
	s->priority = priority;
	s->available = available;
	s->seq = ++next_seq;
}

struct collect {
	struct rref *refs;
	size_t count;
	size_t cap;
	uint64_t node;
};

static void collect_node(void *value, void *arg)
{
	struct rsession *s = value;
	struct collect *c = arg;
	if (s->ref.node != c->node || c->count == c->cap)
		return;
	c->refs[c->count++] = s->ref;
}

void router_sessions_clear_node(uint64_t node)
{
	/* Collected first: removing while walking the table would not be safe. */
	struct collect c = {.cap = table_count(by_ref), .node = node};
	c.refs = calloc(c.cap ? c.cap : 1, sizeof(*c.refs));
	if (c.refs == NULL)
		return;
	table_each(by_ref, collect_node, &c);
	for (size_t i = 0; i < c.count; i++)
		router_session_remove(c.refs[i]);
	if (c.count > 0)
		log_info("forgot %zu sessions of %s", c.count,
			 node == ROUTER_LOCAL ? "the listener" : "another node");
	free(c.refs);
}

struct each {
	void (*fn)(struct rsession *s, void *arg);
	void *arg;
	bool components_only;
};

static void each_session(void *value, void *arg)
{
	struct rsession *s = value;
	struct each *each = arg;
	if (!each->components_only || s->kind == PROTO_SESSION_COMPONENT)
		each->fn(s, each->arg);
}

void router_sessions_each(void (*fn)(struct rsession *s, void *arg), void *arg)
{
	struct each each = {.fn = fn, .arg = arg};
	table_each(by_ref, each_session, &each);
}

void router_components_each(void (*fn)(struct rsession *s, void *arg), void *arg)
{
	struct each each = {.fn = fn, .arg = arg, .components_only = true};
	table_each(by_ref, each_session, &each);
}
