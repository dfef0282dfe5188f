build2/obj/rxmppctl/rxmppctl_dns.o: rxmppctl/rxmppctl_dns.c \
 common/netaddr.h common/srv.h elector/elector_state.h \
 elector/elector_core.h rxmppctl/rxmppctl.h config/config.h \
 common/config.h
common/netaddr.h:
common/srv.h:
elector/elector_state.h:
elector/elector_core.h:
rxmppctl/rxmppctl.h:
config/config.h:
common/config.h:
