/*
 * rxmpp-elector: cluster membership and leader election for a node.
 *
 * Runs under rxmppd (common/child.c does the handshake and keeps the channel
 * to the router).  The election core and its persisted term and vote come
 * with the cluster work; until then it takes no messages beyond the
 * handshake.
 */
#include "common/child.h"
#include "common/log.h"

static int elector_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	if (first)
		log_debug("cluster %s", cfg->cluster.enabled ? "enabled" : "disabled");
	return 0;
}

static const struct child_ops elector_ops = {
    .role = PROC_ELECTOR,
    .configure = elector_configure,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &elector_ops);
}
