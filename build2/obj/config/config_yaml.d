build2/obj/config/config_yaml.o: config/config_yaml.c \
 config/config_yaml.h config/config.h common/config.h \
 config/yaml_events.h
config/config_yaml.h:
config/config.h:
common/config.h:
config/yaml_events.h:
