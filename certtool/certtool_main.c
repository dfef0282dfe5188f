/* SPDX-License-Identifier: MIT */
/*
 * rxmpp-certtool: keys, certificate requests, certificates and bundles
 * for rxmpp nodes, with the verbs of Cisco Meeting Server's `pki`.  Reads
 * and writes files only (keys with mode 0600, atomically); never prints or
 * logs a private key.  Exit status 0 success, 1 failure or a problem
 * found, 2 usage error.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "certtool.h"

static const struct verb {
	const char *name;
	int (*run)(int argc, char **argv, const struct ct_options *o);
	const char *synopsis;
	const char *help;
} verbs[] = {
    {"csr", certtool_csr,
     "csr BASENAME [CN:name] [OU:unit] [O:org] [L:city] [ST:state] [C:country] "
     "[subjectAltName:name,...] [--key-type TYPE] [--force]",
     "Write a new private key to BASENAME.key (mode 0600) and a certificate request for it\n"
     "to BASENAME.csr.  Alternative names are DNS names or IP addresses; put the XMPP\n"
     "domain and the node's own name there (RFC 6120 section 13.7).  TYPE is p256\n"
     "(default: ECDSA P-256, which costs a server far less per TLS handshake than RSA),\n"
     "p384, rsa2048 (for a CA that signs RSA keys only), rsa3072 or rsa4096.  An existing\n"
     "BASENAME.key is kept unless --force is given."},
    {"selfsigned", certtool_selfsigned,
     "selfsigned BASENAME [CN:name] [...as csr...] [--days N] [--key-type TYPE] [--force]",
     "Write a new key to BASENAME.key and a self-signed certificate for it to BASENAME.crt\n"
     "(for tests; valid 365 days unless --days)."},
    {"ca", certtool_ca,
     "ca make BASENAME [CN:name] [...] [--days N] [--key-type TYPE] [--force]\n"
     "ca sign CA REQUEST.csr [--out FILE] [--days N] [--intermediate]",
     "make: a private certificate authority, BASENAME.key and BASENAME.crt (10 years unless\n"
     "--days).  sign: sign REQUEST.csr with CA.key and CA.crt into FILE (default: the\n"
     "request's name with .crt), valid 365 days unless --days; the certificate is for TLS\n"
     "servers and clients (cluster peers are both) and keeps the request's names, or is a\n"
     "certificate authority itself with --intermediate."},
    {"list", certtool_list, "list [DIR] [--json]",
     "One line for each key, certificate, bundle and request in DIR (default: the current\n"
     "folder): kind, file, subject or key type, expiry, and which key or certificate of\n"
     "the folder belongs to it."},
    {"inspect", certtool_inspect, "inspect FILE [--json]",
     "Everything in FILE: for each certificate, in order, subject, issuer, alternative\n"
     "names, validity, key type and size, SHA-256 fingerprint; for a key its type and the\n"
     "SHA-256 of its public key (never the private key); for a request its subject and\n"
     "names."},
    {"match", certtool_match, "match KEY CERT",
     "Whether KEY is the private key of the certificate (or request) in CERT."},
    {"verify", certtool_verify,
     "verify CERT [BUNDLE] [--ca FILE]... [--name NAME] [--purpose server|client|any]",
     "Verify the first certificate of CERT with the other certificates of CERT and BUNDLE\n"
     "as intermediates, against the --ca files (default: the system's trusted CAs), for\n"
     "TLS server use unless --purpose says otherwise, and for NAME if given.  On failure\n"
     "it says which certificate and why (expired, not yet valid, unknown issuer, wrong\n"
     "purpose, name mismatch)."},
    {"bundle", certtool_bundle,
     "bundle check FILE [--ca FILE]... [--fix]\n"
     "bundle make OUT CERT... [--force]",
     "check: the order of FILE (the server's certificate first, each certificate issued\n"
     "by the next, the root last), missing intermediates, duplicates and expired members;\n"
     "names the certificate out of place and prints the right order; --fix rewrites FILE\n"
     "in that order.  make: write the certificates of the CERT files, checked, into OUT\n"
     "(for example the cluster trust bundle from every node's certificate); a file with\n"
     "a private key is refused, and an existing OUT is replaced only with --force."},
};
#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; name != NULL && i < VERB_COUNT; i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	}
	return NULL;
}

/* Each line of a verb's synopsis after `first`, the later ones after `more`. */
static void print_synopsis(FILE *out, const struct verb *verb, const char *first, const char *more)
{
	const char *line = verb->synopsis;
	for (const char *prefix = first; *line != '\0'; prefix = more) {
		size_t len = strcspn(line, "\n");
		fprintf(out, "%s%.*s\n", prefix, (int)len, line);
		line += len + (line[len] == '\n');
	}
}

void certtool_usage(FILE *out, const char *name)
{
	const struct verb *verb = find_verb(name);
	if (verb != NULL) {
		print_synopsis(out, verb, "usage: rxmpp-certtool ", "       rxmpp-certtool ");
		fprintf(out, "\n%s\n", verb->help);
		return;
	}
	fprintf(out, "usage: rxmpp-certtool COMMAND [ARGUMENTS] [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < VERB_COUNT; i++)
		print_synopsis(out, &verbs[i], "  ", "  ");
	fprintf(out, "\nEach command takes --help; --version prints the version.  Exit status: 0 "
		     "success, 1 failure or a "
		     "problem found,\n2 usage error.  See rxmpp-certtool(1).\n");
}

void certtool_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"force", no_argument, NULL, 'f'},
	    {"fix", no_argument, NULL, 'x'},
	    {"intermediate", no_argument, NULL, 'i'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"days", required_argument, NULL, 'd'},
	    {"out", required_argument, NULL, 'o'},
	    {"ca", required_argument, NULL, 'c'},
	    {"name", required_argument, NULL, 'n'},
	    {"purpose", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct ct_options o = {.key_type = "p256", .purpose = "server"};
	bool help = false;
	int c;
	while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'f':
			o.force = true;
			break;
		case 'x':
			o.fix = true;
			break;
		case 'i':
			o.intermediate = true;
			break;
		case 'k':
			o.key_type = optarg;
			break;
		case 'd': {
			char *end;
			long days = strtol(optarg, &end, 10);
			if (*end != '\0' || days < 1 || days > 36500) {
				fprintf(stderr, "rxmpp-certtool: --days takes 1 to 36500\n");
				return CT_USAGE;
			}
			o.days = (int)days;
			break;
		}
		case 'o':
			o.out = optarg;
			break;
		case 'c':
			if (o.ca_count == (int)(sizeof(o.ca_files) / sizeof(o.ca_files[0]))) {
				fprintf(stderr, "rxmpp-certtool: at most 8 --ca files\n");
				return CT_USAGE;
			}
			o.ca_files[o.ca_count++] = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'p':
			o.purpose = optarg;
			break;
		case 'h':
			help = true;
			break;
		case 'V':
			printf("rxmpp-certtool %s\n", RXMPP_VERSION);
			return CT_OK;
		default:
			certtool_usage(stderr, NULL);
			return CT_USAGE;
		}
	}
	const char *name = optind < argc ? argv[optind] : NULL;
	const struct verb *verb = find_verb(name);
	if (help) {
		certtool_usage(stdout, name);
		return CT_OK;
	}
	if (verb == NULL) {
		if (name != NULL)
			fprintf(stderr, "rxmpp-certtool: unknown command '%s'\n", name);
		certtool_usage(stderr, NULL);
		return CT_USAGE;
	}
	return verb->run(argc - optind - 1, argv + optind + 1, &o);
}
