build2/obj/common/stream.o: common/stream.c common/stream.h common/buf.h \
 common/ev.h common/tls.h common/buf.h common/config.h
common/stream.h:
common/buf.h:
common/ev.h:
common/tls.h:
common/buf.h:
common/config.h:
