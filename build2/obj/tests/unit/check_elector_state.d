build2/obj/tests/unit/check_elector_state.o: \
 tests/unit/check_elector_state.c common/fileio.h elector/elector_state.h \
 elector/elector_core.h tests/unit/unit.h
common/fileio.h:
elector/elector_state.h:
elector/elector_core.h:
tests/unit/unit.h:
