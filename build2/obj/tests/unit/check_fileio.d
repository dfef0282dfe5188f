build2/obj/tests/unit/check_fileio.o: tests/unit/check_fileio.c \
 common/fileio.h tests/unit/unit.h
common/fileio.h:
tests/unit/unit.h:
