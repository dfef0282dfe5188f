/* SPDX-License-Identifier: MIT */
/*
 * The node's metrics in the Prometheus text format (common/metrics.h), as
 * the HTTP endpoint (supervisor_http.c) and `rxmppctl stats` get them: the
 * figures each child last reported (METRICS) and the supervisor's own --
 * restarts, certificate expiry, and each process's CPU time and resident
 * memory read from /proc.  Families without a sample (a child not running,
 * no cluster) are left out rather than shown empty.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

/* CPU time in milliseconds and resident bytes of `pid`; -1 when it is gone. */
static int process_usage(pid_t pid, uint64_t *cpu_ms, uint64_t *rss_bytes)
{
	char path[64], text[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* The command name may hold spaces and parentheses: fields are
	 * counted from the last ')'.  utime and stime are fields 14 and 15. */
	const char *p = strrchr(text, ')');
	unsigned long long utime, stime;
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime) != 2)
		return -1;
	long ticks = sysconf(_SC_CLK_TCK);
	*cpu_ms = ticks > 0 ? (utime + stime) * 1000 / (unsigned long long)ticks : 0;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	unsigned long long size, resident;
	int got = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (got != 2)
		return -1;
	*rss_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

/* The supervisor's own samples of `id` into `out`. */
static void own_samples(struct buf *out, enum metrics_id id)
{
	const struct metrics_def *d = &metrics_defs[id];
	struct proto_status_child kids[SUPERVISOR_CHILD_COUNT];
	size_t n = supervisor_children_status(kids, SUPERVISOR_CHILD_COUNT);
	switch (id) {
	case METRICS_BUILD_INFO: {
		const char *version = RXMPP_VERSION;
		metrics_write_sample(out, d, &d->label, &version, 1, 1);
		break;
	}
	case METRICS_CHILD_RESTARTS:
	case METRICS_CHILD_UP:
		for (size_t i = 0; i < n; i++) {
			const char *name = kids[i].name;
			int64_t value = id == METRICS_CHILD_RESTARTS
					    ? kids[i].restarts
					    : kids[i].state == PROTO_CHILD_READY;
			metrics_write_sample(out, d, &d->label, &name, 1, value);
		}
		break;
	case METRICS_CERTIFICATE_EXPIRY: {
		if (supervisor_state.cert.not_after == 0)
			break;
		static const char *const names[] = {"certificate", "subject"};
		const char *values[] = {"node", supervisor_state.cert.subject};
		metrics_write_sample(out, d, names, values, 2,
				     supervisor_state.cert.not_after - (int64_t)time(NULL));
		break;
	}
	case METRICS_PROCESS_CPU:
	case METRICS_PROCESS_MEMORY: {
		uint64_t cpu_ms, rss;
		const char *self = "rxmppd";
		if (process_usage(getpid(), &cpu_ms, &rss) == 0)
			metrics_write_sample(out, d, &d->label, &self, 1,
					     (int64_t)(id == METRICS_PROCESS_CPU ? cpu_ms : rss));
		for (size_t i = 0; i < n; i++) {
			const char *name = kids[i].name;
			if (kids[i].pid != 0 &&
			    process_usage((pid_t)kids[i].pid, &cpu_ms, &rss) == 0)
				metrics_write_sample(
				    out, d, &d->label, &name, 1,
				    (int64_t)(id == METRICS_PROCESS_CPU ? cpu_ms : rss));
		}
		break;
	}
	default:
		break;
	}
}

int supervisor_metrics_render(struct buf *out)
{
	struct buf samples;
	buf_init(&samples, 1024 * 1024);
	for (int id = 0; id < METRICS_ID_END; id++) {
		const struct metrics_def *d = &metrics_defs[id];
		buf_reset(&samples, 0);
		if (d->source == PROC_SUPERVISOR) {
			own_samples(&samples, (enum metrics_id)id);
		} else {
			const struct metrics_entry *entries;
			size_t n = supervisor_children_metrics(d->source, &entries);
			for (size_t i = 0; i < n; i++) {
				if (entries[i].id == id)
					metrics_write_entry(&samples, &entries[i]);
			}
		}
		if (buf_len(&samples) == 0)
			continue;
		metrics_write_family(out, d);
		if (buf_append(out, buf_head(&samples), buf_len(&samples)) == -1) {
			buf_free(&samples);
			return -1;
		}
	}
	buf_free(&samples);
	return 0;
}
