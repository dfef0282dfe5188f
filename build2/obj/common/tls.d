build2/obj/common/tls.o: common/tls.c common/tls.h common/buf.h \
 common/config.h
common/tls.h:
common/buf.h:
common/config.h:
