build2/obj/tests/unit/check_relay.o: tests/unit/check_relay.c \
 common/proto.h router/router_relay.h router/router_relay_wire.h \
 common/ipc.h common/ev.h router/router_relay_wire.h tests/unit/unit.h
common/proto.h:
router/router_relay.h:
router/router_relay_wire.h:
common/ipc.h:
common/ev.h:
router/router_relay_wire.h:
tests/unit/unit.h:
