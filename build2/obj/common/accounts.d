build2/obj/common/accounts.o: common/accounts.c common/accounts.h \
 common/jid.h common/scram.h common/buf.h common/fileio.h \
 common/jidprep.h
common/accounts.h:
common/jid.h:
common/scram.h:
common/buf.h:
common/fileio.h:
common/jidprep.h:
