build2/obj/supervisor/supervisor_interfaces.o: \
 supervisor/supervisor_interfaces.c common/rtnl.h supervisor/supervisor.h \
 common/ev.h common/ipc.h common/ev.h common/log.h common/proc.h \
 common/proto.h config/callbridges.h config/config.h common/config.h \
 config/config.h
common/rtnl.h:
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
