# check.sh SCRIPT EXPECTED SHELL [ARG...]: run SCRIPT with SHELL (stdout
# and stderr together), show its output, and compare it line by line with
# the file EXPECTED. Exits 0 only if they match. A read that fails looks
# like the end of its file here, so the matrix lines also want the summary
# line with the number of lines. The QEMU matrix runs it
# as init (bash and busybox ash lines, exit_on_init) and
# scripts/debian-shells.sh runs it on the host with the same binaries.
script=$1
expected=$2
shift 2
"$@" "$script" 2>&1 | {
	exec 3< "$expected"
	n=0
	bad=0
	while IFS= read -r got; do
		n=$((n + 1))
		echo "$got"
		if ! IFS= read -r want <&3; then
			echo "check: line $n is extra (expected end of output)"
			bad=1
		elif [ "$got" != "$want" ]; then
			echo "check: line $n differs; expected: $want"
			bad=1
		fi
	done
	if IFS= read -r want <&3; then
		echo "check: output ended after $n lines; expected next: $want"
		bad=1
	fi
	if [ $n = 0 ]; then
		echo "check: no output at all (or read fails)"
		bad=1
	fi
	if [ $bad = 0 ]; then
		echo "check: $script: all $n lines as on Linux"
	else
		echo "check: $script: FAILED"
	fi
	exit $bad
}
