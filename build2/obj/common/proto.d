build2/obj/common/proto.o: common/proto.c common/proto.h common/jid.h
common/proto.h:
common/jid.h:
