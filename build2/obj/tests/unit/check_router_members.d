build2/obj/tests/unit/check_router_members.o: \
 tests/unit/check_router_members.c router/router_members.h common/proto.h \
 tests/unit/unit.h
router/router_members.h:
common/proto.h:
tests/unit/unit.h:
