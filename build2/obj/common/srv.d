build2/obj/common/srv.o: common/srv.c common/srv.h
common/srv.h:
