#!/bin/sh
# Installs the Debian packages rxmpp needs: "build" for building, "test" for
# building and testing, "fuzz" for the libFuzzer targets, "package" for
# building and checking the Debian package and the RPM.  As root it runs
# apt-get; otherwise it prints the exact command to run and fails, changing
# nothing.
set -eu

BUILD_PACKAGES="gcc make pkg-config libssl-dev libexpat1-dev libyaml-dev libmnl-dev openssl"
TEST_PACKAGES="check python3 python3-pytest python3-slixmpp python3-cryptography clang-format iproute2 dnsmasq-base"
FUZZ_PACKAGES="clang libclang-rt-dev"
PACKAGE_PACKAGES="dpkg-dev debhelper lintian rpm systemd adduser"

case "${1:-}" in
build) wanted="$BUILD_PACKAGES" ;;
test) wanted="$BUILD_PACKAGES $TEST_PACKAGES" ;;
fuzz) wanted="$BUILD_PACKAGES $FUZZ_PACKAGES" ;;
package) wanted="$BUILD_PACKAGES $PACKAGE_PACKAGES" ;;
*)
	echo "usage: $0 build|test|fuzz|package" >&2
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
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
