#!/bin/sh
# SPDX-License-Identifier: MIT
# deb-changelog.sh VERSION CHANGELOG: makes VERSION the package version by
# putting an entry on top of the (copied) Debian changelog, unless it is the
# version there already.  `make deb DEB_VERSION=…` uses it to build a newer
# package of the same tree (the package tests upgrade to one).
set -eu
version=$1
changelog=$2
current=$(dpkg-parsechangelog -l "$changelog" -S Version)
[ "$current" = "$version" ] && exit 0
maintainer=$(dpkg-parsechangelog -l "$changelog" -S Maintainer)
{
	printf 'rxmpp (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Build of the source tree as version %s.\n\n' "$version"
	printf ' -- %s  %s\n\n' "$maintainer" "$(date -R)"
	cat "$changelog"
} >"$changelog.new"
mv "$changelog.new" "$changelog"
