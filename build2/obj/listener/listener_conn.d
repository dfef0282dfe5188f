build2/obj/listener/listener_conn.o: listener/listener_conn.c \
 common/log.h listener/listener.h common/buf.h common/ev.h common/ipc.h \
 common/ev.h common/jid.h common/netaddr.h common/proto.h common/config.h \
 common/stream.h common/buf.h common/tls.h listener/listener_index.h \
 listener/listener_sasl.h common/jidprep.h common/scram.h common/tls.h \
 listener/listener_xml.h
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
common/jidprep.h:
common/scram.h:
common/tls.h:
listener/listener_xml.h:
