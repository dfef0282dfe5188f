build2/obj/tests/unit/check_ipc.o: tests/unit/check_ipc.c common/ev.h \
 common/ipc.h common/ev.h common/proto.h tests/unit/unit.h
common/ev.h:
common/ipc.h:
common/ev.h:
common/proto.h:
tests/unit/unit.h:
