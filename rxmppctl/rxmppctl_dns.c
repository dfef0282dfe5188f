/* SPDX-License-Identifier: MIT */
/*
 * rxmppctl dns check [DOMAIN] [--server ADDR[:PORT]] [--json]: the SRV
 * records of the domain's XMPP services (RFC 6120 section 3.2.1, RFC 2782)
 * held against this cluster: a verdict per finding, and the order a client
 * or call bridge would try the targets in.  Uses the C library's resolver
 * (libresolv), so it sees what the host's clients see, or asks --server.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "common/srv.h"
#include "elector/elector_state.h"
#include "rxmppctl.h"

#define DNS_RECORDS_MAX	  32
#define DNS_ADDRESSES_MAX 16
#define DNS_MEMBERS_MAX	  ELECTOR_MEMBERS_MAX
#define DNS_FINDINGS_MAX  256
#define PROBE_TIMEOUT_MS  2000
#define PROBE_READ_MAX	  16384

typedef char address_text[INET6_ADDRSTRLEN];

struct target {
	struct srv_record srv;
	address_text addresses[DNS_ADDRESSES_MAX];
	size_t address_count;
};

struct finding {
	const char *verdict; /* "ok", "info", "warning", "error" */
	char service[300];
	char text[600];
};

static struct {
	struct __res_state resolver;
	const char *domain;
	bool json;
	struct finding findings[DNS_FINDINGS_MAX];
	size_t finding_count;
	address_text members[DNS_MEMBERS_MAX];
	size_t member_count;
} dns;

static void report(const char *verdict, const char *service, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(const char *verdict, const char *service, const char *fmt, ...)
{
	if (dns.finding_count == DNS_FINDINGS_MAX)
		return;
	struct finding *f = &dns.findings[dns.finding_count++];
	f->verdict = verdict;
	snprintf(f->service, sizeof(f->service), "%s", service);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

/* Queries NAME for TYPE; the answer's length, 0 when the name or the type
 * does not exist, -1 when the DNS gave no usable answer. */
static int query(const char *name, int type, unsigned char *answer, int size, char *why,
		 size_t why_size)
{
	int len = res_nquery(&dns.resolver, name, ns_c_in, type, answer, size);
	if (len >= 0)
		return len;
	if (dns.resolver.res_h_errno == HOST_NOT_FOUND || dns.resolver.res_h_errno == NO_DATA)
		return 0;
	snprintf(why, why_size, "no answer from the DNS server for %s (%s)", name,
		 hstrerror(dns.resolver.res_h_errno));
	return -1;
}

static int srv_lookup(const char *name, struct target *targets, size_t *count, char *why,
		      size_t why_size)
{
	unsigned char answer[NS_PACKETSZ * 4];
	int len = query(name, ns_t_srv, answer, sizeof(answer), why, why_size);
	*count = 0;
	if (len <= 0)
		return len;
	ns_msg msg;
	if (ns_initparse(answer, len, &msg) == -1) {
		snprintf(why, why_size, "the answer for %s cannot be parsed", name);
		return -1;
	}
	for (int i = 0; i < ns_msg_count(msg, ns_s_an) && *count < DNS_RECORDS_MAX; i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1 || ns_rr_type(rr) != ns_t_srv ||
		    ns_rr_rdlen(rr) < 7)
			continue;
		const unsigned char *rdata = ns_rr_rdata(rr);
		struct target *t = &targets[(*count)++];
		memset(t, 0, sizeof(*t));
		t->srv.priority = ns_get16(rdata);
		t->srv.weight = ns_get16(rdata + 2);
		t->srv.port = ns_get16(rdata + 4);
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata + 6, t->srv.target,
			      sizeof(t->srv.target)) == -1)
			snprintf(t->srv.target, sizeof(t->srv.target), "?");
		if (t->srv.target[0] == '\0')
			snprintf(t->srv.target, sizeof(t->srv.target), ".");
	}
	return 0;
}

static void address_lookup(struct target *t, int type)
{
	unsigned char answer[NS_PACKETSZ * 4];
	char why[300];
	int len = query(t->srv.target, type, answer, sizeof(answer), why, sizeof(why));
	ns_msg msg;
	if (len <= 0 || ns_initparse(answer, len, &msg) == -1)
		return;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an) && t->address_count < DNS_ADDRESSES_MAX;
	     i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1 || (int)ns_rr_type(rr) != type)
			continue;
		int family = type == ns_t_a ? AF_INET : AF_INET6;
		if (ns_rr_rdlen(rr) != (type == ns_t_a ? 4 : 16))
			continue;
		inet_ntop(family, ns_rr_rdata(rr), t->addresses[t->address_count++],
			  sizeof(address_text));
	}
}

static bool is_member(const char *address)
{
	for (size_t i = 0; i < dns.member_count; i++) {
		if (strcmp(dns.members[i], address) == 0)
			return true;
	}
	return false;
}

/* A member known by address; one known by a host name cannot be matched
 * against the records' addresses and is left out. */
static void add_member(const char *host)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (netaddr_from_text(host, 0, &ss, &len) == -1 || is_member(host) ||
	    dns.member_count == DNS_MEMBERS_MAX)
		return;
	snprintf(dns.members[dns.member_count++], sizeof(address_text), "%.*s",
		 (int)sizeof(address_text) - 1, host);
}

/* "host:port" or "[v6]:port", as the membership and cluster.address say. */
static void add_member_host_port(const char *host_port)
{
	char host[INET6_ADDRSTRLEN + 2];
	snprintf(host, sizeof(host), "%s", host_port[0] == '[' ? host_port + 1 : host_port);
	char *end = strrchr(host, host_port[0] == '[' ? ']' : ':');
	if (end != NULL)
		*end = '\0';
	add_member(host);
}

/* The addresses an interface has now, as rxmppd would listen on them; a
 * link-local address never belongs in DNS, so it is left out. */
static void add_interface_members(const char *name)
{
	struct ifaddrs *all;
	if (getifaddrs(&all) == -1)
		return;
	for (const struct ifaddrs *a = all; a != NULL; a = a->ifa_next) {
		if (a->ifa_addr == NULL || strcmp(a->ifa_name, name) != 0)
			continue;
		int family = a->ifa_addr->sa_family;
		const void *raw = NULL;
		if (family == AF_INET)
			raw = &((const struct sockaddr_in *)(const void *)a->ifa_addr)->sin_addr;
		else if (family == AF_INET6)
			raw = &((const struct sockaddr_in6 *)(const void *)a->ifa_addr)->sin6_addr;
		char text[NETADDR_TEXT_MAX];
		if (raw == NULL || netaddr_is_link_local(family, raw) ||
		    netaddr_to_text(a->ifa_addr, text, sizeof(text), NULL) == -1)
			continue;
		add_member(text);
	}
	freeifaddrs(all);
}

/* The cluster members' addresses: from the membership on disk, or, for a
 * node alone, where it is reached (cluster.address) or listens. */
static void find_members(const struct config *cfg)
{
	static struct elector_persistent state;
	char why[512];
	bool unsealed;
	if (cfg->cluster.enabled &&
	    elector_state_load(cfg->state_directory, &state, &unsealed, why, sizeof(why)) == 0 &&
	    state.config.count > 0) {
		for (uint32_t i = 0; i < state.config.count; i++)
			add_member_host_port(state.config.members[i].address);
		return;
	}
	if (cfg->cluster.address[0] != '\0') {
		add_member_host_port(cfg->cluster.address);
		return;
	}
	for (uint32_t i = 0; i < cfg->listen.address_count; i++) {
		if (config_address_is_interface(cfg->listen.addresses[i]))
			add_interface_members(cfg->listen.addresses[i]);
		else
			add_member(cfg->listen.addresses[i]);
	}
}

static int probe_connect(const char *address, uint16_t port, char *why, size_t why_size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	/* The addresses come from inet_ntop (DNS answers): always IP text. */
	netaddr_from_text(address, port, &ss, &len);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(why, why_size, "socket: %m");
		return -1;
	}
	int error = 0;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		socklen_t error_len = sizeof(error);
		if (errno != EINPROGRESS)
			error = errno;
		else if (poll(&p, 1, PROBE_TIMEOUT_MS) != 1)
			error = ETIMEDOUT;
		else
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len);
	}
	if (error != 0) {
		snprintf(why, why_size, "does not accept a TCP connection (%s)", strerror(error));
		close(fd);
		return -1;
	}
	/* From here on, plain blocking I/O, each call bounded by the timeout. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	struct timeval tv = {.tv_sec = PROBE_TIMEOUT_MS / 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static char probe_text[PROBE_READ_MAX + 1];

/* Reads until `wanted` appears (or the peer stops, or the limit). */
static bool read_until(int fd, const char *wanted)
{
	char *text = probe_text;
	size_t len = 0;
	text[0] = '\0';
	while (len < PROBE_READ_MAX) {
		ssize_t n = read(fd, text + len, PROBE_READ_MAX - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		text[len] = '\0';
		if (strstr(text, wanted) != NULL)
			return true;
	}
	return false;
}

/* RFC 6120 section 5.4: the client port speaks XMPP before TLS. */
static int starttls(int fd, char *why, size_t why_size)
{
	char open[512];
	int n = snprintf(open, sizeof(open),
			 "<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
			 "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
			 dns.domain);
	static const char request[] = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
	if (write(fd, open, (size_t)n) != n || !read_until(fd, "</stream:features>")) {
		/* <stream:error><host-unknown xmlns=…/>: the condition's name. */
		const char *error = strstr(probe_text, "<stream:error><");
		if (error != NULL)
			snprintf(why, why_size, "ends the stream with the error %.*s",
				 (int)strcspn(error + 15, " />"), error + 15);
		else
			snprintf(why, why_size,
				 "accepts TCP but does not answer as an XMPP server");
		return -1;
	}
	if (write(fd, request, sizeof(request) - 1) != sizeof(request) - 1 ||
	    !read_until(fd, "<proceed")) {
		snprintf(why, why_size, "speaks XMPP but does not start TLS");
		return -1;
	}
	return 0;
}

static int tls_certificate_check(int fd, char *why, size_t why_size, char *subject,
				 size_t subject_size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	int rc = -1;
	if (ssl == NULL) {
		snprintf(why, why_size, "out of memory");
		goto done;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_set_tlsext_host_name(ssl, dns.domain);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		snprintf(why, why_size, "the TLS handshake failed (%s)",
			 ERR_reason_error_string(ERR_peek_last_error())
			     ? ERR_reason_error_string(ERR_peek_last_error())
			     : "connection closed");
		goto done;
	}
	X509 *cert = SSL_get1_peer_certificate(ssl);
	if (cert == NULL) {
		snprintf(why, why_size, "sent no certificate");
		goto done;
	}
	X509_NAME_oneline(X509_get_subject_name(cert), subject, (int)subject_size);
	if (X509_check_host(cert, dns.domain, 0, 0, NULL) != 1)
		snprintf(why, why_size, "presents a certificate (%s) that does not cover %s",
			 subject, dns.domain);
	else
		rc = 0;
	X509_free(cert);
done:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return rc;
}

enum probe_kind { PROBE_STARTTLS, PROBE_DIRECT_TLS, PROBE_TCP };

static void probe(const char *service, const char *target, const char *address, uint16_t port,
		  enum probe_kind kind)
{
	char why[600], subject[256] = "";
	int fd = probe_connect(address, port, why, sizeof(why));
	if (fd != -1 && kind == PROBE_STARTTLS && starttls(fd, why, sizeof(why)) == -1) {
		close(fd);
		fd = -1;
	}
	if (fd != -1 && kind != PROBE_TCP &&
	    tls_certificate_check(fd, why, sizeof(why), subject, sizeof(subject)) == -1) {
		close(fd);
		fd = -1;
	}
	const char *shown = strchr(address, ':') ? "[%s]:%u" : "%s:%u";
	char where[INET6_ADDRSTRLEN + 8];
	snprintf(where, sizeof(where), shown, address, port);
	if (fd == -1) {
		report("error", service, "%s (%s) %s", target, where, why);
		return;
	}
	close(fd);
	if (kind == PROBE_TCP)
		report("ok", service, "%s (%s) accepts connections (plain: no TLS to check)",
		       target, where);
	else
		report("ok", service, "%s (%s) accepts TLS; its certificate covers %s", target,
		       where, dns.domain);
}

static uint32_t random_draw(uint32_t bound, void *arg)
{
	(void)arg;
	return (uint32_t)(random() % ((long)bound + 1));
}

static int by_priority_then_weight(const void *a, const void *b)
{
	const struct srv_record *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return (int)y->weight - (int)x->weight;
}

/* The groups by priority with each target's chance of being tried first,
 * and one order drawn as a client draws it. */
static void report_order(const char *service, const struct target *targets, size_t count)
{
	struct srv_record records[DNS_RECORDS_MAX];
	for (size_t i = 0; i < count; i++)
		records[i] = targets[i].srv;
	qsort(records, count, sizeof(records[0]), by_priority_then_weight);
	char text[600] = "";
	size_t used = 0;
	for (size_t i = 0; i < count && used < sizeof(text); i++) {
		if (i == 0 || records[i].priority != records[i - 1].priority)
			used += (size_t)snprintf(text + used, sizeof(text) - used,
						 "%spriority %u: ", i ? "; then " : "",
						 records[i].priority);
		else
			used += (size_t)snprintf(text + used, sizeof(text) - used, ", ");
		if (used < sizeof(text))
			used +=
			    (size_t)snprintf(text + used, sizeof(text) - used, "%s:%u (%u%% first)",
					     records[i].target, records[i].port,
					     (srv_first_share(records, count, i) + 5) / 10);
	}
	srv_order(records, count, random_draw, NULL);
	for (size_t i = 0; i < count && used < sizeof(text); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s",
					 i ? ", " : " - one draw: ", records[i].target);
	report("info", service, "the order clients try: %s", text);
}

static void check_service(const char *prefix, uint32_t node_port, enum probe_kind kind)
{
	char service[300];
	snprintf(service, sizeof(service), "%s.%s", prefix, dns.domain);
	static struct target targets[DNS_RECORDS_MAX];
	size_t count = 0;
	char why[400];
	if (srv_lookup(service, targets, &count, why, sizeof(why)) == -1) {
		report("error", service, "%s", why);
		return;
	}
	if (count == 0) {
		report("error", service, "no SRV records: %s find no server by DNS",
		       kind == PROBE_STARTTLS ? "clients" : "call bridges");
		return;
	}
	bool pointed_at[DNS_MEMBERS_MAX] = {false};
	for (size_t i = 0; i < count; i++) {
		struct target *t = &targets[i];
		if (strcmp(t->srv.target, ".") == 0) {
			report("warning", service,
			       "target '.': the domain says this service is not offered here");
			continue;
		}
		address_lookup(t, ns_t_a);
		address_lookup(t, ns_t_aaaa);
		if (t->address_count == 0) {
			report("error", service, "%s has no address (no A or AAAA record)",
			       t->srv.target);
			continue;
		}
		if (t->srv.port != node_port)
			report("error", service,
			       "%s points at port %u, but the nodes listen on port %u",
			       t->srv.target, t->srv.port, node_port);
		for (size_t a = 0; a < t->address_count; a++) {
			if (!is_member(t->addresses[a]))
				report("warning", service,
				       "%s has the address %s, which is not a "
				       "cluster member",
				       t->srv.target, t->addresses[a]);
			for (size_t m = 0; m < dns.member_count; m++)
				pointed_at[m] |= strcmp(dns.members[m], t->addresses[a]) == 0;
			probe(service, t->srv.target, t->addresses[a], t->srv.port, kind);
		}
	}
	for (size_t m = 0; m < dns.member_count; m++) {
		if (!pointed_at[m])
			report("error", service,
			       "the cluster member %s has no record pointing at it: clients do not "
			       "find it when the others are down",
			       dns.members[m]);
	}
	report_order(service, targets, count);
}

static int set_server(const char *text)
{
	char host[64];
	snprintf(host, sizeof(host), "%s", text);
	unsigned port = 53;
	char *colon = strchr(host, ':');
	if (colon != NULL) {
		*colon = '\0';
		char *end;
		port = (unsigned)strtoul(colon + 1, &end, 10);
		if (*end != '\0' || port == 0 || port > 65535)
			return -1;
	}
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	dns.resolver.nscount = 1;
	dns.resolver.nsaddr_list[0] = sin;
	return 0;
}

static void print_findings(void)
{
	size_t errors = 0;
	for (size_t i = 0; i < dns.finding_count; i++)
		errors += strcmp(dns.findings[i].verdict, "error") == 0;
	if (dns.json) {
		printf("{\"domain\": ");
		rxmppctl_print_json_string(dns.domain);
		printf(", \"errors\": %zu, \"findings\": [", errors);
		for (size_t i = 0; i < dns.finding_count; i++) {
			printf("%s\n  {\"verdict\": \"%s\", \"service\": ", i ? "," : "",
			       dns.findings[i].verdict);
			rxmppctl_print_json_string(dns.findings[i].service);
			printf(", \"text\": ");
			rxmppctl_print_json_string(dns.findings[i].text);
			printf("}");
		}
		printf("\n]}\n");
		return;
	}
	for (size_t i = 0; i < dns.finding_count; i++) {
		char verdict[16];
		size_t n = 0;
		for (const char *p = dns.findings[i].verdict; *p && n + 1 < sizeof(verdict); p++)
			verdict[n++] = (char)(*p - 'a' + 'A');
		verdict[n] = '\0';
		printf("%-8s %s: %s\n", verdict, dns.findings[i].service, dns.findings[i].text);
	}
	printf("%zu error%s\n", errors, errors == 1 ? "" : "s");
}

static void dns_usage(FILE *out)
{
	fprintf(out,
		"usage: rxmppctl dns check [DOMAIN] [--server ADDRESS[:PORT]] [--json]\n"
		"\n"
		"Checks the _xmpp-client._tcp and _xmpp-component._tcp SRV records of DOMAIN\n"
		"(default: the configured domain) against this cluster: records missing, a\n"
		"member no record points at, targets without an address or outside the\n"
		"cluster, wrong ports, targets that refuse TCP or whose certificate does not\n"
		"cover the domain, and the order clients try them in.  --server asks that DNS\n"
		"server (an IPv4 address) instead of the system's.  Exit status 1 when an\n"
		"ERROR is found.\n");
}

int rxmppctl_dns(int argc, char **argv, const struct config *cfg, bool json)
{
	const char *domain = cfg->domain, *server = NULL;
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		bool help =
		    argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		dns_usage(help ? stdout : stderr);
		return help ? CTL_OK : CTL_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			dns_usage(stdout);
			return CTL_OK;
		} else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
			server = argv[++i];
		} else if (argv[i][0] != '-' && domain == cfg->domain) {
			domain = argv[i];
		} else {
			dns_usage(stderr);
			return CTL_USAGE;
		}
	}
	if (domain[0] == '\0') {
		fprintf(stderr, "rxmppctl: no domain given and none configured\n");
		return CTL_USAGE;
	}
	memset(&dns, 0, sizeof(dns));
	dns.domain = domain;
	dns.json = json;
	if (res_ninit(&dns.resolver) == -1) {
		fprintf(stderr, "rxmppctl: cannot set up the resolver\n");
		return CTL_FAILED;
	}
	dns.resolver.retrans = 2;
	dns.resolver.retry = 2;
	if (server != NULL && set_server(server) == -1) {
		fprintf(stderr, "rxmppctl: --server %s: expected an IPv4 address, and a port\n",
			server);
		res_nclose(&dns.resolver);
		return CTL_USAGE;
	}
	srandom((unsigned)getpid());
	find_members(cfg);
	check_service("_xmpp-client._tcp", cfg->listen.client_port, PROBE_STARTTLS);
	check_service("_xmpp-component._tcp", cfg->listen.component_port,
		      cfg->listen.component_tls == CONFIG_COMPONENT_TLS_DIRECT ? PROBE_DIRECT_TLS
									       : PROBE_TCP);
	res_nclose(&dns.resolver);
	print_findings();
	for (size_t i = 0; i < dns.finding_count; i++) {
		if (strcmp(dns.findings[i].verdict, "error") == 0)
			return CTL_FAILED;
	}
	return CTL_OK;
}
