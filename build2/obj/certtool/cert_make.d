build2/obj/certtool/cert_make.o: certtool/cert_make.c \
 certtool/cert_make.h certtool/cert_info.h
certtool/cert_make.h:
certtool/cert_info.h:
