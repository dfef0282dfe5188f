build2/obj/tests/unit/check_ev.o: tests/unit/check_ev.c common/ev.h \
 tests/unit/unit.h
common/ev.h:
tests/unit/unit.h:
