build2/obj/supervisor/supervisor_children.o: \
 supervisor/supervisor_children.c common/fileio.h common/log.h \
 supervisor/supervisor.h common/ev.h common/ipc.h common/ev.h \
 common/proc.h common/proto.h config/callbridges.h config/config.h \
 common/config.h config/config.h
common/fileio.h:
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
