/* SPDX-License-Identifier: MIT */
/*
 * Whether the user rxmppd runs as can use the files and folders the
 * configuration names: read every TLS file, the configuration and the
 * call-bridges file through every folder on the way, and write the state
 * directory and the control socket's folder.  root, who runs rxmppctl, can
 * read anything, so a key under /root would pass a check made as root and
 * be refused at the next start.  The answer is the kernel's own: as root, a
 * child process becomes that user (its groups too) and tries access(2) on
 * each folder of the path and then the file, so modes, groups and ACLs all
 * count; run as another user, rxmppctl checks as itself when it is that
 * user, and otherwise says it could not check.  The child writes its
 * findings to a pipe; the parent prints them.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rxmppctl.h"

static void describe(const char *path, char *out, size_t size)
{
	struct stat st;
	if (stat(path, &st) == -1) {
		snprintf(out, size, "%s", path);
		return;
	}
	const struct passwd *owner = getpwuid(st.st_uid);
	const struct group *group = getgrgid(st.st_gid);
	char owner_name[64], group_name[64];
	snprintf(owner_name, sizeof(owner_name), "%s", owner ? owner->pw_name : "?");
	snprintf(group_name, sizeof(group_name), "%s", group ? group->gr_name : "?");
	if (owner == NULL)
		snprintf(owner_name, sizeof(owner_name), "%u", (unsigned)st.st_uid);
	if (group == NULL)
		snprintf(group_name, sizeof(group_name), "%u", (unsigned)st.st_gid);
	snprintf(out, size, "%s (mode %04o, %s:%s)", path, (unsigned)(st.st_mode & 07777),
		 owner_name, group_name);
}

/* The first folder of `path` that `user` cannot pass, in `blocked`; 0 when
 * every folder lets it through (or one is missing: the caller says so). */
static int folders_pass(const char *path, char *blocked, size_t size)
{
	char prefix[CONFIG_PATH_MAX];
	for (const char *p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(p - path), path);
		if (access(prefix, X_OK) == -1 && errno == EACCES) {
			describe(prefix, blocked, size);
			return -1;
		}
	}
	return 0;
}

/* One path, checked with this process's identity; problems to `out`. */
static int check_one(const struct rxmppctl_access *item, const char *user, const char *group,
		     FILE *out)
{
	char blocked[CONFIG_PATH_MAX + 64], detail[CONFIG_PATH_MAX + 64];
	if (folders_pass(item->path, blocked, sizeof(blocked)) == -1) {
		fprintf(out,
			"rxmppctl: %s %s cannot be reached by %s, the user rxmppd runs as: %s "
			"does not let it through (x); move it to a folder it can reach, such as "
			"/etc/rxmpp\n",
			item->what, item->path, user, blocked);
		return -1;
	}
	struct stat st;
	bool exists = stat(item->path, &st) == 0;
	switch (item->need) {
	case RXMPPCTL_NEED_READ:
		/* A missing file is reported by the check that reads it. */
		if (exists && access(item->path, R_OK) == -1) {
			describe(item->path, detail, sizeof(detail));
			fprintf(out,
				"rxmppctl: %s %s cannot be read by %s, the user rxmppd runs as; to "
				"let it: chgrp %s %s && chmod g+r %s\n",
				item->what, detail, user, group, item->path, item->path);
			return -1;
		}
		return 0;
	case RXMPPCTL_NEED_WRITE_DIR:
	case RXMPPCTL_NEED_SOCKET_DIR:
		if (!exists && item->need == RXMPPCTL_NEED_SOCKET_DIR)
			return 0; /* rxmppd (as root) or systemd (RuntimeDirectory=) makes it */
		if (!exists || !S_ISDIR(st.st_mode)) {
			fprintf(
			    out, "rxmppctl: %s %s %s; make it: install -d -o %s -g %s -m 0750 %s\n",
			    item->what, item->path, exists ? "is not a folder" : "does not exist",
			    user, group, item->path);
			return -1;
		}
		if (access(item->path, W_OK | X_OK) == -1) {
			describe(item->path, detail, sizeof(detail));
			fprintf(out,
				"rxmppctl: %s %s cannot be written by %s, the user rxmppd runs as; "
				"to let it: chown %s:%s %s\n",
				item->what, detail, user, user, group, item->path);
			return -1;
		}
		return 0;
	}
	return 0;
}

static int check_all(const struct rxmppctl_access *items, size_t count, const char *user, gid_t gid,
		     FILE *out)
{
	const struct group *gr = getgrgid(gid);
	char group[64];
	if (gr != NULL)
		snprintf(group, sizeof(group), "%s", gr->gr_name);
	else
		snprintf(group, sizeof(group), "%u", (unsigned)gid);
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		if (items[i].path != NULL && items[i].path[0] != '\0' &&
		    check_one(&items[i], user, group, out) == -1)
			rc = -1;
	}
	return rc;
}

/* As root: a child becomes `pw` and checks; its findings come back here. */
static int check_as(const struct passwd *pw, const char *cfg_user,
		    const struct rxmppctl_access *items, size_t count, FILE *out)
{
	int pipefd[2];
	if (pipe(pipefd) == -1) {
		fprintf(out, "rxmppctl: cannot check access as %s: %s\n", pw->pw_name,
			strerror(errno));
		return -1;
	}
	fflush(out);
	pid_t pid = fork();
	if (pid == -1) {
		fprintf(out, "rxmppctl: cannot check access as %s: %s\n", pw->pw_name,
			strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		FILE *report = fdopen(pipefd[1], "w");
		if (report == NULL || initgroups(pw->pw_name, pw->pw_gid) == -1 ||
		    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
			dprintf(pipefd[1], "rxmppctl: cannot become %s to check access: %s\n",
				pw->pw_name, strerror(errno));
			_exit(1);
		}
		int rc = check_all(items, count, cfg_user, pw->pw_gid, report);
		fclose(report);
		_exit(rc == 0 ? 0 : 1);
	}
	close(pipefd[1]);
	char buf[4096];
	ssize_t n;
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0 || (n == -1 && errno == EINTR))
		if (n > 0)
			fwrite(buf, 1, (size_t)n, out);
	close(pipefd[0]);
	int status;
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int rxmppctl_access_check(const struct config *cfg, const char *config_path,
			  const struct rxmppctl_access *items, size_t count, FILE *out)
{
	if (geteuid() != 0) {
		/* Only root can take another user's identity: a member of the
		 * rxmpp group checking the rxmpp user's files would be judged
		 * as itself, and told of problems the daemon does not have. */
		const struct passwd *self = getpwuid(geteuid());
		if (self == NULL || strcmp(self->pw_name, cfg->user) != 0) {
			fprintf(out,
				"rxmppctl: note: not checked whether %s, the user rxmppd runs as, "
				"can read its files and write its folders (run as root for that)\n",
				cfg->user);
			return 0;
		}
		/* A copy: describe() looks owners up with getpwuid(), whose
		 * static answer would overwrite this one. */
		char name[CONFIG_USER_MAX];
		snprintf(name, sizeof(name), "%s", self->pw_name);
		return check_all(items, count, name, getegid(), out);
	}
	if (strcmp(cfg->user, "root") == 0)
		return check_all(items, count, "root", 0, out);
	const struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL) {
		fprintf(out,
			"rxmppctl: there is no user '%s' (user: in %s): rxmppd started as root "
			"would refuse to start; create it (adduser --system --group %s) or name "
			"another in user:\n",
			cfg->user, config_path, cfg->user);
		return -1;
	}
	return check_as(pw, cfg->user, items, count, out);
}

int rxmppctl_access_check_node(const struct config *cfg, const char *config_path, FILE *out)
{
	char control_dir[CONFIG_PATH_MAX];
	snprintf(control_dir, sizeof(control_dir), "%s", cfg->control_socket);
	char *slash = strrchr(control_dir, '/');
	if (slash != NULL && slash != control_dir)
		*slash = '\0';
	char config_full[PATH_MAX];
	if (realpath(config_path, config_full) == NULL)
		snprintf(config_full, sizeof(config_full), "%s", config_path);
	const struct rxmppctl_access items[] = {
	    {config_full, "the configuration file", RXMPPCTL_NEED_READ},
	    {cfg->tls.key, "the TLS key (tls.key)", RXMPPCTL_NEED_READ},
	    {cfg->tls.certificate, "the TLS certificate (tls.certificate)", RXMPPCTL_NEED_READ},
	    {cfg->tls.bundle, "the TLS chain (tls.bundle)", RXMPPCTL_NEED_READ},
	    {cfg->cluster.enabled ? cfg->cluster.trust_bundle : NULL,
	     "the cluster trust bundle (cluster.trust_bundle)", RXMPPCTL_NEED_READ},
	    {cfg->callbridges_file, "the call-bridges file (callbridges_file)", RXMPPCTL_NEED_READ},
	    {cfg->state_directory, "the state directory (state_directory)",
	     RXMPPCTL_NEED_WRITE_DIR},
	    {control_dir, "the control socket's folder (control_socket)", RXMPPCTL_NEED_SOCKET_DIR},
	};
	return rxmppctl_access_check(cfg, config_path, items, sizeof(items) / sizeof(items[0]),
				     out);
}
