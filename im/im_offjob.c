/* SPDX-License-Identifier: MIT */
/*
 * Offline messages (XEP-0160 behaviour, RFC 6121 8.5.2.2.1 and 8.5.3.2),
 * jobs of the im process (im_job.h); the policy is im_offline.h's.
 *
 * Store: the router hands over a message of type chat, normal or none for
 * an account of the domain with no available resource.  The user's
 * OFFLINE usage is read (one item that cannot exist, so that only the
 * collection's count and bytes come back), im_offline_admit decides, and
 * the message is APPENDed with the time, the quota in the command (the
 * machine enforces it again, deterministically).  Nothing is said to the
 * sender when it is committed; every other outcome bounces the message
 * with the error named (never silence).
 *
 * Delivery: on an initial presence of non-negative priority (XEP-0160 4),
 * the collection is read page by page; each page is sorted, stamped with
 * the XEP-0203 delay and handed to the router for that session, and only
 * then TAKEn up to its last key.  A crash between the hand-over and the
 * commit of the TAKE delivers those messages again at the next initial
 * presence: a duplicate rather than a loss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/child.h"
#include "common/jidprep.h"
#include "common/log.h"
#include "common/xml_write.h"
#include "elector/elector_machine.h"
#include "elector/elector_userdata.h"
#include "im_job.h"
#include "im_offline.h"
#include "im_stanza.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
/* Pages one delivery reads at most: the quota's 2 MiB are 32 pages of
 * 64 KiB; more means the collection keeps growing under it. */
#define IM_OFFJOB_PAGES_MAX 64

enum phase { STORE_USAGE, STORE_APPEND, DELIVER_READ, DELIVER_TAKE };

static struct elector_userdata_limit configured;

void im_offjob_configure(const struct config *cfg)
{
	configured = (struct elector_userdata_limit){.count = cfg->limits.max_offline_messages,
						     .bytes = cfg->limits.max_offline_bytes};
}

/* The quota each command carries: the configuration of the im that
 * writes (the leader's), enforced by the state machine on every node. */
static struct im_offline_quota quota(struct elector_userdata_limit *limit)
{
	*limit = configured;
	return (struct im_offline_quota){.count_max = limit->count, .bytes_max = limit->bytes};
}

static void put(struct buf *b, const char *text)
{
	buf_append(b, text, strlen(text));
}

void im_offjob_error(const struct im_job *j, const struct im_error *err)
{
	if (j->kind != IM_JOB_OFFSTORE)
		return;
	/* RFC 6120 8.3.1: from the address the message was sent to, to its
	 * sender, with the same id. */
	struct buf b;
	buf_init(&b, 64 * 1024);
	put(&b, "<message type=\"error\" from=\"");
	xml_escape(&b, j->to, strlen(j->to), true);
	put(&b, "\" to=\"");
	xml_escape(&b, j->from, strlen(j->from), true);
	if (j->id[0] != '\0') {
		put(&b, "\" id=\"");
		xml_escape(&b, j->id, strlen(j->id), true);
	}
	put(&b, "\"><error type=\"");
	put(&b, err->type);
	put(&b, "\"><");
	put(&b, err->condition);
	put(&b, " xmlns=\"" NS_STANZAS "\"/>");
	if (err->text != NULL) {
		put(&b, "<text xmlns=\"" NS_STANZAS "\">");
		xml_escape(&b, err->text, strlen(err->text), false);
		put(&b, "</text>");
	}
	put(&b, "</error></message>");
	im_work_out(j, PROTO_IM_TO_ORIGIN, "", &b, PROTO_IM_NO_TO);
	buf_free(&b);
}

static void bounce(struct im_job *j, const char *type, const char *condition, const char *text)
{
	struct im_error err = {.type = type, .condition = condition, .text = text};
	log_info("a message from %s to %s is not stored offline: %s", j->from, j->to,
		 text != NULL ? text : condition);
	im_offjob_error(j, &err);
	im_work_finish();
}

/* The account of the domain `jid` names, into j->contact_user. */
static bool recipient(struct im_job *j, const char *jid)
{
	char prepared[JID_MAX], why[JIDPREP_WHY_MAX];
	struct jid_parts p;
	if (jidprep_jid(jid, strlen(jid), prepared, sizeof(prepared), why, sizeof(why)) == -1)
		return false;
	jid_bare(prepared, j->contact, sizeof(j->contact));
	if (jid_split(j->contact, strlen(j->contact), &p) == -1 || p.local_len == 0 ||
	    p.domain_len != strlen(im_work_domain()) ||
	    memcmp(p.domain, im_work_domain(), p.domain_len) != 0)
		return false;
	snprintf(j->contact_user, sizeof(j->contact_user), "%.*s", (int)p.local_len, p.local);
	return true;
}

static bool get(struct im_job *j, uint32_t flags, const void *key, size_t key_len)
{
	struct proto_userdata_get g = {
	    .collection = ELECTOR_USERDATA_OFFLINE,
	    .flags = flags,
	    .user_len = (uint16_t)strlen(j->contact_user),
	    .key_len = (uint16_t)key_len,
	};
	struct iovec iov[] = {
	    {&g, sizeof(g)}, {j->contact_user, g.user_len}, {(void *)key, key_len}};
	return im_work_request(PROTO_USERDATA_GET, iov, 3);
}

static bool propose(enum elector_machine_op op, struct im_job *j, const void *key, size_t key_len,
		    const void *value, size_t value_len)
{
	struct elector_userdata_limit limit;
	quota(&limit);
	struct buf cmd;
	buf_init(&cmd, PROTO_PROPOSE_MAX);
	bool sent = false;
	if (elector_machine_encode_userdata(&cmd, op, j->contact_user, ELECTOR_USERDATA_OFFLINE,
					    op == ELECTOR_MACHINE_USERDATA_APPEND ? &limit : NULL,
					    key, key_len, value, value_len) == -1) {
		if (op == ELECTOR_MACHINE_USERDATA_APPEND) {
			bounce(j, "cancel", "service-unavailable",
			       "the message is too large to be stored offline");
		} else {
			log_warnx("a take of %s's offline messages could not be encoded",
				  j->contact_user);
			im_work_finish();
		}
		buf_free(&cmd);
		return false;
	}
	struct proto_propose head = {.len = (uint32_t)buf_len(&cmd)};
	struct iovec iov[] = {{&head, sizeof(head)}, {(void *)buf_head(&cmd), buf_len(&cmd)}};
	sent = im_work_request(PROTO_PROPOSE, iov, 2);
	buf_free(&cmd);
	return sent;
}

/* XEP-0160 4: offline messages go to a resource whose initial presence
 * has a non-negative priority. */
static void read_priority(void *arg, struct xml_node *stanza)
{
	int *priority = arg;
	char text[16];
	struct xml_node *p = xml_child(stanza, "jabber:client", "priority");
	if (p == NULL)
		p = xml_child(stanza, "", "priority");
	if (p != NULL && xml_text(p, text, sizeof(text)) >= 0)
		*priority = atoi(text);
}

void im_offjob_after_initial(const struct im_job *j)
{
	int priority = 0;
	if (j->user[0] == '\0' ||
	    im_stanza_parse(j->stanza, j->stanza_len, im_work_xml_limits(), read_priority,
			    &priority) == -1 ||
	    priority < 0)
		return;
	struct im_job *k = im_work_job_new(IM_JOB_OFFDELIVER);
	if (k == NULL) {
		log_warnx("out of memory: the offline messages of %s wait for its next login",
			  j->bare);
		return;
	}
	k->origin = j->origin;
	k->phase = DELIVER_READ;
	snprintf(k->from, sizeof(k->from), "%s", j->from);
	snprintf(k->bare, sizeof(k->bare), "%s", j->bare);
	snprintf(k->user, sizeof(k->user), "%s", j->user);
	snprintf(k->contact, sizeof(k->contact), "%s", j->bare);
	snprintf(k->contact_user, sizeof(k->contact_user), "%s", j->user);
	im_work_push_front(k);
}

bool im_offjob_begin(struct im_job *j)
{
	if (j->kind == IM_JOB_OFFDELIVER)
		return get(j, 0, NULL, 0);
	if (!recipient(j, j->to)) {
		/* The router hands over only its domain's accounts. */
		bounce(j, "cancel", "service-unavailable", NULL);
		return false;
	}
	struct elector_userdata_limit limit;
	struct im_offline_quota q = quota(&limit);
	struct im_offline_usage none = {0};
	struct im_error err;
	/* Too large for the quota whatever the queue holds: said before
	 * anything is read, so the answer is the same for every address. */
	if (im_offline_admit(&q, &none, j->stanza_len, &err) == -1) {
		bounce(j, err.type, err.condition, err.text);
		return false;
	}
	/* A key no APPEND makes (index 0): the answer is the head alone. */
	static const unsigned char zero[8];
	j->phase = STORE_USAGE;
	return get(j, PROTO_USERDATA_ONE, zero, sizeof(zero));
}

static void stored_usage(struct im_job *j, const struct proto_userdata_answer *h)
{
	if (h->status == PROTO_USERDATA_NO_USER) {
		/* RFC 6121 8.5.2.2.1 / 8.5.1: no such account. */
		bounce(j, "cancel", "service-unavailable", NULL);
		return;
	}
	if (h->status == PROTO_USERDATA_NO_STATE) {
		bounce(j, "wait", "internal-server-error",
		       "the cluster's state holds nothing yet: the message cannot be stored");
		return;
	}
	struct elector_userdata_limit limit;
	struct im_offline_quota q = quota(&limit);
	struct im_offline_usage u = {.count = h->count, .bytes = h->bytes};
	struct im_error err;
	if (im_offline_admit(&q, &u, j->stanza_len, &err) == -1) {
		bounce(j, err.type, err.condition, err.text);
		return;
	}
	unsigned char *value = malloc(IM_OFFLINE_HEADER + j->stanza_len);
	size_t len = value == NULL
			 ? 0
			 : im_offline_encode((int64_t)time(NULL), j->stanza, j->stanza_len, value,
					     IM_OFFLINE_HEADER + j->stanza_len);
	if (len == 0) {
		free(value);
		bounce(j, "wait", "internal-server-error", "out of memory");
		return;
	}
	j->phase = STORE_APPEND;
	propose(ELECTOR_MACHINE_USERDATA_APPEND, j, NULL, 0, value, len);
	free(value);
}

static void appended(struct im_job *j, const struct proto_propose_result_view *r)
{
	if (r->head.status == PROTO_PROPOSE_REFUSED || r->head.status == PROTO_PROPOSE_UNKNOWN) {
		/* RFC 6120 8.3.3.8 with 8.3.2's "wait": no leader or quorum
		 * now; an unknown outcome may have stored it (a duplicate if
		 * the sender retries, rather than a loss). */
		bounce(j, "wait", "internal-server-error",
		       r->head.status == PROTO_PROPOSE_REFUSED
			   ? "the cluster cannot commit now: the message was not stored"
			   : "the cluster lost its leader: the message may or may not be stored");
		return;
	}
	if (r->head.outcome == ELECTOR_MACHINE_REFUSED) {
		/* No account, or the machine's quota (a write of another
		 * leader's im raced this read): the same answer as the core's. */
		log_info("an offline message for %s was refused: %s", j->contact_user, r->outcome);
		bounce(j, "cancel", "service-unavailable", NULL);
		return;
	}
	im_work_finish();
}

static void deliver_page(struct im_job *j, const struct proto_userdata_answer *h,
			 const uint8_t *items, size_t left)
{
	if (h->status != PROTO_USERDATA_OK || h->items == 0) {
		im_work_finish();
		return;
	}
	struct im_offline_entry *e = calloc(h->items, sizeof(*e));
	if (e == NULL) {
		log_warnx("out of memory: the offline messages of %s wait", j->bare);
		im_work_finish();
		return;
	}
	size_t n = 0;
	uint64_t last = 0;
	const uint8_t *key, *value;
	size_t key_len, value_len;
	while (n < h->items &&
	       proto_userdata_next_item(&items, &left, &key, &key_len, &value, &value_len)) {
		const char *why;
		if (im_offline_decode(key, key_len, value, value_len, PROTO_USERDATA_ANSWER_MAX,
				      &e[n], &why) == -1) {
			static struct log_limit bad;
			log_warnx_limited(&bad, "an offline message of %s is left out: %s",
					  j->contact_user, why);
			continue;
		}
		n++;
	}
	im_offline_sort(e, n);
	char delay[IM_OFFLINE_DELAY_MAX];
	bool handed = true;
	for (size_t i = 0; i < n && handed; i++) {
		struct buf b;
		size_t size = e[i].len + IM_OFFLINE_DELAY_MAX + 1;
		buf_init(&b, size);
		char *out = malloc(size);
		int len = -1;
		if (out != NULL &&
		    im_offline_delay(im_work_domain(), e[i].stamp, delay, sizeof(delay)) >= 0)
			len = im_offline_stamp(e[i].stanza, e[i].len, delay, out, size);
		if (len >= 0) {
			buf_append(&b, out, (size_t)len);
			handed = im_work_out(j, PROTO_IM_TO_ORIGIN, "", &b, PROTO_IM_NO_TO) == 0;
		} else {
			static struct log_limit unstamped;
			log_warnx_limited(&unstamped,
					  "an offline message of %s could not be stamped: kept",
					  j->contact_user);
			handed = false;
		}
		if (handed)
			last = e[i].key;
		free(out);
		buf_free(&b);
	}
	free(e);
	if (last == 0) {
		im_work_finish();
		return;
	}
	/* What was handed over is taken; anything after waits for the next
	 * initial presence. */
	unsigned char k[8];
	for (int i = 7; i >= 0; i--, last >>= 8)
		k[i] = (unsigned char)last;
	j->phase = DELIVER_TAKE;
	j->push = handed && h->more;
	propose(ELECTOR_MACHINE_USERDATA_TAKE, j, k, sizeof(k), NULL, 0);
}

static void taken(struct im_job *j, const struct proto_propose_result_view *r)
{
	if (r->head.status == PROTO_PROPOSE_REFUSED || r->head.status == PROTO_PROPOSE_UNKNOWN ||
	    r->head.outcome == ELECTOR_MACHINE_REFUSED) {
		log_warnx("offline messages of %s were delivered but not taken (%s): they will "
			  "come again at its next login",
			  j->contact_user, r->text[0] != '\0' ? r->text : r->outcome);
		im_work_finish();
		return;
	}
	if (j->push && ++j->pages < IM_OFFJOB_PAGES_MAX) {
		j->phase = DELIVER_READ;
		get(j, 0, NULL, 0);
		return;
	}
	im_work_finish();
}

void im_offjob_answer(struct im_job *j, const struct ipc_msg *msg)
{
	if (msg->type == PROTO_USERDATA_ANSWER &&
	    (j->phase == STORE_USAGE || j->phase == DELIVER_READ)) {
		struct proto_userdata_answer h;
		const uint8_t *items;
		size_t left;
		if (proto_userdata_answer_unpack(msg->data, msg->len, &h, &items, &left) == -1 ||
		    h.collection != ELECTOR_USERDATA_OFFLINE) {
			bounce(j, "wait", "internal-server-error",
			       "the cluster's state answered wrongly");
			return;
		}
		if (j->phase == STORE_USAGE)
			stored_usage(j, &h);
		else
			deliver_page(j, &h, items, left);
		return;
	}
	static struct proto_propose_result_view r;
	if (msg->type != PROTO_PROPOSE_RESULT ||
	    proto_propose_result_unpack(msg->data, msg->len, &r) == -1) {
		bounce(j, "wait", "internal-server-error", "the cluster's state answered wrongly");
		return;
	}
	if (j->phase == STORE_APPEND)
		appended(j, &r);
	else
		taken(j, &r);
}
