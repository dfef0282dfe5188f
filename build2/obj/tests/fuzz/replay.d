build2/obj/tests/fuzz/replay.o: tests/fuzz/replay.c
