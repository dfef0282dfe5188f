build2/obj/tests/unit/check_netaddr.o: tests/unit/check_netaddr.c \
 common/netaddr.h tests/unit/unit.h
common/netaddr.h:
tests/unit/unit.h:
