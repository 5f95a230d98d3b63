#!/usr/bin/env bash
# host-test.sh: run user/tests.txt natively on the Linux host, with the same
# static binaries, arguments and environment the kernel's runner uses (the
# contract is at the top of tests.txt), and print a summary.
#
#   scripts/host-test.sh ROOTFS TESTS_TXT
#
# A run passes iff it exits 0 and prints no line containing FAILED; the
# script exits 1 if any run failed. Each run's output is shown as it comes.

set -u
set -f # test arguments are plain words: no globbing

rootfs=$(cd "${1:?usage: host-test.sh ROOTFS TESTS_TXT}" && pwd)
tests=${2:?usage: host-test.sh ROOTFS TESTS_TXT}
timeout_s=${HOST_TEST_TIMEOUT:-60}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

runs=0 passed=0
summary=()
while read -r -a words; do
	[[ ${#words[@]} -eq 0 || ${words[0]} == \#* ]] && continue
	prog=${words[0]}
	runs=$((runs + 1))
	echo "==> $prog ${words[*]:1}"
	timeout "$timeout_s" env -i TESTDATA="$rootfs/etc/testdata.txt" BINDIR="$rootfs/bin" FOO=bar \
		"$rootfs/bin/$prog" "${words[@]:1}" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	counts=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [[ $rc -eq 0 ]] && ! grep -q FAILED "$log"; then
		passed=$((passed + 1))
		verdict=ok
	else
		verdict=FAILED
		[[ $rc -ne 0 ]] && counts="exit status $rc${counts:+; $counts}"
		[[ $rc -eq 124 ]] && counts="timed out after ${timeout_s}s${counts:+; $counts}"
	fi
	summary+=("$(printf '  %-7s %-26s %s' "$verdict" "$prog ${words[*]:1}" "$counts")")
done <"$tests"

echo
echo "host-test summary ($tests):"
printf '%s\n' "${summary[@]}"
echo "host-test: $runs runs, $passed passed, $((runs - passed)) failed"
[[ $passed -eq $runs ]]
