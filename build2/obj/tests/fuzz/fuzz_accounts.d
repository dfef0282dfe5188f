build2/obj/tests/fuzz/fuzz_accounts.o: tests/fuzz/fuzz_accounts.c \
 common/accounts.h common/jid.h common/scram.h
common/accounts.h:
common/jid.h:
common/scram.h:
