build2/obj/common/jid.o: common/jid.c common/jid.h
common/jid.h:
