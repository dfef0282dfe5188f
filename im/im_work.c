/* SPDX-License-Identifier: MIT */
/*
 * The roster iqs the router hands over (RFC 6121 2.1-2.6, XEP-0237), one
 * at a time, each in three steps:
 *
 *   load    read the user's ROSTER collection from this node's elector
 *           (PROTO_USERDATA_GET, page by page; a change of version between
 *           pages starts over)
 *   write   a set: im_roster_set decides; the item is PUT (or DELeted)
 *           by PROTO_PROPOSE with the roster quota in the command
 *   answer  the iq's result or error to its sender, then the push to the
 *           user's resources with ver = the write's log index
 *
 * One at a time, so that a set reads the roster the previous one wrote
 * (one writer, no read-modify-write race).  Every iq gets exactly one
 * answer: a full queue, a malformed stanza, an elector that is away or
 * does not answer within IM_WORK_DEADLINE_MS, a write refused: each has
 * its error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/child.h"
#include "common/jid.h"
#include "common/jidprep.h"
#include "common/log.h"
#include "elector/elector_machine.h"
#include "elector/elector_userdata.h"
#include "im.h"
#include "im_rosteriq.h"
#include "im_rosterval.h"
#include "im_stanza.h"

/* Stanzas waiting; more are answered resource-constraint. */
#define IM_WORK_QUEUE_MAX 4096
/* A step the elector does not answer within this is given up (wait). A
 * write is answered within about 2 s (common/proto.h). */
#define IM_WORK_DEADLINE_MS 10000
/* Times a load starts over because the roster changed between pages. */
#define IM_WORK_RESTARTS_MAX 3
/* The deadline timer's period while nothing waits. */
#define IM_WORK_IDLE_MS (24 * 3600 * 1000)
/* An item's stored value at most: what fits one log entry with the
 * longest user and key (elector_machine.h; im18store's figure). */
#define IM_WORK_ITEM_BYTES_MAX 4000

struct job {
	struct job *next;
	struct proto_im_origin origin;
	char id[256];
	char from[PROTO_ROUTE_STRING_MAX + 8]; /* the sender's full JID: the answer's 'to' */
	char to[PROTO_ROUTE_STRING_MAX + 8];   /* "" or the own bare JID: the answer's 'from' */
	char bare[JID_MAX];		       /* the user's bare JID */
	char user[JID_MAX];		       /* the account: the store's user */
	bool parsed;			       /* the stanza was read into req */
	struct im_rosteriq_req req;
};

enum step { IDLE, LOADING, WRITING };

static struct {
	struct xml_limits xml;
	struct im_roster_limits limits;
	struct elector_userdata_limit quota;

	struct job *head, *tail;
	size_t queued;
	struct job *cur;
	enum step step;
	uint64_t request; /* the number of the elector request awaited */
	struct ev_timer *deadline;
	struct im_roster roster;
	uint64_t version;
	unsigned restarts;
	unsigned char after[PROTO_USERDATA_KEY_MAX];
	size_t after_len;
	uint64_t pushes;
} w;

static int64_t on_deadline(struct ev_timer *t, void *arg);

int im_work_configure(const struct config *cfg)
{
	if (w.deadline == NULL) {
		im_roster_init(&w.roster);
		w.deadline = ev_timer_add(child_loop(), IM_WORK_IDLE_MS, on_deadline, NULL);
		if (w.deadline == NULL)
			return -1;
	}
	w.xml = (struct xml_limits){
	    .max_stanza_size = IPC_FRAME_MAX,
	    .max_depth = cfg->limits.max_depth,
	    .max_attributes = cfg->limits.max_attributes,
	};
	/* The machine's default roster quota (elector_userdata.h); no key of
	 * the configuration changes it yet. */
	w.quota = elector_userdata_default_limit(ELECTOR_USERDATA_ROSTER);
	w.limits = (struct im_roster_limits){
	    .items_max = w.quota.count,
	    .item_bytes_max = IM_WORK_ITEM_BYTES_MAX,
	    .name_max = 1023,
	    .group_max = 1023,
	};
	return 0;
}

static void job_free(struct job *j)
{
	im_rosteriq_req_free(&j->req);
	free(j);
}

static void send_out(const struct job *j, uint32_t target, const char *bare, const struct buf *b,
		     uint32_t to_at)
{
	struct proto_im_out out = {
	    .target = target,
	    .to_at = to_at,
	    .origin = j->origin,
	    .bare_len = (uint32_t)strlen(bare),
	    .stanza_len = (uint32_t)buf_len(b),
	};
	struct iovec iov[] = {
	    {&out, sizeof(out)}, {(void *)bare, out.bare_len}, {(void *)buf_head(b), buf_len(b)}};
	if (child_send_v(PROC_ROUTER, PROTO_IM_OUT, 0, iov, 3) == -1) {
		static struct log_limit lost;
		log_warnx_limited(&lost, "a stanza for %s could not be handed to the router",
				  target == PROTO_IM_TO_ORIGIN ? j->from : bare);
	}
}

static void answer_error(const struct job *j, const char *type, const char *condition,
			 const char *text)
{
	struct im_error err = {.type = type, .condition = condition, .text = text};
	struct buf b;
	buf_init(&b, 64 * 1024);
	im_rosteriq_error(&b, j->from, j->to, j->id, &err);
	send_out(j, PROTO_IM_TO_ORIGIN, "", &b, PROTO_IM_NO_TO);
	buf_free(&b);
}

/* The current job is answered; pump() takes the next. */
static void finish(void)
{
	job_free(w.cur);
	w.cur = NULL;
	w.step = IDLE;
	w.request++; /* a late answer to the last request is ignored */
	im_roster_free(&w.roster);
	im_roster_init(&w.roster);
	ev_timer_reset(w.deadline, IM_WORK_IDLE_MS);
}

static void fail(const char *text)
{
	answer_error(w.cur, "wait", "internal-server-error", text);
	finish();
}

static void pump(void);

static int64_t on_deadline(struct ev_timer *t, void *arg)
{
	(void)t, (void)arg;
	if (w.cur != NULL) {
		log_warnx("the elector did not answer a roster %s of %s within %d ms; answered "
			  "internal-server-error",
			  w.step == WRITING ? "write" : "read", w.cur->bare, IM_WORK_DEADLINE_MS);
		fail("the cluster's state did not answer in time");
		pump();
	}
	return IM_WORK_IDLE_MS;
}

/* Asks for the roster's items after w.after; false when the elector
 * cannot be reached (the job is answered). */
static bool send_get(void)
{
	struct proto_userdata_get get = {
	    .collection = ELECTOR_USERDATA_ROSTER,
	    .user_len = (uint16_t)strlen(w.cur->user),
	    .key_len = (uint16_t)w.after_len,
	};
	struct iovec iov[] = {
	    {&get, sizeof(get)}, {w.cur->user, get.user_len}, {w.after, w.after_len}};
	if (child_send_v(PROC_ELECTOR, PROTO_USERDATA_GET, ++w.request, iov, 3) == 0)
		return true;
	fail("the cluster's state cannot be reached");
	return false;
}

static bool start_load(void)
{
	im_roster_free(&w.roster);
	im_roster_init(&w.roster);
	w.after_len = 0;
	w.version = 0;
	w.step = LOADING;
	return send_get();
}

/* Starts the job; false when it was answered at once. */
static bool begin(struct job *j)
{
	w.cur = j;
	if (j->user[0] == '\0') {
		/* A component's address: it has no account, so no roster. */
		answer_error(j, "cancel", "service-unavailable", NULL);
		finish();
		return false;
	}
	if (!j->parsed) {
		answer_error(j, "modify", "bad-request", "the stanza could not be read");
		finish();
		return false;
	}
	if (j->req.is_bad) {
		answer_error(j, j->req.bad.type, j->req.bad.condition, j->req.bad.text);
		finish();
		return false;
	}
	ev_timer_reset(w.deadline, IM_WORK_DEADLINE_MS);
	w.restarts = 0;
	return start_load();
}

/* Takes the next jobs until one waits for the elector. */
static void pump(void)
{
	while (w.cur == NULL && w.head != NULL) {
		struct job *j = w.head;
		w.head = j->next;
		if (w.head == NULL)
			w.tail = NULL;
		w.queued--;
		if (begin(j))
			return;
	}
}

/* The roster's version as XEP-0237's ver. */
static void ver_of(uint64_t version, char *out, size_t size)
{
	im_roster_ver_format(version, out, size);
}

static void push(const struct im_roster_item *item, const char *removed_jid, uint64_t version)
{
	char id[32], ver[32];
	snprintf(id, sizeof(id), "push%" PRIu64, ++w.pushes);
	ver_of(version, ver, sizeof(ver));
	struct buf b;
	buf_init(&b, 64 * 1024);
	size_t to_at = im_rosteriq_push(&b, id, ver, item, removed_jid);
	send_out(w.cur, PROTO_IM_TO_RESOURCES, w.cur->bare, &b, (uint32_t)to_at);
	buf_free(&b);
}

static void answer_done(void)
{
	struct buf b;
	buf_init(&b, 4096 + 3 * JID_MAX);
	im_rosteriq_done(&b, w.cur->from, w.cur->to, w.cur->id);
	send_out(w.cur, PROTO_IM_TO_ORIGIN, "", &b, PROTO_IM_NO_TO);
	buf_free(&b);
}

/* A get: the roster, or nothing new (RFC 6121 2.6.3). */
static void answer_get(bool stored)
{
	struct buf b;
	buf_init(&b, IPC_FRAME_MAX / 2);
	char ver[32];
	ver_of(w.version, ver, sizeof(ver));
	bool current = stored && im_roster_ver_current(w.cur->req.ver, w.version);
	/* Nothing stored (see loaded): the empty roster, with no ver that a
	 * later get could compare. */
	im_rosteriq_result(&b, w.cur->from, w.cur->to, w.cur->id, current ? NULL : &w.roster,
			   stored ? ver : NULL);
	send_out(w.cur, PROTO_IM_TO_ORIGIN, "", &b, PROTO_IM_NO_TO);
	buf_free(&b);
	finish();
}

/* A set: decide, then write (or answer at once). */
static void decide_set(void)
{
	struct job *j = w.cur;
	struct im_roster_set set;
	im_rosteriq_as_set(&j->req, &set);
	/* The key of a removal: im_roster_set checks the JID the same way. */
	char key[JID_MAX], why[JIDPREP_WHY_MAX];
	if (j->req.jid == NULL ||
	    jidprep_jid(j->req.jid, strlen(j->req.jid), key, sizeof(key), why, sizeof(why)) == -1)
		key[0] = '\0';
	struct im_roster_effect effect;
	struct im_error err;
	if (im_roster_set(&w.roster, j->bare, &set, &w.limits, &effect, &err) == -1) {
		answer_error(j, err.type, err.condition, err.text);
		finish();
		return;
	}
	struct buf cmd;
	buf_init(&cmd, PROTO_PROPOSE_MAX);
	int rc;
	if (effect.removed) {
		rc = elector_machine_encode_userdata(&cmd, ELECTOR_MACHINE_USERDATA_DEL, j->user,
						     ELECTOR_USERDATA_ROSTER, NULL, key,
						     strlen(key), NULL, 0);
	} else {
		unsigned char value[IM_WORK_ITEM_BYTES_MAX];
		size_t len = im_rosterval_encode(effect.item, value, sizeof(value));
		rc = len == 0
			 ? -1
			 : elector_machine_encode_userdata(
			       &cmd, ELECTOR_MACHINE_USERDATA_PUT, j->user, ELECTOR_USERDATA_ROSTER,
			       &w.quota, effect.item->jid, strlen(effect.item->jid), value, len);
	}
	struct proto_propose head = {.len = (uint32_t)buf_len(&cmd)};
	struct iovec iov[] = {{&head, sizeof(head)}, {(void *)buf_head(&cmd), buf_len(&cmd)}};
	if (rc == -1) {
		/* im_roster_set bounded the item; a user name too long for
		 * the store is all that is left. */
		answer_error(j, "modify", "not-acceptable", "the item does not fit the store");
		finish();
	} else if (child_send_v(PROC_ELECTOR, PROTO_PROPOSE, ++w.request, iov, 2) == -1) {
		fail("the cluster's state cannot be reached");
	} else {
		w.step = WRITING;
	}
	buf_free(&cmd);
}

/* The roster is loaded (stored: the cluster holds the user's data). */
static void loaded(bool stored)
{
	if (!w.cur->req.set) {
		answer_get(stored);
		return;
	}
	if (!stored) {
		/* A node whose cluster state holds nothing yet (joining), or
		 * an account the state does not hold: nowhere to write. */
		answer_error(w.cur, "cancel", "service-unavailable",
			     "this account's data is not held here yet");
		finish();
		return;
	}
	decide_set();
}

static void on_userdata_answer(const struct ipc_msg *msg)
{
	struct proto_userdata_answer head;
	const uint8_t *items;
	size_t left;
	if (proto_userdata_answer_unpack(msg->data, msg->len, &head, &items, &left) == -1 ||
	    head.collection != ELECTOR_USERDATA_ROSTER) {
		log_warnx("a malformed answer to a read of %s's roster", w.cur->user);
		fail("the cluster's state answered wrongly");
		return;
	}
	if (head.status == PROTO_USERDATA_NO_STATE || head.status == PROTO_USERDATA_NO_USER) {
		/* A cluster node whose state holds nothing yet, or an account
		 * the state does not hold: nothing stored. */
		loaded(false);
		return;
	}
	if (head.status != PROTO_USERDATA_OK) {
		fail("the cluster's state answered wrongly");
		return;
	}
	if (w.after_len == 0) {
		w.version = head.version;
	} else if (head.version != w.version) {
		/* Changed between pages (a write from before this process,
		 * or rxmppctl): read it again. */
		if (++w.restarts > IM_WORK_RESTARTS_MAX) {
			fail("the roster kept changing while it was read");
			return;
		}
		start_load();
		return;
	}
	const uint8_t *key, *value;
	size_t key_len, value_len;
	while (proto_userdata_next_item(&items, &left, &key, &key_len, &value, &value_len)) {
		struct im_roster_item item;
		const char *why;
		memcpy(w.after, key, key_len);
		w.after_len = key_len;
		if (im_rosterval_decode((const char *)key, key_len, value, value_len, &w.limits,
					&item, &why) == -1) {
			static struct log_limit bad;
			log_warnx_limited(&bad, "a roster item of %s is left out: %s", w.cur->user,
					  why);
			continue;
		}
		/* The store's quota bounds the count; SIZE_MAX keeps what it
		 * holds even if this node's limit were lower. */
		if (im_roster_insert(&w.roster, &item, SIZE_MAX) == -1) {
			im_roster_item_free(&item);
			fail("out of memory");
			return;
		}
	}
	if (head.more && w.after_len > 0) {
		send_get();
		return;
	}
	loaded(true);
}

static void on_propose_result(const struct ipc_msg *msg)
{
	static struct proto_propose_result_view r;
	if (proto_propose_result_unpack(msg->data, msg->len, &r) == -1) {
		log_warnx("a malformed answer to a write of %s's roster", w.cur->user);
		fail("the cluster's state answered wrongly");
		return;
	}
	const struct proto_propose_result *h = &r.head;
	if (h->status == PROTO_PROPOSE_REFUSED || h->status == PROTO_PROPOSE_UNKNOWN) {
		/* RFC 6120 8.3.3.8 internal-server-error, of type wait (8.3.2:
		 * retry later): no leader or quorum now, nothing the client
		 * got wrong. */
		log_warnx("a roster write of %s was not committed: %s", w.cur->bare, r.text);
		fail(h->status == PROTO_PROPOSE_REFUSED
			 ? "the cluster cannot commit now (no leader or no quorum): nothing changed"
			 : "the cluster lost its leader during the write: it may or may not be "
			   "applied");
		return;
	}
	if (h->outcome == ELECTOR_MACHINE_REFUSED) {
		log_info("a roster write of %s was refused: %s", w.cur->bare, r.outcome);
		if (strncmp(r.outcome, "no user", 7) == 0)
			answer_error(w.cur, "cancel", "service-unavailable",
				     "the account is not in the cluster's state");
		else
			answer_error(w.cur, "wait", "resource-constraint",
				     "the roster is full (the cluster's quota)");
		finish();
		return;
	}
	/* Committed: the result, then the push (RFC 6121 2.3.2), with the
	 * index of the write as the new version. */
	struct im_rosteriq_req *req = &w.cur->req;
	char key[JID_MAX], why[JIDPREP_WHY_MAX];
	jidprep_jid(req->jid, strlen(req->jid), key, sizeof(key), why, sizeof(why));
	answer_done();
	push(req->remove ? NULL : im_roster_find(&w.roster, key), key, h->index);
	finish();
}

bool im_work_elector_message(const struct ipc_msg *msg)
{
	if (msg->type != PROTO_USERDATA_ANSWER && msg->type != PROTO_PROPOSE_RESULT)
		return false;
	/* Late (the job was answered at its deadline) or not ours. */
	if (w.cur == NULL || msg->peer != w.request)
		return true;
	if (msg->type == PROTO_USERDATA_ANSWER && w.step == LOADING)
		on_userdata_answer(msg);
	else if (msg->type == PROTO_PROPOSE_RESULT && w.step == WRITING)
		on_propose_result(msg);
	pump();
	return true;
}

void im_work_elector_down(void)
{
	if (w.cur != NULL) {
		fail("the cluster's state went away; try again");
		pump();
	}
}

/* The stanza's tree: the roster request read out of it. */
static void on_stanza(void *arg, struct xml_node *stanza)
{
	struct job *j = arg;
	if (im_rosteriq_read(stanza, j->req.set, &j->req) == 0)
		j->parsed = true;
}

bool im_work_stanza(const struct ipc_msg *msg)
{
	static struct proto_route_view r;
	struct proto_im_origin origin;
	if (msg->len < sizeof(origin))
		return false;
	memcpy(&origin, msg->data, sizeof(origin));
	if (proto_route_unpack((const char *)msg->data + sizeof(origin), msg->len - sizeof(origin),
			       &r) == -1 ||
	    r.kind != PROTO_STANZA_IQ ||
	    (r.type != PROTO_STANZA_TYPE_GET && r.type != PROTO_STANZA_TYPE_SET))
		return false;
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		log_warnx("out of memory: a roster iq of %s is dropped", r.from);
		return true;
	}
	j->origin = origin;
	snprintf(j->id, sizeof(j->id), "%s", r.id);
	snprintf(j->from, sizeof(j->from), "%s", r.from);
	snprintf(j->to, sizeof(j->to), "%s", r.to);
	jid_bare(r.from, j->bare, sizeof(j->bare));
	struct jid_parts parts;
	if (jid_split(j->bare, strlen(j->bare), &parts) == 0 && parts.local_len > 0)
		snprintf(j->user, sizeof(j->user), "%.*s", (int)parts.local_len, parts.local);
	j->req.set = r.type == PROTO_STANZA_TYPE_SET;
	if (j->user[0] != '\0' &&
	    im_stanza_parse(r.stanza, r.stanza_len, &w.xml, on_stanza, j) == -1) {
		/* Not one element within the limits. */
		im_rosteriq_req_free(&j->req);
		j->parsed = false;
	}
	if (w.queued >= IM_WORK_QUEUE_MAX) {
		answer_error(j, "wait", "resource-constraint", "too many roster requests at once");
		job_free(j);
		return true;
	}
	if (w.tail != NULL)
		w.tail->next = j;
	else
		w.head = j;
	w.tail = j;
	w.queued++;
	pump();
	return true;
}
