/* rxmppctl: what its command files share. */
#ifndef RXMPP_RXMPPCTL_H
#define RXMPP_RXMPPCTL_H

#include <stdbool.h>

#include "config/config.h"

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

void ctl_print_json_string(const char *s);

/* rxmppctl_user.c: `user ...`; argv[0] is "user". */
int ctl_user(int argc, char **argv, const struct config *cfg, bool json);

#endif
