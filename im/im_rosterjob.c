/* SPDX-License-Identifier: MIT */
/*
 * Roster iqs (RFC 6121 2.1-2.6, XEP-0237), a job of the im process
 * (im_job.h): a get is answered from the loaded roster, with its version
 * as ver (or the empty result when the client's ver is current, 2.6.3); a
 * set is decided by im_roster_set, written, and after the commit answered
 * then pushed to the user's resources with ver = the write's log index.
 * Every iq gets exactly one answer.
 */
#include <string.h>

#include "common/ipc.h"
#include "common/jidprep.h"
#include "common/log.h"
#include "im_job.h"
#include "im_stanza.h"

static void on_stanza(void *arg, struct xml_node *stanza)
{
	struct im_job *j = arg;
	if (im_rosteriq_read(stanza, j->req.set, &j->req) == 0)
		j->parsed = true;
}

void im_rosterjob_read(struct im_job *j, const char *stanza, size_t len)
{
	j->req.set = j->type == PROTO_STANZA_TYPE_SET;
	if (j->user[0] != '\0' &&
	    im_stanza_parse(stanza, len, im_work_xml_limits(), on_stanza, j) == -1) {
		im_rosteriq_req_free(&j->req);
		j->parsed = false;
	}
}

static void answer(struct im_job *j, struct buf *b)
{
	im_work_out(j, PROTO_IM_TO_ORIGIN, "", b, PROTO_IM_NO_TO);
	buf_free(b);
	im_work_finish();
}

static void answer_error(struct im_job *j, const char *type, const char *condition,
			 const char *text)
{
	struct im_error err = {.type = type, .condition = condition, .text = text};
	struct buf b;
	buf_init(&b, 64 * 1024);
	if (im_rosteriq_error(&b, j->from, j->to, j->id, &err) == -1) {
		/* Not with JIDs and ids within their limits. */
		log_warnx("an error answer to %s did not fit %d bytes", j->from, 64 * 1024);
		buf_free(&b);
		im_work_finish();
		return;
	}
	answer(j, &b);
}

bool im_rosterjob_begin(struct im_job *j)
{
	if (j->user[0] == '\0') {
		/* Not an account of this domain (a component's address): the
		 * router hands over only its users' own; RFC 6121 2.3.3. */
		answer_error(j, "auth", "forbidden", NULL);
		return false;
	}
	if (!j->parsed) {
		answer_error(j, "modify", "bad-request", "the stanza could not be read");
		return false;
	}
	if (j->req.is_bad) {
		answer_error(j, j->req.bad.type, j->req.bad.condition, j->req.bad.text);
		return false;
	}
	return im_work_load(j->user);
}

/* The key of the item a set names: im_roster_set prepares it the same
 * way; "" when it is not a JID (im_roster_set refuses it then). */
static void key_of(const struct im_job *j, char *key, size_t size)
{
	char why[JIDPREP_WHY_MAX];
	if (j->req.jid == NULL ||
	    jidprep_jid(j->req.jid, strlen(j->req.jid), key, size, why, sizeof(why)) == -1)
		key[0] = '\0';
}

void im_rosterjob_loaded(struct im_job *j, bool stored)
{
	struct im_roster *roster = im_work_roster();
	uint64_t version = im_work_version();
	if (!j->req.set) {
		struct buf b;
		buf_init(&b, IM_ROSTERIQ_RESULT_MAX);
		char ver[32];
		im_roster_ver_format(version, ver, sizeof(ver));
		bool current = stored && im_roster_ver_current(j->req.ver, version);
		/* Nothing stored: the empty roster, with no ver that a later
		 * get could compare. */
		if (im_rosteriq_result(&b, j->from, j->to, j->id, current ? NULL : roster,
				       stored ? ver : NULL) == -1) {
			/* Only a roster stored before writes were bounded
			 * (im_work_write): an error, never a stanza cut short. */
			log_warnx("the roster of %s is over %u bytes of XML: a get is refused "
				  "(remove items)",
				  j->bare, (unsigned)IM_ROSTERIQ_ITEMS_MAX);
			buf_free(&b);
			answer_error(j, "cancel", "resource-constraint",
				     "the roster is too large to be sent");
			return;
		}
		answer(j, &b);
		return;
	}
	if (!stored) {
		/* A node whose cluster state holds nothing yet (joining), or
		 * an account the state does not hold: nowhere to write. */
		answer_error(j, "cancel", "service-unavailable",
			     "this account's data is not held here yet");
		return;
	}
	struct im_roster_set set;
	im_rosteriq_as_set(&j->req, &set);
	char key[JID_MAX];
	key_of(j, key, sizeof(key));
	struct im_roster_effect effect;
	struct im_error err;
	if (im_roster_set(roster, j->bare, &set, im_work_limits(), &effect, &err) == -1) {
		answer_error(j, err.type, err.condition, err.text);
		return;
	}
	/* Kept for after the write: what a removal tells the contact. */
	j->push = effect.send_unsubscribe;
	j->forward = effect.send_unsubscribed;
	j->generate = effect.generate;
	im_work_write(j->user, &effect, key);
}

void im_rosterjob_written(struct im_job *j, const struct im_error *err, uint64_t index)
{
	if (err != NULL) {
		answer_error(j, err->type, err->condition, err->text);
		return;
	}
	/* Committed: the result, then the push (RFC 6121 2.3.2), with the
	 * index of the write as the new version. */
	char key[JID_MAX];
	key_of(j, key, sizeof(key));
	struct buf b;
	buf_init(&b, 4096 + 3 * JID_MAX);
	if (im_rosteriq_done(&b, j->from, j->to, j->id) == 0)
		im_work_out(j, PROTO_IM_TO_ORIGIN, "", &b, PROTO_IM_NO_TO);
	buf_free(&b);
	im_work_push(j, j->bare, j->req.remove ? NULL : im_roster_find(im_work_roster(), key), key,
		     index);
	if (j->req.remove && (j->push || j->forward))
		im_presjob_after_removal(j, key, j->push, j->forward, j->generate);
	im_work_finish();
}
