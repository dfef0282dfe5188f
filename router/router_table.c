/*
 * The routing table of the router: every bound session by id and by JID,
 * clients grouped by bare JID (for bare-JID messages and presence), and
 * components by address.  A second login with the same full JID replaces the
 * first, which is told to end (RFC 6120 7.7.2.2, conflict).
 */
#include <stdlib.h>
#include <string.h>

#include "common/jid.h"
#include "common/log.h"
#include "common/table.h"
#include "router.h"

static struct table *by_id, *by_jid, *by_bare;
static uint64_t next_seq;

int routing_table_init(void)
{
	by_id = table_new();
	by_jid = table_new();
	by_bare = table_new();
	return by_id && by_jid && by_bare ? 0 : -1;
}

struct rsession *session_by_id(uint64_t id)
{
	return table_get(by_id, &id, sizeof(id));
}

struct rsession *session_by_jid(const char *jid)
{
	return table_get(by_jid, jid, strlen(jid));
}

struct rsession *sessions_of_bare(const char *bare)
{
	return table_get(by_bare, bare, strlen(bare));
}

size_t session_count(void)
{
	return table_count(by_id);
}

static void bare_unlink(struct rsession *s)
{
	struct rsession *head = sessions_of_bare(s->bare);
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
	free(s->jid);
	free(s->bare);
	free(s);
}

void session_remove(uint64_t id)
{
	struct rsession *s = table_remove(by_id, &id, sizeof(id));
	if (s == NULL)
		return;
	if (session_by_jid(s->jid) == s)
		table_remove(by_jid, s->jid, strlen(s->jid));
	if (s->kind == PROTO_SESSION_CLIENT)
		bare_unlink(s);
	log_debug("session %s ended (%zu left)", s->jid, session_count());
	session_free(s);
}

struct rsession *session_add(uint64_t id, uint32_t kind, const char *jid)
{
	struct rsession *s = calloc(1, sizeof(*s));
	char bare[JID_MAX];
	jid_bare(jid, bare, sizeof(bare));
	if (s == NULL || (s->jid = strdup(jid)) == NULL || (s->bare = strdup(bare)) == NULL) {
		if (s != NULL)
			session_free(s);
		return NULL;
	}
	s->id = id;
	s->kind = kind;
	s->seq = ++next_seq;
	session_remove(id); /* announced again after a router or listener restart */
	struct rsession *older = session_by_jid(jid);
	if (older != NULL) {
		if (kind == PROTO_SESSION_CLIENT)
			router_kick(older->id, PROTO_KICK_CONFLICT);
		session_remove(older->id);
	}
	void *replaced;
	if (table_put(by_id, &s->id, sizeof(s->id), s, &replaced) == -1 ||
	    table_put(by_jid, s->jid, strlen(s->jid), s, &replaced) == -1) {
		table_remove(by_id, &s->id, sizeof(s->id));
		session_free(s);
		return NULL;
	}
	if (kind == PROTO_SESSION_CLIENT) {
		s->next_of_bare = sessions_of_bare(s->bare);
		table_put(by_bare, s->bare, strlen(s->bare), s, &replaced);
	}
	log_debug("session %s up (%zu in all)", jid, session_count());
	return s;
}

void session_presence(uint64_t id, int priority, bool available)
{
	struct rsession *s = session_by_id(id);
	if (s == NULL)
		return;
	s->priority = priority;
	s->available = available;
	s->seq = ++next_seq;
}

static void free_each(void *value, void *arg)
{
	(void)arg;
	session_free(value);
}

void sessions_clear(void)
{
	size_t n = session_count();
	table_each(by_id, free_each, NULL);
	table_free(by_id);
	table_free(by_jid);
	table_free(by_bare);
	if (routing_table_init() == -1)
		log_warnx("out of memory rebuilding the routing table");
	if (n > 0)
		log_info("forgot %zu sessions of the listener", n);
}

struct each_component {
	void (*fn)(struct rsession *s, void *arg);
	void *arg;
};

static void component_each(void *value, void *arg)
{
	struct rsession *s = value;
	struct each_component *each = arg;
	if (s->kind == PROTO_SESSION_COMPONENT)
		each->fn(s, each->arg);
}

void components_each(void (*fn)(struct rsession *s, void *arg), void *arg)
{
	struct each_component each = {.fn = fn, .arg = arg};
	table_each(by_id, component_each, &each);
}
