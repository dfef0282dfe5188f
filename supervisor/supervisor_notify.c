/* SPDX-License-Identifier: MIT */
/*
 * Readiness and status for systemd (Type=notify) with the sd_notify
 * protocol: datagrams of "KEY=value" lines sent to $NOTIFY_SOCKET, a path or
 * an abstract address starting with '@'.  Written by hand because linking
 * libsystemd for one datagram is more weight than the protocol.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor.h"

void supervisor_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return;
	size_t path_len = strlen(path);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof(sun.sun_path)) {
		log_warnx("NOTIFY_SOCKET is not a usable address; not notifying systemd");
		return;
	}
	memcpy(sun.sun_path, path, path_len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("sd_notify socket");
		return;
	}
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) == -1)
		log_warn("sd_notify to %s", path);
	close(fd);
}
