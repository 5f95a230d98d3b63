//! MMU control: CR3, TLB invalidation, running code on another stack.

use x86_64::registers::control::{Cr3, Cr3Flags, Cr4, Cr4Flags};
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

/// Physical address of the current page-table root.
pub fn current_root() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Switch to the page tables at `root`.
///
/// # Safety
/// The new tables must map the running code, its stack and everything the
/// kernel touches afterwards, exactly as the old ones did.
pub unsafe fn load_root(root: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(root));
    // SAFETY: forwarded from the caller.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

/// Invalidate one page's translation (`invlpg`; works on global pages).
pub fn flush_page(va: u64) {
    x86_64::instructions::tlb::flush(VirtAddr::new(va));
}

/// Invalidate everything, global translations included: toggling CR4.PGE
/// does that (Intel SDM Vol. 3A, 4.10.4.1); without PGE a CR3 reload does.
pub fn flush_all() {
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
