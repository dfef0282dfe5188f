build2/obj/tests/unit/check_jid.o: tests/unit/check_jid.c common/jid.h \
 tests/unit/unit.h
common/jid.h:
tests/unit/unit.h:
