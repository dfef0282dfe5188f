# SPDX-License-Identifier: MIT
# rxmpp: one entry point.
#   make              build every program into build/bin
#   make check        install missing test dependencies, build, run every test
#                     but the package tests
#   make package-tests  install, upgrade and purge the Debian package (root; CI runs it)
#   make upgrade-test  build the previous release (CHANGELOG.md) from its commit, run a
#                     3-node cluster of it and upgrade it to this build (CI runs it)
#   make check SANITIZE=1   the same with AddressSanitizer and UBSan (build-sanitize/)
#   make run          build and start a local 3-node cluster under ./run/
#   make names-check  every name a process exports has its prefix, once (in make check)
#   make licence-check  every source file names the MIT licence (in make check)
#   make fuzz         run the libFuzzer targets for FUZZ_SECONDS each (default 60),
#                     or until FUZZ_RUNS inputs; figures in docs/FUZZING.md
#   make bench        the benchmark set against rxmpp (BENCH_RUNS, default 3)
#   make bench-peers  the one-node set against rxmpp, Prosody, ejabberd and jabberd2
#   make conformance  the scripted conversations (tests/conformance) against Prosody
#                     (installed if missing: root) and rxmpp, and where they differ
#   make conformance-check  the conversations rxmpp is expected to pass (in make check)
#   make format       format the C sources with the checked-in .clang-format
#   make install      install into DESTDIR (what the packages use)
#   make deb          build-deb/rxmpp_VERSION_ARCH.deb (DEB_VERSION=… for another version)
#   make rpm          build-rpm/RPMS/ARCH/rxmpp-VERSION-1.ARCH.rpm

VERSION := 0.2.0
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

FUZZ_CC ?= clang
ifeq ($(FUZZ),1)
BUILD ?= build-fuzz
CC := $(FUZZ_CC)
SANITIZE_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
else ifeq ($(SANITIZE),1)
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
PKGS := openssl expat yaml-0.1 libmnl libidn libmicrohttpd
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
# libidn: the XMPP stringprep profiles that prepare JIDs (common/jidprep.c).
IDN_LIBS = $(shell $(PKG_CONFIG) --libs libidn)
# libmicrohttpd: the HTTP of the supervisor's metrics endpoint (supervisor_http.c).
MHD_LIBS = $(shell $(PKG_CONFIG) --libs libmicrohttpd)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)

# Each folder is one static library of everything in it but its programs'
# main files; a program links its main with the libraries it uses, its own
# first and common last (common/ depends on nothing above it), and the
# linker takes only the objects it needs.  A new file joins its folder's
# library by being there.
LIB_DIRS := listener router elector supervisor certtool im config common
MAINS := supervisor/rxmppd.c listener/listener_main.c router/router_main.c elector/elector_main.c \
	certtool/certworker_main.c certtool/certtool_main.c im/im_main.c
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
lib = $(foreach d,$(1),$(BUILD)/lib/librxmpp-$(d).a)
LINK = mkdir -p $(dir $@) && $(CC) $(LDFLAGS) $^ -o $@

BIN := $(BUILD)/bin
PROGRAMS := $(BIN)/rxmppd $(BIN)/rxmppctl $(BIN)/rxmpp-listener $(BIN)/rxmpp-router \
	$(BIN)/rxmpp-elector $(BIN)/rxmpp-certworker $(BIN)/rxmpp-certtool $(BIN)/rxmpp-im
UNIT_RUNNER := $(BUILD)/tests/unit-tests
# A fuzz target is tests/fuzz/fuzz_NAME.c with its seeds in
# tests/fuzz/corpus/NAME/; adding one is adding its NAME here.
FUZZ_TARGETS := stream config route relay elector ipc sasl accounts callbridges election jidprep \
	machine wire4 logstore roster offline journal
FUZZ_SECONDS ?= 60
# Or stop each target after this many inputs (-1: no limit).
FUZZ_RUNS ?= -1
# What the unit tests and fuzz targets may link: every library.
TEST_LIBS := $(call lib,$(LIB_DIRS))
TEST_LDLIBS = $(YAML_LIBS) $(SSL_LIBS) $(EXPAT_LIBS) $(MNL_LIBS) $(IDN_LIBS) $(MHD_LIBS) -lresolv

.PHONY: version-stamp all check conformance conformance-check names-check licence-check unit integration upgrade-test package-tests fuzz-replay fuzz run bench bench-peers deps-build \
	deps-test \
	deps-fuzz deps-package format format-check clean install deb rpm
.DEFAULT_GOAL := all

all: $(PROGRAMS)

# RXMPP_VERSION is compiled in: every object is made again when VERSION
# changes, which $(BUILD)/version records (written only then).
$(BUILD)/obj/%.o: %.c $(BUILD)/version
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/version: version-stamp
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = "$(VERSION)" ] || echo "$(VERSION)" >$@

version-stamp:

# Objects reached only through pattern rules (the fuzz targets') stay.
.PRECIOUS: $(BUILD)/obj/%.o

$(BUILD)/obj/tests/unit/%.o: CFLAGS += $(CHECK_CFLAGS)

# The folder is a prerequisite too: a file moved or removed changes its
# time, so the library is made again without that file's object.
$(foreach d,$(LIB_DIRS),$(eval \
	$(call lib,$(d)): $(d) $(call obj,$(filter-out $(MAINS),$(wildcard $(d)/*.c)))))
$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	rm -f $@; $(AR) rcs $@ $(filter %.o,$^)

# The elector's library for the state machine's encoding and the node id
# (supervisor_settings.c).
$(BIN)/rxmppd: $(call obj,supervisor/rxmppd.c) $(call lib,supervisor elector config common)
	$(LINK) $(YAML_LIBS) $(MNL_LIBS) $(CRYPTO_LIBS) $(IDN_LIBS) $(MHD_LIBS)

# rxmppctl has a folder of its own and no library: nothing else links it.
$(BIN)/rxmppctl: $(call obj,$(wildcard rxmppctl/*.c)) $(call lib,elector certtool config common)
	$(LINK) $(YAML_LIBS) $(SSL_LIBS) $(IDN_LIBS) -lresolv

$(BIN)/rxmpp-listener: $(call obj,listener/listener_main.c) $(call lib,listener common)
	$(LINK) $(SSL_LIBS) $(EXPAT_LIBS) $(IDN_LIBS)

$(BIN)/rxmpp-router: $(call obj,router/router_main.c) $(call lib,router common)
	$(LINK) $(SSL_LIBS)

# The elector's library for the encoding of the users' data commands and
# their default quotas; expat to parse the stanzas the router hands over.
$(BIN)/rxmpp-im: $(call obj,im/im_main.c) $(call lib,im elector config common)
	$(LINK) $(YAML_LIBS) $(SSL_LIBS) $(EXPAT_LIBS) $(IDN_LIBS)

# libidn: the state machine keeps account names in their nodeprep form.
# config: a join carries the node's settings that must agree
# (config_cluster_wide), which the leader checks before the membership changes.
$(BIN)/rxmpp-elector: $(call obj,elector/elector_main.c) $(call lib,elector config common)
	$(LINK) $(YAML_LIBS) $(SSL_LIBS) $(IDN_LIBS)

$(BIN)/rxmpp-certworker: $(call obj,certtool/certworker_main.c) $(call lib,certtool common)
	$(LINK) $(SSL_LIBS)

$(BIN)/rxmpp-certtool: $(call obj,certtool/certtool_main.c) $(call lib,certtool common)
	$(LINK) $(CRYPTO_LIBS)

$(UNIT_RUNNER): $(call obj,$(wildcard tests/unit/*.c)) $(TEST_LIBS)
	$(LINK) $(TEST_LDLIBS) $(CHECK_LIBS)

# The benchmark load generator (make bench; docs/PERFORMANCE.md).
$(BUILD)/tests/rxmpp-load: $(call obj,$(wildcard tests/bench/*.c)) $(call lib,common)
	$(LINK) $(SSL_LIBS) $(EXPAT_LIBS)

# The fuzz targets' corpora replay in `make check` through a plain driver;
# `make fuzz` links the same target with libFuzzer.
$(BUILD)/tests/replay-%: $(call obj,tests/fuzz/replay.c) $(BUILD)/obj/tests/fuzz/fuzz_%.o $(TEST_LIBS)
	$(LINK) $(TEST_LDLIBS)

$(BUILD)/tests/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(TEST_LIBS)
	$(LINK) -fsanitize=fuzzer $(TEST_LDLIBS)

# Dependencies first, as separate make runs, so that pkg-config flags are
# read after the packages are there.
check: deps-test
	$(MAKE) --no-print-directory format-check licence-check
	$(MAKE) --no-print-directory names-check unit fuzz-replay integration conformance-check

# Every name a process exports carries its prefix and is defined once
# (scripts/check-names.sh says the rule).
names-check: $(PROGRAMS) $(call lib,im)
	@scripts/check-names.sh $(BUILD)

# The SPDX identifier at the top of every source file (LICENSE, the MIT licence).
licence-check:
	@scripts/check-licence.sh

# Build, lint, install, upgrade and purge the Debian package (and build the
# RPM).  They change the machine, so they are not part of `make check`, run
# only as root and undo it all; CI (.ci/run) runs them after `make check`.
package-tests:
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "package tests: SKIP (they install a package: run make package-tests as root)"; \
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
# of each corpus: the whole build again with clang (FUZZ=1) in build-fuzz/,
# where new finds and crash files stay (copy good ones to tests/fuzz/corpus/).
ifeq ($(FUZZ),1)
fuzz: $(foreach t,$(FUZZ_TARGETS),$(BUILD)/tests/fuzz-$(t))
	@for t in $(FUZZ_TARGETS); do \
		rm -rf $(BUILD)/corpus-$$t; cp -r tests/fuzz/corpus/$$t $(BUILD)/corpus-$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		$(BUILD)/tests/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) -max_len=65536 \
			-artifact_prefix=$(BUILD)/ $(BUILD)/corpus-$$t || exit 1; \
	done
else
fuzz: deps-fuzz
	$(MAKE) --no-print-directory FUZZ=1 fuzz
endif

unit: $(UNIT_RUNNER)
	cd tests/unit && CK_DEFAULT_TIMEOUT=60 ../../$(UNIT_RUNNER)

integration: $(PROGRAMS) $(BUILD)/tests/rxmpp-load
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -p no:cacheprovider \
		-o console_output_style=classic tests/integration

# Not in make check (it builds a second tree): tests/upgrade/test_upgrade.py.
upgrade-test: $(PROGRAMS)
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -p no:cacheprovider \
		-o console_output_style=classic tests/upgrade

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

# The scripted conversations (tests/conformance/README.md): the matcher's and
# the runner's own tests, then the scripts rxmpp has the features for (rxmpp.features), against
# one node; seconds.
CONFORMANCE := tests/conformance
conformance-check: $(PROGRAMS)
	/usr/bin/python3 -m pytest -p no:cacheprovider -q $(CONFORMANCE)/test_conversation.py \
		$(CONFORMANCE)/test_runner.py
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 $(CONFORMANCE)/run.py --server rxmpp --expected

# Every script against Debian's Prosody (the oracle: it proves the scripts)
# and against rxmpp, one node and a 3-node cluster with the clients spread
# over it; a table and the first difference of each script on which they
# differ (tests/conformance/DIFFERENCES.md says why).
conformance: deps-test
	scripts/ensure-deps.sh conformance
	$(MAKE) --no-print-directory all
	/usr/bin/python3 -m pytest -p no:cacheprovider -q $(CONFORMANCE)/test_conversation.py \
		$(CONFORMANCE)/test_runner.py
	RXMPP_BUILD=$(abspath $(BUILD)) /usr/bin/python3 $(CONFORMANCE)/run.py --server prosody \
		--server rxmpp --server rxmpp3

run: deps-build
	$(MAKE) --no-print-directory all
	scripts/run-local.sh $(BUILD)

deps-build:
	@scripts/ensure-deps.sh build

# xmpp.js for the stream-management tests: from npm, exactly as the
# lockfile pins it, installed again only when the lockfile changes.
XMPPJS := tests/integration/xmppjs
deps-test:
	@scripts/ensure-deps.sh test
	@if [ ! -e $(XMPPJS)/node_modules/.package-lock.json ] || \
	    [ $(XMPPJS)/package-lock.json -nt $(XMPPJS)/node_modules/.package-lock.json ]; then \
		command -v npm >/dev/null || { echo "npm is needed (Debian package npm)" >&2; exit 1; }; \
		cd $(XMPPJS) && npm ci --no-audit --no-fund; \
	fi

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
		$(BIN)/rxmpp-certworker $(BIN)/rxmpp-im $(DESTDIR)$(LIBEXECDIR)
	install -m 0644 packaging/man/rxmpp-certtool.1 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 packaging/man/rxmpp.yaml.5 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 packaging/man/rxmppd.8 packaging/man/rxmppctl.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 packaging/bash-completion/rxmppctl \
		packaging/bash-completion/rxmpp-certtool $(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 packaging/systemd/rxmpp.service $(DESTDIR)$(UNITDIR)
	install -m 0644 packaging/rxmpp.yaml $(DESTDIR)$(SYSCONFDIR)/rxmpp/rxmpp.yaml
	install -m 0644 packaging/callbridges.yaml $(DESTDIR)$(DATADIR)/callbridges.yaml
	# The commented example as shipped, for when /etc/rxmpp/rxmpp.yaml is edited.
	install -m 0644 packaging/rxmpp.yaml $(DESTDIR)$(DATADIR)/rxmpp.yaml

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
