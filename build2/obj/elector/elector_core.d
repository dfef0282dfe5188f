build2/obj/elector/elector_core.o: elector/elector_core.c \
 elector/elector_core.h
elector/elector_core.h:
