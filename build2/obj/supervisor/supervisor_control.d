build2/obj/supervisor/supervisor_control.o: \
 supervisor/supervisor_control.c common/log.h supervisor/supervisor.h \
 common/ev.h common/ipc.h common/ev.h common/proc.h common/proto.h \
 config/callbridges.h config/config.h common/config.h config/config.h
common/log.h:
supervisor/supervisor.h:
common/ev.h:
common/ipc.h:
common/ev.h:
common/proc.h:
common/proto.h:
config/callbridges.h:
config/config.h:
common/config.h:
config/config.h:
