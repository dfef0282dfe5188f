build2/obj/tests/fuzz/fuzz_sasl.o: tests/fuzz/fuzz_sasl.c \
 listener/listener_sasl.h common/buf.h common/jid.h common/jidprep.h \
 common/scram.h
listener/listener_sasl.h:
common/buf.h:
common/jid.h:
common/jidprep.h:
common/scram.h:
