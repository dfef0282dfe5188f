build2/obj/router/router_route.o: router/router_route.c common/buf.h \
 common/jid.h common/log.h router/router.h common/ipc.h common/ev.h \
 common/proto.h common/config.h router/router_relay.h \
 router/router_relay_wire.h
common/buf.h:
common/jid.h:
common/log.h:
router/router.h:
common/ipc.h:
common/ev.h:
common/proto.h:
common/config.h:
router/router_relay.h:
router/router_relay_wire.h:
