/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl stats: the node's metrics, the same figures the HTTP endpoint
 * serves (rxmppd answers CTL_STATS with that very text, so the two cannot
 * disagree), printed for a person -- each family's help, then its samples
 * -- or, with --json, as {"metrics": [{name, type, help, samples: [{labels,
 * value}]}]}.  A line that is not the Prometheus text format fails the
 * command rather than being skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"
#include "common/proto.h"
#include "rxmppctl.h"

#define STATS_LABELS_MAX 4

struct stats_sample {
	char name[128];
	size_t labels;
	char label_name[STATS_LABELS_MAX][64];
	char label_value[STATS_LABELS_MAX][1024];
	char value[64];
};

/* One sample line; -1 when it is not `name{l="v",...} value`. */
static int stats_parse_sample(const char *line, struct stats_sample *s)
{
	const char *p = line;
	size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
	if (n == 0 || n >= sizeof(s->name))
		return -1;
	memcpy(s->name, p, n);
	s->name[n] = '\0';
	p += n;
	s->labels = 0;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			if (s->labels == STATS_LABELS_MAX)
				return -1;
			size_t k = strspn(
			    p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
			if (k == 0 || k >= sizeof(s->label_name[0]) || p[k] != '=' ||
			    p[k + 1] != '"')
				return -1;
			memcpy(s->label_name[s->labels], p, k);
			s->label_name[s->labels][k] = '\0';
			p += k + 2;
			char *v = s->label_value[s->labels];
			size_t used = 0;
			while (*p != '"') {
				char c = *p++;
				if (c == '\0')
					return -1;
				if (c == '\\') {
					c = *p++;
					if (c == 'n')
						c = '\n';
					else if (c != '\\' && c != '"')
						return -1;
				}
				if (used + 1 >= sizeof(s->label_value[0]))
					return -1;
				v[used++] = c;
			}
			v[used] = '\0';
			p++;
			s->labels++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return -1;
		}
		p++;
	}
	if (*p != ' ')
		return -1;
	p++;
	size_t v = strspn(p, "0123456789.-+eE");
	if (v == 0 || v >= sizeof(s->value) || p[v] != '\0')
		return -1;
	memcpy(s->value, p, v);
	s->value[v] = '\0';
	return 0;
}

static void stats_print_sample(const struct stats_sample *s, bool json, bool first)
{
	if (json) {
		printf("%s{\"labels\": {", first ? "" : ", ");
		for (size_t i = 0; i < s->labels; i++) {
			printf("%s\"%s\": ", i ? ", " : "", s->label_name[i]);
			rxmppctl_print_json_string(s->label_value[i]);
		}
		printf("}, \"value\": %s}", s->value);
		return;
	}
	char labels[2048] = "";
	size_t used = 0;
	for (size_t i = 0; i < s->labels && used < sizeof(labels); i++)
		used += (size_t)snprintf(labels + used, sizeof(labels) - used, "%s%s=%s",
					 i ? " " : "", s->label_name[i], s->label_value[i]);
	printf("    %-56s %s\n", s->labels ? labels : "(all)", s->value);
}

static int stats_answer(const struct ipc_msg *msg, void *arg)
{
	bool json = *(bool *)arg;
	if (msg->type == PROTO_CTL_RESULT) {
		struct proto_result result;
		if (msg->len >= sizeof(result)) {
			memcpy(&result, msg->data, sizeof(result));
			fprintf(stderr, "rxmppctl: %.*s\n", (int)(msg->len - sizeof(result)),
				(const char *)msg->data + sizeof(result));
		}
		return CTL_FAILED;
	}
	if (msg->type != PROTO_CTL_STATS_REPLY || memchr(msg->data, '\0', msg->len) != NULL) {
		fprintf(stderr, "rxmppctl: unexpected answer %s\n", proto_type_name(msg->type));
		return CTL_FAILED;
	}
	char *text = strndup(msg->data, msg->len);
	if (text == NULL)
		return CTL_FAILED;
	/* Checked whole before anything is printed: half a JSON document
	 * would be worse than none. */
	static struct stats_sample sample;
	unsigned line_no = 0;
	for (int pass = 0; pass < 2; pass++) {
		bool family_open = false, first_family = true, first_sample = true;
		if (pass == 1 && json)
			printf("{\"metrics\": [");
		char *save = NULL, *copy = strdup(text);
		if (copy == NULL) {
			free(text);
			return CTL_FAILED;
		}
		line_no = 0;
		for (char *line = strtok_r(copy, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			line_no++;
			if (strncmp(line, "# HELP ", 7) == 0) {
				if (pass == 0)
					continue;
				char *name = line + 7, *help = strchr(name, ' ');
				if (help != NULL)
					*help++ = '\0';
				if (json) {
					printf("%s%s{\"name\": ", family_open ? "]}" : "",
					       first_family ? "" : ", ");
					rxmppctl_print_json_string(name);
					printf(", \"help\": ");
					rxmppctl_print_json_string(help ? help : "");
				} else {
					printf("%s\n", name);
					printf("  %s\n", help ? help : "");
				}
				family_open = true;
				first_family = false;
				first_sample = true;
			} else if (strncmp(line, "# TYPE ", 7) == 0) {
				const char *type = strrchr(line, ' ') + 1;
				if (pass == 1 && json)
					printf(", \"type\": \"%s\", \"samples\": [", type);
			} else if (stats_parse_sample(line, &sample) == -1) {
				free(copy);
				free(text);
				fprintf(stderr,
					"rxmppctl: line %u of rxmppd's metrics is malformed\n",
					line_no);
				return CTL_FAILED;
			} else if (pass == 1) {
				stats_print_sample(&sample, json, first_sample);
				first_sample = false;
			}
		}
		free(copy);
		if (pass == 1 && json)
			printf("%s]}\n", family_open ? "]}" : "");
	}
	free(text);
	return CTL_OK;
}

int rxmppctl_stats(int argc, char **argv, const char *socket_path, bool json)
{
	if (argc != 1) {
		bool help = argc == 2 && strcmp(argv[1], "--help") == 0;
		fprintf(
		    help ? stdout : stderr,
		    "usage: rxmppctl stats [--json]\n"
		    "The node's metrics, the figures its Prometheus endpoint (metrics.listen)\n"
		    "serves: sessions, connections, stanzas, log-ins, TLS, limits, queues,\n"
		    "the cluster, restarts, certificate expiry, each process's CPU and memory.\n"
		    "See docs/METRICS.md.\n");
		return help ? CTL_OK : CTL_USAGE;
	}
	return rxmppctl_request_with(socket_path, PROTO_CTL_STATS, NULL, 0, 5000, stats_answer,
				     &json);
}
