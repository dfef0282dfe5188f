build2/obj/certtool/certtool_show.o: certtool/certtool_show.c \
 certtool/cert_chain.h certtool/cert_info.h certtool/cert_load.h \
 certtool/certtool.h
certtool/cert_chain.h:
certtool/cert_info.h:
certtool/cert_load.h:
certtool/certtool.h:
