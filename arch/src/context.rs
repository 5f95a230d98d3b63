//! Kernel-stack switching between tasks (cf. arch/x86/entry/entry_64.S
//! `__switch_to_asm`).
//!
//! A task that is not running has its callee-saved registers pushed on its
//! own kernel stack, and its stack pointer stored in its task structure.
//! A new task's stack is prepared so that the first switch to it "returns"
//! into `arch_new_task_entry`, which calls the kernel's start hook and then
//! leaves to user space through `trap_return` with the TrapFrame that sits
//! above.
//!
//! ```text
//!   new task's kernel stack (top down):
//!     TrapFrame (user registers, rip, cs, rflags, rsp, ss)
//!     return address = arch_new_task_entry
//!     r15 r14 r13 r12 rbx rbp = 0      <- saved rsp
//! ```

use crate::trap::TrapFrame;

unsafe extern "C" {
    fn arch_switch_stacks(prev_rsp: *mut u64, next_rsp: u64);
    fn arch_new_task_entry();
}

core::arch::global_asm!(
    r#"
    .section .text.switch, "ax"
    .global arch_switch_stacks
arch_switch_stacks:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

    .global arch_new_task_entry
arch_new_task_entry:
    call {hook}
    jmp trap_return
"#,
    hook = sym new_task_hook,
);

static START_HOOK: spin::Once<extern "C" fn()> = spin::Once::new();

/// Set the function a new task runs first, on its own stack, before it
/// returns to user space (the scheduler's `schedule_tail`). Set once: a
/// later hook is ignored.
pub fn set_start_hook(f: extern "C" fn()) {
    START_HOOK.call_once(|| f);
}

extern "C" fn new_task_hook() {
    if let Some(f) = START_HOOK.get() {
        f();
    }
}

/// Switch from the current task (whose stack pointer is saved to
/// `*prev_rsp`) to the task whose saved stack pointer is `next_rsp`.
///
/// # Safety
/// `next_rsp` must be a stack pointer saved by this function or prepared
/// by [`prepare_new_stack`], on a live kernel stack; interrupts off.
pub unsafe fn switch(prev_rsp: *mut u64, next_rsp: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { arch_switch_stacks(prev_rsp, next_rsp) }
}

/// Lay out a new task's kernel stack (top at `top`) so that switching to
/// it enters user space with `frame`. Returns the stack pointer to switch to.
///
/// # Safety
/// `[top - 4096, top)` must be a mapped, unused kernel stack.
pub unsafe fn prepare_new_stack(top: u64, frame: &TrapFrame) -> u64 {
    let frame_at = (top - core::mem::size_of::<TrapFrame>() as u64) & !0xf;
    // SAFETY: forwarded from the caller; all writes lie below `top`.
    unsafe {
        (frame_at as *mut TrapFrame).write(*frame);
        let mut sp = frame_at;
        sp -= 8;
        (sp as *mut u64).write(arch_new_task_entry as *const () as u64);
        for _ in 0..6 {
            sp -= 8;
            (sp as *mut u64).write(0);
        }
        sp
    }
}
