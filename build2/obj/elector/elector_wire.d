build2/obj/elector/elector_wire.o: elector/elector_wire.c \
 elector/elector_wire.h common/ipc.h common/ev.h elector/elector_core.h
elector/elector_wire.h:
common/ipc.h:
common/ev.h:
elector/elector_core.h:
