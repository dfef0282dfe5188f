build2/obj/rxmppctl/rxmppctl.o: rxmppctl/rxmppctl.c common/ev.h \
 common/ipc.h common/ev.h common/log.h common/proto.h \
 config/config_yaml.h config/config.h common/config.h rxmppctl/rxmppctl.h \
 config/config.h
common/ev.h:
common/ipc.h:
common/ev.h:
common/log.h:
common/proto.h:
config/config_yaml.h:
config/config.h:
common/config.h:
rxmppctl/rxmppctl.h:
config/config.h:
