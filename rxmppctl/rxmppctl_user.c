/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl user add|del|passwd|list (and data, rxmppctl_userdata.c): the accounts file under the
 * state directory (see common/accounts.h), or, on a node that holds the cluster's replicated state,
 * commands for it (rxmppctl_state.c).  Passwords come from a prompt without echo, from standard
 * input (--stdin) or from a file (--password-file), never from the command line, where other users
 * could read them.  Changes are made under a lock and written atomically; the running listener sees
 * the new file at the next login, without a reload.  `del` and `passwd` then ask the running node
 * to end the user's sessions (<not-authorized/>, <reset/>), and in a cluster the other nodes too,
 * so that nobody stays logged in on what no longer holds.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/accounts.h"
#include "common/jidprep.h"
#include "common/fileio.h"
#include "common/jid.h"
#include "common/proto.h"
#include "common/scram.h"
#include "elector/elector_local.h"
#include "elector/elector_machine.h"
#include "rxmppctl.h"

#define PASSWORD_MAX 1024

static void user_usage(FILE *out)
{
	fprintf(out, "usage: rxmppctl user add NAME[@DOMAIN] [--stdin | --password-file FILE]\n"
		     "       rxmppctl user passwd NAME [--stdin | --password-file FILE]\n"
		     "       rxmppctl user del NAME\n"
		     "       rxmppctl user list [--json]\n"
		     "       rxmppctl user data NAME [--json]\n"
		     "\n"
		     "Accounts are stored as salted SCRAM-SHA-1 and SCRAM-SHA-256 keys in\n"
		     "STATE_DIRECTORY/accounts (mode 0600); the password itself is never stored.\n"
		     "Without --stdin or --password-file the password is asked for twice.\n"
		     "NAME is prepared as XMPP clients prepare it (the stringprep Nodeprep\n"
		     "profile: 'ÅSA' is stored as 'åsa'); a name with a space, one of \"&'/:<>@,\n"
		     "a control, an unassigned code point or invalid UTF-8 is refused.\n"
		     "NAME@DOMAIN, as clients write it, is taken for this node's domain.\n"
		     "passwd and del end the user's sessions on the running node (<reset/>,\n"
		     "<not-authorized/>), and in a cluster on the other nodes too (as kick\n"
		     "does).  On a node of its own accounts are per node; in a\n"
		     "cluster that holds its state (rxmppctl(8), CLUSTER STATE) they are the\n"
		     "cluster's: the change is committed by a majority and applied on every\n"
		     "node before the command returns, or fails changing nothing.\n"
		     "del also deletes the user's data (roster, offline messages...).\n"
		     "data shows what the cluster's state (on a node in no cluster: its own\n"
		     "store, STATE_DIRECTORY/local) holds of the user's own data (roster,\n"
		     "offline messages, vCard, block list, meta): per collection its items,\n"
		     "bytes and version, never the items themselves.\n");
}

/* NAME@DOMAIN as a client writes it: the local part, in `local`, when
 * DOMAIN is this node's; -1 with the reason printed otherwise. */
static int user_local_part(const char *raw, const struct config *cfg, char *local, size_t size)
{
	char jid[3 * (JID_PART_MAX + 1)], why[JIDPREP_WHY_MAX];
	if (jidprep_jid(raw, strlen(raw), jid, sizeof(jid), why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: '%s': %s\n", raw, why);
		return -1;
	}
	char *at = strchr(jid, '@');
	if (at == NULL || strchr(at, '/') != NULL) {
		fprintf(stderr, "rxmppctl: '%s' is not NAME or NAME@DOMAIN\n", raw);
		return -1;
	}
	*at = '\0';
	const char *domain = at + 1;
	if (cfg->domain[0] == '\0') {
		fprintf(stderr,
			"rxmppctl: this node has no domain yet (rxmppctl domain NAME); give the "
			"user name alone: %s\n",
			jid);
		return -1;
	}
	if (strcmp(domain, cfg->domain) != 0) {
		fprintf(stderr,
			"rxmppctl: %s@%s is not an account of this node, whose domain is %s "
			"(accounts are NAME@%s: give %s or %s@%s)\n",
			jid, domain, cfg->domain, cfg->domain, jid, jid, cfg->domain);
		return -1;
	}
	if (strlen(jid) >= size) {
		fprintf(stderr, "rxmppctl: the user name in '%s' is too long\n", raw);
		return -1;
	}
	memcpy(local, jid, strlen(jid) + 1);
	return 0;
}

/* A refused name as typed, with controls (and, when it is not UTF-8, every
 * byte above ASCII) as \xHH so that the message stays readable text. */
static void user_print_name(FILE *out, const char *name, bool escape_high)
{
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || (escape_high && *p >= 0x80))
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

/* Reads one line without its newline; -1 when there is none or it is too
 * long.  `in` is unbuffered (set before any I/O on it): stdio's buffer
 * would keep a copy of the password. */
static int read_line(FILE *in, char *out, size_t size)
{
	if (fgets(out, (int)size, in) == NULL)
		return -1;
	size_t len = strcspn(out, "\r\n");
	if (len == strlen(out) && !feof(in))
		return -1; /* no newline before the buffer ended */
	out[len] = '\0';
	return (int)len;
}

static int prompt_password(const char *prompt, char *out, size_t size)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (tty == NULL) {
		fprintf(stderr, "rxmppctl: no terminal to ask for the password; use --stdin or "
				"--password-file\n");
		return -1;
	}
	setvbuf(tty, NULL, _IONBF, 0);
	struct termios saved, quiet;
	int fd = fileno(tty);
	tcgetattr(fd, &saved);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	fputs(prompt, tty);
	fflush(tty);
	int len = read_line(tty, out, size);
	tcsetattr(fd, TCSAFLUSH, &saved);
	fputc('\n', tty);
	fclose(tty);
	return len;
}

static int get_password(const char *source, const char *file, char *out, size_t size)
{
	int len;
	if (source != NULL && strcmp(source, "stdin") == 0) {
		setvbuf(stdin, NULL, _IONBF, 0);
		len = read_line(stdin, out, size);
	} else if (source != NULL) {
		FILE *f = fopen(file, "r");
		if (f == NULL) {
			fprintf(stderr, "rxmppctl: %s: %s\n", file, strerror(errno));
			return -1;
		}
		setvbuf(f, NULL, _IONBF, 0);
		len = read_line(f, out, size);
		fclose(f);
	} else {
		char again[PASSWORD_MAX + 2];
		len = prompt_password("Password: ", out, size);
		if (len >= 0 && (prompt_password("Password again: ", again, sizeof(again)) != len ||
				 strcmp(out, again) != 0)) {
			fprintf(stderr, "rxmppctl: the passwords differ\n");
			len = -1;
		}
		OPENSSL_cleanse(again, sizeof(again));
		if (len < 0)
			return -1;
	}
	if (len <= 0) {
		fprintf(stderr, "rxmppctl: no password given (one line of 1 to %d bytes)\n",
			PASSWORD_MAX);
		return -1;
	}
	return len;
}

static int user_list(const struct accounts *accounts, bool json)
{
	if (json)
		printf("[");
	for (size_t i = 0; i < accounts->count; i++) {
		if (json) {
			printf("%s", i ? ", " : "");
			rxmppctl_print_json_string(accounts->items[i].name);
		} else {
			printf("%s\n", accounts->items[i].name);
		}
	}
	if (json)
		printf("]\n");
	return CTL_OK;
}

/* A deleted account or an old password must not stay logged in: the
 * running node ends the user's sessions. */
static int user_end_sessions(const char *verb, const char *name, const struct config *cfg,
			     const char *socket_path)
{
	char jid[JID_MAX];
	snprintf(jid, sizeof(jid), "%s@%s", name, cfg->domain);
	if (rxmppctl_end_sessions(socket_path, jid,
				  verb[0] == 'd' ? PROTO_ADMIN_KICK_DELETED
						 : PROTO_ADMIN_KICK_PASSWORD) != CTL_OK) {
		fprintf(stderr, "rxmppctl: the account is changed, but the running node "
				"did not end its sessions (see above)\n");
		return CTL_FAILED;
	}
	return CTL_OK;
}

/* A node in no cluster keeps the users' data in its own store
 * (elector/elector_local.h): a deleted account's goes with it, so that an
 * account made again under that name does not find the old roster.
 * Called with the accounts file already saved without the user, and its
 * lock held (no `user add` can come in between): from then on the
 * elector refuses the user's writes (it looks at the file before each),
 * so nothing written after the clear survives it.  The CLEAR makes the
 * running elector look now: that look clears the data (the clear itself
 * then changes nothing).  With rxmppd stopped the store is opened here,
 * which clears the data of every user the file no longer lists.  -1 when
 * it could not be done, said on stderr. */
static int user_clear_local(const char *name, const struct config *cfg, const char *socket_path)
{
	char dir[PATH_MAX], why[PATH_MAX + 512];
	snprintf(dir, sizeof(dir), "%s/%s", cfg->state_directory, ELECTOR_LOCAL_DIR);
	bool running = !rxmppctl_daemon_absent(socket_path);
	if (!running && access(dir, F_OK) == -1)
		return 0;
	struct buf command;
	if (elector_machine_encode_userdata(&command, ELECTOR_MACHINE_USERDATA_CLEAR, name, 0, NULL,
					    NULL, 0, NULL, 0) == -1) {
		fprintf(stderr, "rxmppctl: out of memory\n");
		return -1;
	}
	int rc = 0;
	if (running) {
		uint32_t outcome;
		rc = rxmppctl_state_propose_outcome(socket_path, &command, &outcome) == CTL_OK ? 0
											       : -1;
		/* OK printed its count; otherwise the elector's look did it. */
		if (rc == 0 && outcome != ELECTOR_MACHINE_OK)
			printf("user %s: user data cleared\n", name);
		buf_free(&command);
		return rc;
	}
	char accounts[PATH_MAX];
	snprintf(accounts, sizeof(accounts), "%s/%s", cfg->state_directory, ACCOUNTS_FILE_NAME);
	struct elector_local *local = elector_local_open(
	    cfg->state_directory, accounts, cfg->cluster.snapshot_entries, why, sizeof(why));
	struct elector_machine_result result;
	uint64_t index;
	if (local == NULL || elector_local_propose(local, buf_head(&command), buf_len(&command),
						   &result, &index, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		rc = -1;
	} else {
		/* Opening it cleared the data already (elector_local_open). */
		printf("user %s: user data cleared\n", name);
	}
	elector_local_free(local);
	buf_free(&command);
	return rc;
}

/* add, passwd, del of a node that holds the cluster's state: the keys are
 * made here (a fresh random salt) and only they travel; the state machine
 * decides whether the user exists, the same way on every node. */
static int user_cluster(const char *verb, const char *name, const char *source, const char *file,
			const struct config *cfg, const char *socket_path)
{
	enum elector_machine_op op = strcmp(verb, "add") == 0	   ? ELECTOR_MACHINE_USER_ADD
				     : strcmp(verb, "passwd") == 0 ? ELECTOR_MACHINE_USER_PASSWD
				     : strcmp(verb, "del") == 0	   ? ELECTOR_MACHINE_USER_DEL
								   : 0;
	if (op == 0) {
		user_usage(stderr);
		return CTL_USAGE;
	}
	if (rxmppctl_daemon_absent(socket_path)) {
		fprintf(stderr,
			"rxmppctl: this node holds the cluster's accounts (cluster.enabled); they "
			"change through the running cluster: start rxmppd here, or run the "
			"command on another node (nothing changed)\n");
		return CTL_FAILED;
	}
	struct scram_keys keys[SCRAM_HASH_COUNT];
	memset(keys, 0, sizeof(keys));
	if (op != ELECTOR_MACHINE_USER_DEL) {
		char password[PASSWORD_MAX + 2];
		int len = get_password(source, file, password, sizeof(password));
		int derived = 0;
		for (int h = 0; h < SCRAM_HASH_COUNT && len > 0 && derived == 0; h++)
			derived = scram_derive_random((enum scram_hash)h, password, (size_t)len,
						      SCRAM_ITERATIONS, &keys[h]);
		OPENSSL_cleanse(password, sizeof(password));
		if (len <= 0 || derived == -1) {
			if (derived == -1)
				fprintf(stderr, "rxmppctl: cannot derive the SCRAM keys\n");
			OPENSSL_cleanse(keys, sizeof(keys));
			return CTL_FAILED;
		}
	}
	struct buf command;
	int rc = elector_machine_encode_user(&command, op, name, keys);
	OPENSSL_cleanse(keys, sizeof(keys));
	if (rc == -1) {
		fprintf(stderr, "rxmppctl: the user name %s is too long\n", name);
		return CTL_FAILED;
	}
	rc = rxmppctl_state_propose(socket_path, &command, NULL);
	buf_free(&command);
	if (rc == CTL_OK && op != ELECTOR_MACHINE_USER_ADD) {
		rc = user_end_sessions(verb, name, cfg, socket_path);
		/* The account changed everywhere: nobody stays logged in on it
		 * on another node either. */
		char jid[JID_MAX];
		snprintf(jid, sizeof(jid), "%s@%s", name, cfg->domain);
		rxmppctl_end_sessions_elsewhere(socket_path, jid);
	}
	return rc;
}

int rxmppctl_user(int argc, char **argv, const struct config *cfg, const char *socket_path,
		  bool json)
{
	static const struct option options[] = {
	    {"stdin", no_argument, NULL, 'i'},
	    {"password-file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *source = NULL, *file = NULL;
	int opt;
	/* 0, not 1: GNU getopt then forgets the first parse, ordering included. */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'i':
			source = "stdin";
			break;
		case 'f':
			source = "file";
			file = optarg;
			break;
		case 'h':
			user_usage(stdout);
			return CTL_OK;
		default:
			user_usage(stderr);
			return CTL_USAGE;
		}
	}
	const char *verb = optind < argc ? argv[optind] : NULL;
	const char *raw_name = optind + 1 < argc ? argv[optind + 1] : NULL;
	bool is_list = verb != NULL && strcmp(verb, "list") == 0;
	if (verb == NULL || (is_list ? optind + 1 != argc : optind + 2 != argc)) {
		user_usage(stderr);
		return CTL_USAGE;
	}
	char name[JID_PART_MAX + 1] = "", prep_why[JIDPREP_WHY_MAX], local[JID_PART_MAX + 1];
	if (!is_list && strchr(raw_name, '@') != NULL) {
		if (user_local_part(raw_name, cfg, local, sizeof(local)) == -1)
			return CTL_FAILED;
		raw_name = local;
	}
	if (!is_list && jidprep_node(raw_name, strlen(raw_name), name, sizeof(name), prep_why,
				     sizeof(prep_why)) == -1) {
		fprintf(stderr, "rxmppctl: user name '");
		user_print_name(stderr, raw_name, strncmp(prep_why, "invalid UTF-8", 13) == 0);
		fprintf(stderr, "': %s\n", prep_why);
		return CTL_FAILED;
	}

	if (strcmp(verb, "data") == 0)
		return rxmppctl_user_data(name, socket_path, rxmppctl_state_clustered(cfg), json);
	if (!is_list && rxmppctl_state_clustered(cfg))
		return user_cluster(verb, name, source, file, cfg, socket_path);

	char path[PATH_MAX], why[512];
	snprintf(path, sizeof(path), "%s/%s", cfg->state_directory, ACCOUNTS_FILE_NAME);
	int lock = fileio_lock(path, why, sizeof(why));
	if (lock == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		return CTL_FAILED;
	}
	struct accounts accounts;
	int rc = CTL_FAILED;
	if (accounts_load(path, &accounts, NULL, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		goto done;
	}
	bool exists = !is_list && accounts_find(&accounts, name) != NULL;
	if (is_list) {
		rc = user_list(&accounts, json);
		goto done;
	} else if (strcmp(verb, "del") == 0) {
		if (!exists) {
			fprintf(stderr, "rxmppctl: no user %s\n", name);
			goto done;
		}
		/* The file first, then the data, the lock held throughout (see
		 * user_clear_local); a clear that cannot be done puts the
		 * account back: deleted, it could be made again and inherit
		 * the data before the elector looks. */
		struct scram_keys kept[SCRAM_HASH_COUNT];
		memcpy(kept, accounts_find(&accounts, name)->keys, sizeof(kept));
		accounts_remove(&accounts, name);
		int cleared = -1;
		if (accounts_save(path, &accounts, why, sizeof(why)) == -1)
			fprintf(stderr, "rxmppctl: %s\n", why);
		else if ((cleared = user_clear_local(name, cfg, socket_path)) == -1 &&
			 (accounts_set_keys(&accounts, name, kept) == -1 ||
			  accounts_save(path, &accounts, why, sizeof(why)) == -1))
			fprintf(
			    stderr,
			    "rxmppctl: user %s is deleted, but its data is not cleared (see "
			    "above) and the account could not be put back (%s): make no account "
			    "of that name before `rxmppctl user data %s` says there is none\n",
			    name, why, name);
		else if (cleared == -1)
			fprintf(stderr,
				"rxmppctl: user %s not deleted: its data could not be cleared (see "
				"above); try again once rxmppd runs, or with it stopped\n",
				name);
		OPENSSL_cleanse(kept, sizeof(kept));
		if (cleared == -1)
			goto done;
		rc = CTL_OK;
		printf("user %s deleted\n", name);
		goto done;
	} else if (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0) {
		bool adding = verb[0] == 'a';
		if (adding && exists) {
			fprintf(stderr, "rxmppctl: user %s exists; use 'user passwd'\n", name);
			goto done;
		}
		if (!adding && !exists) {
			fprintf(stderr, "rxmppctl: no user %s\n", name);
			goto done;
		}
		char password[PASSWORD_MAX + 2];
		int len = get_password(source, file, password, sizeof(password));
		int set = len < 0 ? -1
				  : accounts_set_password(&accounts, name, password, (size_t)len,
							  why, sizeof(why));
		OPENSSL_cleanse(password, sizeof(password));
		if (set == -1) {
			if (len >= 0)
				fprintf(stderr, "rxmppctl: %s\n", why);
			goto done;
		}
	} else {
		user_usage(stderr);
		rc = CTL_USAGE;
		goto done;
	}
	if (accounts_save(path, &accounts, why, sizeof(why)) == -1) {
		fprintf(stderr, "rxmppctl: %s\n", why);
		goto done;
	}
	printf("user %s %s\n", name, verb[0] == 'a' ? "added" : "password changed");
	rc = CTL_OK;
done:
	accounts_free(&accounts);
	close(lock);
	/* A deleted account or an old password must not stay logged in: the
	 * running node ends the user's sessions (on this node: accounts are
	 * per node).  A stopped node has none. */
	if (rc == CTL_OK && (verb[0] == 'd' || verb[0] == 'p') &&
	    !rxmppctl_daemon_absent(socket_path))
		rc = user_end_sessions(verb, name, cfg, socket_path);
	return rc;
}
