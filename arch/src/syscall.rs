//! The `syscall` instruction's entry path (Linux x86_64 ABI: number in
//! rax, arguments in rdi, rsi, rdx, r10, r8, r9, result in rax).
//!
//! ```text
//!   syscall:  rcx = user rip, r11 = user rflags, CS/SS from STAR,
//!             RFLAGS &= ~SFMASK (IF, TF, DF, AC, NT, IOPL cleared)
//!   entry:    swapgs; save user rsp in per-CPU; load the task's kernel
//!             stack from per-CPU (the user rsp is never used);
//!             push a TrapFrame exactly like an interrupt's
//!   dispatch: the kernel's handler sees and edits the frame
//!   return:   the handler says whether SYSRET is safe: rip canonical and
//!             below TASK_SIZE, rcx == rip, r11 == rflags. Then every
//!             register is restored from the frame and SYSRET returns, so
//!             only rax, rcx and r11 differ from before the call. Otherwise
//!             the frame returns through IRETQ (exec, signals, fork child).
//! ```

use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;

use crate::gdt;
use crate::percpu::{PERCPU_KERNEL_RSP, PERCPU_USER_RSP};
use crate::trap::{TrapFrame, pop_regs, push_regs};

/// Pseudo vector number stored in a TrapFrame built by the syscall entry.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// The kernel's syscall handler: returns whether SYSRET may be used.
pub type SyscallHandler = extern "C" fn(&mut TrapFrame) -> u64;

unsafe extern "C" {
    fn syscall_entry();
}

/// Program STAR/LSTAR/SFMASK and enable SYSCALL in EFER.
pub fn init() {
    let sel = gdt::selectors();
    Star::write(sel.user_code, sel.user_data, sel.kernel_code, sel.kernel_data)
        .expect("syscall: GDT layout does not fit STAR");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_HIGH
            | RFlags::IOPL_LOW,
    );
    // SAFETY: enabling SYSCALL only makes the instruction usable.
    unsafe { Efer::update(|e| *e |= EferFlags::SYSTEM_CALL_EXTENSIONS) };
}

core::arch::global_asm!(
    r#"
    .section .text.syscall_entry, "ax"
    .global syscall_entry
syscall_entry:
    swapgs
    mov gs:[{user_rsp}], rsp
    mov rsp, gs:[{kernel_rsp}]
    push {user_ss}
    push qword ptr gs:[{user_rsp}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {vector}
"#,
    push_regs!(),
    r#"
    mov rdi, rsp
    cld
    call {dispatch}
    test rax, rax
    jz trap_return
"#,
    pop_regs!(),
    r#"
    add rsp, 16
    mov rsp, [rsp + 24]
    swapgs
    sysretq
"#,
    user_rsp = const PERCPU_USER_RSP,
    kernel_rsp = const PERCPU_KERNEL_RSP,
    user_ss = const 0x1b,
    user_cs = const 0x23,
    vector = const SYSCALL_VECTOR,
    dispatch = sym syscall_dispatch_trampoline,
);

static HANDLER: spin::Once<SyscallHandler> = spin::Once::new();

/// Install the kernel's syscall handler (once: a later one is ignored).
pub fn set_handler(h: SyscallHandler) {
    HANDLER.call_once(|| h);
}

extern "C" fn syscall_dispatch_trampoline(frame: &mut TrapFrame) -> u64 {
    let Some(h) = HANDLER.get() else {
        frame.rax = (-38i64) as u64; // ENOSYS
        return 0;
    };
    h(frame)
}
