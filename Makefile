# rxmpp: one entry point.
#   make              build every program into build/bin
#   make check        install missing test dependencies, build, run every test
#   make check SANITIZE=1   the same with AddressSanitizer and UBSan (build-sanitize/)
#   make run          build and start a local node under ./run/
#   make fuzz         run the libFuzzer targets for FUZZ_SECONDS each (default 60)
#   make bench        the benchmark set against rxmpp (BENCH_RUNS, default 3)
#   make bench-peers  the one-node set against rxmpp, Prosody, ejabberd and jabberd2
#   make format       format the C sources with the checked-in .clang-format
#   make install      install into DESTDIR (what the packages use)
#   make deb          build-deb/rxmpp_VERSION_ARCH.deb (DEB_VERSION=… for another version)
#   make rpm          build-rpm/RPMS/ARCH/rxmpp-VERSION-1.ARCH.rpm

VERSION := 0.1.0
PREFIX ?= /usr
LIBEXECDIR ?= $(PREFIX)/lib/rxmpp
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/rxmpp
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
DEB_VERSION ?= $(VERSION)

ifeq ($(SANITIZE),1)
BUILD ?= build-sanitize
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANITIZE_FLAGS :=
# As Debian's package build does: buffer sizes checked at compile time too.
CPPFLAGS += -D_FORTIFY_SOURCE=2
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
MNL_LIBS = $(shell $(PKG_CONFIG) --libs libmnl)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)

COMMON_SRC := common/buf.c common/ev.c common/ipc.c common/log.c common/proc.c common/proto.c \
	common/fileio.c common/jid.c common/table.c common/netaddr.c
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
	supervisor/supervisor_sockets.c supervisor/supervisor_interfaces.c common/rtnl.c
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

.PHONY: all check unit integration package-tests fuzz-replay fuzz run bench bench-peers deps-build \
	deps-test \
	deps-fuzz deps-package format format-check clean install deb rpm
.DEFAULT_GOAL := all

all: $(PROGRAMS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/unit/%.o: CFLAGS += $(CHECK_CFLAGS)

$(BIN)/rxmppd: $(call obj,$(SUPERVISOR_SRC) $(CONFIG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(YAML_LIBS) $(MNL_LIBS)

$(BIN)/rxmppctl: $(call obj,config/rxmppctl.c config/rxmppctl_user.c config/rxmppctl_cluster.c \
		config/rxmppctl_config.c config/rxmppctl_callbridge.c config/rxmppctl_reset.c \
		config/rxmppctl_dns.c common/srv.c elector/elector_state.c $(CERT_SRC) \
		$(ACCOUNTS_SRC) $(CONFIG_SRC) \
		$(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(YAML_LIBS) $(SSL_LIBS) -lresolv

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
		elector/elector_core.c common/srv.c common/rtnl.c $(CERT_SRC) \
		$(ACCOUNTS_SRC) $(CONFIG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(YAML_LIBS) $(SSL_LIBS) $(EXPAT_LIBS) $(MNL_LIBS) $(CHECK_LIBS)

# The benchmark load generator (make bench; docs/PERFORMANCE.md).
LOAD_SRC := tests/bench/load_main.c tests/bench/load_net.c tests/bench/load_xmpp.c \
	tests/bench/load_scenarios.c common/scram.c common/netaddr.c
$(BUILD)/tests/rxmpp-load: $(call obj,$(LOAD_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(SSL_LIBS) $(EXPAT_LIBS)

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
	$(MAKE) --no-print-directory package-tests

# Build, lint, install, upgrade and purge the Debian package (and build the
# RPM); they change the machine, so they run only as root and undo it all.
package-tests:
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "package tests: SKIP (they install a package: run make check as root)"; \
	else \
		scripts/ensure-deps.sh package && \
		RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -p no:cacheprovider \
			-o console_output_style=classic tests/package; \
	fi

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

integration: $(PROGRAMS) $(BUILD)/tests/rxmpp-load
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -p no:cacheprovider \
		-o console_output_style=classic tests/integration

# The standard benchmark set against rxmpp (one node and a 3-node cluster on
# loopback), BENCH_RUNS times, medians and min-max; docs/PERFORMANCE.md.
BENCH_RUNS ?= 3
bench: deps-test
	$(MAKE) --no-print-directory all $(BUILD)/tests/rxmpp-load
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/bench/bench.py --runs $(BENCH_RUNS) \
		--json $(BUILD)/bench.json

# The same one-node set against Prosody, ejabberd and jabberd2 from Debian (installed
# here if missing: root), one server at a time, with rxmpp / best-peer ratios.
bench-peers: deps-test
	scripts/ensure-deps.sh peers
	$(MAKE) --no-print-directory all $(BUILD)/tests/rxmpp-load
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/bench/peers.py --runs $(BENCH_RUNS) \
		--json $(BUILD)/bench-peers.json

run: deps-build
	$(MAKE) --no-print-directory all
	scripts/run-local.sh $(BUILD)

deps-build:
	@scripts/ensure-deps.sh build

deps-test:
	@scripts/ensure-deps.sh test

deps-fuzz:
	@scripts/ensure-deps.sh fuzz

deps-package:
	@scripts/ensure-deps.sh package

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/rxmpp
	install -m 0755 $(BIN)/rxmppd $(BIN)/rxmppctl $(DESTDIR)$(SBINDIR)
	install -m 0755 $(BIN)/rxmpp-certtool $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN)/rxmpp-listener $(BIN)/rxmpp-router $(BIN)/rxmpp-elector \
		$(BIN)/rxmpp-certworker $(DESTDIR)$(LIBEXECDIR)
	install -m 0644 packaging/man/rxmpp-certtool.1 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 packaging/man/rxmpp.yaml.5 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 packaging/man/rxmppd.8 packaging/man/rxmppctl.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 packaging/bash-completion/rxmppctl \
		packaging/bash-completion/rxmpp-certtool $(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 packaging/systemd/rxmpp.service $(DESTDIR)$(UNITDIR)
	install -m 0644 packaging/rxmpp.yaml $(DESTDIR)$(SYSCONFDIR)/rxmpp/rxmpp.yaml
	install -m 0644 packaging/callbridges.yaml $(DESTDIR)$(DATADIR)/callbridges.yaml

# The sources as git sees them (committed or not, ignored files left out).
SOURCE_FILES = $(shell git ls-files --cached --others --exclude-standard | \
	while read -r f; do [ -e "$$f" ] && echo "$$f"; done)

# dpkg-buildpackage runs on a copy (build-deb/rxmpp-VERSION with
# packaging/debian as debian/), so the tree stays clean.
deb: deps-package
	rm -rf build-deb && mkdir -p build-deb/rxmpp-$(DEB_VERSION)
	tar -cf - $(SOURCE_FILES) | tar -xf - -C build-deb/rxmpp-$(DEB_VERSION)
	cp -r packaging/debian build-deb/rxmpp-$(DEB_VERSION)/debian
	scripts/deb-changelog.sh $(DEB_VERSION) build-deb/rxmpp-$(DEB_VERSION)/debian/changelog
	cd build-deb/rxmpp-$(DEB_VERSION) && \
		DEB_BUILD_OPTIONS="parallel=$$(nproc) $(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -b -us -uc
	@ls build-deb/*.deb

rpm: deps-package
	rm -rf build-rpm && mkdir -p build-rpm/SOURCES build-rpm/rxmpp-$(VERSION)
	tar -cf - $(SOURCE_FILES) | tar -xf - -C build-rpm/rxmpp-$(VERSION)
	tar -czf build-rpm/SOURCES/rxmpp-$(VERSION).tar.gz -C build-rpm rxmpp-$(VERSION)
	rpmbuild -bb --nodeps --define "_topdir $(abspath build-rpm)" \
		--define "version $(VERSION)" packaging/rpm/rxmpp.spec
	@find build-rpm/RPMS -name '*.rpm'

C_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || \
	find . -name '*.[ch]' -not -path './build*')

format:
	clang-format -i $(C_FILES)

format-check:
	@clang-format --dry-run --Werror $(C_FILES) && echo "format: the tree is formatted"

clean:
	rm -rf build build-sanitize build-fuzz build-deb build-rpm

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
