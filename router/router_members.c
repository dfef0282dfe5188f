/* SPDX-License-Identifier: MIT */
/* Who may hold a stanza link (router_members.h). */
#include "router_members.h"

#include <string.h>

int router_members_valid(const struct proto_members *m)
{
	if (m->count > PROTO_MEMBERS_MAX)
		return -1;
	for (uint32_t i = 0; i < m->count; i++) {
		if (m->members[i].id == 0)
			return -1;
		for (uint32_t j = 0; j < i; j++) {
			if (m->members[j].id == m->members[i].id)
				return -1;
		}
	}
	return 0;
}

int router_members_admit(const struct proto_members *m, uint64_t node, const uint8_t *fingerprint,
			 const char **why)
{
	static const uint8_t unbound[sizeof(m->members[0].fingerprint)];
	for (uint32_t i = 0; i < m->count && i < PROTO_MEMBERS_MAX; i++) {
		const struct proto_member *member = &m->members[i];
		if (member->id != node)
			continue;
		/* Bound when the elector first hears it (an election file of
		 * format 1): until then no certificate speaks for it. */
		if (memcmp(member->fingerprint, unbound, sizeof(unbound)) == 0) {
			*why = "that member is not yet bound to a certificate";
			return -1;
		}
		if (memcmp(member->fingerprint, fingerprint, sizeof(member->fingerprint)) != 0) {
			*why = "its certificate is not the one that member is bound to";
			return -1;
		}
		return 0;
	}
	*why = "that node is not a member of the cluster";
	return -1;
}
