build2/obj/tests/unit/check_xml.o: tests/unit/check_xml.c \
 listener/listener_xml.h common/buf.h tests/unit/unit.h
listener/listener_xml.h:
common/buf.h:
tests/unit/unit.h:
