build2/obj/certtool/certworker_main.o: certtool/certworker_main.c \
 certtool/cert_info.h certtool/cert_set.h certtool/certworker_watch.h \
 common/ev.h common/child.h common/config.h common/ev.h common/ipc.h \
 common/proc.h common/proto.h common/log.h common/proto.h common/tls.h \
 common/buf.h common/config.h
certtool/cert_info.h:
certtool/cert_set.h:
certtool/certworker_watch.h:
common/ev.h:
common/child.h:
common/config.h:
common/ev.h:
common/ipc.h:
common/proc.h:
common/proto.h:
common/log.h:
common/proto.h:
common/tls.h:
common/buf.h:
common/config.h:
