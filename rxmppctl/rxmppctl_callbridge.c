/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl callbridge add|add-secret|del|list: the call-bridges file
 * (callbridges_file, mode 0640), kept as the administrator wrote it: an
 * entry is appended, its secret spliced in, or its lines removed, and the
 * result must parse before it replaces the file (atomically, under a lock).
 * `add` makes a strong random secret and prints it once; `add-secret`
 * takes one made on another node from a prompt or standard input, never
 * from the command line.  The running node reloads.  On a node that holds
 * the cluster's replicated state, the changes are commands for it instead
 * (rxmppctl_state.c), and the file stays as the administrator wrote it.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/scram.h"
#include "config/callbridges.h"
#include "config/config_edit.h"
#include "elector/elector_machine.h"
#include "rxmppctl.h"

#define HEADER "# rxmpp call bridges: NAME: SECRET (rxmppctl callbridge add NAME)\n"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rxmppctl callbridge add NAME\n"
		"       rxmppctl callbridge add-secret NAME [--stdin]\n"
		"       rxmppctl callbridge del NAME\n"
		"       rxmppctl callbridge list [--json]\n"
		"\n"
		"add         make a call bridge with a new random secret, printed once; enter\n"
		"            the same secret on the other nodes with add-secret\n"
		"add-secret  set the secret of NAME (asked for, or one line on stdin)\n"
		"del         remove NAME: its connections are refused from now on\n"
		"list        names, addresses and secrets (the file is mode 0640)\n"
		"\n"
		"In a cluster that holds its state (rxmppctl(8), CLUSTER STATE) the bridges\n"
		"are the cluster's: a change is committed by a majority and applied on every\n"
		"node before the command returns; add-secret of the secret the cluster holds\n"
		"is 'already known, identical', of another one refused.\n");
}

static int read_secret(bool from_stdin, char *out, size_t size)
{
	FILE *in = from_stdin ? stdin : fopen("/dev/tty", "r+");
	if (in == NULL) {
		fprintf(stderr, "rxmppctl: no terminal to ask for the secret; use --stdin\n");
		return -1;
	}
	/* Unbuffered, before any I/O on it: stdio's buffer would keep a copy
	 * of the secret. */
	setvbuf(in, NULL, _IONBF, 0);
	struct termios saved, quiet;
	if (!from_stdin) {
		tcgetattr(fileno(in), &saved);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(in), TCSAFLUSH, &quiet);
		fputs("Secret: ", in);
		fflush(in);
	}
	bool ok = fgets(out, (int)size, in) != NULL;
	if (!from_stdin) {
		tcsetattr(fileno(in), TCSAFLUSH, &saved);
		fputc('\n', in);
		fclose(in);
	}
	if (!ok)
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* Checks the edited text like the daemon will, then writes it. */
static int write_checked(const char *path, const char *text, size_t len, const char *domain)
{
	struct callbridges parsed;
	struct config_errors errors;
	char why[512];
	if (callbridges_parse(path, text, len, domain, &parsed, &errors) == -1) {
		config_errors_print(&errors, stderr);
		return -1;
	}
	callbridges_free(&parsed);
	if (fileio_write_atomic(path, text, len, 0640, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		return -1;
	}
	return 0;
}

static bool has_bridge(const struct callbridges *b, const char *name)
{
	for (size_t i = 0; i < b->count; i++) {
		if (strcmp(b->items[i].name, name) == 0)
			return true;
	}
	return false;
}

static int list(const struct callbridges *b, bool json)
{
	if (json)
		printf("[");
	for (size_t i = 0; i < b->count; i++) {
		const struct proto_callbridge *c = &b->items[i];
		if (json) {
			printf("%s{\"name\": ", i ? ", " : "");
			rxmppctl_print_json_string(c->name);
			printf(", \"address\": ");
			rxmppctl_print_json_string(c->address);
			printf(", \"secret\": ");
			rxmppctl_print_json_string(c->secret);
			printf("}");
		} else {
			printf("%-20s %-32s %s\n", c->name, c->address, c->secret);
		}
	}
	if (json)
		printf("]\n");
	return CTL_OK;
}

/* A new random secret, in the characters that survive any copy and paste. */
static int make_secret(char *secret)
{
	unsigned char random[24];
	if (RAND_bytes(random, sizeof(random)) != 1) {
		fprintf(stderr, "rxmppctl: no random bytes for a secret\n");
		return -1;
	}
	scram_base64_encode(random, sizeof(random), secret);
	for (char *p = secret; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	OPENSSL_cleanse(random, sizeof(random));
	return 0;
}

/* The bridges of a node that holds the cluster's state: listed from what
 * the elector materialised, changed through the cluster (one secret per
 * bridge for the whole cluster: add-secret of another is refused). */
static int callbridge_cluster(const char *verb, const char *name, bool from_stdin,
			      const struct config *cfg, const char *socket_path, bool json)
{
	char path[PATH_MAX], why[512];
	if (strcmp(verb, "list") == 0) {
		snprintf(path, sizeof(path), "%s/%s", cfg->state_directory,
			 CALLBRIDGE_STATE_FILE_NAME);
		struct callbridges bridges = {0};
		if (callbridge_state_load(path, &bridges.items, &bridges.count, why, sizeof(why)) ==
		    -1) {
			fprintf(stderr, "rxmppctl: %s\n", why);
			return CTL_FAILED;
		}
		bridges.capacity = bridges.items ? CALLBRIDGES_MAX : 0;
		int rc = list(&bridges, json);
		callbridges_free(&bridges);
		return rc;
	}
	enum elector_machine_op op = strcmp(verb, "add") == 0 ? ELECTOR_MACHINE_BRIDGE_ADD
				     : strcmp(verb, "add-secret") == 0
					 ? ELECTOR_MACHINE_BRIDGE_ADD_SECRET
				     : strcmp(verb, "del") == 0 ? ELECTOR_MACHINE_BRIDGE_DEL
								: 0;
	if (op == 0) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (rxmppctl_daemon_absent(socket_path)) {
		fprintf(stderr,
			"rxmppctl: this node holds the cluster's call bridges (cluster.enabled); "
			"they change through the running cluster: start rxmppd here, or run the "
			"command on another node (nothing changed)\n");
		return CTL_FAILED;
	}
	static struct proto_callbridge bridge;
	memset(&bridge, 0, sizeof(bridge));
	snprintf(bridge.name, sizeof(bridge.name), "%s", name);
	snprintf(bridge.address, sizeof(bridge.address), "%s.%s", name, cfg->domain);
	int rc = CTL_FAILED;
	if (op == ELECTOR_MACHINE_BRIDGE_ADD && make_secret(bridge.secret) == -1)
		goto done;
	if (op == ELECTOR_MACHINE_BRIDGE_ADD_SECRET &&
	    read_secret(from_stdin, bridge.secret, sizeof(bridge.secret)) == -1) {
		fprintf(stderr, "rxmppctl: no secret given\n");
		goto done;
	}
	if (op != ELECTOR_MACHINE_BRIDGE_DEL && !callbridge_secret_valid(bridge.secret)) {
		fprintf(stderr,
			"rxmppctl: the secret must be %d to 255 characters, without control "
			"characters or a space at either end\n",
			CALLBRIDGE_SECRET_MIN);
		goto done;
	}
	if (!callbridge_address_valid(bridge.address)) {
		fprintf(stderr, "rxmppctl: %s.%s is not a valid address\n", name, cfg->domain);
		goto done;
	}
	struct buf command;
	if (elector_machine_encode_bridge(&command, op, &bridge) == -1) {
		fprintf(stderr, "rxmppctl: call bridge %s cannot be encoded\n", name);
		goto done;
	}
	rc = rxmppctl_state_propose(socket_path, &command, NULL);
	buf_free(&command);
	if (rc == CTL_OK && op == ELECTOR_MACHINE_BRIDGE_ADD)
		printf("its secret (shown once; every node of the cluster knows it, give it to "
		       "the call bridge):\n%s\n",
		       bridge.secret);
done:
	OPENSSL_cleanse(&bridge, sizeof(bridge));
	return rc;
}

int rxmppctl_callbridge(int argc, char **argv, const struct config *cfg, const char *socket_path,
			bool json)
{
	/* --stdin may stand anywhere after the command. */
	bool from_stdin = false;
	int kept = 0;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--stdin") == 0)
			from_stdin = true;
		else
			argv[kept++] = argv[i];
	}
	argc = kept;
	const char *verb = argc > 1 ? argv[1] : NULL;
	if (verb == NULL || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
		usage(verb ? stdout : stderr);
		return verb ? CTL_OK : CTL_USAGE;
	}
	bool is_list = strcmp(verb, "list") == 0;
	if (is_list ? argc != 2 : argc != 3 || (from_stdin && strcmp(verb, "add-secret") != 0)) {
		usage(stderr);
		return CTL_USAGE;
	}
	const char *path = cfg->callbridges_file;
	const char *name = is_list ? NULL : argv[2];
	if (name != NULL && !callbridge_name_valid(name)) {
		fprintf(stderr,
			"rxmppctl: '%s' is not a valid name (1 to 63 lower-case letters, digits "
			"and hyphens)\n",
			name);
		return CTL_FAILED;
	}
	if (rxmppctl_state_clustered(cfg))
		return callbridge_cluster(verb, name, from_stdin, cfg, socket_path, json);
	char why[512];
	/* Writers replace the file atomically, so a reader needs no lock (and
	 * may not be allowed to create the lock file). */
	int lock = -1;
	if (!is_list && (lock = fileio_lock(path, why, sizeof(why))) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		return CTL_FAILED;
	}
	char *text = NULL, *edited = NULL;
	size_t len = 0, edited_len = 0;
	int rc = CTL_FAILED;
	struct callbridges bridges = {0};
	struct config_errors errors;
	char secret[300] = "", done_text[512] = "";
	if (access(path, R_OK) == -1 && errno == EACCES) {
		fprintf(stderr,
			"rxmppctl: %s: %s (the call-bridges file is for root and the rxmpp group "
			"only)\n",
			path, strerror(errno));
		goto done;
	}
	if (access(path, F_OK) == 0) {
		if (fileio_read_all(path, 1024 * 1024, &text, &len, why, sizeof(why)) == -1) {
			fprintf(stderr, "rxmppctl: %s\n", why);
			goto done;
		}
	} else {
		text = strdup(HEADER);
		len = strlen(HEADER);
	}
	if (callbridges_parse(path, text, len, cfg->domain, &bridges, &errors) == -1) {
		config_errors_print(&errors, stderr);
		goto done;
	}
	if (is_list) {
		rc = list(&bridges, json);
		goto done;
	}
	bool exists = has_bridge(&bridges, name);
	if (strcmp(verb, "del") == 0) {
		if (!exists) {
			fprintf(stderr, "rxmppctl: no call bridge %s\n", name);
			goto done;
		}
		if (config_edit_remove_text(text, len, name, &edited, &edited_len, why,
					    sizeof(why)) == -1) {
			fprintf(stderr, "rxmppctl: %s\n", why);
			goto done;
		}
		snprintf(done_text, sizeof(done_text), "call bridge %s deleted", name);
	} else if (strcmp(verb, "add") == 0 || strcmp(verb, "add-secret") == 0) {
		bool adding = verb[3] == '\0';
		if (adding && exists) {
			fprintf(stderr,
				"rxmppctl: call bridge %s exists; use callbridge add-secret\n",
				name);
			goto done;
		}
		if (adding) {
			if (make_secret(secret) == -1)
				goto done;
		} else if (read_secret(from_stdin, secret, sizeof(secret)) == -1) {
			fprintf(stderr, "rxmppctl: no secret given\n");
			goto done;
		}
		/* Escaped: a secret made elsewhere may hold `"`, `\\`, `: ` or ` #`. */
		char literal[4 * sizeof(secret) + 3];
		if (config_edit_quote(secret, literal, sizeof(literal)) == -1) {
			OPENSSL_cleanse(literal, sizeof(literal));
			fprintf(stderr, "rxmppctl: the secret is too long\n");
			goto done;
		}
		/* The secret of an existing entry is spliced in (either form). */
		if (exists &&
		    config_edit_text(text, len, NULL, name, literal, &edited, &edited_len, why,
				     sizeof(why)) == -1 &&
		    config_edit_text(text, len, name, "secret", literal, &edited, &edited_len, why,
				     sizeof(why)) == -1) {
			fprintf(stderr, "rxmppctl: %s\n", why);
			goto done;
		}
		if (!exists) {
			edited_len = len + strlen(name) + strlen(literal) + 4;
			edited = malloc(edited_len + 1);
			snprintf(edited, edited_len + 1, "%s%s%s: %s\n", text,
				 len > 0 && text[len - 1] != '\n' ? "\n" : "", name, literal);
			edited_len = strlen(edited);
		}
		OPENSSL_cleanse(literal, sizeof(literal));
		if (adding)
			snprintf(
			    done_text, sizeof(done_text),
			    "call bridge %s added; its secret (shown once, enter it on the other "
			    "nodes with add-secret):\n%s",
			    name, secret);
		else
			snprintf(done_text, sizeof(done_text), "secret of call bridge %s set",
				 name);
	} else {
		usage(stderr);
		rc = CTL_USAGE;
		goto done;
	}
	if (write_checked(path, edited, edited_len, cfg->domain) == -1)
		goto done;
	rc = rxmppctl_reload_after(socket_path, done_text);
done:
	/* Every way out passes here, the error paths too. */
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(done_text, sizeof(done_text));
	callbridges_free(&bridges);
	buf_wipe_free(text, len);
	buf_wipe_free(edited, edited_len);
	if (lock != -1)
		close(lock);
	return rc;
}
