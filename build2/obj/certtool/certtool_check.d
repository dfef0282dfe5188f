build2/obj/certtool/certtool_check.o: certtool/certtool_check.c \
 certtool/cert_chain.h certtool/cert_info.h certtool/cert_load.h \
 certtool/cert_make.h certtool/certtool.h common/fileio.h
certtool/cert_chain.h:
certtool/cert_info.h:
certtool/cert_load.h:
certtool/cert_make.h:
certtool/certtool.h:
common/fileio.h:
