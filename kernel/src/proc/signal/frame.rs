//! The signal frame, laid out as Linux's x86_64 `rt_sigframe`, and
//! rt_sigreturn, which takes it down (arch/x86/kernel/signal_64.c).
//!
//! ```text
//! Placement is `signals::layout`'s (host-tested):
//!
//! ```text
//!   interrupted rsp ─┐
//!                    │ 128-byte red zone (skipped), or the top of the
//!                    │ alternate stack (SA_ONSTACK)
//!   fpstate (64-aligned) 512 bytes: FXSAVE image of the interrupted code
//!   ...
//!   rt_sigframe:  +0    pretcode = sa_restorer (the handler's return address)
//!                 +8    struct ucontext (flags, link, stack_t, sigcontext, sigmask)
//!                 +312  siginfo_t
//!   handler rsp = frame: (rsp + 8) % 16 == 0, as after a `call`
//! ```
//!
//! The handler runs with rdi = signal, rsi = &siginfo, rdx = &ucontext,
//! rax = 0, direction and trap flags clear, and a clean FPU. Its `ret`
//! pops pretcode, whose code calls rt_sigreturn with rsp just above it.
//! This CPU state has no XSAVE (CR4.OSXSAVE is off, so programs see no
//! AVX): the FPU image is the 512-byte FXSAVE area, as Linux writes on
//! such a CPU, and `uc_flags` has no UC_FP_XSTATE.

use abi::errno::{EFAULT, Errno};
use abi::signal::{
    SA_RESTORER, SS_AUTODISARM, SigAction, SigContext, SigInfo, StackT, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS,
    UContext,
};
use arch::fpu::FpuState;
use arch::trap::TrapFrame;
use signals::layout::{self, INFO_OFFSET, Placement, UC_OFFSET};

use super::super::{AltStack, TaskInner, current};
use crate::usercopy::{read_user, write_user};

/// rflags bits a frame may set (Linux's FIX_EFLAGS): the arithmetic
/// flags, TF, DF, OF, AC and RF; never IF, IOPL or NT.
const FIX_EFLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x1_0000;

/// sigaltstack(2)'s change, at user stack pointer `sp` (also what
/// rt_sigreturn does with the frame's `uc_stack`).
pub fn set_alt_stack(i: &mut TaskInner, new: &StackT, sp: u64) -> Result<(), Errno> {
    i.altstack = i.altstack.change(new, sp)?;
    Ok(())
}

/// Build the frame for `info`'s handler and point the registers at it.
pub fn setup(frame: &mut TrapFrame, info: &SigInfo, act: &SigAction, oldmask: u64) -> Result<(), Errno> {
    // x86_64 has no default return path: without a restorer the handler
    // could not return (Linux refuses too).
    if act.flags & SA_RESTORER == 0 {
        return Err(EFAULT);
    }
    let me = current();
    let alt = me.inner.lock().altstack;
    let Placement { fpstate, frame: addr, entering_alt } = layout::place(frame.rsp, &alt, act.flags).ok_or(EFAULT)?;
    let mut fx = FpuState::clean();
    fx.save();
    write_user(fpstate, &fx.0)?;
    let uc = UContext {
        flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
        link: 0,
        stack: alt.to_user(frame.rsp),
        mcontext: SigContext {
            r8: frame.r8,
            r9: frame.r9,
            r10: frame.r10,
            r11: frame.r11,
            r12: frame.r12,
            r13: frame.r13,
            r14: frame.r14,
            r15: frame.r15,
            rdi: frame.rdi,
            rsi: frame.rsi,
            rbp: frame.rbp,
            rbx: frame.rbx,
            rdx: frame.rdx,
            rax: frame.rax,
            rcx: frame.rcx,
            rsp: frame.rsp,
            rip: frame.rip,
            eflags: frame.rflags,
            cs: frame.cs as u16,
            gs: 0,
            fs: 0,
            ss: frame.ss as u16,
            err: if frame.vector == 14 { frame.error_code } else { 0 },
            trapno: if frame.vector < 32 { frame.vector } else { 0 },
            oldmask,
            cr2: if frame.vector == 14 { info.addr() } else { 0 },
            fpstate,
            reserved1: [0; 8],
        },
        sigmask: oldmask,
    };
    write_user(addr, &act.restorer)?;
    write_user(addr + UC_OFFSET, &uc)?;
    write_user(addr + INFO_OFFSET, info)?;
    if entering_alt && alt.flags & SS_AUTODISARM != 0 {
        me.inner.lock().altstack = AltStack::default();
    }
    drop(me);
    FpuState::clean().restore();
    frame.rdi = info.signo as u64;
    frame.rsi = addr + INFO_OFFSET;
    frame.rdx = addr + UC_OFFSET;
    frame.rax = 0;
    frame.rsp = addr;
    frame.rip = act.handler;
    frame.rflags &= !(0x400 | 0x100 | 0x1_0000); // DF, TF, RF
    let sel = arch::gdt::selectors();
    frame.cs = sel.user_code.0 as u64;
    frame.ss = sel.user_data.0 as u64;
    Ok(())
}

/// rt_sigreturn(2): restore what [`setup`] saved, from the frame just
/// above the user's rsp. A frame with a kernel or foreign segment, or an
/// FPU image FXRSTOR would refuse, is not loaded: the caller kills with
/// SIGSEGV. Returns the restored rax.
pub fn sigreturn(frame: &mut TrapFrame) -> Result<u64, Errno> {
    let addr = frame.rsp.wrapping_sub(8);
    let uc: UContext = read_user(addr.wrapping_add(UC_OFFSET))?;
    let mc = &uc.mcontext;
    let sel = arch::gdt::selectors();
    if (mc.cs | 3) != sel.user_code.0 || (mc.ss | 3) != sel.user_data.0 {
        return Err(EFAULT);
    }
    let fx = if mc.fpstate != 0 {
        let bytes: [u8; 512] = read_user(mc.fpstate)?;
        let fx = FpuState(bytes);
        if !fx.valid() {
            return Err(EFAULT);
        }
        fx
    } else {
        FpuState::clean()
    };
    fx.restore();
    frame.r8 = mc.r8;
    frame.r9 = mc.r9;
    frame.r10 = mc.r10;
    frame.r11 = mc.r11;
    frame.r12 = mc.r12;
    frame.r13 = mc.r13;
    frame.r14 = mc.r14;
    frame.r15 = mc.r15;
    frame.rdi = mc.rdi;
    frame.rsi = mc.rsi;
    frame.rbp = mc.rbp;
    frame.rbx = mc.rbx;
    frame.rdx = mc.rdx;
    frame.rax = mc.rax;
    frame.rcx = mc.rcx;
    frame.rsp = mc.rsp;
    frame.rip = mc.rip;
    frame.rflags = (frame.rflags & !FIX_EFLAGS) | (mc.eflags & FIX_EFLAGS);
    frame.cs = sel.user_code.0 as u64;
    frame.ss = sel.user_data.0 as u64;
    let me = current();
    let mut i = me.inner.lock();
    super::set_blocked(&mut i, uc.sigmask);
    // As Linux's `restore_altstack`: only a fault matters, a refused
    // change (EPERM on the stack, EINVAL) is ignored.
    let _ = set_alt_stack(&mut i, &uc.stack, frame.rsp);
    i.sig.restart = None;
    Ok(frame.rax)
}
