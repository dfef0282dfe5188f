build2/obj/tests/unit/check_buf.o: tests/unit/check_buf.c common/buf.h \
 tests/unit/unit.h
common/buf.h:
tests/unit/unit.h:
