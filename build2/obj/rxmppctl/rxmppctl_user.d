build2/obj/rxmppctl/rxmppctl_user.o: rxmppctl/rxmppctl_user.c \
 common/accounts.h common/jid.h common/scram.h common/jidprep.h \
 common/fileio.h common/jid.h common/proto.h rxmppctl/rxmppctl.h \
 config/config.h common/config.h
common/accounts.h:
common/jid.h:
common/scram.h:
common/jidprep.h:
common/fileio.h:
common/jid.h:
common/proto.h:
rxmppctl/rxmppctl.h:
config/config.h:
common/config.h:
