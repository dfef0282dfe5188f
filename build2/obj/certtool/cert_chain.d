build2/obj/certtool/cert_chain.o: certtool/cert_chain.c \
 certtool/cert_chain.h certtool/cert_info.h
certtool/cert_chain.h:
certtool/cert_info.h:
