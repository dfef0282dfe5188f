/*
 * rxmpp-router: the routing process of a node.
 *
 * Runs under rxmppd (common/child.c does the handshake and keeps the
 * channels to the listener and the elector, re-attaching them when either
 * restarts).  It holds no state another process needs to survive it.  The
 * routing table and the cluster stanza links come with the XMPP and cluster
 * work; until then it takes no messages beyond the handshake.
 */
#include "common/child.h"
#include "common/log.h"

static int router_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	if (first)
		log_debug("routing for %s", cfg->domain);
	return 0;
}

static const struct child_ops router_ops = {
    .role = PROC_ROUTER,
    .configure = router_configure,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &router_ops);
}
