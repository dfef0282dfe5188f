build2/obj/elector/elector_state.o: elector/elector_state.c \
 elector/elector_state.h elector/elector_core.h common/buf.h \
 common/fileio.h common/log.h
elector/elector_state.h:
elector/elector_core.h:
common/buf.h:
common/fileio.h:
common/log.h:
