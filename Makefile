# rxmpp: one entry point.
#   make              build every program into build/bin
#   make check        install missing test dependencies, build, run every test
#   make check SANITIZE=1   the same with AddressSanitizer and UBSan (build-sanitize/)
#   make run          build and start a local node under ./run/
#   make fuzz         run the libFuzzer targets for FUZZ_SECONDS each (default 60)
#   make format       format the C sources with the checked-in .clang-format

VERSION := 0.1.0
PREFIX ?= /usr
LIBEXECDIR ?= $(PREFIX)/lib/rxmpp

ifeq ($(SANITIZE),1)
BUILD ?= build-sanitize
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANITIZE_FLAGS :=
endif

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS := openssl expat yaml-0.1 libmnl
CPPFLAGS += -I. -D_GNU_SOURCE -DRXMPP_VERSION='"$(VERSION)"' \
	-DRXMPP_LIBEXECDIR='"$(LIBEXECDIR)"'
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -O2 -g $(SANITIZE_FLAGS) \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDFLAGS += $(SANITIZE_FLAGS)
YAML_LIBS = $(shell $(PKG_CONFIG) --libs yaml-0.1)
CRYPTO_LIBS = $(shell $(PKG_CONFIG) --libs libcrypto)
SSL_LIBS = $(shell $(PKG_CONFIG) --libs openssl)
EXPAT_LIBS = $(shell $(PKG_CONFIG) --libs expat)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)

COMMON_SRC := common/buf.c common/ev.c common/ipc.c common/log.c common/proc.c common/proto.c \
	common/fileio.c common/jid.c common/table.c
CHILD_SRC := common/child.c config/config.c
ACCOUNTS_SRC := common/accounts.c common/scram.c
LISTENER_CORE_SRC := listener/listener_xml.c common/tls.c listener/listener_sasl.c
LISTENER_SRC := listener/listener_main.c listener/listener_conn.c listener/listener_client.c \
	listener/listener_component.c listener/listener_route.c listener/listener_accounts.c \
	listener/listener_handshake.c listener/listener_tls.c $(LISTENER_CORE_SRC)
CONFIG_SRC := config/config.c config/config_yaml.c config/callbridges.c config/yaml_events.c \
	config/config_edit.c
SUPERVISOR_SRC := supervisor/rxmppd.c supervisor/supervisor_children.c \
	supervisor/supervisor_control.c supervisor/supervisor_notify.c \
	supervisor/supervisor_sockets.c
CERT_SRC := certtool/cert_load.c certtool/cert_info.c certtool/cert_chain.c certtool/cert_make.c \
	certtool/cert_set.c
CERTTOOL_SRC := certtool/certtool_main.c certtool/certtool_make.c certtool/certtool_show.c \
	certtool/certtool_check.c
UNIT_SRC := $(wildcard tests/unit/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

BIN := $(BUILD)/bin
PROGRAMS := $(BIN)/rxmppd $(BIN)/rxmppctl $(BIN)/rxmpp-listener $(BIN)/rxmpp-router \
	$(BIN)/rxmpp-elector $(BIN)/rxmpp-certworker $(BIN)/rxmpp-certtool
UNIT_RUNNER := $(BUILD)/tests/unit-tests
STREAM_PARSER_SRC := $(LISTENER_CORE_SRC) $(ACCOUNTS_SRC) $(COMMON_SRC)
FUZZ_TARGETS := stream config
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang

.PHONY: all check unit integration fuzz-replay fuzz run deps-build deps-test deps-fuzz format \
	format-check clean
.DEFAULT_GOAL := all

all: $(PROGRAMS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/unit/%.o: CFLAGS += $(CHECK_CFLAGS)

$(BIN)/rxmppd: $(call obj,$(SUPERVISOR_SRC) $(CONFIG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(YAML_LIBS)

$(BIN)/rxmppctl: $(call obj,config/rxmppctl.c config/rxmppctl_user.c config/rxmppctl_cluster.c \
		config/rxmppctl_config.c config/rxmppctl_callbridge.c config/rxmppctl_reset.c \
		elector/elector_state.c $(CERT_SRC) \
		$(ACCOUNTS_SRC) $(CONFIG_SRC) \
		$(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(YAML_LIBS) $(CRYPTO_LIBS)

$(BIN)/rxmpp-listener: $(call obj,$(LISTENER_SRC) $(ACCOUNTS_SRC) $(CHILD_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(SSL_LIBS) $(EXPAT_LIBS)

$(BIN)/rxmpp-router: $(call obj,router/router_main.c router/router_table.c router/router_route.c \
		router/router_cluster.c common/peerlink.c common/tls.c $(CHILD_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(SSL_LIBS)

$(BIN)/rxmpp-elector: $(call obj,elector/elector_main.c elector/elector_io.c elector/elector_core.c \
		elector/elector_state.c common/peerlink.c common/tls.c $(CHILD_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(SSL_LIBS)

$(BIN)/rxmpp-certworker: $(call obj,certtool/certworker_main.c certtool/certworker_watch.c \
		$(CERT_SRC) common/tls.c \
		$(CHILD_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(SSL_LIBS)

$(BIN)/rxmpp-certtool: $(call obj,$(CERTTOOL_SRC) $(CERT_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(CRYPTO_LIBS)

$(UNIT_RUNNER): $(call obj,$(UNIT_SRC) $(LISTENER_CORE_SRC) listener/listener_handshake.c \
		elector/elector_core.c $(CERT_SRC) \
		$(ACCOUNTS_SRC) $(CONFIG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(YAML_LIBS) $(SSL_LIBS) $(EXPAT_LIBS) $(CHECK_LIBS)

# The fuzz targets' corpora replay in `make check` through a plain driver.
$(BUILD)/tests/replay-stream: $(call obj,tests/fuzz/replay.c tests/fuzz/fuzz_stream.c \
		$(STREAM_PARSER_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(SSL_LIBS) $(EXPAT_LIBS)

$(BUILD)/tests/replay-config: $(call obj,tests/fuzz/replay.c tests/fuzz/fuzz_config.c \
		$(CONFIG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(YAML_LIBS)

# Dependencies first, as separate make runs, so that pkg-config flags are
# read after the packages are there.
check: deps-test
	$(MAKE) --no-print-directory format-check
	$(MAKE) --no-print-directory unit fuzz-replay integration

fuzz-replay: $(foreach t,$(FUZZ_TARGETS),$(BUILD)/tests/replay-$(t))
	@for t in $(FUZZ_TARGETS); do \
		printf 'fuzz corpus %s: ' $$t; \
		$(BUILD)/tests/replay-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# libFuzzer with ASan and UBSan, FUZZ_SECONDS per target, on a scratch copy
# of each corpus (new finds stay in build-fuzz/; copy good ones back by hand).
fuzz: deps-fuzz
	@mkdir -p build-fuzz
	@for t in $(FUZZ_TARGETS); do \
		case $$t in \
		stream) src="tests/fuzz/fuzz_stream.c $(STREAM_PARSER_SRC)"; libs="$(SSL_LIBS) $(EXPAT_LIBS)";; \
		config) src="tests/fuzz/fuzz_config.c $(CONFIG_SRC) $(COMMON_SRC)"; libs="$(YAML_LIBS)";; \
		esac; \
		$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
			$$src -o build-fuzz/fuzz-$$t $$libs || exit 1; \
		rm -rf build-fuzz/corpus-$$t; cp -r tests/fuzz/corpus/$$t build-fuzz/corpus-$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		build-fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			build-fuzz/corpus-$$t || exit 1; \
	done

unit: $(UNIT_RUNNER)
	cd tests/unit && CK_DEFAULT_TIMEOUT=60 ../../$(UNIT_RUNNER)

integration: $(PROGRAMS)
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -p no:cacheprovider \
		-o console_output_style=classic tests/integration

run: deps-build
	$(MAKE) --no-print-directory all
	scripts/run-local.sh $(BUILD)

deps-build:
	@scripts/ensure-deps.sh build

deps-test:
	@scripts/ensure-deps.sh test

deps-fuzz:
	@scripts/ensure-deps.sh fuzz

C_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || \
	find . -name '*.[ch]' -not -path './build*')

format:
	clang-format -i $(C_FILES)

format-check:
	@clang-format --dry-run --Werror $(C_FILES) && echo "format: the tree is formatted"

clean:
	rm -rf build build-sanitize build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
