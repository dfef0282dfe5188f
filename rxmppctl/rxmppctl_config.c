/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl verbs that change the configuration file, as the CMS MMP has
 * them: domain, listen, certs, enable, disable, max-sessions; and config
 * check.  Each rewrites only the values it changes (config_edit.c), checks
 * the result, and asks the running node to reload; the node says what it
 * restarted, if anything.  `certs` first checks the key, certificate and
 * bundle as the certificate worker will (certtool/cert_set.c), and that
 * the user rxmppd runs as can read them (rxmppctl_access.c), and leaves the
 * file alone if they would be refused; `config check` (and `status` of a
 * stopped node) checks the TLS files the configuration names as well, and
 * that the daemon's user can read them and write its folders.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certtool/cert_set.h"
#include "common/accounts.h"
#include "common/proto.h"
#include "config/callbridges.h"
#include "config/config_edit.h"
#include "config/config_yaml.h"
#include "elector/elector_local.h"
#include "elector/elector_state.h"
#include "rxmppctl.h"

struct verb {
	const char *name;
	const char *usage;
	const char *help;
};

static const struct verb verbs[] = {
    {"domain", "domain NAME", "set the XMPP domain this node serves"},
    {"listen", "listen ADDRESS...", "set what to listen on: IP addresses, interface names, or any"},
    {"certs", "certs KEY CERT [BUNDLE]", "set the TLS key, certificate and chain (paths)"},
    {"enable", "enable", "turn the XMPP service on (enabled: true)"},
    {"disable", "disable", "turn the XMPP service off: sessions end, none are accepted"},
    {"max-sessions", "max-sessions N|none", "limit the client sessions of this node"},
    {"config", "config check [FILE]", "check a configuration file (default: the one in use)"},
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	}
	return NULL;
}

bool rxmppctl_is_config_verb(const char *name)
{
	return find_verb(name) != NULL;
}

/* A YAML double-quoted string of `text`; one too long for `out` is cut to
 * nothing, which the edit then refuses as an empty value. */
static void quote(const char *text, char *out, size_t size)
{
	if (config_edit_quote(text, out, size) == -1)
		snprintf(out, size, "\"\"");
}

static int edit_and_reload(const char *config_path, const char *socket_path,
			   const struct config_edit *edits, size_t count, const char *done)
{
	struct config_errors errors;
	if (config_edit_file_many(config_path, edits, count, &errors) == -1) {
		config_errors_print(&errors, stderr);
		return CTL_FAILED;
	}
	return rxmppctl_reload_after(socket_path, done);
}

/* The TLS files checked as the certificate worker checks them; the reason
 * for a refusal and any warnings go to `out`. */
static int check_tls_files(const struct cert_set_files *files, const struct config *cfg, FILE *out)
{
	struct cert_set set;
	static char why[8192], warnings[4096];
	if (cert_set_load(files, cfg->domain, cfg->cluster.enabled, time(NULL), &set, why,
			  sizeof(why), warnings, sizeof(warnings)) == -1) {
		fprintf(out, "rxmppctl: %s\n", why);
		return -1;
	}
	for (char *line = strtok(warnings, "\n"); line != NULL; line = strtok(NULL, "\n"))
		fprintf(out, "rxmppctl: warning: %s\n", line);
	cert_set_free(&set);
	return 0;
}

/* The files rxmppd and its children refuse to start with: call bridges,
 * accounts and, with the cluster on, the elector's state (read only). */
static int check_node_files(const struct config *cfg, FILE *out)
{
	static char why[2048];
	struct config_errors errors;
	struct callbridges bridges;
	int rc = 0;
	if (callbridges_load(cfg->callbridges_file, cfg->domain, &bridges, &errors) == -1) {
		config_errors_print(&errors, out);
		rc = -1;
	} else {
		callbridges_free(&bridges);
	}
	char path[PATH_MAX];
	struct accounts accounts;
	snprintf(path, sizeof(path), "%s/%s", cfg->state_directory, ACCOUNTS_FILE_NAME);
	if (accounts_load(path, &accounts, NULL, why, sizeof(why)) == -1) {
		fprintf(out, "rxmppctl: %s\n", why);
		rc = -1;
	} else {
		accounts_free(&accounts);
	}
	if (cfg->cluster.enabled &&
	    elector_state_check(cfg->state_directory, why, sizeof(why)) == -1) {
		fprintf(out, "rxmppctl: %s\n", why);
		rc = -1;
	}
	/* The users' data of a node in no cluster, as its elector reads it. */
	if (elector_local_check(cfg->state_directory, why, sizeof(why)) == -1) {
		fprintf(out, "rxmppctl: %s\n", why);
		rc = -1;
	}
	return rc;
}

int rxmppctl_config_ready(const char *file, FILE *out)
{
	static struct config cfg;
	struct config_errors errors;
	if (config_load(file, &cfg, &errors) == -1) {
		config_errors_print(&errors, out);
		return -1;
	}
	const char *unready = config_unready(&cfg);
	int rc = unready == NULL ? 0 : -1;
	if (unready != NULL)
		fprintf(out, "%s: %s\n", file, unready);
	struct cert_set_files files = {cfg.tls.key, cfg.tls.certificate, cfg.tls.bundle};
	if (check_tls_files(&files, &cfg, out) == -1) {
		fprintf(out,
			"%s: the TLS files it names would be refused (rxmppctl certs KEY CERT "
			"[BUNDLE])\n",
			file);
		rc = -1;
	}
	if (check_node_files(&cfg, out) == -1)
		rc = -1;
	/* Checked as root, what passes above may still fail the daemon's user. */
	if (rxmppctl_access_check_node(&cfg, file, out) == -1)
		rc = -1;
	return rc;
}

static int config_check(const char *file)
{
	if (rxmppctl_config_ready(file, stderr) == -1)
		return CTL_FAILED;
	printf("%s: configuration OK\n", file);
	return CTL_OK;
}

/* certs KEY CERT [BUNDLE]: absolute names (the configuration takes relative
 * ones from its own folder), checked before anything is written. */
static int certs_prepare(const char *config_path, char **paths, int count, char out[][PATH_MAX])
{
	for (int i = 0; i < count; i++) {
		if (realpath(paths[i], out[i]) == NULL) {
			fprintf(stderr, "rxmppctl: %s: %m\n", paths[i]);
			return -1;
		}
	}
	static struct config cfg;
	struct config_errors errors;
	if (config_load(config_path, &cfg, &errors) == -1) {
		config_errors_print(&errors, stderr);
		return -1;
	}
	struct cert_set_files files = {out[0], out[1], count == 3 ? out[2] : NULL};
	const struct rxmppctl_access items[] = {
	    {out[0], "the key", RXMPPCTL_NEED_READ},
	    {out[1], "the certificate", RXMPPCTL_NEED_READ},
	    {count == 3 ? out[2] : NULL, "the chain", RXMPPCTL_NEED_READ},
	};
	if (check_tls_files(&files, &cfg, stderr) == -1 ||
	    rxmppctl_access_check(&cfg, config_path, items, 3, stderr) == -1) {
		fprintf(stderr, "rxmppctl: %s is unchanged\n", config_path);
		return -1;
	}
	return 0;
}

int rxmppctl_config_verb(int argc, char **argv, const char *config_path, const char *socket_path)
{
	const struct verb *verb = find_verb(argv[0]);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: rxmppctl %s\n%s\n", verb->usage, verb->help);
		return CTL_OK;
	}
	char literal[4096], done[4200];
	const char *name = verb->name;
	struct config_edit edits[3];
	size_t count = 0;
	if (strcmp(name, "domain") == 0 && argc == 2) {
		quote(argv[1], literal, sizeof(literal));
		edits[count++] = (struct config_edit){NULL, "domain", literal};
		snprintf(done, sizeof(done), "domain: %s", argv[1]);
	} else if (strcmp(name, "listen") == 0 && argc >= 2) {
		size_t n = 0;
		literal[n++] = '[';
		for (int i = 1; i < argc && n + 4 < sizeof(literal); i++) {
			char item[256];
			quote(argv[i], item, sizeof(item));
			n += (size_t)snprintf(literal + n, sizeof(literal) - n, "%s%s",
					      i > 1 ? ", " : "", item);
		}
		snprintf(literal + n, sizeof(literal) - n, "]");
		edits[count++] = (struct config_edit){"listen", "addresses", literal};
		snprintf(done, sizeof(done), "listen.addresses: %s", literal);
	} else if (strcmp(name, "certs") == 0 && (argc == 3 || argc == 4)) {
		static char key[PATH_MAX + 8], cert[PATH_MAX + 8], bundle[PATH_MAX + 8];
		static char full[3][PATH_MAX];
		if (certs_prepare(config_path, argv + 1, argc - 1, full) == -1)
			return CTL_FAILED;
		quote(full[0], key, sizeof(key));
		quote(full[1], cert, sizeof(cert));
		if (argc == 4)
			quote(full[2], bundle, sizeof(bundle));
		else
			snprintf(bundle, sizeof(bundle), "none");
		edits[count++] = (struct config_edit){"tls", "key", key};
		edits[count++] = (struct config_edit){"tls", "certificate", cert};
		edits[count++] = (struct config_edit){"tls", "bundle", bundle};
		snprintf(done, sizeof(done),
			 "tls: key %.1024s, certificate %.1024s, bundle %.1024s", full[0], full[1],
			 argc == 4 ? full[2] : "none");
	} else if ((strcmp(name, "enable") == 0 || strcmp(name, "disable") == 0) && argc == 1) {
		bool on = name[0] == 'e';
		edits[count++] = (struct config_edit){NULL, "enabled", on ? "true" : "false"};
		snprintf(done, sizeof(done), "enabled: %s", on ? "true" : "false");
	} else if (strcmp(name, "max-sessions") == 0 && argc == 2) {
		char *end;
		long n = strtol(argv[1], &end, 10);
		if (strcmp(argv[1], "none") != 0 && (*end != '\0' || n < 1)) {
			fprintf(stderr,
				"rxmppctl: max-sessions takes a number of at least 1, or none\n");
			return CTL_USAGE;
		}
		snprintf(literal, sizeof(literal), "%s", argv[1]);
		edits[count++] = (struct config_edit){"limits", "max_sessions", literal};
		snprintf(done, sizeof(done), "limits.max_sessions: %s", argv[1]);
	} else if (strcmp(name, "config") == 0 && argc >= 2 && argc <= 3 &&
		   strcmp(argv[1], "check") == 0) {
		return config_check(argc == 3 ? argv[2] : config_path);
	} else {
		fprintf(stderr, "usage: rxmppctl %s\n", verb->usage);
		return CTL_USAGE;
	}
	return edit_and_reload(config_path, socket_path, edits, count, done);
}

void rxmppctl_config_usage(FILE *out)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-26s %s\n", verbs[i].usage, verbs[i].help);
}
