build2/obj/listener/listener_xml.o: listener/listener_xml.c \
 listener/listener_xml.h common/buf.h
listener/listener_xml.h:
common/buf.h:
