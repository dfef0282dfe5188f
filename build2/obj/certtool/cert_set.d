build2/obj/certtool/cert_set.o: certtool/cert_set.c certtool/cert_set.h \
 certtool/cert_chain.h certtool/cert_info.h certtool/cert_load.h \
 certtool/cert_make.h
certtool/cert_set.h:
certtool/cert_chain.h:
certtool/cert_info.h:
certtool/cert_load.h:
certtool/cert_make.h:
