/* SPDX-License-Identifier: MIT */
/* rxmppctl: what its command files share. */
#ifndef RXMPP_RXMPPCTL_H
#define RXMPP_RXMPPCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

void rxmppctl_print_json_string(const char *s);

/* rxmppctl_userdata.c: `user data NAME` (NAME prepared). */
int rxmppctl_user_data(const char *name, const char *socket_path, bool clustered, bool json);
/* Whether the running node's state holds one item: CTL_OK with the
 * answer's enum proto_userdata_status in *status (OK: it does, NO_ITEM:
 * it does not, NO_USER / NO_STATE: no such account or no state yet). */
int rxmppctl_user_data_item(const char *name, uint32_t collection, const void *key, size_t key_len,
			    const char *socket_path, uint32_t *status);
/* rxmppctl_userdata_merge.c: this node's own users' data carried into the
 * cluster's state (cluster initialize, merge); `accounts_path` holds the
 * node's own accounts. */
int rxmppctl_userdata_merge(const struct config *cfg, const char *socket_path,
			    const char *accounts_path);

/* rxmppctl_user.c: `user ...`; argv[0] is "user". */
int rxmppctl_user(int argc, char **argv, const struct config *cfg, const char *socket_path,
		  bool json);

/* rxmppctl_cluster.c: `cluster ...`; argv[0] is "cluster". */
int rxmppctl_cluster(int argc, char **argv, const char *config_path, const char *socket_path,
		     const struct config *cfg, bool json);
struct ipc_msg;
int rxmppctl_print_cluster_status(const struct ipc_msg *msg, bool json);

/* rxmppctl_merged.c: which bridges of this node's call-bridges file are
 * already in the cluster's state as they are now
 * (state_directory/callbridges.merged), so that a join does not bring back
 * what the cluster deleted.  Filter: the bridges not recorded so (a new
 * array in *out, freed with free()), and how many were; save: records
 * `bridges` as merged.  -1 with the reason. */
#define RXMPPCTL_MERGED_FILE "callbridges.merged"
struct proto_callbridge;
int rxmppctl_merged_filter(const char *state_directory, const struct proto_callbridge *bridges,
			   size_t count, struct proto_callbridge **out, size_t *out_count,
			   size_t *skipped, char *why, size_t why_size);
int rxmppctl_merged_save(const char *state_directory, const struct proto_callbridge *bridges,
			 size_t count, char *why, size_t why_size);

/* rxmppctl_config.c: domain, listen, certs, enable, disable, max-sessions,
 * config check; argv[0] is the verb. */
bool rxmppctl_is_config_verb(const char *name);
int rxmppctl_config_verb(int argc, char **argv, const char *config_path, const char *socket_path);
/* Whether the configuration in `file` lets rxmppd start: prints each problem
 * (errors, no domain, TLS files that would be refused) to `out`; 0 if none. */
int rxmppctl_config_ready(const char *file, FILE *out);
/* dns check: the SRV records of the domain held against this cluster. */
int rxmppctl_dns(int argc, char **argv, const struct config *cfg, bool json);
void rxmppctl_config_usage(FILE *out);

/* rxmppctl_access.c: whether the user rxmppd runs as (`user:` when rxmppctl
 * runs as root, else rxmppctl's own) can use each path: read a file, through
 * every folder on its way, or write a folder.  Each problem to `out`, with
 * the command that puts it right; -1 if any. */
enum rxmppctl_need {
	RXMPPCTL_NEED_READ,	  /* a file it reads (one that is missing is not judged) */
	RXMPPCTL_NEED_WRITE_DIR,  /* a folder it writes, which must exist */
	RXMPPCTL_NEED_SOCKET_DIR, /* the same, or missing (made at start) */
};
struct rxmppctl_access {
	const char *path; /* NULL or "": not used */
	const char *what;
	enum rxmppctl_need need;
};
int rxmppctl_access_check(const struct config *cfg, const char *config_path,
			  const struct rxmppctl_access *items, size_t count, FILE *out);
/* The configuration, TLS files, call-bridges file, state directory and
 * control socket folder `cfg` names. */
int rxmppctl_access_check_node(const struct config *cfg, const char *config_path, FILE *out);

/* rxmppctl_callbridge.c: `callbridge ...`; argv[0] is "callbridge". */
int rxmppctl_callbridge(int argc, char **argv, const struct config *cfg, const char *socket_path,
			bool json);

