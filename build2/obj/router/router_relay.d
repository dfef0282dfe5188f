build2/obj/router/router_relay.o: router/router_relay.c \
 router/router_relay.h router/router_relay_wire.h common/ipc.h \
 common/ev.h common/jid.h common/proto.h
router/router_relay.h:
router/router_relay_wire.h:
common/ipc.h:
common/ev.h:
common/jid.h:
common/proto.h:
