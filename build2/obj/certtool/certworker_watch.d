build2/obj/certtool/certworker_watch.o: certtool/certworker_watch.c \
 certtool/certworker_watch.h common/ev.h common/log.h
certtool/certworker_watch.h:
common/ev.h:
common/log.h:
