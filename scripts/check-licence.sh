#!/bin/sh
# SPDX-License-Identifier: MIT
# rxmpp is released under the MIT licence (LICENSE): every source file names
# it with an SPDX identifier in its first lines (after a #! line), so that a
# file copied out of the tree still says what it may be used under.  Source
# files: C, Python and shell, the Makefile, CI, the packaging scripts and
# the man pages.  Lists the files that lack it and fails.
set -eu
status=0
for f in $(git ls-files '*.c' '*.h' '*.py' '*.sh' Makefile .ci/run 'packaging/man/*' \
	'packaging/debian/rules' 'packaging/debian/*.post*' 'packaging/bash-completion/*' \
	'packaging/rpm/*.spec'); do
	if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
		echo "$f: no 'SPDX-License-Identifier: MIT' in its first three lines" >&2
		status=1
	fi
done
[ $status -eq 0 ] && echo "licence-check: every source file carries its SPDX identifier"
exit $status
