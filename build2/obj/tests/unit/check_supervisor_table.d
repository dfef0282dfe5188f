build2/obj/tests/unit/check_supervisor_table.o: \
 tests/unit/check_supervisor_table.c supervisor/supervisor.h common/ev.h \
 common/ipc.h common/ev.h common/log.h common/proc.h common/proto.h \
 config/callbridges.h config/config.h common/config.h config/config.h \
 tests/unit/unit.h
supervisor/supervisor.h:
common/ev.h:
common/ipc.h:
common/ev.h:
common/log.h:
common/proc.h:
common/proto.h:
config/callbridges.h:
config/config.h:
common/config.h:
config/config.h:
tests/unit/unit.h:
