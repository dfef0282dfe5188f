build2/obj/common/fileio.o: common/fileio.c common/fileio.h common/buf.h
common/fileio.h:
common/buf.h:
