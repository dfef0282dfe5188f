/* SPDX-License-Identifier: MIT */
/* Peer links (common/peerlink.c) over loopback with mutual TLS: a frame
 * that cannot be queued breaks the link at once (no later frame goes, so
 * none overtakes it) and closes it on the next turn, through the owner's
 * closed event, which is where the relay's recovery starts. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certtool/cert_make.h"
#include "common/config.h"
#include "common/peerlink.h"
#include "common/tls.h"
#include "unit.h"

struct side {
	struct peerlink *link;
	bool up, closed;
	char reason[256];
};

static struct side accepted, connected;

static void side_up(struct peerlink *l, void *arg)
{
	struct side *s = arg;
	s->link = l;
	s->up = true;
}

static void side_message(struct peerlink *l, const struct ipc_msg *msg, void *arg)
{
	(void)l, (void)msg, (void)arg;
}

static void side_closed(struct peerlink *l, const char *reason, void *arg)
{
	struct side *s = arg;
	s->closed = true;
	snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
	peerlink_free(l);
	s->link = NULL;
}

static const struct peerlink_events side_events = {side_up, side_message, side_closed};
static SSL_CTX *peer_ctx;

static int admit(struct peerlink_admission *a, const char **refusal, void *arg)
{
	(void)refusal, (void)arg;
	*a = (struct peerlink_admission){.ctx = peer_ctx,
					 .hello = {.kind = 7, .node_id = 1},
					 .events = &side_events,
					 .arg = &accepted};
	return 0;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* A self-signed node certificate, its own trust bundle. */
static SSL_CTX *make_context(char *dir)
{
	EVP_PKEY *key = cert_key_generate(CERT_KEY_P256);
	ck_assert_ptr_nonnull(key);
	struct cert_spec spec;
	char why[256];
	char *argv[] = {"CN:node.test", "subjectAltName:DNS:node.test"};
	ck_assert_int_eq(cert_spec_parse(2, argv, &spec, why, sizeof(why)), 0);
	X509_REQ *req = cert_make_csr(key, &spec, why, sizeof(why));
	ck_assert_ptr_nonnull(req);
	time_t now = time(NULL);
	X509 *cert = cert_make_cert(req, NULL, key, CERT_PROFILE_SERVER, now - 60, now + 3600, why,
				    sizeof(why));
	ck_assert_ptr_nonnull(cert);
	char *pem;
	size_t len;
	struct config_tls tls = {.min_version = CONFIG_TLS_1_2};
	snprintf(tls.key, sizeof(tls.key), "%s/key.pem", dir);
	snprintf(tls.certificate, sizeof(tls.certificate), "%s/cert.pem", dir);
	ck_assert_int_eq(cert_pem_key(key, &pem, &len), 0);
	write_file(tls.key, pem, len);
	free(pem);
	STACK_OF(X509) *certs = sk_X509_new_null();
	sk_X509_push(certs, cert);
	ck_assert_int_eq(cert_pem_certs(certs, &pem, &len), 0);
	write_file(tls.certificate, pem, len);
	free(pem);
	sk_X509_free(certs);
	SSL_CTX *ctx = tls_peer_context_new(&tls, tls.certificate, why, sizeof(why));
	ck_assert_msg(ctx != NULL, "%s", why);
	X509_free(cert);
	X509_REQ_free(req);
	cert_spec_free(&spec);
	EVP_PKEY_free(key);
	return ctx;
}

static bool (*until_condition)(void);
static int64_t watch(struct ev_timer *timer, void *arg)
{
	(void)timer;
	if (until_condition())
		ev_loop_stop(arg);
	return 5;
}

static int64_t give_up(struct ev_timer *timer, void *arg)
{
	(void)timer;
	ev_loop_stop(arg);
	return EV_TIMER_DONE;
}

/* Runs the loop until `condition` holds, 10 s at most. */
static bool run_until(struct ev_loop *loop, bool (*condition)(void))
{
	until_condition = condition;
	struct ev_timer *w = ev_timer_add(loop, 0, watch, loop);
	struct ev_timer *g = ev_timer_add(loop, 10000, give_up, loop);
	ev_loop_run(loop);
	ev_timer_del(w);
	ev_timer_del(g);
	return condition();
}

static bool both_up(void)
{
	return accepted.up && connected.up;
}

static bool connected_closed(void)
{
	return connected.closed;
}

START_TEST(test_a_frame_that_cannot_be_queued_breaks_the_link)
{
	char dir[] = "/tmp/check-peerlink-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	peer_ctx = make_context(dir);
	struct ev_loop *loop = ev_loop_new();
	ck_assert_ptr_nonnull(loop);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	struct peerlink_listener *pl = peerlink_listen(loop, fd, "test link", admit, NULL);
	ck_assert_ptr_nonnull(pl);

	char address[64], why[256];
	snprintf(address, sizeof(address), "127.0.0.1:%u", ntohs(sin.sin_port));
	struct peerlink_hello hello = {.kind = 7, .node_id = 2};
	connected.link = peerlink_connect(loop, peer_ctx, address, &hello, &side_events, &connected,
					  why, sizeof(why));
	ck_assert_msg(connected.link != NULL, "%s", why);
	ck_assert(run_until(loop, both_up));
	ck_assert_uint_eq(peerlink_version(connected.link), PEERLINK_VERSION);
	ck_assert_uint_eq(peerlink_version(accepted.link), PEERLINK_VERSION);

	/* Frames of nearly the largest size, more than the output holds
	 * (16 MiB), in one turn: the peer cannot have read any of them. */
	static char frame[PEERLINK_FRAME_MAX - 64];
	int refused_at = -1;
	for (int i = 0; i < 40 && refused_at < 0; i++) {
		if (peerlink_send(connected.link, 100, frame, sizeof(frame)) == -1)
			refused_at = i;
	}
	ck_assert_int_gt(refused_at, 0);
	/* Broken: down from now on, and nothing smaller goes after it. */
	ck_assert(!peerlink_is_up(connected.link));
	ck_assert_int_eq(peerlink_send(connected.link, 100, "x", 1), -1);
	ck_assert(!connected.closed); /* not inside the sender's call */
	ck_assert(run_until(loop, connected_closed));
	ck_assert_msg(strstr(connected.reason, "could not be queued") != NULL, "%s",
		      connected.reason);

	peerlink_free(accepted.link);
	peerlink_listener_free(pl);
	ev_loop_free(loop);
	SSL_CTX_free(peer_ctx);
	char path[64];
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* N and N-1 meet at N-1; each refusal names both ranges and what to do. */
START_TEST(test_versions_agree_on_the_highest_common_one_or_refuse)
{
	char why[300] = "";
	ck_assert_uint_eq(peerlink_version_agree(3, 4, 3, 4, why, sizeof(why)), 4);
	ck_assert_uint_eq(peerlink_version_agree(3, 4, 4, 5, why, sizeof(why)), 4);
	ck_assert_uint_eq(peerlink_version_agree(4, 5, 3, 4, why, sizeof(why)), 4);
	/* A hello of before the rule (version_min 0) speaks only its version. */
	ck_assert_uint_eq(peerlink_version_agree(3, 4, 0, 3, why, sizeof(why)), 3);

	ck_assert_uint_eq(peerlink_version_agree(3, 3, 0, 1, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "versions 1 to 1") != NULL && strstr(why, "3 to 3") != NULL &&
			  strstr(why, "upgrade that node") != NULL &&
			  strstr(why, "rxmpp " RXMPP_VERSION) != NULL,
		      "%s", why);
	ck_assert_uint_eq(peerlink_version_agree(3, 3, 4, 5, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "versions 4 to 5") != NULL &&
			  strstr(why, "upgrade this node") != NULL,
		      "%s", why);
	ck_assert_uint_eq(peerlink_version_agree(3, 3, 9, 4, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "not rxmpp's") != NULL, "%s", why);
}
END_TEST

Suite *peerlink_suite(void)
{
	Suite *s = suite_create("peerlink");
	TCase *tc = tcase_create("peerlink");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_frame_that_cannot_be_queued_breaks_the_link);
	tcase_add_test(tc, test_versions_agree_on_the_highest_common_one_or_refuse);
	suite_add_tcase(s, tc);
	return s;
}
