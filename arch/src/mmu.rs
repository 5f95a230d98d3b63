//! MMU control: CR3, TLB invalidation, running code on another stack.

use core::sync::atomic::{AtomicU64, Ordering};

use mm::percpu::MAX_CPUS;
use x86_64::registers::control::{Cr3, Cr3Flags, Cr4, Cr4Flags};
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

/// Physical address of the current page-table root.
pub fn current_root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// The page-table root each CPU runs on, published before it is loaded:
/// a CPU that changes an address space's entries asks only the CPUs on
/// that root to flush (TLB shootdown, `ipi::shootdown`). A CPU that loads
/// the root after the look starts with no stale entry (no PCIDs: a CR3
/// write drops every non-global translation).
static LOADED_ROOT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Local invalidations per CPU: one page, and everything (vmstat's
/// nr_tlb_local_flush_one and nr_tlb_local_flush_all).
static LOCAL_ONE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static LOCAL_ALL: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// (one-page, full) local flushes on every CPU so far.
pub fn local_flushes() -> (u64, u64) {
    let sum = |a: &[AtomicU64; MAX_CPUS]| a.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    (sum(&LOCAL_ONE), sum(&LOCAL_ALL))
}

fn count(a: &[AtomicU64; MAX_CPUS]) {
    // This CPU's own counter: no other CPU writes it.
    let c = &a[crate::percpu::cpu_id() % MAX_CPUS];
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// The kernel's own root (no user address space).
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);

/// Record the kernel's root (once its page tables are live).
pub fn set_kernel_root(root: u64) {
    KERNEL_ROOT.store(root, Ordering::Relaxed);
}

/// Whether CPU `cpu` runs on the kernel's root, with no user address space.
pub fn on_kernel_root(cpu: usize) -> bool {
    loaded_root(cpu) == KERNEL_ROOT.load(Ordering::Relaxed)
}

/// The root CPU `cpu` runs on (0 before it loaded one here).
pub fn loaded_root(cpu: usize) -> u64 {
    LOADED_ROOT[cpu % MAX_CPUS].load(Ordering::SeqCst)
}

/// Record the root this CPU runs on (an AP's first root, loaded by its
/// start-up code).
pub fn note_root(root: u64) {
    LOADED_ROOT[crate::percpu::cpu_id() % MAX_CPUS].store(root, Ordering::SeqCst);
}

/// Switch to the page tables at `root`.
///
/// # Safety
/// The new tables must map the running code, its stack and everything the
/// kernel touches afterwards, exactly as the old ones did.
pub unsafe fn load_root(root: u64) {
    note_root(root);
    let frame = PhysFrame::containing_address(PhysAddr::new(root));
    // SAFETY: forwarded from the caller.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

/// Invalidate one page's translation (`invlpg`; works on global pages).
pub fn flush_page(va: u64) {
    count(&LOCAL_ONE);
    x86_64::instructions::tlb::flush(VirtAddr::new(va));
}

/// Invalidate everything, global translations included: toggling CR4.PGE
/// does that (Intel SDM Vol. 3A, 4.10.4.1); without PGE a CR3 reload does.
pub fn flush_all() {
    count(&LOCAL_ALL);
    let cr4 = Cr4::read();
    if cr4.contains(Cr4Flags::PAGE_GLOBAL) {
        // SAFETY: clearing and restoring PGE only flushes the TLB.
        unsafe {
            Cr4::write(cr4 - Cr4Flags::PAGE_GLOBAL);
            Cr4::write(cr4);
        }
    } else {
        x86_64::instructions::tlb::flush_all();
    }
}

unsafe extern "C" {
    fn arch_call_on_stack(top: u64, f: extern "C" fn(u64), arg: u64);
}

core::arch::global_asm!(
    r#"
    .section .text.call_on_stack, "ax"
    .global arch_call_on_stack
arch_call_on_stack:
    push rbp
    mov rbp, rsp
    mov rsp, rdi
    mov rdi, rdx
    call rsi
    mov rsp, rbp
    pop rbp
    ret
"#
);

/// Run `f(arg)` on the stack whose top is `top` (16-byte aligned), then
/// come back to the current stack.
///
/// # Safety
/// `[.., top)` must be a mapped, writable stack that nothing else uses.
pub unsafe fn call_on_stack(top: u64, f: extern "C" fn(u64), arg: u64) {
    // SAFETY: forwarded from the caller; the assembly saves and restores
    // the old stack pointer through rbp.
    unsafe { arch_call_on_stack(top & !0xf, f, arg) }
}
