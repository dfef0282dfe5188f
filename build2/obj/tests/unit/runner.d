build2/obj/tests/unit/runner.o: tests/unit/runner.c common/log.h \
 tests/unit/unit.h
common/log.h:
tests/unit/unit.h:
