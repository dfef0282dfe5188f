build2/obj/listener/listener_route.o: listener/listener_route.c \
 common/child.h common/config.h common/ev.h common/ipc.h common/proc.h \
 common/proto.h common/log.h listener/listener.h common/buf.h common/ev.h \
 common/ipc.h common/jid.h common/netaddr.h common/proto.h \
 common/config.h common/stream.h common/buf.h common/tls.h \
 listener/listener_index.h listener/listener_sasl.h common/jidprep.h \
 common/scram.h common/tls.h listener/listener_xml.h
common/child.h:
common/config.h:
common/ev.h:
common/ipc.h:
common/proc.h:
common/proto.h:
common/log.h:
listener/listener.h:
common/buf.h:
common/ev.h:
common/ipc.h:
common/jid.h:
common/netaddr.h:
common/proto.h:
common/config.h:
common/stream.h:
common/buf.h:
common/tls.h:
listener/listener_index.h:
listener/listener_sasl.h:
common/jidprep.h:
common/scram.h:
common/tls.h:
listener/listener_xml.h:
