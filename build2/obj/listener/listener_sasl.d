build2/obj/listener/listener_sasl.o: listener/listener_sasl.c \
 listener/listener_sasl.h common/buf.h common/jid.h common/jidprep.h \
 common/scram.h
listener/listener_sasl.h:
common/buf.h:
common/jid.h:
common/jidprep.h:
common/scram.h:
