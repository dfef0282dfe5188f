build2/obj/tests/unit/check_cert.o: tests/unit/check_cert.c \
 certtool/cert_chain.h certtool/cert_info.h certtool/cert_load.h \
 certtool/cert_make.h certtool/cert_set.h tests/unit/unit.h
certtool/cert_chain.h:
certtool/cert_info.h:
certtool/cert_load.h:
certtool/cert_make.h:
certtool/cert_set.h:
tests/unit/unit.h:
