build2/obj/common/jidprep.o: common/jidprep.c common/jidprep.h \
 common/jid.h
common/jidprep.h:
common/jid.h:
