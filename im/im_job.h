/* SPDX-License-Identifier: MIT */
/*
 * The jobs of the im process and what its shell (im_work.c) does for the
 * handlers: the kinds of job (a roster iq: im_rosterjob.c; broadcast
 * presence and subscriptions: im_presjob.c), loading a user's roster from
 * the elector, writing one item, sending stanzas to the router.  One job
 * runs at a time; a handler ends it with im_work_finish.
 */
#ifndef RXMPP_IM_JOB_H
#define RXMPP_IM_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/jid.h"
#include "common/proto.h"
#include "im_roster.h"
#include "im_rosteriq.h"

enum im_job_kind {
	IM_JOB_ROSTER,	   /* a roster get or set (RFC 6121 2) */
	IM_JOB_PRESENCE,   /* broadcast presence, available or unavailable (4) */
	IM_JOB_SUB,	   /* a subscription stanza between local users (3) */
	IM_JOB_OFFSTORE,   /* a message to store offline (XEP-0160; RFC 6121 8.5.2.2.1) */
	IM_JOB_OFFDELIVER, /* the offline messages to a new available resource */
};

struct im_job {
	struct im_job *next;
	enum im_job_kind kind;
	int64_t arrival; /* ev_now when it was queued */
	struct proto_im_origin origin;
	uint32_t type; /* enum proto_stanza_type */
	char id[256];
	char from[PROTO_ROUTE_STRING_MAX + 8]; /* the sender's full JID */
	char to[PROTO_ROUTE_STRING_MAX + 8];   /* as sent */
	char bare[JID_MAX];		       /* the sender's bare JID */
	char user[JID_MAX];		       /* its account ("" for a component) */
	/* IM_JOB_ROSTER: the request read from the stanza. */
	bool parsed;
	struct im_rosteriq_req req;
	/* IM_JOB_PRESENCE: the stanza's bytes. */
	char *stanza;
	size_t stanza_len;
	/* IM_JOB_SUB: the contact (prepared bare JID) and its account
	 * ("" when not of this domain); which roster is being changed. */
	char contact[JID_MAX];
	char contact_user[JID_MAX];
	int phase;
	/* What a roster change asked for, kept across its write. */
	bool push, forward;
	unsigned generate;
	unsigned generate_out; /* the outbound step's, done after the inbound */
	unsigned pages;	       /* IM_JOB_OFFDELIVER: pages delivered */
};

/* The shell (im_work.c). */
const char *im_work_domain(void);
const struct im_roster_limits *im_work_limits(void);
const struct xml_limits *im_work_xml_limits(void);
/* The roster loaded last, and its version. */
struct im_roster *im_work_roster(void);
uint64_t im_work_version(void);
/* Loads `user`'s roster; the handler's loaded() follows.  False when the
 * elector cannot be reached (the job was ended). */
bool im_work_load(const char *user);
/* Writes the item `effect` names into `user`'s roster (a delete of `key`
 * for a removal); the handler's written() follows.  False when it was
 * not sent (the job was ended, answered for a roster iq). */
bool im_work_write(const char *user, const struct im_roster_effect *effect, const char *key);
/* A stanza to the router (PROTO_IM_OUT); -1 when its channel refused it. */
int im_work_out(const struct im_job *j, uint32_t target, const char *bare, const struct buf *b,
		uint32_t to_at);
/* A roster push of `item` (or of the removal of `removed_jid`) to every
 * resource of `bare`, with the version. */
void im_work_push(const struct im_job *j, const char *bare, const struct im_roster_item *item,
		  const char *removed_jid, uint64_t version);
/* Sends a request to the elector (PROTO_USERDATA_GET or PROTO_PROPOSE)
 * whose answer goes to the job's im_offjob_answer; false when it was not
 * sent (the job was ended). */
bool im_work_request(uint32_t type, struct iovec *iov, int count);
/* Ends the current job. */
void im_work_finish(void);
/* Puts `j` first in the queue (a stanza the server generates, handled
 * before anything newer). */
void im_work_push_front(struct im_job *j);
struct im_job *im_work_job_new(enum im_job_kind kind);

/* The handlers: begin (false when the job ended at once), the roster
 * loaded (stored: the user's data is held here), the write answered
 * (err NULL: committed at log index `index`; else the stanza error that
 * says why not).  A failure to reach the elector ends the job: a roster
 * iq is answered internal-server-error first (the shell does it). */
/* Reads the roster request out of the stanza's bytes into j->req. */
void im_rosterjob_read(struct im_job *j, const char *stanza, size_t len);
bool im_rosterjob_begin(struct im_job *j);
void im_rosterjob_loaded(struct im_job *j, bool stored);
void im_rosterjob_written(struct im_job *j, const struct im_error *err, uint64_t index);
bool im_presjob_begin(struct im_job *j);
/* After the user `j` removed `contact` from the roster: what the removal
 * tells the contact (im_roster_effect's send_unsubscribe, _unsubscribed
 * and generate bits), as jobs first in the queue. */
void im_presjob_after_removal(const struct im_job *j, const char *contact, bool unsubscribe,
			      bool unsubscribed, unsigned generate);
void im_presjob_loaded(struct im_job *j, bool stored);
void im_presjob_written(struct im_job *j, const struct im_error *err, uint64_t index);
/* Offline messages (im_offjob.c); the quota from limits.max_offline_*. */
void im_offjob_configure(const struct config *cfg);
bool im_offjob_begin(struct im_job *j);
void im_offjob_answer(struct im_job *j, const struct ipc_msg *msg);
/* The message of a store job bounced with `err`. */
void im_offjob_error(const struct im_job *j, const struct im_error *err);
/* After the initial presence `j`: a delivery job first in the queue when
 * its priority is not negative. */
void im_offjob_after_initial(const struct im_job *j);

#endif