/* rxmppctl_reset.c: `reset`; argv[0] is "reset". */
int rxmppctl_reset(int argc, char **argv, const struct config *cfg, const char *socket_path);

/* rxmppctl_sessions.c: `sessions` and `kick`; argv[0] is the command. */
int rxmppctl_sessions(int argc, char **argv, const char *socket_path, bool json);
int rxmppctl_kick(int argc, char **argv, const char *socket_path);
/* Ends the running node's sessions of `jid` (enum proto_admin_kick_reason)
 * and prints what it did. */
int rxmppctl_end_sessions(const char *socket_path, const char *jid, uint32_t reason);
/* Ends the sessions of `jid` on the cluster's other nodes (as `kick`:
 * <policy-violation/>, the only reason the relay carries) and prints what
 * the leader said. */
int rxmppctl_end_sessions_elsewhere(const char *socket_path, const char *jid);

/* rxmppctl_drain.c: `drain` and `undrain`; argv[0] is the command. */
int rxmppctl_drain(int argc, char **argv, const char *socket_path);

/* rxmppctl_cluster.c: whether this node drains, for the cluster status. */
void rxmppctl_cluster_note_draining(bool draining);

/* rxmppctl_stats.c: `stats`; argv[0] is "stats". */
int rxmppctl_stats(int argc, char **argv, const char *socket_path, bool json);

/* rxmppctl_state.c: the cluster's replicated state (elector/elector_machine.h).
 * Whether this node holds it (cluster.enabled, and the elector has
 * materialised it): then user and callbridge changes go through the
 * cluster. */
bool rxmppctl_state_clustered(const struct config *cfg);
/* Sends one command through rxmppd to the cluster and prints the answer:
 * committed (with the state machine's answer) or why not. */
struct buf;
int rxmppctl_state_propose(const char *socket_path, const struct buf *command, bool *not_in_log);
/* Reports this node's settings that must agree (config_cluster_wide); a
 * join's were compared by the leader before it changed the membership.  A
 * refusal before any log (no leader or no link to it yet) is asked again
 * for up to `patience_ms`. */
int rxmppctl_state_settings(const struct config *cfg, const char *socket_path, int patience_ms,
			    bool *not_in_log);
/* Merges accounts and bridges into the cluster's state: every batch is
 * checked first, and a conflict anywhere (named) changes nothing.
 * *not_in_log: the first command was refused before it reached any log
 * (no leader, no quorum, a cluster that does not replicate its state). */
struct accounts;
struct proto_callbridge;
int rxmppctl_state_merge(const char *socket_path, const struct accounts *accounts,
			 const struct proto_callbridge *bridges, size_t bridge_count,
			 bool *not_in_log);
/* The same, printing nothing but a failure. */
int rxmppctl_state_propose_silent(const char *socket_path, const struct buf *command);
/* As rxmppctl_state_propose, but a command the machine refused is
 * committed too: CTL_OK with the outcome (enum elector_machine_status) in
 * *outcome, printed only when it is OK. */
int rxmppctl_state_propose_outcome(const char *socket_path, const struct buf *command,
				   uint32_t *outcome);

/* A reload waits for every process to confirm (rxmppd gives them 10 s). */
#define CTL_RELOAD_TIMEOUT_MS 15000

/* rxmppctl.c: nobody listens at the control socket (no file, or one left
 * by a daemon that is gone). */
bool rxmppctl_daemon_absent(const char *socket_path);

/* rxmppctl.c: after the file changed, the running node reloads. */
int rxmppctl_reload_after(const char *socket_path, const char *done);

/* rxmppctl.c: one request to rxmppd whose answer goes to `answer`, which
 * returns the exit status; CTL_FAILED, said on stderr, without one. */
typedef int rxmppctl_answer_fn(const struct ipc_msg *msg, void *arg);
int rxmppctl_request_with(const char *socket_path, uint16_t type, const void *data, size_t len,
			  int timeout_ms, rxmppctl_answer_fn *answer, void *arg);

/* rxmppctl.c: one request to rxmppd and the printed answer. */
int rxmppctl_request(const char *socket_path, uint16_t type, const void *data, size_t len,
		     uint16_t expect, bool json, int timeout_ms);

#endif
