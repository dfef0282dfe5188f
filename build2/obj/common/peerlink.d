build2/obj/common/peerlink.o: common/peerlink.c common/peerlink.h \
 common/ev.h common/ipc.h common/log.h common/netaddr.h common/stream.h \
 common/buf.h common/tls.h common/buf.h common/config.h
common/peerlink.h:
common/ev.h:
common/ipc.h:
common/log.h:
common/netaddr.h:
common/stream.h:
common/buf.h:
common/tls.h:
common/buf.h:
common/config.h:
