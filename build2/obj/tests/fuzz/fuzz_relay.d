build2/obj/tests/fuzz/fuzz_relay.o: tests/fuzz/fuzz_relay.c \
 router/router_relay.h router/router_relay_wire.h common/ipc.h \
 common/ev.h
router/router_relay.h:
router/router_relay_wire.h:
common/ipc.h:
common/ev.h:
