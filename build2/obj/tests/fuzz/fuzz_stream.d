build2/obj/tests/fuzz/fuzz_stream.o: tests/fuzz/fuzz_stream.c \
 listener/listener_xml.h common/buf.h
listener/listener_xml.h:
common/buf.h:
