build2/obj/elector/elector_peers.o: elector/elector_peers.c \
 elector/elector_peers.h common/config.h
elector/elector_peers.h:
common/config.h:
