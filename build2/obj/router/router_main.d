build2/obj/router/router_main.o: router/router_main.c common/child.h \
 common/config.h common/ev.h common/ipc.h common/proc.h common/proto.h \
 common/jid.h common/log.h router/router.h common/ipc.h common/proto.h \
 common/config.h router/router_relay.h router/router_relay_wire.h
common/child.h:
common/config.h:
common/ev.h:
common/ipc.h:
common/proc.h:
common/proto.h:
common/jid.h:
common/log.h:
router/router.h:
common/ipc.h:
common/proto.h:
common/config.h:
router/router_relay.h:
router/router_relay_wire.h:
