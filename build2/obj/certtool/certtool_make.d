build2/obj/certtool/certtool_make.o: certtool/certtool_make.c \
 certtool/cert_info.h certtool/cert_load.h certtool/cert_make.h \
 certtool/certtool.h common/fileio.h
certtool/cert_info.h:
certtool/cert_load.h:
certtool/cert_make.h:
certtool/certtool.h:
common/fileio.h:
