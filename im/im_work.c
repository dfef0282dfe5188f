/* SPDX-License-Identifier: MIT */
/*
 * The shell of the im process's work (im_job.h): the queue of jobs, one
 * at a time, so that each reads the rosters the previous one wrote (one
 * writer, no read-modify-write race); loading a user's roster from this
 * node's elector (PROTO_USERDATA_GET, page by page; a change of version
 * between pages starts over); writing one item (PROTO_PROPOSE of
 * USERDATA_PUT or DEL with the roster quota in the command); stanzas out
 * to the router (PROTO_IM_OUT).  An elector that is away or does not
 * answer within IM_WORK_DEADLINE_MS ends the job (a roster iq is answered
 * internal-server-error, type wait).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/child.h"
#include "common/log.h"
#include "elector/elector_machine.h"
#include "elector/elector_userdata.h"
#include "im.h"
#include "im_avail.h"
#include "im_job.h"
#include "im_rosterval.h"

/* Jobs waiting; more are refused (a roster iq: resource-constraint). */
#define IM_WORK_QUEUE_MAX 4096
/* Roster iqs of one account waiting; more are refused the same way, so
 * that one client cannot fill the queue for everyone. */
#define IM_WORK_USER_JOBS_MAX 32
/* A step the elector does not answer within this is given up.  A write
 * is answered within about 2 s (common/proto.h). */
#define IM_WORK_DEADLINE_MS 10000
/* Times a load starts over because the roster changed between pages. */
#define IM_WORK_RESTARTS_MAX 3
/* The deadline timer's period while nothing waits. */
#define IM_WORK_IDLE_MS (24 * 3600 * 1000)
/* An item's stored value at most: what fits one log entry with the
 * longest user and key (elector_machine.h; im18store's figure). */
#define IM_WORK_ITEM_BYTES_MAX 4000

/* REQUEST: an offline job's (im_offjob.c), answered to it as it is. */
enum step { IDLE, LOADING, WRITING, REQUEST };

static struct {
	char domain[CONFIG_DOMAIN_MAX];
	struct xml_limits xml;
	struct im_roster_limits limits;
	struct elector_userdata_limit quota;

	struct im_job *head, *tail;
	size_t queued;
	struct im_job *cur;
	enum step step;
	uint64_t request; /* the number of the elector request awaited */
	struct ev_timer *deadline;
	char loading[JID_MAX]; /* whose roster */
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
		/* Request numbers unique to this process: the elector still
		 * answers a dead im's requests, to the new im, which must not
		 * take them for its own.  62 bits: bit 63 is the elector's
		 * mark of im's requests (ELECTOR_IO_FROM_IM), and counting up
		 * never reaches it. */
		if (getentropy(&w.request, sizeof(w.request)) == -1)
			w.request = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
		w.request &= (UINT64_C(1) << 62) - 1;
		im_roster_init(&w.roster);
		w.deadline = ev_timer_add(child_loop(), IM_WORK_IDLE_MS, on_deadline, NULL);
		if (w.deadline == NULL || im_avail_init() == -1)
			return -1;
	}
	snprintf(w.domain, sizeof(w.domain), "%s", cfg->domain);
	im_offjob_configure(cfg);
	/* The router bounded the stanza's size; depth and attributes as
	 * the listener's. */
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

const char *im_work_domain(void)
{
	return w.domain;
}

const struct im_roster_limits *im_work_limits(void)
{
	return &w.limits;
}

const struct xml_limits *im_work_xml_limits(void)
{
	return &w.xml;
}

struct im_roster *im_work_roster(void)
{
	return &w.roster;
}

uint64_t im_work_version(void)
{
	return w.version;
}

struct im_job *im_work_job_new(enum im_job_kind kind)
{
	struct im_job *j = calloc(1, sizeof(*j));
	if (j != NULL) {
		j->kind = kind;
		j->arrival = ev_now(child_loop());
	}
	return j;
}

static void job_free(struct im_job *j)
{
	im_rosteriq_req_free(&j->req);
	free(j->stanza);
	free(j);
}

int im_work_out(const struct im_job *j, uint32_t target, const char *bare, const struct buf *b,
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
		return -1;
	}
	return 0;
}

void im_work_push(const struct im_job *j, const char *bare, const struct im_roster_item *item,
		  const char *removed_jid, uint64_t version)
{
	/* RFC 6121 2.3.2 and 2.5.2: only what the user sees is pushed. */
	if (item != NULL && !item->listed)
		return;
	char id[32], ver[32];
	snprintf(id, sizeof(id), "push%" PRIu64, ++w.pushes);
	im_roster_ver_format(version, ver, sizeof(ver));
	struct buf b;
	buf_init(&b, 64 * 1024);
	size_t to_at = im_rosteriq_push(&b, id, ver, item, removed_jid);
	if (to_at == 0)
		log_warnx("a roster push to %s did not fit %d bytes", bare, 64 * 1024);
	else
		im_work_out(j, PROTO_IM_TO_RESOURCES, bare, &b, (uint32_t)to_at);
	buf_free(&b);
}

static void answer_error(const struct im_job *j, const char *type, const char *condition,
			 const char *text)
{
	if (j->kind != IM_JOB_ROSTER && j->kind != IM_JOB_OFFSTORE)
		return; /* presence is never answered with an error here */
	struct im_error err = {.type = type, .condition = condition, .text = text};
	if (j->kind == IM_JOB_OFFSTORE) {
		im_offjob_error(j, &err);
		return;
	}
	struct buf b;
	buf_init(&b, 64 * 1024);
	if (im_rosteriq_error(&b, j->from, j->to, j->id, &err) == 0)
		im_work_out(j, PROTO_IM_TO_ORIGIN, "", &b, PROTO_IM_NO_TO);
	else
		log_warnx("an error answer to %s did not fit %d bytes", j->from, 64 * 1024);
	buf_free(&b);
}

/* The current job is done; pump() takes the next. */
void im_work_finish(void)
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
	static const char *const kinds[] = {"a roster", "a presence", "a subscription",
					    "an offline store", "an offline delivery"};
	log_info("%s job of %s ended: %s", kinds[w.cur->kind], w.cur->from, text);
	answer_error(w.cur, "wait", "internal-server-error", text);
	im_work_finish();
}

static void pump(void);

static int64_t on_deadline(struct ev_timer *t, void *arg)
{
	(void)t, (void)arg;
	if (w.cur != NULL) {
		log_warnx("the elector did not answer a roster %s of %s within %d ms",
			  w.step == WRITING ? "write" : "read", w.loading, IM_WORK_DEADLINE_MS);
		fail("the cluster's state did not answer in time");
		pump();
	}
	return IM_WORK_IDLE_MS;
}

/* Asks for the roster's items after w.after. */
static bool send_get(void)
{
	struct proto_userdata_get get = {
	    .collection = ELECTOR_USERDATA_ROSTER,
	    .user_len = (uint16_t)strlen(w.loading),
	    .key_len = (uint16_t)w.after_len,
	};
	struct iovec iov[] = {
	    {&get, sizeof(get)}, {w.loading, get.user_len}, {w.after, w.after_len}};
	if (child_send_v(PROC_ELECTOR, PROTO_USERDATA_GET, ++w.request, iov, 3) == 0)
		return true;
	fail("the cluster's state cannot be reached");
	return false;
}

static bool restart_load(void)
{
	im_roster_free(&w.roster);
	im_roster_init(&w.roster);
	w.after_len = 0;
	w.version = 0;
	w.step = LOADING;
	return send_get();
}

/* When the step about to start is given up: a roster iq's deadline
 * counts from its arrival, for the whole job (its client waits for the
 * answer); other jobs get IM_WORK_DEADLINE_MS for each step. */
static int64_t step_deadline(void)
{
	if (w.cur == NULL || w.cur->kind != IM_JOB_ROSTER)
		return IM_WORK_DEADLINE_MS;
	int64_t left = w.cur->arrival + IM_WORK_DEADLINE_MS - ev_now(child_loop());
	return left > 0 ? left : 1;
}

bool im_work_load(const char *user)
{
	snprintf(w.loading, sizeof(w.loading), "%s", user);
	w.restarts = 0;
	ev_timer_reset(w.deadline, step_deadline());
	return restart_load();
}

/* Whether the listed items of the roster as it would be written fit a
 * roster result (IM_ROSTERIQ_ITEMS_MAX): bounded at write time, every
 * roster a get reads is sent whole. */
static bool roster_fits_result(void)
{
	struct buf b;
	buf_init(&b, IM_ROSTERIQ_ITEMS_MAX);
	bool fits = im_rosteriq_items(&b, &w.roster) == 0;
	buf_free(&b);
	return fits;
}

bool im_work_write(const char *user, const struct im_roster_effect *effect, const char *key)
{
	if (!effect->removed && !roster_fits_result()) {
		/* The effect is already applied to w.roster (im_roster). */
		log_info("a roster write of %s is refused: its items would be over %u bytes of "
			 "XML",
			 user, (unsigned)IM_ROSTERIQ_ITEMS_MAX);
		answer_error(w.cur, "cancel", "resource-constraint",
			     "the roster would be too large to be sent");
		im_work_finish();
		return false;
	}
	struct buf cmd;
	buf_init(&cmd, PROTO_PROPOSE_MAX);
	int rc;
	if (effect->removed) {
		rc = elector_machine_encode_userdata(&cmd, ELECTOR_MACHINE_USERDATA_DEL, user,
						     ELECTOR_USERDATA_ROSTER, NULL, key,
						     strlen(key), NULL, 0);
	} else {
		unsigned char value[IM_WORK_ITEM_BYTES_MAX];
		size_t len = im_rosterval_encode(effect->item, value, sizeof(value));
		rc = len == 0
			 ? -1
			 : elector_machine_encode_userdata(
			       &cmd, ELECTOR_MACHINE_USERDATA_PUT, user, ELECTOR_USERDATA_ROSTER,
			       &w.quota, effect->item->jid, strlen(effect->item->jid), value, len);
	}
	struct proto_propose head = {.len = (uint32_t)buf_len(&cmd)};
	struct iovec iov[] = {{&head, sizeof(head)}, {(void *)buf_head(&cmd), buf_len(&cmd)}};
	bool sent = false;
	if (rc == -1) {
		/* im_roster bounded the item; a user name too long for the
		 * store is all that is left. */
		answer_error(w.cur, "modify", "not-acceptable", "the item does not fit the store");
		im_work_finish();
	} else if (child_send_v(PROC_ELECTOR, PROTO_PROPOSE, ++w.request, iov, 2) == -1) {
		fail("the cluster's state cannot be reached");
	} else {
		snprintf(w.loading, sizeof(w.loading), "%s", user);
		w.step = WRITING;
		ev_timer_reset(w.deadline, step_deadline());
		sent = true;
	}
	buf_free(&cmd);
	return sent;
}

bool im_work_request(uint32_t type, struct iovec *iov, int count)
{
	if (child_send_v(PROC_ELECTOR, (uint16_t)type, ++w.request, iov, count) == -1) {
		fail("the cluster's state cannot be reached");
		return false;
	}
	w.step = REQUEST;
	ev_timer_reset(w.deadline, step_deadline());
	return true;
}

/* Starts the job; false when it ended at once. */
static bool begin(struct im_job *j)
{
	w.cur = j;
	if (j->kind == IM_JOB_ROSTER &&
	    ev_now(child_loop()) - j->arrival > (int64_t)IM_WORK_DEADLINE_MS) {
		/* The deadline counts from arrival: while the elector is slow
		 * the queue would otherwise drain one job per deadline, long
		 * after its clients gave up. */
		answer_error(j, "wait", "internal-server-error",
			     "the request waited too long for the cluster's state");
		im_work_finish();
		return false;
	}
	if (j->kind == IM_JOB_OFFSTORE || j->kind == IM_JOB_OFFDELIVER)
		return im_offjob_begin(j);
	return j->kind == IM_JOB_ROSTER ? im_rosterjob_begin(j) : im_presjob_begin(j);
}

/* Takes the next jobs until one waits for the elector. */
static void pump(void)
{
	while (w.cur == NULL && w.head != NULL) {
		struct im_job *j = w.head;
		w.head = j->next;
		if (w.head == NULL)
			w.tail = NULL;
		w.queued--;
		if (begin(j))
			return;
	}
}

void im_work_push_front(struct im_job *j)
{
	j->next = w.head;
	w.head = j;
	if (w.tail == NULL)
		w.tail = j;
	w.queued++;
}

static void loaded(bool stored)
{
	if (w.cur->kind == IM_JOB_ROSTER)
		im_rosterjob_loaded(w.cur, stored);
	else
		im_presjob_loaded(w.cur, stored);
}

static void written(const struct im_error *err, uint64_t index)
{
	if (w.cur->kind == IM_JOB_ROSTER)
		im_rosterjob_written(w.cur, err, index);
	else
		im_presjob_written(w.cur, err, index);
}

static void on_userdata_answer(const struct ipc_msg *msg)
{
	struct proto_userdata_answer head;
	const uint8_t *items;
	size_t left;
	if (proto_userdata_answer_unpack(msg->data, msg->len, &head, &items, &left) == -1 ||
	    head.collection != ELECTOR_USERDATA_ROSTER) {
		log_warnx("a malformed answer to a read of %s's roster", w.loading);
		fail("the cluster's state answered wrongly");
		return;
	}
	if (head.status == PROTO_USERDATA_NO_STATE || head.status == PROTO_USERDATA_NO_USER) {
		/* A cluster node whose state holds nothing yet, or an account
		 * the state does not hold: nothing stored. */
		w.step = IDLE;
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
		/* Changed between pages (rxmppctl, or a write of another
		 * node's im just before this one led): read it again. */
		if (++w.restarts > IM_WORK_RESTARTS_MAX) {
			fail("the roster kept changing while it was read");
			return;
		}
		restart_load();
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
			log_warnx_limited(&bad, "a roster item of %s is left out: %s", w.loading,
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
	w.step = IDLE;
	loaded(true);
}

static void on_propose_result(const struct ipc_msg *msg)
{
	static struct proto_propose_result_view r;
	if (proto_propose_result_unpack(msg->data, msg->len, &r) == -1) {
		log_warnx("a malformed answer to a write of %s's roster", w.loading);
		fail("the cluster's state answered wrongly");
		return;
	}
	const struct proto_propose_result *h = &r.head;
	w.step = IDLE;
	if (h->status == PROTO_PROPOSE_REFUSED || h->status == PROTO_PROPOSE_UNKNOWN) {
		/* RFC 6120 8.3.3.8 internal-server-error, of type wait (8.3.2:
		 * retry later): no leader or quorum now, nothing the client
		 * got wrong. */
		log_warnx("a roster write of %s was not committed: %s", w.loading, r.text);
		struct im_error err = {
		    .type = "wait",
		    .condition = "internal-server-error",
		    .text = h->status == PROTO_PROPOSE_REFUSED
				? "the cluster cannot commit now (no leader or no quorum): "
				  "nothing changed"
				: "the cluster lost its leader during the write: it may or may not "
				  "be applied",
		};
		written(&err, 0);
		return;
	}
	if (h->outcome == ELECTOR_MACHINE_REFUSED) {
		log_info("a roster write of %s was refused: %s", w.loading, r.outcome);
		struct im_error quota = {.type = "wait",
					 .condition = "resource-constraint",
					 .text = "the roster is full (the cluster's quota)"};
		struct im_error no_user = {.type = "cancel",
					   .condition = "service-unavailable",
					   .text = "the account is not in the cluster's state"};
		written(strncmp(r.outcome, "no user", 7) == 0 ? &no_user : &quota, 0);
		return;
	}
	/* IDENTICAL: nothing changed, so the roster's version is still the
	 * one read at load (XEP-0237: a ver never goes back, and the push
	 * says what a get says); h->index is the entry's, or 0 on a lone
	 * node that wrote nothing. */
	written(NULL, h->outcome == ELECTOR_MACHINE_IDENTICAL ? w.version : h->index);
}

bool im_work_elector_message(const struct ipc_msg *msg)
{
	if (msg->type != PROTO_USERDATA_ANSWER && msg->type != PROTO_PROPOSE_RESULT)
		return false;
	/* Late (the job ended at its deadline) or not ours. */
	if (w.cur == NULL || msg->peer != w.request)
		return true;
	if (msg->type == PROTO_USERDATA_ANSWER && w.step == LOADING)
		on_userdata_answer(msg);
	else if (msg->type == PROTO_PROPOSE_RESULT && w.step == WRITING)
		on_propose_result(msg);
	else if (w.step == REQUEST) {
		w.step = IDLE;
		im_offjob_answer(w.cur, msg);
	}
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

/* Roster iqs of `bare` in the queue (at most IM_WORK_QUEUE_MAX looked
 * at, and only when a roster iq comes). */
static int roster_jobs_of(const char *bare)
{
	int n = 0;
	for (const struct im_job *q = w.head; q != NULL; q = q->next)
		if (q->kind == IM_JOB_ROSTER && strcmp(q->bare, bare) == 0)
			n++;
	return n;
}

bool im_work_stanza(const struct ipc_msg *msg)
{
	static struct proto_route_view r;
	struct proto_im_origin origin;
	if (msg->len < sizeof(origin))
		return false;
	memcpy(&origin, msg->data, sizeof(origin));
	if (proto_route_unpack((const char *)msg->data + sizeof(origin), msg->len - sizeof(origin),
			       &r) == -1)
		return false;
	enum im_job_kind kind;
	if (r.kind == PROTO_STANZA_IQ &&
	    (r.type == PROTO_STANZA_TYPE_GET || r.type == PROTO_STANZA_TYPE_SET))
		kind = IM_JOB_ROSTER;
	else if (r.kind == PROTO_STANZA_PRESENCE &&
		 (r.type == PROTO_STANZA_TYPE_NONE || r.type == PROTO_STANZA_TYPE_UNAVAILABLE))
		kind = IM_JOB_PRESENCE;
	else if (r.kind == PROTO_STANZA_PRESENCE && r.type >= PROTO_STANZA_TYPE_SUBSCRIBE &&
		 r.type <= PROTO_STANZA_TYPE_UNSUBSCRIBED)
		kind = IM_JOB_SUB;
	else if (r.kind == PROTO_STANZA_MESSAGE)
		kind = IM_JOB_OFFSTORE; /* router_route.c hands over only those to store */
	else
		return false;
	struct im_job *j = im_work_job_new(kind);
	if (j == NULL || (kind != IM_JOB_ROSTER && (j->stanza = malloc(r.stanza_len)) == NULL)) {
		log_warnx("out of memory: a stanza of %s is dropped", r.from);
		free(j);
		return true;
	}
	j->origin = origin;
	j->type = r.type;
	snprintf(j->id, sizeof(j->id), "%s", r.id);
	snprintf(j->from, sizeof(j->from), "%s", r.from);
	snprintf(j->to, sizeof(j->to), "%s", r.to);
	jid_bare(r.from, j->bare, sizeof(j->bare));
	struct jid_parts parts;
	/* The store's users are this domain's accounts, by localpart:
	 * alice@bridge.example must not read alice@example's roster. */
	if (jid_split(j->bare, strlen(j->bare), &parts) == 0 && parts.local_len > 0 &&
	    parts.domain_len == strlen(w.domain) &&
	    memcmp(parts.domain, w.domain, parts.domain_len) == 0)
		snprintf(j->user, sizeof(j->user), "%.*s", (int)parts.local_len, parts.local);
	if (kind == IM_JOB_ROSTER) {
		im_rosterjob_read(j, r.stanza, r.stanza_len);
	} else {
		memcpy(j->stanza, r.stanza, r.stanza_len);
		j->stanza_len = r.stanza_len;
	}
	if (w.queued >= IM_WORK_QUEUE_MAX) {
		answer_error(j, "wait", "resource-constraint", "too many roster requests at once");
		static struct log_limit full;
		log_warnx_limited(&full, "a stanza of %s is refused: %d jobs wait already", j->from,
				  IM_WORK_QUEUE_MAX);
		job_free(j);
		return true;
	}
	if (kind == IM_JOB_ROSTER && roster_jobs_of(j->bare) >= IM_WORK_USER_JOBS_MAX) {
		answer_error(j, "wait", "resource-constraint",
			     "too many roster requests of this account at once");
		static struct log_limit many;
		log_warnx_limited(&many, "a roster iq of %s is refused: %d of its own wait already",
				  j->from, IM_WORK_USER_JOBS_MAX);
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
