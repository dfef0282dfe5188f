build2/obj/common/proc.o: common/proc.c common/proc.h
common/proc.h:
