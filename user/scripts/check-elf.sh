#!/usr/bin/env bash
# check-elf.sh: every program in the rootfs is what the kernel's ELF loader
# expects: ELF64, x86-64, static (no PT_INTERP, so no dynamic loader), type
# EXEC, except hello-pie, which must be DYN (static-pie), and t_dynamic, the
# one dynamically linked program: DYN with PT_INTERP /lib/ld-musl-x86_64.so.1.
# With LIBDIR, its files must be exactly the shared objects t_dynamic uses
# (musl's loader, libtdyn.so, libtdlopen.so): ELF64 x86-64 DYN without
# PT_INTERP.
#
#   scripts/check-elf.sh ROOTFS/bin [ROOTFS/lib]

set -u
bin=${1:?usage: check-elf.sh BINDIR [LIBDIR]}
lib=${2:-}
bad=0
LOADER=/lib/ld-musl-x86_64.so.1

# check FILE WANT_TYPE WANT_INTERP (empty: none)
check() {
	local f=$1 want=$2 want_interp=$3 name hdr class type machine entry loads interp
	name=$(basename "$f")
	hdr=$(readelf -hlW "$f" 2>&1) || { echo "$name: not an ELF file"; bad=1; return; }
	class=$(awk -F: '/^ *Class:/ { gsub(/ /, "", $2); print $2 }' <<<"$hdr")
	type=$(awk '/^ *Type:/ { print $2; exit }' <<<"$hdr")
	machine=$(awk -F: '/^ *Machine:/ { print $2 }' <<<"$hdr")
	entry=$(awk '/^ *Entry point address:/ { print $4 }' <<<"$hdr")
	loads=$(grep -c '^ *LOAD ' <<<"$hdr")
	interp=$(sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p' <<<"$hdr")
	printf '%-20s %-5s %-5s %-18s %s\n' "$name" "$class" "$type" "$entry" "$loads"
	[[ $class == ELF64 ]] || { echo "  $name: class $class, want ELF64"; bad=1; }
	[[ $machine == *X86-64* ]] || { echo "  $name: machine$machine, want X86-64"; bad=1; }
	[[ $type == "$want" ]] || { echo "  $name: type $type, want $want"; bad=1; }
	if [[ $interp != "$want_interp" ]]; then
		echo "  $name: PT_INTERP '${interp}', want '${want_interp}' (only t_dynamic is dynamically linked)"
		bad=1
	fi
}

printf '%-20s %-5s %-5s %-18s %s\n' program class type entry "PT_LOAD count"
for f in "$bin"/*; do
	case $(basename "$f") in
	hello-pie) check "$f" DYN "" ;;
	t_dynamic) check "$f" DYN "$LOADER" ;;
	*) check "$f" EXEC "" ;;
	esac
done
if [[ -n $lib ]]; then
	want="ld-musl-x86_64.so.1 libtdlopen.so libtdyn.so"
	have=$(cd "$lib" && ls | sort | tr '\n' ' ')
	[[ $have == "$want " ]] || { echo "  $lib: holds '$have', want '$want'"; bad=1; }
	for f in "$lib"/*; do
		check "$f" DYN ""
	done
fi
if [[ $bad -ne 0 ]]; then
	echo "check-elf: FAILED"
	exit 1
fi
echo "check-elf: all programs are x86-64 ELF64: static (hello-pie DYN, the rest EXEC) but t_dynamic (DYN, $LOADER)"
