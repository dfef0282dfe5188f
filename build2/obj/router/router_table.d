build2/obj/router/router_table.o: router/router_table.c common/jid.h \
 common/log.h common/table.h router/router.h common/ipc.h common/ev.h \
 common/proto.h common/config.h router/router_relay.h \
 router/router_relay_wire.h
common/jid.h:
common/log.h:
common/table.h:
router/router.h:
common/ipc.h:
common/ev.h:
common/proto.h:
common/config.h:
router/router_relay.h:
router/router_relay_wire.h:
