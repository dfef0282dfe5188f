build2/obj/common/child.o: common/child.c common/child.h common/config.h \
 common/ev.h common/ipc.h common/proc.h common/proto.h common/log.h
common/child.h:
common/config.h:
common/ev.h:
common/ipc.h:
common/proc.h:
common/proto.h:
common/log.h:
