/* SPDX-License-Identifier: MIT */
/*
 * The configuration: defaults, good files, every kind of bad file with its
 * file:line:column message, the canonical form parsing back to the same
 * structure, and the example file documenting every key of the schema.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/callbridges.h"
#include "config/config_edit.h"
#include "config/config_yaml.h"
#include "unit.h"

static struct config cfg;
static struct config_errors errors;

static int parse(const char *text)
{
	return config_parse("test.yaml", text, strlen(text), "/etc/rxmpp", &cfg, &errors);
}

static bool has_error(const char *expected)
{
	for (unsigned i = 0; i < errors.count; i++) {
		if (strstr(errors.message[i], expected) != NULL)
			return true;
	}
	return false;
}

#define ck_assert_error(expected)                                                                  \
	ck_assert_msg(has_error(expected), "no error containing \"%s\"; got %u: %s", expected,     \
		      errors.count, errors.count ? errors.message[0] : "(none)")

START_TEST(test_only_a_domain_gives_every_default)
{
	ck_assert_int_eq(parse("domain: Example.COM\n"), 0);
	ck_assert_str_eq(cfg.domain, "example.com");
	ck_assert_uint_eq(cfg.version, 1);
	ck_assert_uint_eq(cfg.log_level, 6);
	ck_assert_str_eq(cfg.state_directory, "/var/lib/rxmpp");
	ck_assert_str_eq(cfg.user, "rxmpp");
	ck_assert_str_eq(cfg.control_socket, "/run/rxmpp/control.sock");
	ck_assert_uint_eq(cfg.listen.address_count, 1);
	ck_assert_str_eq(cfg.listen.addresses[0], "any");
	ck_assert_uint_eq(cfg.listen.client_port, 5222);
	ck_assert_uint_eq(cfg.listen.component_port, 5223);
	ck_assert_uint_eq(cfg.listen.direct_tls_port, CONFIG_NONE);
	ck_assert_uint_eq(cfg.listen.component_tls, CONFIG_COMPONENT_TLS_DIRECT);
	ck_assert_str_eq(cfg.tls.bundle, "");
	ck_assert_uint_eq(cfg.tls.required, 1);
	ck_assert_uint_eq(cfg.tls.min_version, CONFIG_TLS_1_2);
	ck_assert_uint_eq(cfg.tls.expiry_warning_ms, 30u * 24 * 3600 * 1000);
	ck_assert_uint_eq(cfg.limits.max_stanza_size, 256 * 1024);
	ck_assert_uint_eq(cfg.limits.max_sessions, CONFIG_NONE);
	/* A gateway logs all its users in from one address: no cap on them. */
	ck_assert_uint_eq(cfg.limits.max_connections_per_address, CONFIG_NONE);
	ck_assert_uint_eq(cfg.limits.max_unauthenticated_per_address, 256);
	ck_assert_uint_eq(cfg.limits.connection_rate_per_address, 100);
	ck_assert_uint_eq(cfg.limits.connection_burst_per_address, 1000);
	ck_assert_uint_eq(cfg.limits.trusted_networks.count, 0);
	ck_assert_uint_eq(cfg.limits.idle_timeout_ms, 300000);
	ck_assert_uint_eq(cfg.cluster.enabled, 0);
	ck_assert_uint_eq(cfg.cluster.heartbeat_interval_ms, 50);
	ck_assert_uint_eq(cfg.cluster.election_timeout_min_ms, 250);
	ck_assert_uint_eq(cfg.cluster.election_timeout_max_ms, 500);
	ck_assert_uint_eq(cfg.cluster.queue_max_bytes, 16 * 1024 * 1024);
}
END_TEST

START_TEST(test_every_value_form)
{
	const char *text = "domain: chat.example.org\n"
			   "user: _rxmpp-2\n"
			   "log_level: debug\n"
			   "state_directory: state\n"
			   "listen:\n"
			   "  addresses: [127.0.0.1, \"::1\"]\n"
			   "  client_port: 15222\n"
			   "  direct_tls_port: 15270\n"
			   "  component_tls: plain\n"
			   "tls:\n"
			   "  bundle: chain.pem\n"
			   "  required: false\n"
			   "  min_version: \"1.3\"\n"
			   "limits:\n"
			   "  max_stanza_size: 1MiB\n"
			   "  max_sessions: 2\n"
			   "  max_connections_per_address: none\n"
			   "  idle_timeout: 1h\n"
			   "cluster:\n"
			   "  enabled: true\n"
			   "  heartbeat_interval: 80ms\n"
			   "  election_timeout_max: 2s\n"
			   "  queue_max_bytes: 65536\n";
	ck_assert_int_eq(parse(text), 0);
	ck_assert_uint_eq(cfg.log_level, 7);
	ck_assert_str_eq(cfg.state_directory, "/etc/rxmpp/state");
	ck_assert_str_eq(cfg.user, "_rxmpp-2");
	ck_assert_int_eq(parse("user: \"rx mpp\"\n"), -1);
	ck_assert_int_eq(parse("user: -rxmpp\n"), -1);
	ck_assert_int_eq(parse("user: a234567890123456789012345678901234\n"), -1);
	ck_assert_int_eq(parse(text), 0);
	ck_assert_uint_eq(cfg.listen.address_count, 2);
	ck_assert_str_eq(cfg.listen.addresses[1], "::1");
	ck_assert_uint_eq(cfg.listen.direct_tls_port, 15270);
	ck_assert_uint_eq(cfg.listen.component_tls, CONFIG_COMPONENT_TLS_PLAIN);
	ck_assert_str_eq(cfg.tls.bundle, "/etc/rxmpp/chain.pem");
	ck_assert_uint_eq(cfg.tls.required, 0);
	ck_assert_uint_eq(cfg.tls.min_version, CONFIG_TLS_1_3);
	ck_assert_uint_eq(cfg.limits.max_stanza_size, 1024 * 1024);
	ck_assert_uint_eq(cfg.limits.max_sessions, 2);
	ck_assert_uint_eq(cfg.limits.max_connections_per_address, CONFIG_NONE);
	ck_assert_uint_eq(cfg.limits.idle_timeout_ms, 3600000);
	ck_assert_uint_eq(cfg.cluster.enabled, 1);
	ck_assert_uint_eq(cfg.cluster.heartbeat_interval_ms, 80);
	ck_assert_uint_eq(cfg.cluster.election_timeout_max_ms, 2000);
	ck_assert_uint_eq(cfg.cluster.queue_max_bytes, 65536);
}
END_TEST

START_TEST(test_canonical_form_parses_to_the_same_structure)
{
	ck_assert_int_eq(
	    parse("domain: example.com\nlisten:\n  addresses: [\"192.0.2.1\", "
		  "\"2001:db8::1\"]\nlimits:\n  max_stanza_size: 1500\n"
		  "  trusted_networks: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.1]\n"
		  "  auth_timeout: 1500ms\ntls:\n  bundle: \"/a path/with \\\"q\\\"\"\n"),
	    0);
	struct config first = cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	config_print(&first, out);
	fclose(out);
	ck_assert_msg(parse(text) == 0, "canonical form does not parse: %s\n%s", errors.message[0],
		      text);
	ck_assert_msg(memcmp(&first, &cfg, sizeof(cfg)) == 0, "canonical form differs:\n%s", text);
	free(text);
}
END_TEST

START_TEST(test_syntax_error_has_line_and_column)
{
	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  client_port: [5222\n"), -1);
	ck_assert_error("test.yaml:4:1: YAML syntax error");
}
END_TEST

START_TEST(test_unknown_keys)
{
	ck_assert_int_eq(parse("domain: example.com\ndomian: typo\nlimits:\n  max_sesions: 5\n"),
			 -1);
	ck_assert_uint_eq(errors.count, 2);
	ck_assert_error(
	    "test.yaml:2:1: unknown key 'domian'; expected one of: version, enabled, domain");
	ck_assert_error("test.yaml:4:3: unknown key 'max_sesions' in section limits; expected one "
			"of: max_stanza_size");
}
END_TEST

START_TEST(test_wrong_types_and_ranges)
{
	const char *text = "domain: example.com\n"
			   "listen:\n"
			   "  client_port: 70000\n"
			   "  component_port: five\n"
			   "  addresses: [local host]\n"
			   "tls:\n"
			   "  required: yes\n"
			   "  min_version: \"1.1\"\n"
			   "limits:\n"
			   "  max_stanza_size: 5GiB\n"
			   "  idle_timeout: 300\n"
			   "  max_depth: [1, 2]\n"
			   "log_level: loud\n";
	ck_assert_int_eq(parse(text), -1);
	ck_assert_error("test.yaml:3:16: listen.client_port: expected a whole number from 1 to "
			"65535, got '70000'");
	ck_assert_error("test.yaml:4:19: listen.component_port: expected a whole number");
	ck_assert_error(
	    "test.yaml:5:15: listen.addresses: expected an IPv4 or IPv6 address, an interface "
	    "name, or any, got 'local host'");
	ck_assert_error("test.yaml:7:13: tls.required: expected true or false, got 'yes'");
	ck_assert_error("test.yaml:8:16: tls.min_version: expected one of: 1.2 1.3, got '1.1'");
	ck_assert_error(
	    "test.yaml:10:20: limits.max_stanza_size: expected a size from 1KiB to 1MiB");
	ck_assert_error("test.yaml:11:17: limits.idle_timeout: expected a duration from 1s to 1d "
			"with a unit");
	ck_assert_error("test.yaml:12:14: limits.max_depth: expected a single value, got a list");
	ck_assert_error("test.yaml:13:12: log_level: expected one of: err warning info debug");
	ck_assert_uint_eq(errors.count, 9);
}
END_TEST

START_TEST(test_structure_errors)
{
	ck_assert_int_eq(parse(""), -1);
	ck_assert_error("the file is empty");

	ck_assert_int_eq(parse("- domain\n"), -1);
	ck_assert_error("test.yaml:1:1: expected a mapping of keys");

	ck_assert_int_eq(parse("domain: example.com\nlimits: 5\n"), -1);
	ck_assert_error("test.yaml:2:9: limits: expected a mapping of keys");

	ck_assert_int_eq(parse("domain: example.com\ndomain: example.org\n"), -1);
	ck_assert_error("test.yaml:2:1: domain appears twice");

	ck_assert_int_eq(parse("domain: example.com\nlisten: {}\nlisten: {}\n"), -1);
	ck_assert_error("test.yaml:3:1: section 'listen' appears twice");

	ck_assert_int_eq(parse("domain: &d example.com\nstate_directory: *d\n"), -1);
	ck_assert_error("test.yaml:2:18: YAML aliases (*d) are not allowed");

	ck_assert_int_eq(parse("domain: example.com\n---\ndomain: example.org\n"), -1);
	ck_assert_error("a second YAML document");

	ck_assert_int_eq(parse("domain:\n"), -1);
	ck_assert_error("test.yaml:1:8: domain: expected a value");

	ck_assert_int_eq(parse("domain: exa mple.com\n"), -1);
	ck_assert_error("domain: expected a DNS domain name");
}
END_TEST

START_TEST(test_cross_key_checks)
{
	/* No domain (or none) is a valid file that cannot serve yet. */
	ck_assert_int_eq(parse("log_level: info\n"), 0);
	ck_assert_ptr_nonnull(config_unready(&cfg));
	ck_assert_int_eq(parse("domain: none\n"), 0);
	ck_assert_str_eq(cfg.domain, "");
	/* Found by fuzzing: "noNe" was the domain "none", printed as unset. */
	ck_assert_int_eq(parse("domain: noNe\n"), 0);
	ck_assert_str_eq(cfg.domain, "");
	ck_assert_msg(strstr(config_unready(&cfg), "domain: not set") != NULL, "%s",
		      config_unready(&cfg));
	ck_assert_int_eq(parse("domain: Example.COM\n"), 0);
	ck_assert_ptr_null(config_unready(&cfg));

	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  component_port: 5222\n"), -1);
	ck_assert_error("test.yaml:3:3: listen.component_port: must differ from client_port");

	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  addresses: [any, 127.0.0.1]\n"),
			 -1);
	ck_assert_error("'any' already covers every address");

	ck_assert_int_eq(parse("domain: example.com\ncluster:\n  election_timeout_min: 2s\n"), -1);
	ck_assert_error("cluster.election_timeout_max: must be above election_timeout_min");

	ck_assert_int_eq(parse("domain: example.com\ncluster:\n  heartbeat_interval: 400ms\n"), -1);
	ck_assert_error("test.yaml:3:3: cluster.heartbeat_interval: at most a third");

	ck_assert_int_eq(parse("domain: example.com\nlimits:\n  keepalive_interval: 10m\n"), -1);
	ck_assert_error("limits.keepalive_interval: must be shorter than idle_timeout");
}
END_TEST

/* Who may join a cluster whose trust bundle is a CA. */
START_TEST(test_peer_names)
{
	ck_assert_int_eq(parse("domain: example.com\n"), 0);
	ck_assert_uint_eq(cfg.cluster.peer_names.count, 0);
	ck_assert_int_eq(parse("domain: example.com\ncluster:\n"
			       "  peer_names: [node1.example.com, 192.0.2.7]\n"),
			 0);
	ck_assert_uint_eq(cfg.cluster.peer_names.count, 2);
	ck_assert_str_eq(cfg.cluster.peer_names.names[1], "192.0.2.7");
	ck_assert_int_eq(parse("domain: example.com\ncluster:\n  peer_names: node1\n"), 0);
	ck_assert_uint_eq(cfg.cluster.peer_names.count, 1);
	ck_assert_int_eq(parse("domain: example.com\ncluster:\n  peer_names: [a, A]\n"), -1);
	ck_assert_error("cluster.peer_names: expected each name once");
	ck_assert_int_eq(parse("domain: example.com\ncluster:\n  peer_names: [\"a b\"]\n"), -1);
	ck_assert_error("cluster.peer_names: expected a DNS name or common name");
}
END_TEST

START_TEST(test_trusted_networks)
{
	ck_assert_int_eq(
	    parse("domain: example.com\nlimits:\n"
		  "  trusted_networks: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.7, \"::1\","
		  " 0.0.0.0/0]\n"),
	    0);
	const struct config_networks *n = &cfg.limits.trusted_networks;
	ck_assert_uint_eq(n->count, 5);
	char text[NETADDR_NET_TEXT_MAX];
	netaddr_net_format(&n->nets[0], text, sizeof(text));
	ck_assert_str_eq(text, "10.0.0.0/8");
	netaddr_net_format(&n->nets[1], text, sizeof(text));
	ck_assert_str_eq(text, "2001:db8::/32");
	netaddr_net_format(&n->nets[2], text, sizeof(text));
	ck_assert_str_eq(text, "192.0.2.7/32"); /* one address */
	netaddr_net_format(&n->nets[3], text, sizeof(text));
	ck_assert_str_eq(text, "::1/128");
	/* A single entry is a list of one. */
	ck_assert_int_eq(parse("domain: example.com\nlimits:\n  trusted_networks: 10.1.0.0/16\n"),
			 0);
	ck_assert_uint_eq(cfg.limits.trusted_networks.count, 1);

	/* Each bad entry is named where it stands. */
	ck_assert_int_eq(
	    parse("domain: example.com\nlimits:\n"
		  "  trusted_networks: [10.0.0.0/8, 10.0.0.1/8, 10.0.0.0/33,\n"
		  "    10.0.0.0/08, 10.0.0/8, \"2001:db8::/129\", 10.0.0.0/, \" 10.0.0.0/8\",\n"
		  "    10.0.0.0/8, example.com, 10.0.0.0/8x]\n"),
	    -1);
	ck_assert_error("test.yaml:3:34: limits.trusted_networks: expected a network without host "
			"bits after the prefix (10.0.0.1/8 covers 10.0.0.0/8), got '10.0.0.1/8'");
	ck_assert_error("test.yaml:3:46: limits.trusted_networks: expected an IPv4 or IPv6 network "
			"such as 192.0.2.0/24");
	ck_assert_error("test.yaml:4:5: limits.trusted_networks: expected an IPv4 or IPv6 network");
	ck_assert_error(
	    "test.yaml:4:18: limits.trusted_networks: expected an IPv4 or IPv6 network");
	ck_assert_error(
	    "test.yaml:4:28: limits.trusted_networks: expected an IPv4 or IPv6 network");
	ck_assert_error(
	    "test.yaml:4:46: limits.trusted_networks: expected an IPv4 or IPv6 network");
	ck_assert_error(
	    "test.yaml:4:57: limits.trusted_networks: expected an IPv4 or IPv6 network");
	ck_assert_error("test.yaml:5:5: limits.trusted_networks: expected each network once");
	ck_assert_error(
	    "test.yaml:5:17: limits.trusted_networks: expected an IPv4 or IPv6 network");
	ck_assert_error(
	    "test.yaml:5:30: limits.trusted_networks: expected an IPv4 or IPv6 network");
	ck_assert_uint_eq(errors.count, 10);
	ck_assert_int_eq(parse("domain: example.com\nlimits:\n  trusted_networks: {a: 1}\n"), -1);
	ck_assert_error("test.yaml:3:21: limits.trusted_networks: expected a list");
}
END_TEST

START_TEST(test_interfaces_in_listen)
{
	/* lo is on every host; the other name on none. */
	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  addresses: [lo, 10.0.0.7]\n"), 0);
	ck_assert(config_address_is_interface(cfg.listen.addresses[0]));
	ck_assert(!config_address_is_interface(cfg.listen.addresses[1]));
	ck_assert(!config_address_is_interface("any"));
	ck_assert(!config_address_is_interface("::1"));
	ck_assert_uint_eq(cfg.listen.link_local, 0);

	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  link_local: true\n"
			       "  addresses: [rxmppnosuch0]\n"),
			 -1);
	ck_assert_error("test.yaml:4:3: listen.addresses: there is no interface named "
			"'rxmppnosuch0' on this host");
	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  addresses: [eth0/1]\n"), -1);
	ck_assert_error(
	    "expected an IPv4 or IPv6 address, an interface name, or any, got 'eth0/1'");
	ck_assert_int_eq(
	    parse("domain: example.com\nlisten:\n  addresses: [averylonginterfacename]\n"), -1);
	ck_assert_error("an interface name, or any, got 'averylonginterfacename'");

	/* The cluster's own address comes from the first IP address listed. */
	char address[300];
	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  addresses: [lo, 10.0.0.7]\n"
			       "cluster:\n  enabled: true\n  port: 4000\n"),
			 0);
	ck_assert_int_eq(config_cluster_address(&cfg, address, sizeof(address)), 0);
	ck_assert_str_eq(address, "10.0.0.7:4000");
	ck_assert_int_eq(parse("domain: example.com\nlisten:\n  addresses: [lo]\n"
			       "cluster:\n  enabled: true\n"),
			 -1);
	ck_assert_error("cluster.address: required when listen.addresses holds no IP address");
}
END_TEST

START_TEST(test_errors_are_bounded)
{
	char text[8192] = "domain: example.com\n";
	for (int i = 0; i < 100; i++) {
		size_t used = strlen(text);
		snprintf(text + used, sizeof(text) - used, "unknown_%d: 1\n", i);
	}
	ck_assert_int_eq(parse(text), -1);
	ck_assert_uint_eq(errors.count, CONFIG_ERRORS_MAX);
	ck_assert_uint_eq(errors.dropped, 100 - CONFIG_ERRORS_MAX);
}
END_TEST

START_TEST(test_missing_file)
{
	ck_assert_int_eq(config_load("/nonexistent/rxmpp.yaml", &cfg, &errors), -1);
	ck_assert_error("/nonexistent/rxmpp.yaml: cannot open: No such file or directory");
}
END_TEST

START_TEST(test_example_file_is_valid_and_documents_every_key)
{
	/* The runner starts in tests/unit. */
	const char *path = "../../packaging/rxmpp.yaml";
	ck_assert_msg(config_load(path, &cfg, &errors) == 0, "%s", errors.message[0]);
	struct config defaults;
	config_set_defaults(&defaults);
	ck_assert_msg(memcmp(&defaults, &cfg, sizeof(cfg)) == 0,
		      "the example file shows a value that is not the default");

	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	static char text[CONFIG_FILE_MAX];
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	for (size_t i = 0; i < config_key_count; i++) {
		char needle[80];
		snprintf(needle, sizeof(needle), "\n%s%s:", config_keys[i].section ? "  " : "",
			 config_keys[i].name);
		ck_assert_msg(strstr(text, needle) != NULL, "packaging/rxmpp.yaml lacks %s%s%s",
			      config_keys[i].section ? config_keys[i].section : "",
			      config_keys[i].section ? "." : "", config_keys[i].name);
	}
}
END_TEST

static int bridges_from(const char *text, struct callbridges *out)
{
	char path[] = "/tmp/rxmpp-bridges-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int rc = callbridges_load(path, "example.com", out, &errors);
	unlink(path);
	return rc;
}

START_TEST(test_callbridges_file)
{
	struct callbridges b;
	ck_assert_int_eq(
	    callbridges_load("/nonexistent/callbridges.yaml", "example.com", &b, &errors), 0);
	ck_assert_uint_eq(b.count, 0);
	ck_assert_int_eq(bridges_from("# only comments\n", &b), 0);
	ck_assert_uint_eq(b.count, 0);

	ck_assert_int_eq(bridges_from("cb1: \"secret-one\"\ncb2:\n  secret: secret-two\n"
				      "  address: Bridge2.Example.COM\n",
				      &b),
			 0);
	ck_assert_uint_eq(b.count, 2);
	ck_assert_str_eq(b.items[0].name, "cb1");
	ck_assert_str_eq(b.items[0].address, "cb1.example.com");
	ck_assert_str_eq(b.items[0].secret, "secret-one");
	ck_assert_str_eq(b.items[1].address, "bridge2.example.com");
	callbridges_free(&b);

	ck_assert_int_eq(bridges_from("CB_1: \"secret-one\"\n", &b), -1);
	ck_assert_error(":1:1: bridge name 'CB_1': expected 1 to 63 lower-case letters");
	ck_assert_int_eq(bridges_from("cb1: short\n", &b), -1);
	ck_assert_error(":1:6: cb1: the secret must be 8 to 255 characters, without control "
			"characters or a space at either end");
	ck_assert_int_eq(bridges_from("cb1: \" secret-one\"\n", &b), -1);
	ck_assert_int_eq(bridges_from("cb1: \"secret\\tone\"\n", &b), -1);
	ck_assert_int_eq(bridges_from("cb1: \"a\\\"b'c: #d\\\\e\"\n", &b), 0);
	ck_assert_str_eq(b.items[0].secret, "a\"b'c: #d\\e");
	callbridges_free(&b);
	ck_assert_int_eq(bridges_from("cb1:\n  secret: secret-one\n  colour: red\n", &b), -1);
	ck_assert_error(":3:3: cb1: unknown key 'colour'; expected secret or address");
	ck_assert_int_eq(bridges_from("cb1:\n  address: x.example.com\n", &b), -1);
	ck_assert_error(":1:1: cb1: no secret");
	ck_assert_int_eq(bridges_from("cb1: secret-one\ncb1: secret-two\n", &b), -1);
	ck_assert_error(":2:1: bridge cb1 appears twice");
	ck_assert_int_eq(bridges_from("cb1: secret-one\ncb2:\n  secret: secret-two\n"
				      "  address: CB1.example.com\n",
				      &b),
			 -1);
	ck_assert_error(":2:1: bridges cb1 and cb2 have the same address cb1.example.com");
	ck_assert_int_eq(bridges_from("cb1: &s secret-one\ncb2: *s\n", &b), -1);
	ck_assert_error(":2:6: YAML aliases (*s) are not allowed here");
	ck_assert_int_eq(bridges_from("- cb1\n", &b), -1);
	ck_assert_error("expected a mapping of bridge names to secrets");
	/* A key given twice, a second document, a file cut in a value. */
	ck_assert_int_eq(bridges_from("cb1:\n  secret: secret-one\n  secret: secret-two\n", &b),
			 -1);
	ck_assert_error(":3:3: cb1.secret: given twice");
	ck_assert_int_eq(bridges_from("cb1:\n  address: a.example.com\n  secret: secret-one\n"
				      "  address: b.example.com\n",
				      &b),
			 -1);
	ck_assert_error(":4:3: cb1.address: given twice");
	ck_assert_int_eq(bridges_from("cb1: secret-one\n---\ncb2: secret-two\n", &b), -1);
	ck_assert_error(":2:1: a second YAML document");
	ck_assert_int_eq(bridges_from("cb1: secret-one\ncb2: \"secret-t", &b), -1);
	ck_assert_error(":2:");
	ck_assert_uint_eq(b.count, 0);
}
END_TEST

/* The cap, reached through the doubling array: CALLBRIDGES_MAX bridges are
 * read in order, one more is refused at its own line. */
START_TEST(test_callbridges_cap)
{
	static char text[(CALLBRIDGES_MAX + 1) * 24];
	size_t len = 0;
	for (int i = 0; i < CALLBRIDGES_MAX; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "cb%d: secret-%d\n", i, i);
	struct callbridges b;
	ck_assert_int_eq(bridges_from(text, &b), 0);
	ck_assert_uint_eq(b.count, CALLBRIDGES_MAX);
	ck_assert_str_eq(b.items[CALLBRIDGES_MAX - 1].name, "cb1023");
	ck_assert_str_eq(b.items[CALLBRIDGES_MAX - 1].secret, "secret-1023");
	callbridges_free(&b);
	snprintf(text + len, sizeof(text) - len, "one-more: secret-more\n");
	ck_assert_int_eq(bridges_from(text, &b), -1);
	ck_assert_error(":1025:1: more than 1024 call bridges");
}
END_TEST

static char *edited(const char *text, const char *section, const char *key, const char *literal)
{
	char *out = NULL, why[256] = "";
	size_t len;
	ck_assert_msg(config_edit_text(text, strlen(text), section, key, literal, &out, &len, why,
				       sizeof(why)) == 0,
		      "edit refused: %s", why);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

START_TEST(test_edit_keeps_everything_else)
{
	const char *text = "# my node\n"
			   "domain: example.com   # the domain\n"
			   "\n"
			   "cluster:\n"
			   "    # on once the certificates are in\n"
			   "    enabled: false\n"
			   "    port: 5224\n"
			   "limits: {max_sessions: 10, idle_timeout: 5m}\n";
	char *out = edited(text, "cluster", "enabled", "true");
	ck_assert_str_eq(out, "# my node\n"
			      "domain: example.com   # the domain\n"
			      "\n"
			      "cluster:\n"
			      "    # on once the certificates are in\n"
			      "    enabled: true\n"
			      "    port: 5224\n"
			      "limits: {max_sessions: 10, idle_timeout: 5m}\n");
	free(out);
	/* A value inside an inline mapping, and a quoted one. */
	out = edited(text, "limits", "max_sessions", "none");
	ck_assert_ptr_nonnull(strstr(out, "limits: {max_sessions: none, idle_timeout: 5m}\n"));
	free(out);
	out = edited("domain: \"example.com\" # q\n", NULL, "domain", "\"example.org\"");
	ck_assert_str_eq(out, "domain: \"example.org\" # q\n");
	free(out);
	/* A missing key goes into its section, with the section's indentation. */
	out = edited(text, "cluster", "trust_bundle", "\"/etc/rxmpp/trust.pem\"");
	ck_assert_ptr_nonnull(strstr(out,
				     "    port: 5224\n    trust_bundle: \"/etc/rxmpp/trust.pem\"\n"
				     "limits:"));
	ck_assert_int_eq(parse(out), 0);
	ck_assert_str_eq(cfg.cluster.trust_bundle, "/etc/rxmpp/trust.pem");
	free(out);
	/* A missing section is appended; the result parses to what was asked. */
	out = edited("domain: example.com\nlisten: {addresses: [192.0.2.1]}\n", "cluster",
		     "enabled", "true");
	ck_assert_str_eq(out, "domain: example.com\nlisten: {addresses: [192.0.2.1]}\ncluster:\n"
			      "  enabled: true\n");
	ck_assert_int_eq(parse(out), 0);
	ck_assert_uint_eq(cfg.cluster.enabled, 1);
	free(out);
}
END_TEST

START_TEST(test_edit_refusals_and_file)
{
	char *out = NULL, why[256] = "";
	size_t len;
	ck_assert_int_eq(config_edit_text("cluster: {port: 1}\n", 19, "cluster", "enabled", "true",
					  &out, &len, why, sizeof(why)),
			 -1);
	ck_assert_ptr_nonnull(strstr(why, "written inline"));
	ck_assert_int_eq(
	    config_edit_text("tls: {key: a}\n", 14, NULL, "tls", "x", &out, &len, why, sizeof(why)),
	    -1);
	ck_assert_ptr_nonnull(strstr(why, "not a single value"));
	/* Lists are replaced whole, inline or block style. */
	out = edited("listen:\n  addresses: [any] # all\n  client_port: 5222\n", "listen",
		     "addresses", "[192.0.2.1, 192.0.2.2]");
	ck_assert_str_eq(
	    out, "listen:\n  addresses: [192.0.2.1, 192.0.2.2] # all\n  client_port: 5222\n");
	free(out);
	out =
	    edited("domain: example.com\nlisten:\n  addresses:\n    - 192.0.2.1\n    - 192.0.2.2\n"
		   "  client_port: 5222\n",
		   "listen", "addresses", "[192.0.2.3]");
	ck_assert_int_eq(parse(out), 0);
	ck_assert_uint_eq(cfg.listen.address_count, 1);
	ck_assert_str_eq(cfg.listen.addresses[0], "192.0.2.3");
	ck_assert_uint_eq(cfg.listen.client_port, 5222);
	free(out);

	char path[] = "/tmp/rxmpp-edit-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "domain: example.com # keep me\nlisten:\n  addresses: [192.0.2.1]\n"
			   "cluster:\n  enabled: false\n";
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_eq(config_edit_file(path, "cluster", "enabled", "true", &errors), 0);
	/* An edit that would make the file invalid leaves it untouched. */
	ck_assert_int_eq(config_edit_file(path, "cluster", "port", "70000", &errors), -1);
	ck_assert_error(":6:9: cluster.port: expected a whole number from 1 to 65535");
	FILE *f = fopen(path, "r");
	char back[256] = "";
	size_t n = fread(back, 1, sizeof(back) - 1, f);
	back[n] = '\0';
	fclose(f);
	ck_assert_str_eq(back, "domain: example.com # keep me\nlisten:\n  addresses: [192.0.2.1]\n"
			       "cluster:\n  enabled: true\n");
	unlink(path);
	char lock[64];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	unlink(lock);
}
END_TEST

START_TEST(test_edit_quote_escapes_what_yaml_reads_specially)
{
	char out[64];
	ck_assert_int_eq(config_edit_quote("a\"b'c: #d\\e\tf", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "\"a\\\"b'c: #d\\\\e\\x09f\"");
	/* It reads back as itself, spliced into a file. */
	char *edited = NULL, why[256];
	size_t len;
	ck_assert_int_eq(config_edit_text("domain: x.example\n", 18, NULL, "domain", out, &edited,
					  &len, why, sizeof(why)),
			 0);
	ck_assert_ptr_nonnull(strstr(edited, out));
	free(edited);
	ck_assert_int_eq(config_edit_quote("0123456789", out, 8), -1);
	ck_assert_int_eq(config_edit_quote("", out, 3), 0);
	ck_assert_str_eq(out, "\"\"");
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, test_only_a_domain_gives_every_default);
	tcase_add_test(tc, test_every_value_form);
	tcase_add_test(tc, test_canonical_form_parses_to_the_same_structure);
	tcase_add_test(tc, test_syntax_error_has_line_and_column);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_wrong_types_and_ranges);
	tcase_add_test(tc, test_structure_errors);
	tcase_add_test(tc, test_cross_key_checks);
	tcase_add_test(tc, test_interfaces_in_listen);
	tcase_add_test(tc, test_peer_names);
	tcase_add_test(tc, test_trusted_networks);
	tcase_add_test(tc, test_errors_are_bounded);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_example_file_is_valid_and_documents_every_key);
	tcase_add_test(tc, test_callbridges_file);
	tcase_add_test(tc, test_callbridges_cap);
	tcase_add_test(tc, test_edit_keeps_everything_else);
	tcase_add_test(tc, test_edit_refusals_and_file);
	tcase_add_test(tc, test_edit_quote_escapes_what_yaml_reads_specially);
	suite_add_tcase(s, tc);
	return s;
}
