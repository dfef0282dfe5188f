build2/obj/rxmppctl/rxmppctl_sessions.o: rxmppctl/rxmppctl_sessions.c \
 common/ipc.h common/ev.h common/jid.h common/jidprep.h common/proto.h \
 rxmppctl/rxmppctl.h config/config.h common/config.h
common/ipc.h:
common/ev.h:
common/jid.h:
common/jidprep.h:
common/proto.h:
rxmppctl/rxmppctl.h:
config/config.h:
common/config.h:
