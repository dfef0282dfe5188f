build2/obj/tests/unit/check_stream.o: tests/unit/check_stream.c \
 common/stream.h common/buf.h common/ev.h common/tls.h common/buf.h \
 common/config.h tests/unit/unit.h
common/stream.h:
common/buf.h:
common/ev.h:
common/tls.h:
common/buf.h:
common/config.h:
tests/unit/unit.h:
