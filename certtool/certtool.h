/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-certtool: the verbs, one file per group (certtool_make.c: csr,
 * selfsigned, ca; certtool_show.c: list, inspect, match; certtool_check.c:
 * verify, bundle), and what they share.
 */
#ifndef RXMPP_CERTTOOL_H
#define RXMPP_CERTTOOL_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit status: as rxmppctl. */
#define CT_OK	  0
#define CT_FAILED 1
#define CT_USAGE  2

struct ct_options {
	bool json;
	bool force;		 /* overwrite an existing key */
	bool fix;		 /* bundle check: write the right order */
	bool intermediate;	 /* ca sign: the request is for a CA */
	const char *key_type;	 /* csr, selfsigned, ca make */
	int days;		 /* selfsigned, ca make, ca sign; 0: the verb's default */
	const char *out;	 /* ca sign */
	const char *ca_files[8]; /* verify, bundle check: trusted certificates */
	int ca_count;
	const char *name;    /* verify: the name to match */
	const char *purpose; /* verify: server (default), client, any */
};

int certtool_csr(int argc, char **argv, const struct ct_options *o);
int certtool_selfsigned(int argc, char **argv, const struct ct_options *o);
int certtool_ca(int argc, char **argv, const struct ct_options *o);
int certtool_list(int argc, char **argv, const struct ct_options *o);
int certtool_inspect(int argc, char **argv, const struct ct_options *o);
int certtool_match(int argc, char **argv, const struct ct_options *o);
int certtool_verify(int argc, char **argv, const struct ct_options *o);
int certtool_bundle(int argc, char **argv, const struct ct_options *o);

/* Prints the usage of `verb` to `out`. */
void certtool_usage(FILE *out, const char *verb);
/* A JSON string, escaped. */
void certtool_json_string(FILE *out, const char *s);

#endif
