build2/obj/common/scram.o: common/scram.c common/scram.h
common/scram.h:
