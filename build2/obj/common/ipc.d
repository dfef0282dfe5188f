build2/obj/common/ipc.o: common/ipc.c common/ipc.h common/ev.h \
 common/buf.h common/log.h
common/ipc.h:
common/ev.h:
common/buf.h:
common/log.h:
