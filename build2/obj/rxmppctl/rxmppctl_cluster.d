build2/obj/rxmppctl/rxmppctl_cluster.o: rxmppctl/rxmppctl_cluster.c \
 common/fileio.h config/config_edit.h config/config.h common/config.h \
 common/ipc.h common/ev.h common/proto.h elector/elector_core.h \
 rxmppctl/rxmppctl.h config/config.h
common/fileio.h:
config/config_edit.h:
config/config.h:
common/config.h:
common/ipc.h:
common/ev.h:
common/proto.h:
elector/elector_core.h:
rxmppctl/rxmppctl.h:
config/config.h:
