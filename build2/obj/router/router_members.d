build2/obj/router/router_members.o: router/router_members.c \
 router/router_members.h common/proto.h
router/router_members.h:
common/proto.h:
