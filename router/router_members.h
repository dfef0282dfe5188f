/* SPDX-License-Identifier: MIT */
/*
 * Who may hold a stanza link: the cluster's members as the elector told
 * them (PROTO_MEMBERS), each bound to the fingerprint of its certificate.
 * The node id in a peer-link hello is only a claim; a link is a member's
 * when that id is a member's and the link's certificate is the one that
 * member is bound to.  Pure: no I/O, no clock (router_cluster.c applies it).
 */
#ifndef RXMPP_ROUTER_MEMBERS_H
#define RXMPP_ROUTER_MEMBERS_H

#include <stdint.h>

#include "common/proto.h"

/* 0 if `m` is a membership the elector could have sent: at most
 * PROTO_MEMBERS_MAX members, none of id 0, none twice; else -1. */
int router_members_valid(const struct proto_members *m);

/* 0 if the link of certificate `fingerprint` (32 bytes) that claims to be
 * `node` is that member's; else -1 with what is wrong in `why`. */
int router_members_admit(const struct proto_members *m, uint64_t node, const uint8_t *fingerprint,
			 const char **why);

#endif
