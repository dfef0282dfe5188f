/* SPDX-License-Identifier: MIT */
/*
 * The accounts file as the listener sees it: loaded at the first login and
 * loaded again whenever the file was replaced (rxmppctl writes a new file
 * and renames it over the old one, so a changed inode, size or time means a
 * new set).  A file that cannot be read keeps the accounts last read, with
 * a warning.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/accounts.h"
#include "common/log.h"
#include "listener.h"

static struct {
	struct accounts set;
	bool loaded;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} current;

static void accounts_refresh(void)
{
	char path[PATH_MAX], why[512];
	snprintf(path, sizeof(path), "%s/%s", listener_state.cfg.state_directory,
		 ACCOUNTS_FILE_NAME);
	struct stat st;
	if (stat(path, &st) == -1)
		memset(&st, 0, sizeof(st));
	if (current.loaded && st.st_ino == current.ino && st.st_size == current.size &&
	    st.st_mtim.tv_sec == current.mtime.tv_sec &&
	    st.st_mtim.tv_nsec == current.mtime.tv_nsec)
		return;
	struct accounts fresh;
	if (accounts_load(path, &fresh, NULL, why, sizeof(why)) == -1) {
		log_warnx("%s; keeping the %zu accounts read before", why, current.set.count);
		return;
	}
	accounts_free(&current.set);
	current.set = fresh;
	current.loaded = true;
	current.ino = st.st_ino;
	current.size = st.st_size;
	current.mtime = st.st_mtim;
	log_info("read %zu accounts from %s", fresh.count, path);
}

const struct scram_keys *listener_accounts_lookup(const char *user, enum scram_hash hash, void *arg)
{
	(void)arg;
	accounts_refresh();
	const struct account *account = accounts_find(&current.set, user);
	return account != NULL ? &account->keys[hash] : NULL;
}
