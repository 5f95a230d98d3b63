#!/usr/bin/env bash
# add-dynamic.sh: the initrd additions that run a dynamically linked host
# program in the kernel: the program, every library `ldd` names and the
# program interpreter (its PT_INTERP), each at its host path.
#
#   scripts/add-dynamic.sh PROG...        print HOST:DEST words, one a line
#   make run INITRD_ADD_DYNAMIC=/usr/bin/prog   (the Makefile passes them to
#                                         `boot run --initrd-add`)
#
# PROG is a path or a name looked up in PATH. The libraries are the ones
# `ldd` names (the interpreter's `--list`, which glibc's and musl's loaders
# both take). DEST is the host path without its leading '/'; a relative
# path (a program given as one, a library found through its RUNPATH) goes
# to bin/NAME or lib/NAME. Symbolic links are followed: the initrd gets the
# contents (/lib64/ld-linux-x86-64.so.2 is a regular file there). The
# kernel's loaders find the libraries in their default directories
# (glibc's /lib/x86_64-linux-gnu without /etc/ld.so.cache, musl's /lib);
# libraries a program dlopen()s itself are not in the list (add them with
# INITRD_ADD=HOST:DEST). A statically linked program is added alone; a
# missing library is an error.
#
# Example: make run INITRD_ADD_DYNAMIC="/usr/bin/env /bin/ls"
#   then at the shell: /usr/bin/env, /bin/ls /

set -euo pipefail

[[ $# -gt 0 ]] || { echo "usage: $0 PROG..." >&2; exit 2; }
declare -A seen=()
# emit PATH DIR: an absolute PATH goes to the same place, a relative one
# to DIR/NAME.
emit() {
	local path=$1 dest
	[[ -n ${seen[$path]:-} ]] && return
	seen[$path]=1
	[[ -e $path ]] || { echo "add-dynamic: $path: no such file" >&2; exit 1; }
	if [[ $path == /* ]]; then dest=${path#/}; else dest=$2/$(basename "$path"); fi
	echo "$path:$dest"
}
for prog in "$@"; do
	if [[ $prog != */* ]]; then
		prog=$(command -v "$prog") || { echo "add-dynamic: $1: not found in PATH" >&2; exit 1; }
	fi
	emit "$prog" bin
	interp=$(readelf -lW "$prog" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
	[[ -n $interp ]] || continue
	emit "$interp" lib
	# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and
	# "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso.so.1 has no file.
	# What ldd prints: the interpreter's own list (glibc's and musl's both
	# take --list).
	libs=$("$interp" --list "$prog") || { echo "add-dynamic: $interp --list $prog failed" >&2; exit 1; }
	if grep -q 'not found' <<<"$libs"; then
		echo "add-dynamic: $prog: $(grep 'not found' <<<"$libs" | tr -s '\t\n' '  ')" >&2
		exit 1
	fi
	while read -r lib; do
		emit "$lib" lib
	done < <(awk '$2 == "=>" && $3 != "not" { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs")
done
