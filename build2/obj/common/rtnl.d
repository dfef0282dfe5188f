build2/obj/common/rtnl.o: common/rtnl.c common/rtnl.h common/netaddr.h
common/rtnl.h:
common/netaddr.h:
