build2/obj/common/ev.o: common/ev.c common/ev.h
common/ev.h:
