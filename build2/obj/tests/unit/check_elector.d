build2/obj/tests/unit/check_elector.o: tests/unit/check_elector.c \
 elector/elector_core.h elector/elector_wire.h common/ipc.h common/ev.h \
 elector/elector_core.h tests/unit/unit.h
elector/elector_core.h:
elector/elector_wire.h:
common/ipc.h:
common/ev.h:
elector/elector_core.h:
tests/unit/unit.h:
