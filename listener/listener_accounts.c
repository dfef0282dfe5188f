/* SPDX-License-Identifier: MIT */
/*
 * The accounts file as the listener sees it: loaded at the first login and
 * loaded again whenever the file was replaced (it is written whole to a
 * new file renamed over the old one, so a changed inode, size or time
 * means a new set).  In a cluster the elector appends each change to the
 * journal beside the file (common/accounts_journal.h); what was appended
 * since the last login is read from where the last read ended, so a login
 * after a change costs the change, not the whole file.  A file or journal
 * that cannot be read keeps the accounts last read, with a warning.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/accounts.h"
#include "common/accounts_journal.h"
#include "common/log.h"
#include "listener.h"

struct seen {
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static struct {
	struct accounts set;
	bool loaded;
	struct seen file, journal;
	char seal[ACCOUNTS_SEAL_LEN + 1];
	struct accounts_journal_pos pos;
} current;

static struct seen seen_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) == -1)
		return (struct seen){0};
	return (struct seen){.ino = st.st_ino, .size = st.st_size, .mtime = st.st_mtim};
}

static bool same(const struct seen *a, const struct seen *b)
{
	return a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void accounts_refresh(void)
{
	char path[PATH_MAX], journal[PATH_MAX + 16], why[512];
	snprintf(path, sizeof(path), "%s/%s", listener_state.cfg.state_directory,
		 ACCOUNTS_FILE_NAME);
	snprintf(journal, sizeof(journal), "%s" ACCOUNTS_JOURNAL_SUFFIX, path);
	struct seen file = seen_of(path), log = seen_of(journal);
	if (current.loaded && same(&file, &current.file) && same(&log, &current.journal))
		return;
	/* The same file, and the journal read before grown (or a first one):
	 * its new records. */
	bool follows = current.pos.present
			   ? log.ino == current.pos.ino && (size_t)log.size >= current.pos.offset
			   : true;
	if (current.loaded && same(&file, &current.file) && follows) {
		if (accounts_journal_apply(path, current.seal, &current.set, &current.pos, why,
					   sizeof(why)) == -1) {
			log_warnx("%s; keeping the %zu accounts read before", why,
				  current.set.count);
			return;
		}
		current.journal = log;
		return;
	}
	struct accounts fresh;
	char seal[ACCOUNTS_SEAL_LEN + 1];
	struct accounts_journal_pos pos;
	if (accounts_load_following(path, &fresh, NULL, seal, &pos, why, sizeof(why)) == -1) {
		log_warnx("%s; keeping the %zu accounts read before", why, current.set.count);
		return;
	}
	accounts_free(&current.set);
	current.set = fresh;
	current.loaded = true;
	current.file = file;
	current.journal = log;
	memcpy(current.seal, seal, sizeof(seal));
	current.pos = pos;
	log_info("read %zu accounts from %s%s", fresh.count, path,
		 pos.present ? " and its journal" : "");
}

const struct scram_keys *listener_accounts_lookup(const char *user, enum scram_hash hash, void *arg)
{
	(void)arg;
	accounts_refresh();
	const struct account *account = accounts_find(&current.set, user);
	return account != NULL ? &account->keys[hash] : NULL;
}
