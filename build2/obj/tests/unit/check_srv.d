build2/obj/tests/unit/check_srv.o: tests/unit/check_srv.c common/srv.h \
 tests/unit/unit.h
common/srv.h:
tests/unit/unit.h:
