#!/bin/sh
# SPDX-License-Identifier: MIT
# The names rule of docs/STYLE (issue 14): every function or variable that
# a process's code exports carries that process's prefix, so that grep finds
# one definition and no name means two things in two processes.  Process
# folders: listener/, router/, elector/, supervisor/, rxmppctl/, im/ export only
# FOLDER_*; certtool/ holds two programs and their certificate library, so
# there a file exports only the first word of its name (certtool_*,
# certworker_*, cert_*).  The libraries common/ and config/ are shared by
# several programs and keep their module prefixes; across the whole tree no
# name may be defined twice.  Reads the objects of a build: BUILD (default
# build) after `make all`.
set -eu
build=${1:-build}
symbols=$(mktemp)
trap 'rm -f "$symbols"' EXIT
status=0
for obj in "$build"/obj/listener/*.o "$build"/obj/router/*.o "$build"/obj/elector/*.o \
	"$build"/obj/supervisor/*.o "$build"/obj/rxmppctl/*.o "$build"/obj/certtool/*.o \
	"$build"/obj/im/*.o \
	"$build"/obj/common/*.o "$build"/obj/config/*.o; do
	[ -e "$obj" ] || continue
	folder=$(basename "$(dirname "$obj")")
	file=$(basename "$obj" .o)
	case $folder in
	certtool) prefix=${file%%_*}_ ;;
	common | config) prefix= ;;
	*) prefix=${folder}_ ;;
	esac
	# Names the compiler makes (AddressSanitizer's __odr_asan.*) are not ours.
	for name in $(nm -g --defined-only "$obj" |
		awk 'NF == 3 && $2 ~ /^[TDBRC]$/ && $3 !~ /^__/ { print $3 }'); do
		echo "$name $folder/$file.c" >>"$symbols"
		[ "$name" = main ] && continue
		if [ -n "$prefix" ] && [ "${name#"$prefix"}" = "$name" ]; then
			echo "names: $folder/$file.c exports '$name' without the prefix '$prefix'"
			status=1
		fi
	done
done
dups=$(grep -v '^main ' "$symbols" | sort | awk '{ n[$1]++; w[$1] = w[$1] " " $2 } END { for (s in n) if (n[s] > 1) print s ":" w[s] }')
if [ -n "$dups" ]; then
	echo "names: defined more than once:"
	echo "$dups"
	status=1
fi
count=$(grep -vc '^main ' "$symbols" || true)
if [ $status -eq 0 ]; then
	echo "names: $count exported names, each with its process's prefix and defined once"
fi
exit $status
