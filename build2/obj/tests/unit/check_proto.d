build2/obj/tests/unit/check_proto.o: tests/unit/check_proto.c \
 common/proto.h tests/unit/unit.h
common/proto.h:
tests/unit/unit.h:
