build2/obj/listener/listener_main.o: listener/listener_main.c \
 common/child.h common/config.h common/ev.h common/ipc.h common/proc.h \
 common/proto.h common/log.h common/netaddr.h listener/listener.h \
 common/buf.h common/ev.h common/ipc.h common/jid.h common/proto.h \
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
common/netaddr.h:
listener/listener.h:
common/buf.h:
common/ev.h:
common/ipc.h:
common/jid.h:
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
