#!/usr/bin/env bash
# Memory-syscall benchmarks of one user program, /bin/b_mm (user/c/b_mm.c),
# run three ways and printed side by side:
#
#   host         the program on this machine's Linux, natively
#   linux-qemu   Debian's Linux 6.1 kernel in QEMU (same TCG, memory, CPU
#                model as ours), b_mm as its /init
#   mmkernel     this kernel in QEMU, b_mm as init
#
# The two QEMU columns are the fair comparison (same emulator); the host
# column shows what emulation costs. b_mm prints `bench NAME NS_PER_OP N`.
# Both QEMU columns are measured once per CPU count in BENCH_SMP (default
# "1 2 4": multi-threaded TCG gives each virtual CPU a host thread), one
# table each; the parallel-fault and shootdown lines are the ones that
# change with it.
#
# Linux comes from Debian's archive (`apt-get download` of the package
# linux-image-amd64 depends on); without it the column says "n/a".
# Usage: scripts/bench-mm.sh [BOOT_TOOL] [KERNEL_ELF]
set -euo pipefail
cd "$(dirname "$0")/.."

BOOT=${1:-target/release/boot}
KERNEL=${2:-target/x86_64-unknown-none/release/kernel}
ROOTFS=user/build/rootfs
PROG=$ROOTFS/bin/b_mm
WORK=target/bench-mm
MEM=${BENCH_MEM:-512M}
SMPS=${BENCH_SMP:-1 2 4}
mkdir -p "$WORK"

[ -x "$PROG" ] || { echo "bench-mm: $PROG missing (make user)" >&2; exit 1; }

extract() { grep -a '^bench ' | awk '{print $2, $3}' | tr -d '\r'; }

echo "bench-mm: host" >&2
"$PROG" | extract > "$WORK/host.txt"

linux_kernel() {
	local dir=$WORK/linux
	local vmlinuz
	vmlinuz=$(ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -1 || true)
	if [ -z "$vmlinuz" ]; then
		command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
		local pkg
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		[ -n "$pkg" ] || return 1
		mkdir -p "$dir"
		(cd "$dir" && apt-get download "$pkg" >/dev/null 2>&1) || return 1
		dpkg-deb --fsys-tarfile "$dir"/"$pkg"_*.deb | tar -x -C "$dir" ./boot/ || return 1
		rm -f "$dir"/*.deb
		vmlinuz=$(ls "$dir"/boot/vmlinuz-* | head -1)
	fi
	echo "$vmlinuz"
}

value() { awk -v n="$1" '$1 == n {print $2}' "$2"; }

vmlinuz=$(linux_kernel) || { echo "bench-mm: no Linux kernel package reachable; its column says n/a" >&2; vmlinuz=; }
[ -z "$vmlinuz" ] || "$BOOT" initrd --out "$WORK/linux-initrd.cpio" --initrd-add "$PROG:/init" >/dev/null

for smp in $SMPS; do
	echo "bench-mm: mmkernel in QEMU (TCG, $MEM, $smp CPUs)" >&2
	"$BOOT" run --kernel "$KERNEL" --mem "$MEM" --smp "$smp" --initrd-dir "$ROOTFS" \
		--cmdline "init=/bin/b_mm exit_on_init" --timeout 900 2>&1 | extract > "$WORK/mmkernel-$smp.txt" || true

	: > "$WORK/linux-$smp.txt"
	if [ -n "$vmlinuz" ]; then
		echo "bench-mm: Linux in QEMU (TCG, $MEM, $smp CPUs)" >&2
		timeout 900 qemu-system-x86_64 -machine q35 -cpu max -accel tcg -smp "$smp" -m "$MEM" \
			-nographic -no-reboot -kernel "$vmlinuz" -initrd "$WORK/linux-initrd.cpio" \
			-append "console=ttyS0 quiet rdinit=/init panic=-1" 2>&1 | extract > "$WORK/linux-$smp.txt" || true
	fi

	printf '\n%-28s %12s %12s %12s %10s\n' "b_mm (ns/op), $smp CPU(s)" host linux-qemu mmkernel "mm/linux"
	for name in $(awk '{print $1}' "$WORK/host.txt" "$WORK/mmkernel-$smp.txt" | awk '!seen[$0]++'); do
		h=$(value "$name" "$WORK/host.txt")
		l=$(value "$name" "$WORK/linux-$smp.txt")
		m=$(value "$name" "$WORK/mmkernel-$smp.txt")
		ratio=n/a
		if [ -n "$l" ] && [ -n "$m" ] && [ "$l" != 0 ]; then ratio=$(awk -v a="$m" -v b="$l" 'BEGIN {printf "%.2f", a / b}'); fi
		printf '%-28s %12s %12s %12s %10s\n' "$name" "${h:-n/a}" "${l:-n/a}" "${m:-n/a}" "$ratio"
	done
done
