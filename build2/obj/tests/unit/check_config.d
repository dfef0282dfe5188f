build2/obj/tests/unit/check_config.o: tests/unit/check_config.c \
 config/callbridges.h common/proto.h config/config.h common/config.h \
 config/config_edit.h config/config_yaml.h tests/unit/unit.h
config/callbridges.h:
common/proto.h:
config/config.h:
common/config.h:
config/config_edit.h:
config/config_yaml.h:
tests/unit/unit.h:
