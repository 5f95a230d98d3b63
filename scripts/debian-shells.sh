#!/usr/bin/env bash
# Debian's static shells, bash-static and busybox-static, for the QEMU
# matrix's bash and ash lines (tests/shells/, issue 12), and the check of
# their expected output against this host's Linux.
#
#   scripts/debian-shells.sh fetch    put bin/bash and bin/busybox into
#                                     target/debian-shells/ (once: a second
#                                     run, or an offline one once cached,
#                                     finds them there)
#   scripts/debian-shells.sh check    run every tests/shells/NAME.sh with
#                                     both binaries on this host through
#                                     tests/shells/check.sh, which compares
#                                     the output with NAME.bash.txt and
#                                     NAME.ash.txt; fails on a difference
#   scripts/debian-shells.sh expect   rewrite those texts from this host's
#                                     run (then read the diff before
#                                     committing it)
#
# The packages come from the Debian archive through `apt-get download`
# (the candidate version of this host's sources), as bench-mm.sh gets
# Debian's Linux; as root, a failed download is retried after
# `apt-get update`. External commands in the scripts are busybox applets,
# found through PATH (target/debian-shells/bin first).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=target/debian-shells
BIN=$CACHE/bin
TESTS=tests/shells
# package, path in the package, name in $BIN
PACKAGES=("bash-static ./bin/bash-static bash" "busybox-static ./bin/busybox busybox")

download() {
	local dir=$1
	shift
	(cd "$dir" && apt-get download "$@" > /dev/null 2>&1) && return 0
	if [ "$(id -u)" = 0 ]; then
		echo "debian-shells: apt-get download failed; running apt-get update" >&2
		apt-get update -qq > /dev/null 2>&1 && (cd "$dir" && apt-get download "$@" > /dev/null 2>&1) && return 0
	fi
	return 1
}

fetch() {
	local entry pkg member name missing=()
	for entry in "${PACKAGES[@]}"; do
		read -r pkg member name <<< "$entry"
		[ -x "$BIN/$name" ] || missing+=("$entry")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	command -v apt-get > /dev/null && command -v dpkg-deb > /dev/null || {
		echo "debian-shells: apt-get and dpkg-deb are needed to fetch ${missing[*]%% *}" >&2
		return 1
	}
	local tmp
	tmp=$(mktemp -d "$CACHE.XXXXXX")
	trap 'rm -rf "$tmp"' RETURN
	mkdir -p "$BIN"
	for entry in "${missing[@]}"; do
		read -r pkg member name <<< "$entry"
		echo "debian-shells: apt-get download $pkg" >&2
		download "$tmp" "$pkg" || {
			echo "debian-shells: cannot download $pkg (no network, or no Debian archive in the apt sources)" >&2
			return 1
		}
		dpkg-deb --fsys-tarfile "$tmp/${pkg}"_*.deb | tar -xO "$member" > "$tmp/$name"
		chmod 755 "$tmp/$name"
		mv "$tmp/$name" "$BIN/$name"
	done
}

# Run every script with each shell; with `expect`, write the texts.
run_all() {
	local mode=$1 script name sh failed=0
	local top=$PWD
	export PATH="$top/$BIN:$PATH"
	for script in "$TESTS"/*.sh; do
		name=$(basename "$script" .sh)
		[ "$name" != check ] || continue
		for sh in bash ash; do
			local cmd=("$top/$BIN/bash")
			[ $sh = bash ] || cmd=("$top/$BIN/busybox" ash)
			local want="$top/$TESTS/$name.$sh.txt"
			if [ "$mode" = expect ]; then
				(cd / && "${cmd[@]}" "$top/$script" > "$want" 2>&1) || true
				echo "debian-shells: wrote $want ($(wc -l < "$want") lines)"
			elif (cd / && "${cmd[@]}" "$top/$TESTS/check.sh" "$top/$script" "$want" "${cmd[@]}") > "$CACHE/$name.$sh.log"; then
				echo "debian-shells: $name under $sh: as expected ($(wc -l < "$want") lines)"
			else
				echo "debian-shells: $name under $sh differs from $want:" >&2
				cat "$CACHE/$name.$sh.log" >&2
				failed=1
			fi
		done
	done
	return $failed
}

case ${1:-} in
fetch) fetch ;;
check) fetch && run_all check ;;
expect) fetch && run_all expect ;;
*)
	echo "usage: $0 fetch|check|expect" >&2
	exit 2
	;;
esac
