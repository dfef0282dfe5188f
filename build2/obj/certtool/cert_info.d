build2/obj/certtool/cert_info.o: certtool/cert_info.c \
 certtool/cert_info.h
certtool/cert_info.h:
