//! Starting an application processor (AP): the real-mode trampoline and
//! the CPU state an AP copies from the boot CPU.
//!
//! An AP woken by INIT-SIPI-SIPI starts in 16-bit real mode at the 4 KiB
//! page the start-up IPI names (below 1 MiB). The trampoline, copied there,
//! loads a tiny GDT of its own, enters 32-bit protected mode, turns on PAE
//! and long mode with a temporary PML4 (the low 2 MiB identity mapped, so
//! the trampoline keeps running, plus the kernel's upper half), enters
//! 64-bit mode and jumps to the kernel's AP entry on the AP's own stack.
//! The entry then switches to the kernel page tables ([`CpuState::apply`]).
//!
//! Memory: four consecutive pages at `base` (phys, below 1 MiB): the code
//! and its [`Params`], the temporary PML4, PDPT and page directory. One AP
//! starts at a time, so one set of pages serves all of them (the caller
//! serializes, and rewrites `Params` between APs).

use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Cr3Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::PhysFrame;

/// Pages the trampoline occupies.
pub const TRAMPOLINE_PAGES: u64 = 4;

/// What the trampoline reads, at the end of its code page (layout fixed by
/// the offsets in the assembly below).
#[repr(C)]
struct Params {
    /// GDT: null, 32-bit code (0x08), data (0x10), 64-bit code (0x18).
    gdt: [u64; 4],
    /// GDTR: limit, base low, base high.
    gdtr: [u16; 4],
    /// Far pointer (offset low, high, selector) to the 32-bit code.
    pm_entry: [u16; 4],
    /// Far pointer to the 64-bit code.
    lm_entry: [u16; 4],
    /// Temporary PML4 (physical, below 4 GiB).
    cr3: u32,
    /// EFER for the switch: LME, and NXE if the boot CPU has it.
    efer: u32,
    /// Top of the AP's stack.
    stack_top: u64,
    /// The AP's CPU number, first argument of `entry`.
    cpu: u64,
    /// `extern "C" fn(cpu: u64) -> !`, in the kernel's upper half.
    entry: u64,
}

const _: () = {
    assert!(core::mem::offset_of!(Params, gdtr) == 32);
    assert!(core::mem::offset_of!(Params, pm_entry) == 40);
    assert!(core::mem::offset_of!(Params, lm_entry) == 48);
    assert!(core::mem::offset_of!(Params, cr3) == 56);
    assert!(core::mem::offset_of!(Params, efer) == 60);
    assert!(core::mem::offset_of!(Params, stack_top) == 64);
    assert!(core::mem::offset_of!(Params, cpu) == 72);
    assert!(core::mem::offset_of!(Params, entry) == 80);
    assert!(core::mem::size_of::<Params>() == 88);
};

// The trampoline. `ebx`/`rbx` holds its physical base throughout, computed
// from CS in real mode, so the code runs at whatever page it was copied to.
// `tr_params` is 8-aligned and followed by the 88-byte `Params`.
core::arch::global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .balign 16
    .global ap_trampoline_start
    .global ap_trampoline_end
ap_trampoline_start:
    .code16
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    movzwl %ax, %ebx
    shl $4, %ebx
    lgdtl (tr_params - ap_trampoline_start + 32)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl *(tr_params - ap_trampoline_start + 40)

    .code32
ap_trampoline_pm:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov (tr_params - ap_trampoline_start + 56)(%ebx), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    mov (tr_params - ap_trampoline_start + 60)(%ebx), %eax
    xor %edx, %edx
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    ljmpl *(tr_params - ap_trampoline_start + 48)(%ebx)

    .code64
ap_trampoline_lm:
    mov %ebx, %ebx
    mov (tr_params - ap_trampoline_start + 64)(%rbx), %rsp
    mov (tr_params - ap_trampoline_start + 72)(%rbx), %rdi
    xor %ebp, %ebp
    push $0
    jmp *(tr_params - ap_trampoline_start + 80)(%rbx)

    .balign 8
tr_params:
    .space 88
ap_trampoline_end:
    .text
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_trampoline_pm: u8;
    static ap_trampoline_lm: u8;
    static tr_params: u8;
}

fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// Offset of a trampoline symbol from its start.
fn offset(s: &u8) -> u64 {
    // SAFETY: only the address of the extern static is taken.
    sym(s) - sym(unsafe { &ap_trampoline_start })
}

/// The control registers an AP copies from the boot CPU, so both run with
/// the same features (NX, WP, SSE/FXSR, SMEP/SMAP, PGE, SYSCALL).
#[derive(Clone, Copy, Debug)]
pub struct CpuState {
    pub cr0: u64,
    pub cr4: u64,
    pub efer: u64,
    /// Physical address of the kernel's page-table root.
    pub kernel_root: u64,
}

impl CpuState {
    /// The running (boot) CPU's state, with `kernel_root` as the tables.
    pub fn capture(kernel_root: u64) -> CpuState {
        CpuState { cr0: Cr0::read_raw(), cr4: Cr4::read_raw(), efer: Efer::read_raw(), kernel_root }
    }

