build2/obj/tests/unit/check_sasl.o: tests/unit/check_sasl.c \
 common/scram.h listener/listener_handshake.h listener/listener_sasl.h \
 common/buf.h common/jid.h common/jidprep.h tests/unit/unit.h
common/scram.h:
listener/listener_handshake.h:
listener/listener_sasl.h:
common/buf.h:
common/jid.h:
common/jidprep.h:
tests/unit/unit.h:
