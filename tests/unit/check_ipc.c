/* SPDX-License-Identifier: MIT */
/*
 * IPC framing over a real socketpair: frames split at every byte, many
 * frames in one read, batching of queued output, large transfers with
 * partial writes, descriptors riding along, and every kind of malformed
 * input cutting the channel off.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/ipc.h"
#include "common/proto.h"
#include "unit.h"

#define MAX_SEEN 4096

struct seen {
	int count;
	uint16_t type[MAX_SEEN];
	uint64_t peer[MAX_SEEN];
	size_t len[MAX_SEEN];
	uint32_t checksum[MAX_SEEN];
	int fd[MAX_SEEN];
	bool closed;
	char reason[256];
};

static uint32_t checksum(const void *data, size_t len)
{
	uint32_t sum = 2166136261u;
	for (size_t i = 0; i < len; i++)
		sum = (sum ^ ((const unsigned char *)data)[i]) * 16777619u;
	return sum;
}

static void on_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	struct seen *s = arg;
	(void)ch;
	ck_assert_int_lt(s->count, MAX_SEEN);
	s->type[s->count] = msg->type;
	s->peer[s->count] = msg->peer;
	s->len[s->count] = msg->len;
	s->checksum[s->count] = checksum(msg->data, msg->len);
	s->fd[s->count] = msg->fd;
	s->count++;
}

static void on_close(struct ipc_channel *ch, const char *reason, void *arg)
{
	struct seen *s = arg;
	(void)ch;
	s->closed = true;
	snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "EOF");
}

static int64_t stop_now(struct ev_timer *t, void *arg)
{
	(void)t;
	ev_loop_stop(arg);
	return EV_TIMER_DONE;
}

/* Runs the loop until nothing is left to do right now. */
static void spin(struct ev_loop *loop)
{
	for (int i = 0; i < 3; i++) {
		ev_timer_add(loop, 0, stop_now, loop);
		ev_loop_run(loop);
	}
}

struct pair {
	struct ev_loop *loop;
	int raw;		  /* the sending end, written by hand */
	struct ipc_channel *recv; /* the receiving end */
	struct seen seen;
};

static void pair_open(struct pair *p)
{
	int sv[2];
	memset(p, 0, sizeof(*p));
	p->loop = ev_loop_new();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->raw = sv[0];
	p->recv = ipc_channel_new(p->loop, sv[1], "test", on_msg, on_close, &p->seen);
	ck_assert_ptr_nonnull(p->recv);
}

static void pair_close(struct pair *p)
{
	for (int i = 0; i < p->seen.count; i++) {
		if (p->seen.fd[i] != -1)
			close(p->seen.fd[i]);
	}
	ipc_channel_free(p->recv);
	if (p->raw != -1)
		close(p->raw);
	ev_loop_free(p->loop);
}

static size_t frame(char *out, uint16_t type, uint16_t flags, uint64_t peer, const char *payload,
		    size_t len)
{
	struct ipc_header hdr = {
	    .type = type, .flags = flags, .len = (uint32_t)(16 + len), .peer = peer};
	memcpy(out, &hdr, sizeof(hdr));
	memcpy(out + sizeof(hdr), payload, len);
	return sizeof(hdr) + len;
}

START_TEST(test_frames_split_at_every_byte)
{
	char stream[256];
	size_t len = frame(stream, 7, 0, 42, "first payload", 13);
	len += frame(stream + len, 8, 0, 43, "", 0);
	len += frame(stream + len, 9, 0, 44, "third", 5);

	for (size_t split = 1; split < len; split++) {
		struct pair p;
		pair_open(&p);
		ck_assert_int_eq(write(p.raw, stream, split), (ssize_t)split);
		spin(p.loop);
		ck_assert_int_eq(p.seen.count, (split >= 29) + (split >= 45));
		ck_assert_int_eq(write(p.raw, stream + split, len - split), (ssize_t)(len - split));
		spin(p.loop);
		ck_assert_int_eq(p.seen.count, 3);
		ck_assert_uint_eq(p.seen.type[0], 7);
		ck_assert_uint_eq(p.seen.peer[0], 42);
		ck_assert_uint_eq(p.seen.len[0], 13);
		ck_assert_uint_eq(p.seen.checksum[0], checksum("first payload", 13));
		ck_assert_uint_eq(p.seen.type[1], 8);
		ck_assert_uint_eq(p.seen.len[1], 0);
		ck_assert_uint_eq(p.seen.type[2], 9);
		ck_assert_uint_eq(p.seen.checksum[2], checksum("third", 5));
		ck_assert(!p.seen.closed);
		pair_close(&p);
	}
}
END_TEST

START_TEST(test_many_frames_in_one_read)
{
	struct pair p;
	pair_open(&p);
	static char stream[1000 * 32];
	size_t len = 0;
	for (int i = 0; i < 1000; i++) {
		char payload[16];
		int n = snprintf(payload, sizeof(payload), "frame %d", i);
		len += frame(stream + len, 1, 0, (uint64_t)i, payload, (size_t)n);
	}
	ck_assert_int_eq(write(p.raw, stream, len), (ssize_t)len);
	spin(p.loop);
	ck_assert_int_eq(p.seen.count, 1000);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(p.seen.peer[i], (uint64_t)i);
	pair_close(&p);
}
END_TEST

/* Two real channels: what one queues, the other receives, in order. */
struct duplex {
	struct ev_loop *loop;
	struct ipc_channel *a, *b;
	struct seen at_a, at_b;
};

static void duplex_open(struct duplex *d)
{
	int sv[2];
	memset(d, 0, sizeof(*d));
	d->loop = ev_loop_new();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	d->a = ipc_channel_new(d->loop, sv[0], "a", on_msg, on_close, &d->at_a);
	d->b = ipc_channel_new(d->loop, sv[1], "b", on_msg, on_close, &d->at_b);
	ck_assert_ptr_nonnull(d->a);
	ck_assert_ptr_nonnull(d->b);
}

static void duplex_close(struct duplex *d)
{
	for (int i = 0; i < d->at_b.count; i++) {
		if (d->at_b.fd[i] != -1)
			close(d->at_b.fd[i]);
	}
	ipc_channel_free(d->a);
	ipc_channel_free(d->b);
	ev_loop_free(d->loop);
}

START_TEST(test_queued_frames_go_out_in_one_batch)
{
	struct duplex d;
	duplex_open(&d);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(ipc_send(d.a, 3, (uint64_t)i, "x", 1, -1), 0);
	/* Nothing is written until the loop is about to sleep. */
	ck_assert_uint_eq(ipc_pending_output(d.a), 200 * 17);
	spin(d.loop);
	ck_assert_uint_eq(ipc_pending_output(d.a), 0);
	ck_assert_int_eq(d.at_b.count, 200);
	for (int i = 0; i < 200; i++)
		ck_assert_uint_eq(d.at_b.peer[i], (uint64_t)i);
	duplex_close(&d);
}
END_TEST

START_TEST(test_large_transfer_with_partial_writes)
{
	struct duplex d;
	duplex_open(&d);
	size_t size = IPC_FRAME_MAX - sizeof(struct ipc_header);
	char *payload = malloc(size);
	for (size_t i = 0; i < size; i++)
		payload[i] = (char)(i * 7);
	/* Far more than a socket buffer holds: the sender must stop at EAGAIN
	 * and go on when the receiver has read. */
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(ipc_send(d.a, 4, (uint64_t)i, payload, size, -1), 0);
	for (int round = 0; round < 200 && d.at_b.count < 8; round++)
		spin(d.loop);
	ck_assert_int_eq(d.at_b.count, 8);
	for (int i = 0; i < 8; i++) {
		ck_assert_uint_eq(d.at_b.len[i], size);
		ck_assert_uint_eq(d.at_b.checksum[i], checksum(payload, size));
	}
	free(payload);
	duplex_close(&d);
}
END_TEST

START_TEST(test_descriptors_ride_with_their_frames)
{
	struct duplex d;
	int pipe_a[2], pipe_b[2];
	duplex_open(&d);
	ck_assert_int_eq(pipe(pipe_a), 0);
	ck_assert_int_eq(pipe(pipe_b), 0);
	ck_assert_int_eq(ipc_send(d.a, 1, 0, "plain", 5, -1), 0);
	ck_assert_int_eq(ipc_send(d.a, 2, 1, "A", 1, pipe_a[1]), 0);
	ck_assert_int_eq(ipc_send(d.a, 1, 2, "plain", 5, -1), 0);
	ck_assert_int_eq(ipc_send(d.a, 2, 3, "B", 1, pipe_b[1]), 0);
	ck_assert_int_eq(ipc_send(d.a, 2, 4, "B", 1, dup(pipe_b[0])), 0);
	spin(d.loop);
	ck_assert_int_eq(d.at_b.count, 5);
	ck_assert_int_eq(d.at_b.fd[0], -1);
	ck_assert_int_eq(d.at_b.fd[2], -1);
	ck_assert_int_ne(d.at_b.fd[1], -1);
	ck_assert_int_ne(d.at_b.fd[3], -1);
	ck_assert_int_ne(d.at_b.fd[4], -1);
	/* Each received descriptor is the one sent with that frame. */
	ck_assert_int_eq(write(d.at_b.fd[1], "a", 1), 1);
	ck_assert_int_eq(write(d.at_b.fd[3], "b", 1), 1);
	char c;
	ck_assert_int_eq(read(pipe_a[0], &c, 1), 1);
	ck_assert_int_eq(c, 'a');
	ck_assert_int_eq(read(d.at_b.fd[4], &c, 1), 1);
	ck_assert_int_eq(c, 'b');
	/* The sender's copies were closed once sent. */
	close(d.at_b.fd[1]);
	d.at_b.fd[1] = -1;
	ck_assert_int_eq(read(pipe_a[0], &c, 1), 0);
	close(pipe_a[0]);
	close(pipe_b[0]);
	duplex_close(&d);
}
END_TEST

static void expect_cut_off(const char *bytes, size_t len, const char *reason_part)
{
	struct pair p;
	pair_open(&p);
	ck_assert_int_eq(write(p.raw, bytes, len), (ssize_t)len);
	spin(p.loop);
	ck_assert_msg(p.seen.closed, "channel still open after bad input (%s)", reason_part);
	ck_assert_msg(strstr(p.seen.reason, reason_part) != NULL, "reason '%s' lacks '%s'",
		      p.seen.reason, reason_part);
	ck_assert_int_eq(p.seen.count, 1); /* the good frame before it arrived */
	pair_close(&p);
}

START_TEST(test_malformed_input_cuts_the_channel)
{
	char stream[128];
	size_t good = frame(stream, 1, 0, 0, "ok", 2);

	struct ipc_header too_short = {.type = 1, .len = 8};
	memcpy(stream + good, &too_short, sizeof(too_short));
	expect_cut_off(stream, good + sizeof(too_short), "bad length 8");

	struct ipc_header too_long = {.type = 1, .len = IPC_FRAME_MAX + 1};
	memcpy(stream + good, &too_long, sizeof(too_long));
	expect_cut_off(stream, good + sizeof(too_long), "bad length");

	struct ipc_header odd_flags = {.type = 1, .flags = 0x80, .len = 16};
	memcpy(stream + good, &odd_flags, sizeof(odd_flags));
	expect_cut_off(stream, good + sizeof(odd_flags), "unknown flags");

	struct ipc_header missing_fd = {.type = 1, .flags = IPC_FLAG_FD, .len = 16};
	memcpy(stream + good, &missing_fd, sizeof(missing_fd));
	expect_cut_off(stream, good + sizeof(missing_fd), "did not arrive");
}
END_TEST

START_TEST(test_end_of_file_inside_a_frame)
{
	struct pair p;
	char stream[64];
	pair_open(&p);
	size_t len = frame(stream, 1, 0, 0, "complete", 8);
	len += frame(stream + len, 1, 0, 0, "truncated", 9);
	ck_assert_int_eq(write(p.raw, stream, len - 4), (ssize_t)(len - 4));
	close(p.raw);
	p.raw = -1;
	spin(p.loop);
	ck_assert_int_eq(p.seen.count, 1);
	ck_assert(p.seen.closed);
	ck_assert_ptr_nonnull(strstr(p.seen.reason, "end of file inside a frame"));
	pair_close(&p);
}
END_TEST

START_TEST(test_orderly_end_of_file)
{
	struct pair p;
	pair_open(&p);
	close(p.raw);
	p.raw = -1;
	spin(p.loop);
	ck_assert(p.seen.closed);
	ck_assert_str_eq(p.seen.reason, "EOF");
	pair_close(&p);
}
END_TEST

START_TEST(test_lowered_frame_limit)
{
	struct pair p;
	char stream[200];
	pair_open(&p);
	ipc_channel_set_max_frame(p.recv, 64);
	size_t len = frame(stream, 1, 0, 0, "fits", 4);
	char big[100] = {0};
	len += frame(stream + len, 1, 0, 0, big, sizeof(big));
	ck_assert_int_eq(write(p.raw, stream, len), (ssize_t)len);
	spin(p.loop);
	ck_assert_int_eq(p.seen.count, 1);
	ck_assert(p.seen.closed);
	pair_close(&p);
}
END_TEST

START_TEST(test_send_refuses_oversized_frames)
{
	struct duplex d;
	duplex_open(&d);
	char *big = calloc(1, IPC_FRAME_MAX);
	errno = 0;
	ck_assert_int_eq(ipc_send(d.a, 1, 0, big, IPC_FRAME_MAX, -1), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	/* The channel itself is fine. */
	ck_assert_int_eq(ipc_send(d.a, 1, 0, "ok", 2, -1), 0);
	spin(d.loop);
	ck_assert_int_eq(d.at_b.count, 1);
	free(big);
	duplex_close(&d);
}
END_TEST

static void free_on_msg(struct ipc_channel *ch, const struct ipc_msg *msg, void *arg)
{
	int *count = arg;
	(void)msg;
	(*count)++;
	ipc_channel_free(ch);
}

static void unexpected_close(struct ipc_channel *ch, const char *reason, void *arg)
{
	(void)ch;
	(void)reason;
	(void)arg;
	ck_abort_msg("close callback after the owner freed the channel");
}

START_TEST(test_owner_frees_channel_inside_callback)
{
	struct ev_loop *loop = ev_loop_new();
	int sv[2], count = 0;
	char stream[64];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct ipc_channel *ch =
	    ipc_channel_new(loop, sv[1], "t", free_on_msg, unexpected_close, &count);
	size_t len = frame(stream, 1, 0, 0, "a", 1);
	len += frame(stream + len, 1, 0, 0, "b", 1);
	ck_assert_int_eq(write(sv[0], stream, len), (ssize_t)len);
	spin(loop);
	/* The second frame is not delivered to a freed channel. */
	ck_assert_int_eq(count, 1);
	(void)ch;
	close(sv[0]);
	ev_loop_free(loop);
}
END_TEST

/* Backpressure (ipc.h): a peer that does not read makes the channel
 * congested past the high-water mark, then refuses frames past the budget,
 * and never closes it; once the peer reads, it drains below the low-water
 * mark and takes frames again. */
struct pressure {
	int congested;
	int relieved;
};

static void on_pressure(struct ipc_channel *ch, bool congested, void *arg)
{
	struct seen *s = arg;
	struct pressure *p = (struct pressure *)(s + 1);
	(void)ch;
	if (congested)
		p->congested++;
	else
		p->relieved++;
}

START_TEST(test_backpressure_marks_and_budget)
{
	struct ev_loop *loop = ev_loop_new();
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct {
		struct seen seen;
		struct pressure pressure;
	} *state = calloc(1, sizeof(*state));
	ck_assert_ptr_nonnull(state);
	struct ipc_channel *ch = ipc_channel_new(loop, sv[0], "t", on_msg, on_close, &state->seen);
	ipc_channel_set_pressure(ch, on_pressure);
	size_t payload = 1024 * 1024;
	char *data = calloc(1, payload);
	ck_assert_ptr_nonnull(data);

	/* Nobody reads sv[1]: the queue grows until the budget refuses. */
	size_t queued = 0;
	int sent = 0, rc = 0;
	for (int i = 0; i < 200 && rc == 0; i++) {
		rc = ipc_send(ch, 1, 0, data, payload, -1);
		if (rc == 0)
			sent++, queued += payload + 16;
		if (queued > IPC_OUTPUT_HIGH)
			ck_assert_int_eq(state->pressure.congested, 1);
		else
			ck_assert_int_eq(state->pressure.congested, 0);
		spin(loop);
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert(ipc_channel_congested(ch));
	ck_assert_uint_le(ipc_pending_output(ch), IPC_OUTPUT_MAX);
	spin(loop);
	ck_assert(!state->seen.closed); /* refused, never cut off */
	ck_assert_int_eq(state->pressure.congested, 1);
	ck_assert_int_eq(state->pressure.relieved, 0);

	/* The peer reads everything: relieved once, below the low-water mark. */
	size_t expect = (size_t)sent * (payload + 16), got = 0;
	char *sink = malloc(256 * 1024);
	ck_assert_ptr_nonnull(sink);
	for (int rounds = 0; rounds < 100000 && got < expect; rounds++) {
		ssize_t n = recv(sv[1], sink, 256 * 1024, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		if (state->pressure.relieved == 0)
			ck_assert_uint_ge(ipc_pending_output(ch), IPC_OUTPUT_LOW);
		spin(loop);
	}
	ck_assert_uint_eq(got, expect);
	ck_assert_int_eq(state->pressure.relieved, 1);
	ck_assert(!ipc_channel_congested(ch));
	ck_assert_int_eq(ipc_send(ch, 1, 0, data, payload, -1), 0);
	ck_assert(!state->seen.closed);
	free(sink);
	free(data);
	ipc_channel_free(ch);
	close(sv[1]);
	free(state);
	ev_loop_free(loop);
}
END_TEST

/* A paused channel reads nothing more until resumed, but still notices
 * that its peer went away. */
START_TEST(test_paused_input)
{
	struct pair p;
	pair_open(&p);
	char stream[64];
	size_t len = frame(stream, 5, 0, 1, "held", 4);
	ipc_channel_pause_input(p.recv, true);
	ck_assert_int_eq(write(p.raw, stream, len), (ssize_t)len);
	spin(p.loop);
	ck_assert_int_eq(p.seen.count, 0);
	ipc_channel_pause_input(p.recv, false);
	spin(p.loop);
	ck_assert_int_eq(p.seen.count, 1);
	ck_assert_uint_eq(p.seen.type[0], 5);

	ipc_channel_pause_input(p.recv, true);
	close(p.raw);
	p.raw = -1;
	spin(p.loop);
	ck_assert(p.seen.closed);
	ck_assert_str_eq(p.seen.reason, "EOF");
	pair_close(&p);
}
END_TEST

START_TEST(test_every_message_type_has_a_name)
{
	/* Log lines and rxmppctl name messages; a new type without a name
	 * would show up as UNKNOWN. */
	for (uint16_t type = 1; type < PROTO_TYPE_END; type++)
		ck_assert_msg(strcmp(proto_type_name(type), "UNKNOWN") != 0, "type %u has no name",
			      type);
	ck_assert_str_eq(proto_type_name(PROTO_TYPE_END), "UNKNOWN");
}
END_TEST

Suite *ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("ipc");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_frames_split_at_every_byte);
	tcase_add_test(tc, test_many_frames_in_one_read);
	tcase_add_test(tc, test_queued_frames_go_out_in_one_batch);
	tcase_add_test(tc, test_large_transfer_with_partial_writes);
	tcase_add_test(tc, test_descriptors_ride_with_their_frames);
	tcase_add_test(tc, test_malformed_input_cuts_the_channel);
	tcase_add_test(tc, test_end_of_file_inside_a_frame);
	tcase_add_test(tc, test_orderly_end_of_file);
	tcase_add_test(tc, test_lowered_frame_limit);
	tcase_add_test(tc, test_send_refuses_oversized_frames);
	tcase_add_test(tc, test_owner_frees_channel_inside_callback);
	tcase_add_test(tc, test_backpressure_marks_and_budget);
	tcase_add_test(tc, test_paused_input);
	tcase_add_test(tc, test_every_message_type_has_a_name);
	suite_add_tcase(s, tc);
	return s;
}
