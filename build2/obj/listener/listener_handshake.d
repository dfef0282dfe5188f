build2/obj/listener/listener_handshake.o: listener/listener_handshake.c \
 listener/listener_handshake.h
listener/listener_handshake.h:
