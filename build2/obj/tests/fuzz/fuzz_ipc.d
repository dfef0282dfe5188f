build2/obj/tests/fuzz/fuzz_ipc.o: tests/fuzz/fuzz_ipc.c common/ev.h \
 common/ipc.h common/ev.h common/log.h common/proto.h \
 elector/elector_wire.h elector/elector_core.h router/router_relay_wire.h
common/ev.h:
common/ipc.h:
common/ev.h:
common/log.h:
common/proto.h:
elector/elector_wire.h:
elector/elector_core.h:
router/router_relay_wire.h:
