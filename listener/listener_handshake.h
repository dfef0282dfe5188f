/* SPDX-License-Identifier: MIT */
/* The XEP-0114 component handshake digest, alone so tests can reach it. */
#ifndef RXMPP_LISTENER_HANDSHAKE_H
#define RXMPP_LISTENER_HANDSHAKE_H

/* hex(SHA-1(stream id + secret)) in lower case, 40 characters and a NUL. */
void listener_handshake_digest(const char *stream_id, const char *secret, char out[41]);

#endif
