build2/obj/certtool/cert_load.o: certtool/cert_load.c \
 certtool/cert_load.h common/fileio.h
certtool/cert_load.h:
common/fileio.h:
