/* SPDX-License-Identifier: MIT */
/*
 * The elector's answer to a read of a user's data (PROTO_USERDATA_GET,
 * common/proto.h): from the state machine in memory, at once, without the
 * network (the node's copy is as fresh as what it applied; a writer that
 * needs its own write seen reads on the node that answered its PROPOSE,
 * after the answer).  Pure: the shell (elector_main.c) sends what this
 * makes.
 */
#ifndef RXMPP_ELECTOR_USERDATA_READ_H
#define RXMPP_ELECTOR_USERDATA_READ_H

#include "common/buf.h"
#include "common/jid.h"
#include "common/proto.h"
#include "elector_machine.h"

/* The ANSWER payload for `get` into `out` (initialised here; freed by the
 * caller).  `m` NULL: this node holds no cluster state.  -1: out of
 * memory. */
int elector_userdata_read(const struct elector_machine *m,
			  const struct proto_userdata_get_view *get, struct buf *out);

#endif
