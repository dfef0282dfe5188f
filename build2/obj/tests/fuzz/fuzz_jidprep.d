build2/obj/tests/fuzz/fuzz_jidprep.o: tests/fuzz/fuzz_jidprep.c \
 common/jid.h common/jidprep.h
common/jid.h:
common/jidprep.h:
