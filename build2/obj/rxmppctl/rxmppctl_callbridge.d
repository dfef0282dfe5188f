build2/obj/rxmppctl/rxmppctl_callbridge.o: rxmppctl/rxmppctl_callbridge.c \
 common/buf.h common/fileio.h common/scram.h config/callbridges.h \
 common/proto.h config/config.h common/config.h config/config_edit.h \
 rxmppctl/rxmppctl.h config/config.h
common/buf.h:
common/fileio.h:
common/scram.h:
config/callbridges.h:
common/proto.h:
config/config.h:
common/config.h:
config/config_edit.h:
rxmppctl/rxmppctl.h:
config/config.h:
