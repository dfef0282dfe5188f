build2/obj/certtool/certtool_main.o: certtool/certtool_main.c \
 certtool/certtool.h
certtool/certtool.h:
