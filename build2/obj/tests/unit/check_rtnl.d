build2/obj/tests/unit/check_rtnl.o: tests/unit/check_rtnl.c common/rtnl.h \
 tests/unit/unit.h
common/rtnl.h:
tests/unit/unit.h:
