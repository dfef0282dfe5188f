/* SPDX-License-Identifier: MIT */
/*
 * rxmppd started as root: after it has bound what needs root (the listening
 * sockets, the control socket, the netlink socket), it becomes the user the
 * configuration names (`user:`, rxmpp by default) for good, before any child
 * starts, so no process of the node keeps root.  The control socket is
 * handed to that user (mode 0660: its group may use rxmppctl, and it can be
 * removed at stop); a control-socket folder rxmppd had to make goes the
 * same way.  `user: root` keeps root, with a warning, for a container or a
 * test run.  A user that does not exist is refused with the reason, before
 * anything is served.  Under systemd (User=rxmpp) rxmppd does not start as
 * root and nothing happens here.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "supervisor.h"

/* The user to become; NULL (and `why`) when there is none. */
static const struct passwd *target_user(const struct config *cfg, const char *config_path,
					char *why, size_t why_size)
{
	errno = 0;
	const struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL)
		snprintf(why, why_size,
			 "started as root, rxmppd runs as the user '%s' (user: in %s) once its "
			 "ports are bound, and %s: create it (adduser --system --group %s) or "
			 "name another in user:",
			 cfg->user, config_path,
			 errno != 0 ? strerror(errno) : "there is no such user", cfg->user);
	return pw;
}

int supervisor_privileges_check(const struct config *cfg, const char *config_path, char *why,
				size_t why_size)
{
	if (geteuid() != 0 || strcmp(cfg->user, "root") == 0)
		return 0;
	return target_user(cfg, config_path, why, why_size) != NULL ? 0 : -1;
}

int supervisor_privileges_drop(const struct config *cfg, const char *config_path,
			       bool made_control_dir, char *why, size_t why_size)
{
	if (geteuid() != 0)
		return 0;
	if (strcmp(cfg->user, "root") == 0) {
		log_warnx("running as root, as user: root in %s asks; every process of the node "
			  "keeps root",
			  config_path);
		return 0;
	}
	const struct passwd *pw = target_user(cfg, config_path, why, why_size);
	if (pw == NULL)
		return -1;
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	char control_dir[CONFIG_PATH_MAX];
	snprintf(control_dir, sizeof(control_dir), "%s", cfg->control_socket);
	char *slash = strrchr(control_dir, '/');
	if (slash != NULL)
		*slash = '\0';
	if (chown(cfg->control_socket, uid, gid) == -1 ||
	    (made_control_dir && slash != NULL && chown(control_dir, uid, gid) == -1)) {
		snprintf(why, why_size, "cannot hand the control socket %s to %s: %s",
			 cfg->control_socket, cfg->user, strerror(errno));
		return -1;
	}
	/* Groups first: after setuid there is no right left to change them. */
	if (initgroups(pw->pw_name, gid) == -1 || setgid(gid) == -1 || setuid(uid) == -1) {
		snprintf(why, why_size, "cannot become the user %s: %s", cfg->user,
			 strerror(errno));
		return -1;
	}
	if (setuid(0) != -1) {
		snprintf(why, why_size, "still able to become root after becoming %s", cfg->user);
		return -1;
	}
	log_info("running as the user %s (uid %u, gid %u), as user: in %s says", cfg->user,
		 (unsigned)uid, (unsigned)gid, config_path);
	return 0;
}
