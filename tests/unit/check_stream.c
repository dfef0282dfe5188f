/* SPDX-License-Identifier: MIT */
/* The byte stream of connections and peer links (common/stream.c): two
 * streams over a socketpair, in clear and under TLS, through the real event
 * loop; partial writes, the output bound, the end of a stream, frees
 * from inside the stream's own callbacks, paused input, reads an owner
 * defers, whitespace and plain text before the first TLS record (STARTTLS),
 * a busy stream's kept buffers, the bound on plain text nobody consumes,
 * and the count of
 * unsent output over all streams (back to zero once every one is freed). */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/stream.h"
#include "unit.h"

/* A test object: begins with its stream, as stream.h asks. */
struct peer {
	struct stream stream;
	struct buf got; /* everything the input callback saw */
	bool secured;
	int drained;
	bool ended;
	enum stream_end end;
	char reason[256]; /* why it ended */
	/* Plays a STARTTLS server: once its input holds this, takes it and puts
	 * TLS over what follows, as the listener does. */
	const char *starttls_after;
	bool free_in_input; /* frees itself from its input callback */
	bool free_in_ended;
	bool *freed;
};

static struct ev_loop *loop;
static bool (*done)(void);

static SSL_CTX *server_ctx, *client_ctx;

static void peer_input(struct stream *s)
{
	struct peer *p = (struct peer *)s;
	struct buf *in = stream_input(s);
	if (p->starttls_after != NULL && !s->tls_active) {
		size_t len = strlen(p->starttls_after);
		if (buf_len(in) < len)
			return;
		ck_assert_int_eq(memcmp(buf_head(in), p->starttls_after, len), 0);
		ck_assert_int_eq(buf_append(&p->got, buf_head(in), len), 0);
		buf_consume(in, len);
		ck_assert_int_eq(stream_start_tls(s, server_ctx, false), 0);
		return;
	}
	ck_assert_int_eq(buf_append(&p->got, buf_head(in), buf_len(in)), 0);
	buf_consume(in, buf_len(in));
	if (p->free_in_input) {
		*p->freed = true;
		buf_free(&p->got);
		stream_free(s);
	}
}

static void peer_secured(struct stream *s)
{
	((struct peer *)s)->secured = true;
}

static void peer_drained(struct stream *s)
{
	((struct peer *)s)->drained++;
}

static void peer_ended(struct stream *s, enum stream_end end, const char *reason)
{
	struct peer *p = (struct peer *)s;
	snprintf(p->reason, sizeof(p->reason), "%s", reason != NULL ? reason : "");
	p->ended = true;
	p->end = end;
	if (p->free_in_ended) {
		*p->freed = true;
		buf_free(&p->got);
		stream_free(s);
	}
}

static const struct stream_events peer_events = {
    .input = peer_input,
    .secured = peer_secured,
    .drained = peer_drained,
    .ended = peer_ended,
};

static size_t queued_total;

static const struct stream_settings settings = {
    .input_max = 1u << 20,
    .output_max = 4u << 20,
    .idle_keep = 0,
    .phase = EV_PHASE_STREAMS,
    .queued_total = &queued_total,
};

static struct peer *peer_new(int fd)
{
	struct peer *p = stream_new(sizeof(*p), loop, fd, &peer_events, &settings);
	ck_assert_ptr_nonnull(p);
	buf_init(&p->got, 8u << 20);
	return p;
}

static void peer_free(struct peer *p)
{
	buf_free(&p->got);
	stream_free(&p->stream);
}

static int64_t check_done(struct ev_timer *timer, void *arg)
{
	(void)timer, (void)arg;
	if (done())
		ev_loop_stop(loop);
	return 1;
}

static int64_t give_up(struct ev_timer *timer, void *arg)
{
	(void)timer, (void)arg;
	ck_abort_msg("the streams did not get there within 10 s");
	return EV_TIMER_DONE;
}

/* Runs the loop until `until` holds, for at most 10 s. */
static void run_until(bool (*until)(void))
{
	done = until;
	struct ev_timer *check = ev_timer_add(loop, 1, check_done, NULL);
	struct ev_timer *limit = ev_timer_add(loop, 10000, give_up, NULL);
	ck_assert_int_eq(ev_loop_run(loop), 0);
	ev_timer_del(check);
	ev_timer_del(limit);
}

static struct peer *a, *b;
static size_t want;

static void pair_new_with(const struct stream_events *b_events);

static void pair_new(void)
{
	pair_new_with(&peer_events);
}

static void pair_new_with(const struct stream_events *b_events)
{
	int fds[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
			 0);
	/* Small socket buffers: large output leaves in many partial sends. */
	int small = 4096;
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	loop = ev_loop_new();
	a = peer_new(fds[0]);
	b = stream_new(sizeof(*b), loop, fds[1], b_events, &settings);
	ck_assert_ptr_nonnull(b);
	buf_init(&b->got, 8u << 20);
}

static void pair_free(void)
{
	if (a != NULL)
		peer_free(a);
	if (b != NULL)
		peer_free(b);
	a = b = NULL;
	ev_loop_free(loop);
	/* Whatever each stream held unsent left the count with it. */
	ck_assert_uint_eq(queued_total, 0);
}

static bool b_has_all(void)
{
	return buf_len(&b->got) >= want;
}

static bool both_secured(void)
{
	return a->secured && b->secured;
}

static bool b_ended(void)
{
	return b->ended;
}

static void fill_pattern(char *data, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		data[i] = (char)((i * 131 + seed) % 251);
}

START_TEST(test_clear_output_leaves_whole_through_partial_sends)
{
	pair_new();
	static char data[2u << 20];
	fill_pattern(data, sizeof(data), 7);
	/* One turn's output is far more than the socket takes at once. */
	ck_assert_int_eq(stream_write(&a->stream, data, sizeof(data) / 2), 0);
	ck_assert_int_eq(stream_write(&a->stream, data + sizeof(data) / 2, sizeof(data) / 2), 0);
	ck_assert_uint_eq(queued_total, sizeof(data));
	want = sizeof(data);
	run_until(b_has_all);
	ck_assert_uint_eq(queued_total, 0);
	ck_assert_uint_eq(buf_len(&b->got), sizeof(data));
	ck_assert_int_eq(memcmp(buf_head(&b->got), data, sizeof(data)), 0);
	ck_assert_int_ge(a->drained, 1);
	/* An empty buffer gives its memory back (idle_keep 0). */
	ck_assert_ptr_null(a->stream.out.data);
	pair_free();
}
END_TEST

START_TEST(test_output_past_the_bound_is_refused_whole)
{
	pair_new();
	static char data[1u << 20];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(stream_write(&a->stream, data, sizeof(data)), 0);
	struct iovec iov[2] = {{data, 1}, {data, 1}};
	ck_assert_int_eq(stream_writev(&a->stream, iov, 2), -1);
	ck_assert_uint_eq(buf_len(&a->stream.out), 4u << 20);
	ck_assert_uint_eq(queued_total, 4u << 20); /* freed unsent: see pair_free */
	pair_free();
}
END_TEST

/* TLS between the two: a's side connects, b's accepts. */

static void tls_contexts_new(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	ck_assert_ptr_nonnull(key);
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
				   (const unsigned char *)"stream.test", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_set_pubkey(cert, key);
	ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
	server_ctx = SSL_CTX_new(TLS_server_method());
	ck_assert_int_eq(SSL_CTX_use_certificate(server_ctx, cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(server_ctx, key), 1);
	client_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void tls_contexts_free(void)
{
	SSL_CTX_free(server_ctx);
	SSL_CTX_free(client_ctx);
}

static void tls_pair_new(void)
{
	pair_new();
	tls_contexts_new();
	ck_assert_int_eq(stream_start_tls(&a->stream, client_ctx, true), 0);
	ck_assert_int_eq(stream_start_tls(&b->stream, server_ctx, false), 0);
	/* A socketpair is connected already; the client's hello goes first. */
	stream_connecting(&a->stream);
}

START_TEST(test_tls_handshake_and_gathered_output)
{
	tls_pair_new();
	run_until(both_secured);
	ck_assert(stream_secured(&a->stream) && stream_secured(&b->stream));
	/* Pieces of several writes in one turn arrive in order, once. */
	static char data[300000];
	fill_pattern(data, sizeof(data), 3);
	struct iovec iov[3] = {{data, 10}, {data + 10, 100000}, {data + 100010, 99990}};
	ck_assert_int_eq(stream_writev(&a->stream, iov, 3), 0);
	ck_assert_int_eq(stream_write(&a->stream, data + 200000, 100000), 0);
	/* Nothing is encrypted before the flush: one record per turn. */
	ck_assert_uint_eq(buf_len(&a->stream.pending), sizeof(data));
	/* The plain text, and what is left of the handshake. */
	ck_assert_uint_ge(queued_total, sizeof(data));
	want = sizeof(data);
	run_until(b_has_all);
	ck_assert_uint_eq(buf_len(&b->got), sizeof(data));
	ck_assert_int_eq(memcmp(buf_head(&b->got), data, sizeof(data)), 0);
	/* close_notify ends b's stream as closed by the peer. */
	stream_shutdown(&a->stream);
	run_until(b_ended);
	ck_assert_int_eq(b->end, STREAM_END_CLOSED);
	pair_free();
	tls_contexts_free();
}
END_TEST

/* A busy stream keeps its buffers and OpenSSL's between reads; once it is
 * no longer busy it gives them back, and OpenSSL gives its own back after
 * each record again.  What it was sent arrives whole either way. */
START_TEST(test_a_busy_stream_keeps_its_buffers)
{
	tls_pair_new();
	SSL_set_mode(b->stream.tls.ssl, SSL_MODE_RELEASE_BUFFERS); /* as tls.c's contexts */
	run_until(both_secured);
	ck_assert(SSL_get_mode(b->stream.tls.ssl) & SSL_MODE_RELEASE_BUFFERS);
	stream_set_busy(&b->stream, true);
	ck_assert(!(SSL_get_mode(b->stream.tls.ssl) & SSL_MODE_RELEASE_BUFFERS));
	static char data[40000];
	fill_pattern(data, sizeof(data), 5);
	ck_assert_int_eq(stream_write(&a->stream, data, 100), 0);
	want = 100;
	run_until(b_has_all);
	/* Consumed, and kept: the input buffers of a busy stream stay. */
	ck_assert_uint_eq(buf_len(&b->stream.plain), 0);
	ck_assert_ptr_nonnull(b->stream.plain.data);
	ck_assert_ptr_nonnull(b->stream.raw.data);
	/* A short record followed by another in the same read does not grow
	 * the plain text buffer to room for a whole record more (a copy). */
	size_t cap = b->stream.plain.cap;
	ck_assert_uint_le(cap, 16384);
	for (size_t sent = 100; sent < sizeof(data); sent += 3900) {
		size_t n = sizeof(data) - sent < 3900 ? sizeof(data) - sent : 3900;
		ck_assert_int_eq(stream_write(&a->stream, data + sent, 100), 0);
		ck_assert_int_eq(stream_flush(&a->stream), 0); /* a record of its own */
		ck_assert_int_eq(stream_write(&a->stream, data + sent + 100, n - 100), 0);
		want = sent + n;
		run_until(b_has_all);
	}
	ck_assert_uint_eq(b->stream.plain.cap, cap);
	ck_assert_int_eq(memcmp(buf_head(&b->got), data, sizeof(data)), 0);
	stream_set_busy(&b->stream, false);
	ck_assert(SSL_get_mode(b->stream.tls.ssl) & SSL_MODE_RELEASE_BUFFERS);
	ck_assert_ptr_null(b->stream.plain.data);
	ck_assert_ptr_null(b->stream.raw.data);
	pair_free();
	tls_contexts_free();
}
END_TEST

/* An owner that consumes nothing: its plain text stays within the
 * buffer's limit even where the buffer's capacity is past it (limits
 * that are not a power of two), and the stream ends, as it always did. */
static void hoard_input(struct stream *s)
{
	(void)s;
}

static const struct stream_events hoard_events = {
    .input = hoard_input,
    .secured = peer_secured,
    .ended = peer_ended,
};

START_TEST(test_unconsumed_plain_text_stays_within_its_limit)
{
	pair_new_with(&hoard_events);
	tls_contexts_new();
	ck_assert_int_eq(stream_start_tls(&a->stream, client_ctx, true), 0);
	ck_assert_int_eq(stream_start_tls(&b->stream, server_ctx, false), 0);
	stream_connecting(&a->stream);
	b->stream.plain.limit = 100000;
	run_until(both_secured);
	static char data[400000];
	fill_pattern(data, sizeof(data), 9);
	ck_assert_int_eq(stream_write(&a->stream, data, sizeof(data)), 0);
	run_until(b_ended);
	ck_assert_int_eq(b->end, STREAM_END_TLS);
	ck_assert_str_eq(b->reason, "input buffer full");
	ck_assert_uint_le(buf_len(&b->stream.plain), 100000);
	pair_free();
	tls_contexts_free();
}
END_TEST

START_TEST(test_garbage_under_tls_ends_the_stream)
{
	pair_new();
	tls_contexts_new();
	ck_assert_int_eq(stream_start_tls(&b->stream, server_ctx, false), 0);
	ck_assert_int_eq(stream_write(&a->stream, "GET / HTTP/1.0\r\n\r\n", 18), 0);
	run_until(b_ended);
	ck_assert_int_eq(b->end, STREAM_END_TLS);
	ck_assert(!b->secured);
	pair_free();
	tls_contexts_free();
}
END_TEST

static bool a_drained(void)
{
	return a->drained > 0;
}

START_TEST(test_tls_preamble)
{
	size_t skip = 99;
	ck_assert_int_eq(stream_tls_preamble(NULL, 0, &skip), 0);
	ck_assert_uint_eq(skip, 0);
	ck_assert_int_eq(stream_tls_preamble(" \r\n\t", 4, &skip), 0);
	ck_assert_uint_eq(skip, 4);
	ck_assert_int_eq(stream_tls_preamble("\n\x16\x03\x01", 4, &skip), 1);
	ck_assert_uint_eq(skip, 1);
	ck_assert_int_eq(stream_tls_preamble("\x16\x03\x01", 3, &skip), 1);
	ck_assert_uint_eq(skip, 0);
	/* Every record type begins a record; nothing else does. */
	for (int byte = 0; byte < 256; byte++) {
		char c = (char)byte;
		int want = byte >= 20 && byte <= 24			     ? 1
			   : c == ' ' || c == '\t' || c == '\r' || c == '\n' ? 0
									     : -1;
		ck_assert_int_eq(stream_tls_preamble(&c, 1, &skip), want);
	}
	ck_assert_int_eq(stream_tls_preamble("\n<message>", 10, &skip), -1);
	ck_assert_uint_eq(skip, 1);
}
END_TEST

static bool b_tls_on(void)
{
	return b->stream.tls_active;
}

/* a sent everything and b read it all. */
static bool b_read_all(void)
{
	int unread = -1;
	return a->drained > 0 && ioctl(b->stream.fd, FIONREAD, &unread) == 0 && unread == 0;
}

/* A STARTTLS client that ends <starttls/> with whitespace, in the same
 * write as its ClientHello, then alone before it: the handshake goes on. */
START_TEST(test_whitespace_before_the_first_tls_record_is_skipped)
{
	for (int alone = 0; alone < 2; alone++) {
		pair_new();
		tls_contexts_new();
		b->starttls_after = "<starttls/>";
		ck_assert_int_eq(stream_write(&a->stream, "<starttls/>", 11), 0);
		if (alone) {
			run_until(b_tls_on);
			a->drained = 0;
			ck_assert_int_eq(stream_write(&a->stream, "\r\n \t", 4), 0);
			run_until(b_read_all);
			ck_assert_uint_eq(buf_len(&b->stream.raw), 0);
		} else {
			ck_assert_int_eq(stream_write(&a->stream, "\r\n \t", 4), 0);
		}
		ck_assert_int_eq(stream_start_tls(&a->stream, client_ctx, true), 0);
		stream_connecting(&a->stream);
		run_until(both_secured);
		ck_assert_int_eq(stream_write(&a->stream, "under TLS", 9), 0);
		want = 20;
		run_until(b_has_all);
		ck_assert_uint_eq(buf_len(&b->got), 20);
		ck_assert_int_eq(memcmp(buf_head(&b->got), "<starttls/>under TLS", 20), 0);
		pair_free();
		tls_contexts_free();
	}
}
END_TEST

/* The STARTTLS command-injection class: plain text sent after <starttls/>
 * in the same write must never be read as if it came under TLS. */
START_TEST(test_plain_text_after_starttls_is_refused)
{
	pair_new();
	tls_contexts_new();
	b->starttls_after = "<starttls/>";
	static const char injected[] = "<starttls/>\n<message to='victim'>injected</message>";
	ck_assert_int_eq(stream_write(&a->stream, injected, sizeof(injected) - 1), 0);
	ck_assert_int_eq(stream_start_tls(&a->stream, client_ctx, true), 0);
	stream_connecting(&a->stream);
	run_until(b_ended);
	ck_assert_int_eq(b->end, STREAM_END_TLS);
	ck_assert_ptr_nonnull(strstr(b->reason, "plain text where the TLS handshake should begin"));
	ck_assert(!b->secured);
	/* The owner saw the <starttls/> and nothing after it. */
	ck_assert_uint_eq(buf_len(&b->got), 11);
	ck_assert_int_eq(memcmp(buf_head(&b->got), "<starttls/>", 11), 0);
	pair_free();
	tls_contexts_free();
}
END_TEST

/* Backpressure: a paused stream reads nothing until resumed. */
START_TEST(test_paused_input_waits)
{
	pair_new();
	stream_pause_input(&b->stream, true);
	ck_assert_int_eq(stream_write(&a->stream, "held back", 9), 0);
	run_until(a_drained);
	ck_assert_uint_eq(buf_len(&b->got), 0);
	stream_pause_input(&b->stream, false);
	want = 9;
	run_until(b_has_all);
	ck_assert_int_eq(memcmp(buf_head(&b->got), "held back", 9), 0);
	/* Paused, the end of the connection is still noticed. */
	stream_pause_input(&b->stream, true);
	peer_free(a);
	a = NULL;
	run_until(b_ended);
	ck_assert_int_eq(b->end, STREAM_END_CLOSED);
	pair_free();
}
END_TEST

/* An owner that rations its reads (the listener's log-in pacing): refused,
 * the bytes wait in the socket; allowed, each read is followed by
 * read_done. */
static bool b_may_read;
static int b_asked, b_reads_done;

static bool gated_may_read(struct stream *s)
{
	b_asked++;
	if (!b_may_read)
		stream_pause_input(s, true);
	return b_may_read;
}

static void gated_read_done(struct stream *s)
{
	(void)s;
	b_reads_done++;
}

static const struct stream_events gated_events = {
    .input = peer_input,
    .secured = peer_secured,
    .drained = peer_drained,
    .ended = peer_ended,
    .may_read = gated_may_read,
    .read_done = gated_read_done,
};

START_TEST(test_an_owner_defers_its_reads)
{
	b_may_read = false;
	b_asked = b_reads_done = 0;
	pair_new_with(&gated_events);
	ck_assert_int_eq(stream_write(&a->stream, "later", 5), 0);
	run_until(a_drained);
	/* Asked once, refused: nothing read, and not asked again while paused. */
	ck_assert_int_eq(b_asked, 1);
	ck_assert_int_eq(b_reads_done, 0);
	ck_assert_uint_eq(buf_len(&b->got), 0);
	b_may_read = true;
	stream_pause_input(&b->stream, false);
	want = 5;
	run_until(b_has_all);
	ck_assert_int_eq(memcmp(buf_head(&b->got), "later", 5), 0);
	ck_assert_int_eq(b_reads_done, b_asked - 1);
	pair_free();
}
END_TEST

static bool b_freed;

static bool b_is_freed(void)
{
	return b_freed;
}

START_TEST(test_a_stream_freed_in_its_own_callbacks)
{
	pair_new();
	b_freed = false;
	b->freed = &b_freed;
	b->free_in_input = true;
	ck_assert_int_eq(stream_write(&a->stream, "bytes", 5), 0);
	run_until(b_is_freed);
	b = NULL; /* freed by itself; AddressSanitizer checks nothing touched it after */
	pair_free();

	pair_new();
	b_freed = false;
	b->freed = &b_freed;
	b->free_in_ended = true;
	peer_free(a);
	a = NULL;
	run_until(b_is_freed);
	b = NULL;
	pair_free();
}
END_TEST

START_TEST(test_a_free_waits_for_the_outermost_leave)
{
	pair_new();
	stream_enter(&b->stream);
	stream_enter(&b->stream);
	buf_free(&b->got);
	stream_free(&b->stream);
	/* Held: nothing more is reported, and the memory is still there. */
	ck_assert(b->stream.free_asked && b->stream.ended);
	ck_assert(stream_leave(&b->stream));
	ck_assert(!stream_leave(&b->stream));
	b = NULL;
	pair_free();
}
END_TEST

Suite *stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("stream");
	tcase_add_test(tc, test_clear_output_leaves_whole_through_partial_sends);
	tcase_add_test(tc, test_output_past_the_bound_is_refused_whole);
	tcase_add_test(tc, test_tls_handshake_and_gathered_output);
	tcase_add_test(tc, test_a_busy_stream_keeps_its_buffers);
	tcase_add_test(tc, test_unconsumed_plain_text_stays_within_its_limit);
	tcase_add_test(tc, test_garbage_under_tls_ends_the_stream);
	tcase_add_test(tc, test_tls_preamble);
	tcase_add_test(tc, test_whitespace_before_the_first_tls_record_is_skipped);
	tcase_add_test(tc, test_plain_text_after_starttls_is_refused);
	tcase_add_test(tc, test_a_stream_freed_in_its_own_callbacks);
	tcase_add_test(tc, test_a_free_waits_for_the_outermost_leave);
	tcase_add_test(tc, test_paused_input_waits);
	tcase_add_test(tc, test_an_owner_defers_its_reads);
	suite_add_tcase(s, tc);
	return s;
}
