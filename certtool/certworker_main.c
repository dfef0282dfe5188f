/*
 * rxmpp-certworker: the certificate worker of a node.
 *
 * Runs under rxmppd (common/child.c does the handshake).  Checking the
 * configured key, certificate and bundle, watching them and asking for a
 * hot TLS reload come with the certificate work; until then it takes no
 * messages beyond the handshake.
 */
#include "common/child.h"
#include "common/log.h"

static int certworker_configure(const struct config *cfg, bool first, char *why, size_t why_size)
{
	(void)why;
	(void)why_size;
	if (first)
		log_debug("certificate %s", cfg->tls.certificate);
	return 0;
}

static const struct child_ops certworker_ops = {
    .role = PROC_CERTWORKER,
    .configure = certworker_configure,
};

int main(int argc, char **argv)
{
	return child_main(argc, argv, &certworker_ops);
}
