//! Recovery points: run a function so that a panic or fatal trap inside it
//! returns control to the caller instead of stopping the machine.
//!
//! This is what lets a test kernel keep going after a should-panic case or a
//! caught kernel stack overflow: `catch` saves the callee-saved registers and
//! stack pointer, and `recover` (called from the panic handler or a trap
//! handler) restores them, so `catch` returns a second time with an error.
//!
//! Frames between the two are abandoned without running destructors, exactly
//! like `panic = "abort"` would; locks held there stay held. Use it in tests
//! and in fault-isolation points only.

use core::sync::atomic::{AtomicPtr, Ordering};

/// Callee-saved state of a `catch` call (System V ABI).
#[repr(C)]
#[derive(Default)]
pub struct RecoveryPoint {
    rbx: u64,
    rbp: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rsp: u64,
}

static ACTIVE: AtomicPtr<RecoveryPoint> = AtomicPtr::new(core::ptr::null_mut());

unsafe extern "C" {
    fn arch_call_with_recovery(point: *mut RecoveryPoint, f: extern "C" fn(*mut u8), arg: *mut u8) -> u64;
    fn arch_recover(point: *const RecoveryPoint, value: u64) -> !;
}

core::arch::global_asm!(
    r#"
    .section .text.recover, "ax"
    .global arch_call_with_recovery
arch_call_with_recovery:
    mov [rdi + 0], rbx
    mov [rdi + 8], rbp
    mov [rdi + 16], r12
    mov [rdi + 24], r13
    mov [rdi + 32], r14
    mov [rdi + 40], r15
    mov [rdi + 48], rsp
    push rbp
    mov rbp, rsp
    mov rdi, rdx
    call rsi
    pop rbp
    xor eax, eax
    ret

    .global arch_recover
arch_recover:
    mov rbx, [rdi + 0]
    mov rbp, [rdi + 8]
    mov r12, [rdi + 16]
    mov r13, [rdi + 24]
    mov r14, [rdi + 32]
    mov r15, [rdi + 40]
    mov rsp, [rdi + 48]
    mov rax, rsi
    ret
"#
);

extern "C" fn trampoline<F: FnOnce()>(arg: *mut u8) {
    // SAFETY: `catch` passes a pointer to its own `Option<F>`, alive for the
    // whole call.
    let slot = unsafe { &mut *(arg as *mut Option<F>) };
    if let Some(f) = slot.take() {
        f();
    }
}

/// Run `f`. Returns `Ok(())` if it returned, or `Err(value)` if a panic or
/// trap handler called [`recover`] with `value` while `f` ran.
pub fn catch<F: FnOnce()>(f: F) -> Result<(), u64> {
    let mut point = RecoveryPoint::default();
    let mut slot = Some(f);
    let previous = ACTIVE.swap(&mut point, Ordering::AcqRel);
    // SAFETY: `point` and `slot` outlive the call; the assembly saves and
    // restores exactly the callee-saved registers, so whichever way it
    // returns, the caller sees a normal return.
    let value = unsafe { arch_call_with_recovery(&mut point, trampoline::<F>, &mut slot as *mut Option<F> as *mut u8) };
    ACTIVE.store(previous, Ordering::Release);
    if value == 0 { Ok(()) } else { Err(value) }
}

/// Whether a `catch` is active.
pub fn is_active() -> bool {
    !ACTIVE.load(Ordering::Acquire).is_null()
}

/// Unwind to the innermost active `catch`, making it return `Err(value)`
/// (`value` must be nonzero). Returns only if no `catch` is active.
pub fn recover(value: u64) {
    let point = ACTIVE.load(Ordering::Acquire);
    if point.is_null() || value == 0 {
        return;
    }
    // SAFETY: `point` is the recovery point of a `catch` frame that is
    // still on the stack (it clears ACTIVE before returning).
    unsafe { arch_recover(point, value) }
}
