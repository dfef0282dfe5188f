build2/obj/tests/unit/check_listener_index.o: \
 tests/unit/check_listener_index.c listener/listener.h common/buf.h \
 common/ev.h common/ipc.h common/ev.h common/jid.h common/netaddr.h \
 common/proto.h common/config.h common/stream.h common/buf.h common/tls.h \
 listener/listener_index.h listener/listener_sasl.h common/jidprep.h \
 common/scram.h common/tls.h listener/listener_xml.h tests/unit/unit.h
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
tests/unit/unit.h:
