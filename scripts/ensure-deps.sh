#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages rxmpp needs: "build" for building, "test" for
# building and testing, "fuzz" for the libFuzzer targets, "package" for
# building and checking the Debian package and the RPM, "peers" for the
# servers make bench-peers measures beside rxmpp, "conformance" for the
# server make conformance compares rxmpp with (nodejs, in "test", runs
# xmpp.js, which `make deps-test` installs from npm as its lockfile pins it).
# As root it runs apt-get; otherwise it prints the exact command to run and
# fails, changing nothing.
set -eu

BUILD_PACKAGES="gcc make pkg-config libssl-dev libexpat1-dev libyaml-dev libmnl-dev libidn-dev libmicrohttpd-dev openssl"
# gdb: test_userdata_merge.py stops rxmppctl at an exact point of a merge;
# test_im_elector_gate.py makes a running im send what a subverted one would.
# prometheus: its promtool checks the metrics endpoint's output (test_metrics.py).
TEST_PACKAGES="prometheus check python3 python3-pytest python3-slixmpp go-sendxmpp python3-cryptography clang-format iproute2 nftables dnsmasq-base nodejs gdb"
FUZZ_PACKAGES="clang libclang-rt-dev"
PACKAGE_PACKAGES="dpkg-dev debhelper lintian rpm systemd adduser"
# The servers make bench-peers compares with; their system services are not
# started (policy-rc.d below) and the benchmark runs its own instances.
PEER_PACKAGES="prosody ejabberd jabberd2"
# make conformance: Prosody is the oracle the scripted conversations are
# checked against (tests/conformance/README.md); only that target needs it.
CONFORMANCE_PACKAGES="prosody"

case "${1:-}" in
build) wanted="$BUILD_PACKAGES" ;;
test) wanted="$BUILD_PACKAGES $TEST_PACKAGES" ;;
fuzz) wanted="$BUILD_PACKAGES $FUZZ_PACKAGES" ;;
package) wanted="$BUILD_PACKAGES $PACKAGE_PACKAGES" ;;
peers) wanted="$PEER_PACKAGES" ;;
conformance) wanted="$CONFORMANCE_PACKAGES" ;;
*)
	echo "usage: $0 build|test|fuzz|package|peers|conformance" >&2
	exit 2
	;;
esac

missing=""
for package in $wanted; do
	status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $package" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "rxmpp needs these Debian packages:$missing" >&2
	echo "Install them with:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Installing a server must not start its system service: the benchmarks
# run their own instances, and a service would hold the standard ports.
made_policy=""
if { [ "$1" = peers ] || [ "$1" = conformance ]; } && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	made_policy=yes
fi
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
