//! The signal frame, laid out as Linux's x86_64 `rt_sigframe`, and
//! rt_sigreturn, which takes it down (arch/x86/kernel/signal_64.c).
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

use abi::errno::{EFAULT, EINVAL, ENOMEM, EPERM, Errno};
use abi::signal::{
    MINSIGSTKSZ, SA_ONSTACK, SA_RESTORER, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, SigAction, SigContext, SigInfo,
    StackT, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS, UContext,
};
use arch::fpu::FpuState;
use arch::trap::TrapFrame;

use super::super::{AltStack, TaskInner, current};
use crate::usercopy::{read_user, write_user};

const RED_ZONE: u64 = 128;
const FPSTATE_SIZE: u64 = 512;
/// pretcode + ucontext + siginfo.
const FRAME_SIZE: u64 = 8 + 304 + 128;
const UC_OFFSET: u64 = 8;
const INFO_OFFSET: u64 = 8 + 304;

/// rflags bits a frame may set (Linux's FIX_EFLAGS): the arithmetic
/// flags, TF, DF, OF, AC and RF; never IF, IOPL or NT.
const FIX_EFLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x1_0000;

/// Whether `sp` lies on the alternate stack (Linux's `on_sig_stack`; an
/// SS_AUTODISARM stack never counts, it was disarmed on entry).
pub fn on_alt_stack(alt: &AltStack, sp: u64) -> bool {
    alt.flags & SS_AUTODISARM == 0 && alt.size != 0 && sp > alt.sp && sp - alt.sp <= alt.size
}

/// `ss_flags` as sigaltstack(2) reports it for a task at `sp`.
pub fn alt_flags(alt: &AltStack, sp: u64) -> u32 {
    if alt.size == 0 {
        SS_DISABLE
    } else if on_alt_stack(alt, sp) {
        SS_ONSTACK
    } else {
        0
    }
}

/// sigaltstack(2)'s change, at user stack pointer `sp` (also what
/// rt_sigreturn does with the frame's `uc_stack`).
pub fn set_alt_stack(i: &mut TaskInner, new: &StackT, sp: u64) -> Result<(), Errno> {
    if on_alt_stack(&i.altstack, sp) {
        return Err(EPERM);
    }
    let mode = new.flags & !SS_AUTODISARM;
    if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
        return Err(EINVAL);
    }
    i.altstack = if mode == SS_DISABLE {
        AltStack::default()
    } else {
        if new.size < MINSIGSTKSZ {
            return Err(ENOMEM);
        }
        AltStack { sp: new.sp, flags: new.flags & SS_AUTODISARM, size: new.size }
    };
    Ok(())
}

/// The `stack_t` of the current alternate stack, seen from `sp`.
pub fn alt_stack_t(alt: &AltStack, sp: u64) -> StackT {
    StackT { sp: alt.sp, flags: alt_flags(alt, sp) | alt.flags, _pad: 0, size: alt.size }
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
    let was_on_alt = on_alt_stack(&alt, frame.rsp);
    let mut sp = frame.rsp.wrapping_sub(RED_ZONE);
    let mut entering_alt = false;
    if act.flags & SA_ONSTACK != 0 && alt.size != 0 && !was_on_alt {
        sp = alt.sp.wrapping_add(alt.size);
        entering_alt = true;
    }
    let fpstate = sp.wrapping_sub(FPSTATE_SIZE) & !63;
    let addr = (fpstate.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    let fits = addr > alt.sp && addr - alt.sp <= alt.size;
    if (entering_alt || was_on_alt) && !fits {
        return Err(EFAULT);
    }
    let mut fx = FpuState::clean();
    fx.save();
    write_user(fpstate, &fx.0)?;
    let uc = UContext {
        flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
        link: 0,
        stack: alt_stack_t(&alt, frame.rsp),
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
