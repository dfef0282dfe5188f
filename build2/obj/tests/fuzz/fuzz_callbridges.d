build2/obj/tests/fuzz/fuzz_callbridges.o: tests/fuzz/fuzz_callbridges.c \
 config/callbridges.h common/proto.h config/config.h common/config.h
config/callbridges.h:
common/proto.h:
config/config.h:
common/config.h:
