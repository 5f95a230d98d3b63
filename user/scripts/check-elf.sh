#!/usr/bin/env bash
# check-elf.sh: every program in the rootfs is what the kernel's ELF loader
# expects: ELF64, x86-64, static (no PT_INTERP, so no dynamic loader), type
# EXEC, except hello-pie, which must be DYN (static-pie).
#
#   scripts/check-elf.sh ROOTFS/bin

set -u
bin=${1:?usage: check-elf.sh BINDIR}
bad=0
printf '%-12s %-5s %-5s %-18s %s\n' program class type entry "PT_LOAD count"
for f in "$bin"/*; do
	name=$(basename "$f")
	hdr=$(readelf -hlW "$f" 2>&1) || { echo "$name: not an ELF file"; bad=1; continue; }
	class=$(awk -F: '/^ *Class:/ { gsub(/ /, "", $2); print $2 }' <<<"$hdr")
	type=$(awk '/^ *Type:/ { print $2; exit }' <<<"$hdr")
	machine=$(awk -F: '/^ *Machine:/ { print $2 }' <<<"$hdr")
	entry=$(awk '/^ *Entry point address:/ { print $4 }' <<<"$hdr")
	loads=$(grep -c '^ *LOAD ' <<<"$hdr")
	printf '%-12s %-5s %-5s %-18s %s\n' "$name" "$class" "$type" "$entry" "$loads"
	want=EXEC
	[[ $name == hello-pie ]] && want=DYN
	[[ $class == ELF64 ]] || { echo "  $name: class $class, want ELF64"; bad=1; }
	[[ $machine == *X86-64* ]] || { echo "  $name: machine$machine, want X86-64"; bad=1; }
	[[ $type == "$want" ]] || { echo "  $name: type $type, want $want"; bad=1; }
	if grep -q '^ *INTERP ' <<<"$hdr"; then
		echo "  $name: has PT_INTERP (dynamically linked)"
		bad=1
	fi
done
if [[ $bad -ne 0 ]]; then
	echo "check-elf: FAILED"
	exit 1
fi
echo "check-elf: all programs are static x86-64 ELF64 (hello-pie DYN, the rest EXEC)"
