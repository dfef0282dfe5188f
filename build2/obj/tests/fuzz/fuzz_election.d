build2/obj/tests/fuzz/fuzz_election.o: tests/fuzz/fuzz_election.c \
 common/log.h elector/elector_state.h elector/elector_core.h
common/log.h:
elector/elector_state.h:
elector/elector_core.h:
