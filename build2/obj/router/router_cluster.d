build2/obj/router/router_cluster.o: router/router_cluster.c \
 common/child.h common/config.h common/ev.h common/ipc.h common/proc.h \
 common/proto.h common/jid.h common/log.h common/peerlink.h common/tls.h \
 common/buf.h common/config.h router/router.h common/ipc.h common/proto.h \
 router/router_relay.h router/router_relay_wire.h router/router_members.h
common/child.h:
common/config.h:
common/ev.h:
common/ipc.h:
common/proc.h:
common/proto.h:
common/jid.h:
common/log.h:
common/peerlink.h:
common/tls.h:
common/buf.h:
common/config.h:
router/router.h:
common/ipc.h:
common/proto.h:
router/router_relay.h:
router/router_relay_wire.h:
router/router_members.h:
