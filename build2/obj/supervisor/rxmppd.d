build2/obj/supervisor/rxmppd.o: supervisor/rxmppd.c common/accounts.h \
 common/jid.h common/scram.h common/log.h config/config_yaml.h \
 config/config.h common/config.h supervisor/supervisor.h common/ev.h \
 common/ipc.h common/ev.h common/proc.h common/proto.h \
 config/callbridges.h config/config.h
common/accounts.h:
common/jid.h:
common/scram.h:
common/log.h:
config/config_yaml.h:
config/config.h:
common/config.h:
supervisor/supervisor.h:
common/ev.h:
common/ipc.h:
common/ev.h:
common/proc.h:
common/proto.h:
config/callbridges.h:
config/config.h:
