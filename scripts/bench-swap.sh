#!/usr/bin/env bash
# Swap benchmarks of one static program, /bin/b_swap (user/c/b_swap.c), as
# init of Debian's Linux kernel and of this kernel, both in the same QEMU
# (TCG, BENCH_SWAP_MEM of RAM, default 128M, one CPU) with the same fresh
# sparse virtio disk (BENCH_SWAP_DISK, default 640M) as the swap area.
# No host column: that would need a swap device on the host.
#
# b_swap prints `bench NAME VALUE N`, VALUE in the unit NAME ends with
# (MiB/s, ms, or pages for the pswpin/pswpout counters). Debian's kernel
# has virtio-blk as modules: they are taken from the same package as the
# kernel (target/bench-mm/linux, shared with bench-mm.sh) and loaded by
# b_swap (-m). mm/linux is mmkernel's value over Linux's: above 1 is
# better for MiB/s, worse for ms.
# Usage: scripts/bench-swap.sh [BOOT_TOOL] [KERNEL_ELF]
set -euo pipefail
cd "$(dirname "$0")/.."

BOOT=${1:-target/release/boot}
KERNEL=${2:-target/x86_64-unknown-none/release/kernel}
ROOTFS=user/build/rootfs
PROG=$ROOTFS/bin/b_swap
WORK=target/bench-swap
LINUX=target/bench-mm/linux
MEM=${BENCH_SWAP_MEM:-128M}
DISK_SIZE=${BENCH_SWAP_DISK:-640M}
# Load order (each after what it depends on).
MODS="virtio/virtio_ring virtio/virtio virtio/virtio_pci_modern_dev virtio/virtio_pci_legacy_dev virtio/virtio_pci block/virtio_blk"
mkdir -p "$WORK"

[ -x "$PROG" ] || { echo "bench-swap: $PROG missing (make user)" >&2; exit 1; }

extract() { grep -a '^bench ' | awk '{print $2, $3}' | tr -d '\r'; }
value() { awk -v n="$1" '$1 == n {print $2}' "$2"; }

fresh_disk() { rm -f "$WORK/disk.img"; truncate -s "$DISK_SIZE" "$WORK/disk.img"; }

# Debian's kernel and its virtio modules in $LINUX; prints the vmlinuz.
linux_kernel() {
	local vmlinuz mods
	vmlinuz=$(ls "$LINUX"/boot/vmlinuz-* 2>/dev/null | head -1 || true)
	mods=$(ls -d "$LINUX"/lib/modules/*/kernel/drivers/block 2>/dev/null | head -1 || true)
	if [ -z "$vmlinuz" ] || [ -z "$mods" ]; then
		command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
		local pkg
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
		[ -n "$pkg" ] || return 1
		mkdir -p "$LINUX"
		(cd "$LINUX" && apt-get download "$pkg" >/dev/null 2>&1) || return 1
		dpkg-deb --fsys-tarfile "$LINUX"/"$pkg"_*.deb |
			tar -x -C "$LINUX" --wildcards ./boot/ './lib/modules/*/kernel/drivers/virtio/*.ko' \
				'./lib/modules/*/kernel/drivers/block/virtio_blk.ko' || return 1
		rm -f "$LINUX"/*.deb
		vmlinuz=$(ls "$LINUX"/boot/vmlinuz-* | head -1)
	fi
	echo "$vmlinuz"
}

echo "bench-swap: mmkernel in QEMU (TCG, $MEM, swap on a $DISK_SIZE virtio disk)" >&2
fresh_disk
"$BOOT" run --kernel "$KERNEL" --mem "$MEM" --disk "$WORK/disk.img" --initrd-dir "$ROOTFS" \
	--cmdline "init=/bin/b_swap exit_on_init -- /dev/vda" --timeout 900 2>&1 | extract > "$WORK/mmkernel.txt" || true

: > "$WORK/linux.txt"
vmlinuz=$(linux_kernel) || { echo "bench-swap: no Linux kernel package reachable; its column says n/a" >&2; vmlinuz=; }
if [ -n "$vmlinuz" ]; then
	kdir=$(ls -d "$LINUX"/lib/modules/*/kernel/drivers | head -1)
	adds=(--initrd-add "$PROG:/bin/b_swap" --initrd-add "$ROOTFS/bin/mkswap:/bin/mkswap")
	args=""
	for m in $MODS; do
		adds+=(--initrd-add "$kdir/$m.ko:/lib/$(basename "$m").ko")
		args="$args -m /lib/$(basename "$m").ko"
	done
	"$BOOT" initrd --out "$WORK/linux-initrd.cpio" "${adds[@]}" >/dev/null
	echo "bench-swap: Linux in QEMU (TCG, $MEM, swap on a $DISK_SIZE virtio disk)" >&2
	fresh_disk
	timeout 900 qemu-system-x86_64 -machine q35 -cpu max -accel tcg -smp 1 -m "$MEM" \
		-nographic -no-reboot -kernel "$vmlinuz" -initrd "$WORK/linux-initrd.cpio" \
		-drive "file=$WORK/disk.img,if=virtio,format=raw" \
		-append "console=ttyS0 quiet rdinit=/bin/b_swap panic=-1 --$args /dev/vda" 2>&1 |
		extract > "$WORK/linux.txt" || true
fi
rm -f "$WORK/disk.img"

printf '\n%-28s %12s %12s %10s\n' "b_swap ($MEM RAM)" linux-qemu mmkernel "mm/linux"
for name in $(awk '{print $1}' "$WORK/mmkernel.txt" "$WORK/linux.txt" | awk '!seen[$0]++'); do
	l=$(value "$name" "$WORK/linux.txt")
	m=$(value "$name" "$WORK/mmkernel.txt")
	ratio=n/a
	if [ -n "$l" ] && [ -n "$m" ] && [ "$l" != 0 ]; then ratio=$(awk -v a="$m" -v b="$l" 'BEGIN {printf "%.2f", a / b}'); fi
	printf '%-28s %12s %12s %10s\n' "$name" "${l:-n/a}" "${m:-n/a}" "$ratio"
done
