build2/obj/tests/unit/check_jidprep.o: tests/unit/check_jidprep.c \
 common/jid.h common/jidprep.h tests/unit/unit.h
common/jid.h:
common/jidprep.h:
tests/unit/unit.h:
