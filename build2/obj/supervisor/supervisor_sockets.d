build2/obj/supervisor/supervisor_sockets.o: \
 supervisor/supervisor_sockets.c common/netaddr.h supervisor/supervisor.h \
 common/ev.h common/ipc.h common/ev.h common/log.h common/proc.h \
 common/proto.h config/callbridges.h config/config.h common/config.h \
 config/config.h
common/netaddr.h:
supervisor/supervisor.h:
common/ev.h:
common/ipc.h:
common/ev.h:
common/log.h:
common/proc.h:
common/proto.h:
config/callbridges.h:
config/config.h:
common/config.h:
config/config.h:
