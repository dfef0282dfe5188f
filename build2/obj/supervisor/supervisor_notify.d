build2/obj/supervisor/supervisor_notify.o: supervisor/supervisor_notify.c \
 common/log.h supervisor/supervisor.h common/ev.h common/ipc.h \
 common/ev.h common/proc.h common/proto.h config/callbridges.h \
 config/config.h common/config.h config/config.h
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
