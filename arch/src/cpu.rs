//! CPU identification and protection switches (NX, WP, SMEP, SMAP, PGE).
//!
//! Features are read from CPUID once; `enable_protections` turns on every
//! protection the CPU has and reports what it did, so the boot log says which
//! guarantees hold on this machine.

use core::arch::x86_64::__cpuid_count;
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// Features this kernel cares about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub nx: bool,
    pub pge: bool,
    pub smep: bool,
    pub smap: bool,
    pub page_1g: bool,
    pub invpcid: bool,
    pub pcid: bool,
    pub apic: bool,
    pub x2apic: bool,
    pub tsc_deadline: bool,
    pub syscall: bool,
}

fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    // CPUID exists on every x86_64 CPU and has no side effects.
    let r = __cpuid_count(leaf, sub);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// Read the feature bits (Intel SDM Vol. 2A, CPUID).
pub fn features() -> Features {
    let (max_leaf, ..) = cpuid(0, 0);
    let (_, _, ecx1, edx1) = cpuid(1, 0);
    let (_, ebx7, _, _) = if max_leaf >= 7 { cpuid(7, 0) } else { (0, 0, 0, 0) };
    let (max_ext, ..) = cpuid(0x8000_0000, 0);
    let (_, _, _, edx_ext) = if max_ext >= 0x8000_0001 { cpuid(0x8000_0001, 0) } else { (0, 0, 0, 0) };
    Features {
        nx: edx_ext & (1 << 20) != 0,
        syscall: edx_ext & (1 << 11) != 0,
        page_1g: edx_ext & (1 << 26) != 0,
        pge: edx1 & (1 << 13) != 0,
        apic: edx1 & (1 << 9) != 0,
        x2apic: ecx1 & (1 << 21) != 0,
        tsc_deadline: ecx1 & (1 << 24) != 0,
        pcid: ecx1 & (1 << 17) != 0,
        smep: ebx7 & (1 << 7) != 0,
        smap: ebx7 & (1 << 20) != 0,
        invpcid: ebx7 & (1 << 10) != 0,
    }
}

/// The feature word Linux gives user space as AT_HWCAP on x86_64 (CPUID
/// leaf 1, EDX).
pub fn hwcap() -> u64 {
    cpuid(1, 0).3 as u64
}

/// The address of the last page fault (CR2).
pub fn fault_address() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// The FS segment base of this CPU (user space's thread pointer).
pub fn fs_base() -> u64 {
    x86_64::registers::model_specific::FsBase::read().as_u64()
}

/// Set the FS segment base (user space's thread pointer). Any value is
/// accepted: a non-canonical one is truncated by `VirtAddr::new_truncate`
/// so the WRMSR cannot #GP; callers validate what user space asked for.
pub fn set_fs_base(base: u64) {
    x86_64::registers::model_specific::FsBase::write(x86_64::VirtAddr::new_truncate(base));
}

/// System control port B (0x61): why an NMI came (bit 7 memory parity,
/// bit 6 I/O channel check).
pub fn nmi_reason() -> u8 {
    // SAFETY: port 0x61 is readable on every PC and reading has no side
    // effect.
    unsafe { x86_64::instructions::port::Port::<u8>::new(0x61).read() }
}

/// The CPU's brand string (CPUID 0x80000002..4), or "unknown".
pub fn brand(buf: &mut [u8; 48]) -> &str {
    let (max_ext, ..) = cpuid(0x8000_0000, 0);
    if max_ext < 0x8000_0004 {
        return "unknown";
    }
    for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
        let (a, b, c, d) = cpuid(leaf, 0);
        for (j, reg) in [a, b, c, d].into_iter().enumerate() {
            buf[i * 16 + j * 4..i * 16 + j * 4 + 4].copy_from_slice(&reg.to_le_bytes());
        }
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(48);
    core::str::from_utf8(&buf[..len]).unwrap_or("unknown").trim()
}

static SMAP_ON: AtomicBool = AtomicBool::new(false);

/// What `enable_protections` switched on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Protections {
    pub nx: bool,
    pub wp: bool,
    pub smep: bool,
    pub smap: bool,
    pub pge: bool,
}

/// Turn on NX (EFER.NXE) and write protection in ring 0 (CR0.WP). Needed
/// before any page table uses the NX bit; the bootloader's tables already do.
pub fn enable_nx_and_wp() -> Protections {
    let f = features();
    // SAFETY: setting NXE only makes bit 63 of PTEs meaningful; WP makes the
    // kernel honour read-only pages, which every mapping this kernel makes
    // is prepared for.
    unsafe {
        if f.nx {
            Efer::update(|e| *e |= EferFlags::NO_EXECUTE_ENABLE);
        }
        Cr0::update(|c| *c |= Cr0Flags::WRITE_PROTECT);
    }
    Protections { nx: f.nx, wp: true, ..Protections::default() }
}

/// Turn on SMEP, SMAP and global pages where the CPU has them. Call once the
/// kernel runs on its own page tables (global pages must only mark kernel
/// mappings).
pub fn enable_protections() -> Protections {
    let f = features();
    let mut p = enable_nx_and_wp();
    let mut flags = Cr4Flags::empty();
    if f.smep {
        flags |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
        p.smep = true;
    }
    if f.smap {
        flags |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
        p.smap = true;
    }
    if f.pge {
        flags |= Cr4Flags::PAGE_GLOBAL;
        p.pge = true;
    }
    // SAFETY: SMEP/SMAP only forbid the kernel from executing or touching
    // user pages, which it does only inside `stac`/`clac` copy helpers;
    // PGE keeps kernel translations across CR3 switches, and only kernel
    // mappings carry the global bit.
    unsafe { Cr4::update(|c| *c |= flags) };
    SMAP_ON.store(p.smap, Ordering::Release);
    crate::trap::SMAP_CLAC.store(p.smap as u8, Ordering::Release);
    p
}

/// Whether SMAP is on (the copy helpers then bracket user accesses with
/// `stac`/`clac`).
pub fn smap_enabled() -> bool {
    SMAP_ON.load(Ordering::Acquire)
}

/// Allow supervisor access to user pages (no-op without SMAP).
#[inline]
pub fn user_access_begin() {
    if smap_enabled() {
        // SAFETY: STAC only sets RFLAGS.AC; SMAP is enabled so it exists.
        unsafe { core::arch::asm!("stac", options(nomem, nostack)) };
    }
}

/// Forbid supervisor access to user pages again.
#[inline]
pub fn user_access_end() {
    if smap_enabled() {
        // SAFETY: CLAC only clears RFLAGS.AC.
        unsafe { core::arch::asm!("clac", options(nomem, nostack)) };
    }
}
