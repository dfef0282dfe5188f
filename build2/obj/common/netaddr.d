build2/obj/common/netaddr.o: common/netaddr.c common/netaddr.h
common/netaddr.h:
