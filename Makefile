# mmkernel: a bare-metal x86_64 kernel built around a Linux-like mm.
#
#   make run     boot the kernel in QEMU (serial console on this terminal)
#   make test    host tests + every test kernel under BIOS and UEFI
#
# Every target first makes sure the pinned toolchain and the host packages
# (QEMU, OVMF, musl-tools) are present; see README.md for all options.

SHELL := /bin/bash
.DEFAULT_GOAL := help

TARGET      := x86_64-unknown-none
KDIR        := target/$(TARGET)/release
KERNEL      := $(KDIR)/kernel
BOOT        := target/debug/boot
USER_BUILD  := user/build
ROOTFS      := $(USER_BUILD)/rootfs

# ---- options (make run UEFI=1 MEM=5G ...) ---------------------------------
UEFI      ?=
MEM       ?= 128M
SMP       ?= 1
CPU       ?=
NUMA      ?=
ACCEL     ?= tcg
GDB       ?=
# A QEMU window (the framebuffer: console and memory picture) whenever a
# graphical session is there to show it; DISPLAY_WINDOW= turns it off.
DISPLAY_WINDOW ?= $(if $(DISPLAY)$(WAYLAND_DISPLAY),1)
QEMU_ARGS ?=
# make run's kernel command line: the memory picture on, init's demo, then
# the shell. ARGS= gives a plain console.
ARGS      ?= mempic
INITRD_ADD ?=
# Dynamically linked host programs with their libraries and loader
# (scripts/add-dynamic.sh), e.g. INITRD_ADD_DYNAMIC="/usr/bin/env /bin/ls".
INITRD_ADD_DYNAMIC ?=
USB_STICK ?=
# Extra raw disk images (virtio-blk /dev/vda, ...; FILE,if=nvme for NVMe,
# FILE,if=virtio-legacy for a legacy-only virtio-blk device).
DISK      ?=
# A swap disk of this size (e.g. 256M): made with mkswap, attached first
# (/dev/vda) and turned on at boot (kernel option swapon=/dev/vda).
SWAP      ?=
SWAP_IMG  := target/swap.img
JOBS      ?= 2
ONLY      ?=
TIMEOUT   ?=
# make screenshot: PNG of the screen (default: the memory picture).
SHOT       ?= target/screenshot.png
SHOT_AFTER ?=
SHOT_WAIT  ?=

comma := ,
DYNAMIC_ADDS := $(if $(INITRD_ADD_DYNAMIC),$(shell scripts/add-dynamic.sh $(INITRD_ADD_DYNAMIC) || echo FAILED))
$(if $(filter FAILED,$(DYNAMIC_ADDS)),$(error INITRD_ADD_DYNAMIC: scripts/add-dynamic.sh failed))
QEMU_OPTS := --mem $(MEM) --smp $(SMP) --accel $(ACCEL) $(if $(CPU),--cpu $(CPU)) \
	$(if $(UEFI),--uefi) $(if $(NUMA),--numa $(NUMA)) $(if $(GDB),--gdb) \
	$(if $(DISPLAY_WINDOW),--display) $(if $(USB_STICK),--usb-stick) \
	$(if $(SWAP),--disk $(SWAP_IMG)) $(foreach d,$(DISK),--disk $(d)) \
	$(foreach a,$(QEMU_ARGS),--qemu-arg=$(a)) \
	$(foreach f,$(INITRD_ADD) $(DYNAMIC_ADDS),--initrd-add $(f)) \
	$(if $(TIMEOUT),--timeout $(TIMEOUT))

APT_PACKAGES := qemu-system-x86 ovmf musl-tools

.PHONY: help toolchain deps kernel boot-tool user debian-shells run test test-host test-user-host test-qemu layers clippy image usb gdb bench fuzz clean screenshot

help:
	@echo "make run      boot the kernel in QEMU (UEFI=1 MEM=5G SMP=2 NUMA=2 ACCEL=kvm GDB=1 ARGS='loglevel=7' ...)"
	@echo "make test     host tests and every test kernel under BIOS and UEFI"
	@echo "make image    build BIOS and UEFI disk images"
	@echo "make usb DEV=/dev/sdX [YES=1|DRY_RUN=1]   write the image to a USB stick"
	@echo "make gdb      boot under QEMU's GDB stub and attach gdb"
	@echo "make bench    host benchmarks of mm beside peer crates, then in-kernel benchmarks"
	@echo "make fuzz     random system calls in the kernel (SEED=1 CALLS=100000 CHILDREN=4 MEM=256M)"
	@echo "make layers   the kernel crate's modules only use modules below them (make test runs it)"
	@echo "make clippy   every unsafe block has a SAFETY comment (make test runs it)"
	@echo "make screenshot [SHOT=out.png SHOT_AFTER='serial text' SHOT_WAIT=secs ARGS='mempic ...']   boot and save the screen as PNG"
	@echo "make clean    remove build output"
	@echo "See README.md for every option."

# The environment sets RUSTUP_AUTO_INSTALL=0: install the pinned nightly
# (rust-toolchain.toml: components and target included) before any cargo call.
toolchain:
	@rustup toolchain install >/dev/null 2>&1 || rustup toolchain install

deps:
	@missing=""; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	[ -f "$${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE.fd}" ] || missing="$$missing ovmf"; \
	command -v musl-gcc >/dev/null || missing="$$missing musl-tools"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing (apt-get install -y --no-install-recommends)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || { echo "deps: apt-get failed"; exit 1; }; \
	  else \
	    echo "deps: missing$$missing; run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi

kernel: toolchain
	cargo build --release --target $(TARGET) -p kernel -p ktests

boot-tool: toolchain
	cargo build -p boot

# User programs (Rust runtime + C tests with musl-gcc) into user/build/rootfs,
# the tree the initrd is made from.
user: toolchain deps
	$(MAKE) -C user

# Debian's bash-static and busybox-static for the matrix's bash and ash
# lines, fetched once into target/debian-shells/bin (scripts/debian-shells.sh).
debian-shells:
	scripts/debian-shells.sh fetch

run: deps kernel boot-tool user
	$(if $(SWAP),rm -f $(SWAP_IMG) && truncate -s $(SWAP) $(SWAP_IMG) && PATH="$$PATH:/sbin:/usr/sbin" mkswap -q $(SWAP_IMG))
	$(BOOT) run --kernel $(KERNEL) $(QEMU_OPTS) --initrd-dir $(ROOTFS) --cmdline "$(ARGS)$(if $(SWAP), swapon=/dev/vda)"

test: deps layers clippy test-host test-user-host test-qemu
	@echo "make test: all host tests and QEMU runs passed"

# The kernel crate's modules only use modules below them (the order is the
# "layers:" block at the top of kernel/src/lib.rs).
layers:
	scripts/check-layers.sh

# Every unsafe block says why it is sound (`// SAFETY:`), in the host
# crates (tests included) and in the kernel and test kernels.
CLIPPY_DENY := -A clippy::all -D clippy::undocumented_unsafe_blocks
clippy: toolchain
	cargo clippy -p abi -p mm -p formats -p tty -p signals -p boot -p arch --all-targets -- $(CLIPPY_DENY)
	cargo clippy --release --target $(TARGET) -p kernel -p ktests -- $(CLIPPY_DENY)

test-host: toolchain
	cargo test -p abi -p mm -p formats -p tty -p signals -p boot -p arch

# The same static user programs, run natively on this Linux host: every
# user-level expectation is checked against Linux too; so is the expected
# output of the bash and ash scripts of tests/shells.
test-user-host: user
	$(MAKE) -C user host-test
	scripts/debian-shells.sh check

test-qemu: deps kernel boot-tool user debian-shells
	$(BOOT) matrix --file tests/matrix.txt --kernels $(KDIR) --jobs $(JOBS) \
	  --initrd-dir $(ROOTFS) $(foreach o,$(ONLY),--only $(o)) --accel $(ACCEL)

# Boot, wait SHOT_WAIT seconds (default 20) or until a serial line contains
# SHOT_AFTER (then SHOT_WAIT more, default 0), save the screen to SHOT as
# PNG through QEMU's QMP screendump, stop QEMU. ARGS defaults to `mempic`.
screenshot: deps kernel boot-tool user
	$(BOOT) screendump --kernel $(KERNEL) $(QEMU_OPTS) --initrd-dir $(ROOTFS) \
	  --cmdline "$(if $(strip $(ARGS)),$(ARGS),mempic)" --out $(SHOT) \
	  $(if $(SHOT_AFTER),--wait-for "$(SHOT_AFTER)") $(if $(SHOT_WAIT),--wait $(SHOT_WAIT)) \
	  $(if $(TIMEOUT),--limit $(TIMEOUT))

image: kernel boot-tool user
	$(BOOT) initrd --out target/image/initrd.cpio --initrd-dir $(ROOTFS) --cmdline "$(ARGS)"
	$(BOOT) image --kernel $(KERNEL) --ramdisk target/image/initrd.cpio --out target/image

usb: image
	@[ -n "$(DEV)" ] || { echo "usage: make usb DEV=/dev/sdX [DRY_RUN=1] [YES=1]"; exit 2; }
	$(BOOT) usb --image target/image/kernel-$(if $(UEFI),uefi,bios).img --device $(DEV) $(if $(DRY_RUN),--dry-run) $(if $(YES),--yes)

gdb: deps kernel boot-tool user
	@echo "gdb: QEMU starts halted with its GDB stub on :1234; quit gdb to stop it"
	@$(BOOT) run --kernel $(KERNEL) $(QEMU_OPTS) --initrd-dir $(ROOTFS) --gdb --cmdline "$(ARGS)" > target/gdb-serial.log 2>&1 & \
	qemu_pid=$$!; sleep 2; \
	gdb -q -ex "add-symbol-file $(KERNEL) -o 0xffffffff80000000" -ex "target remote :1234" ; \
	kill $$qemu_pid 2>/dev/null; pkill -f "qemu-system-x86_64.*-s -S" 2>/dev/null; \
	echo "gdb: serial output was saved in target/gdb-serial.log"

# Benchmarks: host side by side with peer crates (ratios matter, the
# machines are shared and noisy), then the memory syscalls of user/c/b_mm.c
# on the host, on Debian's Linux in QEMU and on this kernel in QEMU
# (scripts/bench-mm.sh), then swap throughput and a touch-2x-RAM time of
# user/c/b_swap.c on Linux and on this kernel, both in QEMU with the same
# fresh virtio swap disk (scripts/bench-swap.sh). Never timed assertions in
# tests.
# Host benchmarks run without address-space randomisation when setarch
# can turn it off: where code and data land moves the nanosecond figures
# by up to 2x from run to run (cache-set aliasing), which hides real
# changes.
NO_ASLR := $(shell setarch -R true 2>/dev/null && echo setarch -R)
bench: toolchain deps kernel boot-tool user
	$(NO_ASLR) cargo bench -p mm --features sim --bench alloc
	scripts/bench-mm.sh $(BOOT) $(KERNEL)
	scripts/bench-swap.sh $(BOOT) $(KERNEL)

# The random-syscall fuzzer (user/c/t_sysfuzz.c) as init: CALLS calls from
# CHILDREN processes (half root, half uid 65534), then MemFree must be back
# at its baseline. A kernel panic leaves QEMU at once (panic=exit); the
# run ends with the seed and the calls per second. FUZZ_SKIP=NR,NR leaves
# numbers out (to get past a known bug), FUZZ_ONLY=NR,NR calls only those.
SEED     ?= 1
CALLS    ?= 100000
CHILDREN ?= 4
FUZZ_SKIP ?=
FUZZ_ONLY ?=
fuzz: deps kernel boot-tool user
	$(BOOT) test --kernel $(KERNEL) $(subst --mem $(MEM),--mem $(if $(filter command line,$(origin MEM)),$(MEM),256M),$(QEMU_OPTS)) \
	  --initrd-dir $(ROOTFS) --expect exit \
	  --cmdline "panic=exit $(if $(FUZZ_SKIP),FUZZ_SKIP=$(FUZZ_SKIP)) $(if $(FUZZ_ONLY),FUZZ_ONLY=$(FUZZ_ONLY)) init=/bin/t_sysfuzz exit_on_init -- $(SEED) $(CALLS) $(CHILDREN)"

clean:
	cargo clean
	$(MAKE) -C user clean
