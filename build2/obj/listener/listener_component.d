build2/obj/listener/listener_component.o: listener/listener_component.c \
 common/jidprep.h common/log.h listener/listener.h common/buf.h \
 common/ev.h common/ipc.h common/ev.h common/jid.h common/netaddr.h \
 common/proto.h common/config.h common/stream.h common/buf.h common/tls.h \
 listener/listener_index.h listener/listener_sasl.h common/scram.h \
 common/tls.h listener/listener_xml.h listener/listener_handshake.h
common/jidprep.h:
common/log.h:
listener/listener.h:
common/buf.h:
common/ev.h:
common/ipc.h:
common/ev.h:
common/jid.h:
common/netaddr.h:
common/proto.h:
common/config.h:
common/stream.h:
common/buf.h:
common/tls.h:
listener/listener_index.h:
listener/listener_sasl.h:
common/scram.h:
common/tls.h:
listener/listener_xml.h:
listener/listener_handshake.h:
