build2/obj/config/config.o: config/config.c config/config.h \
 common/config.h common/log.h
config/config.h:
common/config.h:
common/log.h:
