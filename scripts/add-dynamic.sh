#!/usr/bin/env bash
# add-dynamic.sh: the initrd additions that run a dynamically linked host
# program in the kernel: the program, every library `ldd` names and the
# program interpreter (its PT_INTERP), each at its host path.
#
#   scripts/add-dynamic.sh PROG...        print HOST:DEST words, one a line
#   make run INITRD_ADD_DYNAMIC=/usr/bin/prog   (the Makefile passes them to
#                                         `boot run --initrd-add`)
#
# PROG is a path or a name looked up in PATH. DEST is the host path without
# its leading '/' (the file's contents: symbolic links are followed, so
# /lib64/ld-linux-x86-64.so.2 is a regular file in the initrd). The
# kernel's loaders find the libraries in their default directories (glibc's
# /lib/x86_64-linux-gnu without /etc/ld.so.cache, musl's /lib); libraries a
# program dlopen()s itself are not in ldd's list (add them with
# INITRD_ADD=HOST:DEST). Statically linked programs are added alone.
#
# Example: make run INITRD_ADD_DYNAMIC="/usr/bin/env /bin/ls"
#   then at the shell: /usr/bin/env, /bin/ls /

set -euo pipefail

[[ $# -gt 0 ]] || { echo "usage: $0 PROG..." >&2; exit 2; }
declare -A seen=()
emit() {
	local path=$1
	[[ -n ${seen[$path]:-} ]] && return
	seen[$path]=1
	[[ -e $path ]] || { echo "add-dynamic: $path: no such file" >&2; exit 1; }
	echo "$path:${path#/}"
}
for prog in "$@"; do
	if [[ $prog != */* ]]; then
		prog=$(command -v "$prog") || { echo "add-dynamic: $1: not found in PATH" >&2; exit 1; }
	fi
	emit "$prog"
	interp=$(readelf -lW "$prog" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
	[[ -n $interp ]] || continue
	emit "$interp"
	# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and
	# "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso.so.1 has no file.
	while read -r lib; do
		emit "$lib"
	done < <(ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
done
