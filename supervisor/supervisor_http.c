/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint: GET /metrics on metrics.listen answers with the
 * node's metrics in the Prometheus text format (supervisor_metrics.c).  Off
 * unless metrics.listen is set; it lives in the supervisor, never in the
 * listener that faces clients, so that it answers while the listener is
 * restarted and no client port ever speaks HTTP.
 *
 * HTTP is GNU libmicrohttpd's, not ours.  It runs in the supervisor's one
 * thread: the daemon is started without a thread of its own, in epoll mode,
 * and the single descriptor of its epoll set goes into our event loop
 * (common/ev.h); when it is readable, or when the daemon's own timeout
 * (idle connections) comes, MHD_run does the work.  A polling thread would
 * have read the children's figures while the loop changes them; the
 * select-style MHD_get_fdset would need its sets rebuilt on every turn.
 *
 * The socket is bound here (before the supervisor gives up root, like the
 * client ports) and handed to the daemon, so that an address that cannot be
 * bound is refused with the reason.  Bounded: a few connections at once, a
 * short idle timeout, no request bodies.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "supervisor.h"

#define HTTP_CONNECTIONS_MAX 16
#define HTTP_IDLE_SECONDS    10
/* How often the daemon runs without an event, at most (its timeouts). */
#define HTTP_TICK_MS 1000

static struct {
	struct MHD_Daemon *daemon;
	int fd; /* the listening socket, owned by the daemon once it runs */
	struct ev_io *io;
	struct ev_timer *timer;
	char listen[CONFIG_CLUSTER_ADDRESS_MAX];
} http = {.fd = -1};

int supervisor_http_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *why,
			  size_t why_size)
{
	char host[CONFIG_CLUSTER_ADDRESS_MAX];
	const char *colon = strrchr(text, ':');
	char *end = NULL;
	long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
	size_t host_len = colon != NULL ? (size_t)(colon - text) : 0;
	if (host_len >= 2 && text[0] == '[' && text[host_len - 1] == ']') {
		text++;
		host_len -= 2;
	}
	if (colon == NULL || end == NULL || *end != '\0' || port < 1 || port > 65535 ||
	    host_len == 0 || host_len >= sizeof(host)) {
		snprintf(why, why_size, "metrics.listen %s is not address:port", text);
		return -1;
	}
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	if (netaddr_from_text(host, (uint16_t)port, ss, len) == -1) {
		snprintf(why, why_size,
			 "metrics.listen: %s is not an IPv4 or IPv6 address (a name is not "
			 "taken: the endpoint must not move with DNS)",
			 host);
		return -1;
	}
	return 0;
}

static enum MHD_Result http_answer(struct MHD_Connection *conn, unsigned status,
				   const char *content_type, const char *body, size_t len)
{
	struct MHD_Response *response =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result rc = MHD_queue_response(conn, status, response);
	MHD_destroy_response(response);
	return rc;
}

static enum MHD_Result http_request(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size,
				    void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	static const char text[] = "text/plain; charset=utf-8";
	if (*upload_data_size != 0) {
		static const char body[] = "no request bodies here\n";
		return http_answer(conn, MHD_HTTP_BAD_REQUEST, text, body, sizeof(body) - 1);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		static const char body[] = "only GET and HEAD\n";
		return http_answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, body, sizeof(body) - 1);
	}
	if (strcmp(url, "/metrics") != 0) {
		static const char body[] = "rxmpp: the metrics are at /metrics\n";
		return http_answer(conn, MHD_HTTP_NOT_FOUND, text, body, sizeof(body) - 1);
	}
	struct buf out;
	buf_init(&out, 4 * 1024 * 1024);
	enum MHD_Result rc;
	if (supervisor_metrics_render(&out) == -1) {
		static const char body[] = "out of memory\n";
		rc =
		    http_answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, body, sizeof(body) - 1);
	} else {
		rc = http_answer(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, buf_head(&out),
				 buf_len(&out));
	}
	buf_free(&out);
	return rc;
}

static void http_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char text[512];
	vsnprintf(text, sizeof(text), fmt, ap);
	/* libmicrohttpd's lines end in a line feed; ours do not. */
	text[strcspn(text, "\n")] = '\0';
	static struct log_limit limit;
	log_warnx_limited(&limit, "metrics endpoint: %s", text);
}

/* Runs the daemon and says when it wants to run again. */
static int64_t http_run(void)
{
	MHD_run(http.daemon);
	MHD_UNSIGNED_LONG_LONG wait;
	if (MHD_get_timeout(http.daemon, &wait) == MHD_YES && wait < HTTP_TICK_MS)
		return (int64_t)wait;
	return HTTP_TICK_MS;
}

static void http_readable(struct ev_io *io, int fd, uint32_t events, void *arg)
{
	(void)io;
	(void)fd;
	(void)events;
	(void)arg;
	ev_timer_reset(http.timer, http_run());
}

static int64_t http_tick(struct ev_timer *timer, void *arg)
{
	(void)timer;
	(void)arg;
	return http_run();
}

int supervisor_http_open(const char *address, char *why, size_t why_size)
{
	if (address[0] == '\0')
		return 0;
	struct sockaddr_storage ss;
	socklen_t len;
	if (supervisor_http_parse(address, &ss, &len, why, why_size) == -1)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, 16) == -1) {
		snprintf(why, why_size, "metrics.listen %s: %s", address, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	http.daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				       http_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				       MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
				       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_SECONDS,
				       MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL, MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
	    http.daemon != NULL ? MHD_get_daemon_info(http.daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (info != NULL)
		http.io =
		    ev_io_add(supervisor_state.loop, info->epoll_fd, EV_READ, http_readable, NULL);
	if (http.io != NULL)
		http.timer = ev_timer_add(supervisor_state.loop, HTTP_TICK_MS, http_tick, NULL);
	if (http.timer == NULL) {
		snprintf(why, why_size, "metrics.listen %s: the HTTP server did not start",
			 address);
		bool started = http.daemon != NULL;
		supervisor_http_close();
		if (!started)
			close(fd);
		return -1;
	}
	http.fd = fd;
	snprintf(http.listen, sizeof(http.listen), "%s", address);
	log_info("metrics at http://%s/metrics", address);
	return 0;
}

void supervisor_http_close(void)
{
	if (http.timer != NULL)
		ev_timer_del(http.timer);
	if (http.io != NULL)
		ev_io_del(http.io);
	/* The daemon closes the socket it was given (MHD_OPTION_LISTEN_SOCKET). */
	if (http.daemon != NULL)
		MHD_stop_daemon(http.daemon);
	http.timer = NULL;
	http.io = NULL;
	http.daemon = NULL;
	http.fd = -1;
	http.listen[0] = '\0';
}

int supervisor_http_reload(const char *address, char *why, size_t why_size)
{
	if (strcmp(address, http.listen) == 0)
		return 0;
	supervisor_http_close();
	return supervisor_http_open(address, why, why_size);
}
