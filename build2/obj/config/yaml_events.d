build2/obj/config/yaml_events.o: config/yaml_events.c \
 config/yaml_events.h config/config.h common/config.h
config/yaml_events.h:
config/config.h:
common/config.h:
