build2/obj/tests/fuzz/fuzz_config.o: tests/fuzz/fuzz_config.c \
 config/config_yaml.h config/config.h common/config.h
config/config_yaml.h:
config/config.h:
common/config.h:
