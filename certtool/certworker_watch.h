/* SPDX-License-Identifier: MIT */
/*
 * The certificate worker's eye on its files: inotify on the folders that
 * hold the key, the certificate and the bundle (and, for a symbolic link,
 * on the folder of the file it points to), so that a file replaced by
 * rename, as editors, certbot and rxmpp-certtool do, is seen as well as
 * one written in place.  The callback runs once things have been quiet for
 * CERTWATCH_SETTLE_MS, because the files of one renewal arrive one after
 * another.
 */
#ifndef RXMPP_CERTWORKER_WATCH_H
#define RXMPP_CERTWORKER_WATCH_H

#include "common/ev.h"

#define CERTWATCH_SETTLE_MS 500
#define CERTWATCH_FILES_MAX 4

typedef void certwatch_cb(void);

int certworker_watch_init(struct ev_loop *loop, certwatch_cb *changed);
/* Watches these files from now on (NULL or "" entries are skipped). */
void certworker_watch_set(const char *const *paths, int count);
void certworker_watch_stop(void);

#endif
