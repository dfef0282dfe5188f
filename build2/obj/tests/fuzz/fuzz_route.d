build2/obj/tests/fuzz/fuzz_route.o: tests/fuzz/fuzz_route.c \
 common/proto.h
common/proto.h:
