build2/obj/tests/fuzz/fuzz_elector.o: tests/fuzz/fuzz_elector.c \
 elector/elector_core.h elector/elector_wire.h common/ipc.h common/ev.h \
 elector/elector_core.h
elector/elector_core.h:
elector/elector_wire.h:
common/ipc.h:
common/ev.h:
elector/elector_core.h:
