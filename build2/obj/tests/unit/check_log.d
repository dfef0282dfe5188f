build2/obj/tests/unit/check_log.o: tests/unit/check_log.c common/log.h \
 tests/unit/unit.h
common/log.h:
tests/unit/unit.h:
