/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the listener's SASL server (listener/listener_sasl.c), the
 * decoded messages a client sends: the PLAIN response, the SCRAM
 * client-first and client-final messages.  The first input byte picks the
 * mechanism, the next two (little-endian) the length of the first message;
 * the rest is the second message.  Every account exists with one PBKDF2 iteration (so that PLAIN
 * stays fast) and the server nonce is fixed, so that the fuzzer can reach
 * the proof check.  Nothing may crash or read out of bounds, and a reply
 * must fit what the listener base64-encodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "listener/listener_sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct scram_keys *fuzz_sasl_lookup(const char *user, enum scram_hash hash, void *arg)
{
	static struct scram_keys keys[SCRAM_HASH_COUNT];
	(void)user, (void)arg;
	if (keys[hash].iterations == 0 &&
	    scram_derive(hash, "pencil", 6, (const unsigned char *)"salt", 4, 1, &keys[hash]) == -1)
		abort();
	return &keys[hash];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	enum sasl_mechanism mechanism = (enum sasl_mechanism)(data[0] % SASL_MECHANISM_COUNT);
	const char *text = (const char *)data + 3;
	size_t len = size - 3;
	size_t split = (size_t)data[1] | (size_t)data[2] << 8;
	if (split > len)
		split = len;
	struct sasl s;
	listener_sasl_init(&s);
	s.forced_server_nonce = "3rfcNHYJY1ZVvWVs7j";
	struct buf out;
	buf_init(&out, 4096);
	enum sasl_result r =
	    listener_sasl_start(&s, mechanism, text, split, fuzz_sasl_lookup, NULL, &out);
	if (r == SASL_CONTINUE)
		r = listener_sasl_step(&s, text + split, len - split, &out);
	if (buf_len(&out) > 1024)
		abort();
	buf_free(&out);
	listener_sasl_free(&s);
	return 0;
}