    /// Load this state on the running AP: kernel page tables first (the
    /// trampoline's temporary ones map only the low 2 MiB and the upper
    /// half), then CR4, CR0 and EFER.
    ///
    /// # Safety
    /// Called once, first thing on an AP that runs on a kernel stack in the
    /// upper half; `self` must come from [`CpuState::capture`] on the boot
    /// CPU.
    pub unsafe fn apply(&self) {
        // SAFETY: the kernel root maps the whole upper half the AP runs in;
        // the feature bits are ones the boot CPU (the same CPU model) runs
        // with, and the kernel is prepared for all of them.
        unsafe {
            Cr3::write(PhysFrame::containing_address(x86_64::PhysAddr::new(self.kernel_root)), Cr3Flags::empty());
            Cr4::write(Cr4Flags::from_bits_truncate(self.cr4));
            Cr0::write(Cr0Flags::from_bits_truncate(self.cr0));
            Efer::write(EferFlags::from_bits_truncate(self.efer));
        }
    }
}

/// Copy the trampoline and build its page tables at `base` (physical,
/// page aligned, below 1 MiB, [`TRAMPOLINE_PAGES`] pages), reached at `va`
/// in the direct map. `kernel_pml4` is the kernel root's direct-map
/// address: its upper half is copied into the temporary PML4.
///
/// # Safety
/// `va` must map `[base, base + TRAMPOLINE_PAGES pages)` writable, memory
/// nothing else uses; `kernel_pml4` must be the kernel's live root.
pub unsafe fn install(va: u64, base: u64, kernel_pml4: *const u64) {
    assert!(base.is_multiple_of(4096) && base + TRAMPOLINE_PAGES * 4096 <= 0x10_0000);
    // SAFETY: the symbols bound the trampoline's bytes in .rodata.
    let (start, end) = unsafe { (sym(&ap_trampoline_start), sym(&ap_trampoline_end)) };
    assert!(end - start <= 4096);
    let (pml4, pdpt, pd) = (va + 4096, va + 2 * 4096, va + 3 * 4096);
    // SAFETY: the destination is ours (see the contract); the source is
    // the trampoline's image; the tables are 512 u64 each.
    unsafe {
        core::ptr::write_bytes(va as *mut u8, 0, (TRAMPOLINE_PAGES * 4096) as usize);
        core::ptr::copy_nonoverlapping(start as *const u8, va as *mut u8, (end - start) as usize);
        const PRESENT_RW: u64 = 0b11;
        const HUGE: u64 = 1 << 7;
        (pml4 as *mut u64).write(base + 2 * 4096 | PRESENT_RW);
        (pdpt as *mut u64).write(base + 3 * 4096 | PRESENT_RW);
        (pd as *mut u64).write(HUGE | PRESENT_RW);
        for i in 256..512 {
            (pml4 as *mut u64).add(i).write(kernel_pml4.add(i).read());
        }
    }
    let efer = Efer::read() & EferFlags::NO_EXECUTE_ENABLE | EferFlags::LONG_MODE_ENABLE;
    // SAFETY: only the addresses of the extern statics are taken.
    let (pm, lm, params) = unsafe { (offset(&ap_trampoline_pm), offset(&ap_trampoline_lm), offset(&tr_params)) };
    let p = Params {
        gdt: [0, 0x00cf_9a00_0000_ffff, 0x00cf_9200_0000_ffff, 0x00af_9a00_0000_ffff],
        gdtr: [31, (base + params) as u16, ((base + params) >> 16) as u16, 0],
        pm_entry: far(base + pm, 0x08),
        lm_entry: far(base + lm, 0x18),
        cr3: (base + 4096) as u32,
        efer: efer.bits() as u32,
        stack_top: 0,
        cpu: 0,
        entry: 0,
    };
    // SAFETY: `params` is inside the copied page, 8-aligned (`.balign 8`
    // in a 16-aligned section copied to a page boundary).
    unsafe { ((va + params) as *mut Params).write(p) };
}

fn far(offset: u64, selector: u16) -> [u16; 4] {
    [offset as u16, (offset >> 16) as u16, selector, 0]
}

/// Set what the next AP started through the trampoline at `va` runs: CPU
/// number `cpu`, on the stack ending at `stack_top`, entering `entry`.
pub fn set_next(va: u64, cpu: usize, stack_top: u64, entry: extern "C" fn(u64) -> !) {
    // SAFETY: only the addresses of the extern statics are taken.
    let params = unsafe { offset(&tr_params) };
    let p = (va + params) as *mut Params;
    // SAFETY: `install` put the `Params` there; no AP is reading them
    // (the caller starts one AP at a time and waits for it).
    unsafe {
        (*p).stack_top = stack_top;
        (*p).cpu = cpu as u64;
        (*p).entry = entry as usize as u64;
    }
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

/// APIC id of each online CPU (u32::MAX: not online).
static APIC_IDS: [core::sync::atomic::AtomicU32; mm::percpu::MAX_CPUS] =
    [const { core::sync::atomic::AtomicU32::new(u32::MAX) }; mm::percpu::MAX_CPUS];
static ONLINE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Mark CPU `cpu` (APIC id `apic_id`) online: run by the CPU itself once it
/// can take interrupts. CPUs come online in number order, one at a time.
pub fn set_online(cpu: usize, apic_id: u32) {
    APIC_IDS[cpu].store(apic_id, core::sync::atomic::Ordering::Release);
    ONLINE.fetch_add(1, core::sync::atomic::Ordering::AcqRel);
}

/// How many CPUs are online (numbered `0..online()`).
pub fn online() -> usize {
    ONLINE.load(core::sync::atomic::Ordering::Acquire)
}

/// APIC id of online CPU `cpu`.
pub fn apic_id_of(cpu: usize) -> Option<u32> {
    APIC_IDS.get(cpu).map(|a| a.load(core::sync::atomic::Ordering::Acquire)).filter(|&id| id != u32::MAX)
}
