build2/obj/tests/unit/check_accounts.o: tests/unit/check_accounts.c \
 common/accounts.h common/jid.h common/scram.h tests/unit/unit.h
common/accounts.h:
common/jid.h:
common/scram.h:
tests/unit/unit.h:
