/* SPDX-License-Identifier: MIT */
/*
 * DNS SRV records (RFC 2782) as a client uses them: lowest priority first;
 * within one priority, a weighted random pick among what is left, a weight
 * of 0 chosen only after the others have had their chance in proportion.
 * Pure: the random numbers come from the caller, so tests can fix them.
 */
#ifndef RXMPP_SRV_H
#define RXMPP_SRV_H

#include <stddef.h>
#include <stdint.h>

#define SRV_TARGET_MAX 256

struct srv_record {
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	char target[SRV_TARGET_MAX]; /* without the final dot; "." is "no service" */
};

/* Returns a number in [0, bound]; `bound` is at most 65535 * 64. */
typedef uint32_t srv_random_fn(uint32_t bound, void *arg);

/* Puts `records` into the order a client tries them (RFC 2782, "Usage
 * rules"), drawing from `random`. */
void srv_order(struct srv_record *records, size_t count, srv_random_fn *random, void *arg);

/* The chance, in per mille, that a record is tried first among the records
 * of its priority: its weight over their sum (equal shares when all are 0). */
unsigned srv_first_share(const struct srv_record *records, size_t count, size_t index);

#endif
