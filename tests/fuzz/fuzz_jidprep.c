/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: JID preparation (common/jidprep.c), the addresses, SASL
 * names and resources clients send, and the names rxmppctl and the
 * accounts file give.  A JID either is refused with a reason or comes out
 * prepared: valid JID syntax, and prepared again to itself (the accounts
 * file refuses a stored name that is not its own prepared form, so a name
 * that changed on a second pass could never be stored).  An ASCII user
 * name, which jidprep prepares without libidn, must come out as libidn's
 * Nodeprep makes it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "common/jid.h"
#include "common/jidprep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[JID_MAX], again[JID_MAX];
	char why[JIDPREP_WHY_MAX] = "";
	int n = jidprep_jid((const char *)data, size, out, sizeof(out), why, sizeof(why));
	if (n == -1) {
		if (why[0] == '\0' || out[0] != '\0')
			abort();
	} else {
		struct jid_parts parts;
		if ((size_t)n != strlen(out) || jid_split(out, (size_t)n, &parts) == -1)
			abort();
		if (jidprep_jid(out, (size_t)n, again, sizeof(again), why, sizeof(why)) != n ||
		    memcmp(out, again, (size_t)n) != 0)
			abort();
	}
	/* The same bytes as a user name on its own. */
	n = jidprep_node((const char *)data, size, out, sizeof(out), why, sizeof(why));
	if (n != -1 && (jidprep_node(out, (size_t)n, again, sizeof(again), why, sizeof(why)) != n ||
			memcmp(out, again, (size_t)n) != 0))
		abort();
	bool ascii = size > 0 && size <= JID_PART_MAX;
	for (size_t i = 0; i < size && ascii; i++)
		ascii = data[i] > 0 && data[i] < 0x80;
	if (ascii) {
		memcpy(again, data, size);
		again[size] = '\0';
		int rc = stringprep(again, sizeof(again), STRINGPREP_NO_UNASSIGNED,
				    stringprep_xmpp_nodeprep);
		if ((rc == STRINGPREP_OK) != (n != -1) || (n != -1 && strcmp(out, again) != 0))
			abort();
	}
	return 0;
}
