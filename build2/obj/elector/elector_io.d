build2/obj/elector/elector_io.o: elector/elector_io.c \
 elector/elector_io.h common/ipc.h common/ev.h common/proto.h \
 common/config.h common/child.h common/config.h common/ipc.h \
 common/proc.h common/proto.h common/log.h common/peerlink.h common/tls.h \
 common/buf.h elector/elector_core.h elector/elector_peers.h \
 elector/elector_state.h elector/elector_wire.h
elector/elector_io.h:
common/ipc.h:
common/ev.h:
common/proto.h:
common/config.h:
common/child.h:
common/config.h:
common/ipc.h:
common/proc.h:
common/proto.h:
common/log.h:
common/peerlink.h:
common/tls.h:
common/buf.h:
elector/elector_core.h:
elector/elector_peers.h:
elector/elector_state.h:
elector/elector_wire.h:
