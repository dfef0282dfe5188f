build2/obj/config/config_edit.o: config/config_edit.c \
 config/config_edit.h config/config.h common/config.h common/buf.h \
 common/fileio.h config/config_yaml.h
config/config_edit.h:
config/config.h:
common/config.h:
common/buf.h:
common/fileio.h:
config/config_yaml.h:
