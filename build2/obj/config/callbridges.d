build2/obj/config/callbridges.o: config/callbridges.c \
 config/callbridges.h common/proto.h config/config.h common/config.h \
 common/buf.h common/fileio.h common/jid.h common/jidprep.h common/log.h \
 config/yaml_events.h
config/callbridges.h:
common/proto.h:
config/config.h:
common/config.h:
common/buf.h:
common/fileio.h:
common/jid.h:
common/jidprep.h:
common/log.h:
config/yaml_events.h:
