build2/obj/elector/elector_main.o: elector/elector_main.c common/child.h \
 common/config.h common/ev.h common/ipc.h common/proc.h common/proto.h \
 common/log.h elector/elector_io.h common/ipc.h common/proto.h \
 common/config.h
common/child.h:
common/config.h:
common/ev.h:
common/ipc.h:
common/proc.h:
common/proto.h:
common/log.h:
elector/elector_io.h:
common/ipc.h:
common/proto.h:
common/config.h:
