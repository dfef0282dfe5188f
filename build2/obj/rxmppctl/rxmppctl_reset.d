build2/obj/rxmppctl/rxmppctl_reset.o: rxmppctl/rxmppctl_reset.c \
 elector/elector_state.h elector/elector_core.h rxmppctl/rxmppctl.h \
 config/config.h common/config.h
elector/elector_state.h:
elector/elector_core.h:
rxmppctl/rxmppctl.h:
config/config.h:
common/config.h:
