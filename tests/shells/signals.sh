# Signals, traps, job control and the rest of a shell's daily work, for
# issue 12: run by check.sh under Debian's bash-static and busybox ash, its
# output (stdout and stderr) compared line by line with the text the same
# binary printed on Linux (signals.bash.txt, signals.ash.txt). Nothing it
# prints may depend on pids or timing. External commands are busybox
# applets (`busybox sleep`), so the bash run needs /bin/busybox too.

echo "start"

# Arithmetic, functions, loops, case.
fact() {
	local n=$1 r=1
	while [ "$n" -gt 1 ]; do
		r=$((r * n))
		n=$((n - 1))
	done
	echo "$r"
}
echo "fact 10 = $(fact 10)"
sum=0
for x in 1 2 3 4 5; do sum=$((sum + x * x)); done
echo "sum of squares $sum, hex $((0x1f)), shift $((1 << 10)), mod $((-7 % 3))"
i=0
until [ $i -ge 4 ]; do i=$((i + 1)); done
echo "until: i=$i"
for w in apple kiwi 42; do
	case $w in
	a*) echo "case: $w starts with a" ;;
	[0-9]*) echo "case: $w is a number" ;;
	*) echo "case: $w is something else" ;;
	esac
done

# Redirections.
echo "hidden" > /dev/null
echo "to /dev/null: $?"
no_such_command_here 2> /dev/null
echo "command not found: $?"
{ echo "to stderr" 1>&2; } 2> /dev/null
echo "group to /dev/null: $?"

# Subshells.
x=1
(x=2; echo "in subshell x=$x")
echo "after subshell x=$x"
(exit 3)
echo "subshell exit $?"
(trap 'echo "subshell EXIT trap"' EXIT; echo "in trapping subshell")

# Pipelines and command substitution.
echo "a b c" | { read p q r; echo "read from a pipe: $q"; }
false | true
echo "pipeline status $?"
true | false
echo "pipeline status $?"
echo "one two three" | { read a b; echo "$b"; } | { read c d; echo "pipe of pipes: $d"; }
two=$(echo first; echo second)
echo "substitution: $two"
echo "nested: $(echo "$(echo deep)")"
v=$(echo out; exit 5)
echo "assignment from a substitution: $? ($v)"
n=$(i=0; while [ $i -lt 100 ]; do echo line; i=$((i + 1)); done | busybox wc -l)
echo "100 lines through wc: $n"

# read from a here-document, and read -t that times out on a silent pipe.
while read num name; do
	echo "here-doc: $name is $num"
done << END
1 one
2 two
END
busybox sleep 2 | {
	read -t 0.1 v
	st=$?
	echo "read -t on a silent pipe: status $st, value '$v'"
}

# Traps: a shell sends itself signals.
trap 'echo "USR1 trapped"' USR1
kill -USR1 $$
echo "after kill -USR1 \$\$"
trap 'echo "INT trapped"' INT
kill -INT $$
echo "after kill -INT \$\$"
trap 'echo "TERM trapped"' TERM
kill $$
echo "after kill \$\$"
trap - USR1 INT TERM
trap '' USR2
kill -USR2 $$
echo "USR2 ignored"
trap - USR2

# Background jobs and wait.
(exit 7) &
wait $!
echo "wait \$! of (exit 7) &: $?"
busybox sleep 10 &
pid=$!
kill $pid
wait $pid 2> /dev/null
echo "sleep killed by TERM: $?"
busybox sleep 10 &
kill -KILL $!
wait $! 2> /dev/null
echo "sleep killed by KILL: $?"
busybox sleep 10 &
kill %1
wait %1 2> /dev/null
echo "kill %1: $?"
busybox sleep 0.2 &
busybox sleep 0.1 &
wait
echo "wait for all: $?"
{ busybox sh -c 'kill -USR1 $$'; } 2> /dev/null
echo "child killed itself with USR1: $?"

# A trapped signal ends `wait` early with 128 + its number.
trap 'echo "USR2 trapped during wait"' USR2
busybox sleep 10 &
sleeper=$!
(busybox sleep 0.5; kill -USR2 $$) &
wait $sleeper
echo "wait interrupted: $?"
kill $sleeper
wait $sleeper 2> /dev/null
wait
trap - USR2

trap 'echo "EXIT trapped"' EXIT
echo "done"
