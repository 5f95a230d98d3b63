//! Faults in user mode become signals, reported as Linux reports them
//! when nothing catches them:
//!
//! ```text
//! hello[42]: segfault at ffffffff80000000 ip 0000000000401234 sp 00007ffffffde8 error 5 in hello[401000+2000]
//! traps: hello[42] trap invalid opcode ip:401234 sp:7ffffffde8 error:0 in hello[401000+2000]
//! ```
//!
//! The signal carries Linux's `si_code` and `si_addr`; it is forced, so a
//! blocked or ignored one still kills.

use abi::signal::{
    BUS_ADRALN, FPE_FLTDIV, FPE_INTDIV, ILL_ILLOPN, SI_KERNEL, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGINT, SIGKILL,
    SIGSEGV, SIGTERM, SIGTRAP, SigInfo,
};
use arch::trap::TrapFrame;

use super::super::current;

/// Name for reports.
pub fn name(sig: u32) -> &'static str {
    match sig {
        SIGSEGV => "SIGSEGV",
        SIGBUS => "SIGBUS",
        SIGILL => "SIGILL",
        SIGFPE => "SIGFPE",
        SIGTRAP => "SIGTRAP",
        SIGKILL => "SIGKILL",
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        SIGABRT => "SIGABRT",
        _ => "signal",
    }
}

/// The signal, `si_code` and `si_addr` a CPU exception from user mode
/// turns into (Linux's arch/x86/kernel/traps.c): the address is the
/// faulting instruction's, except for page faults (handled in fault.rs).
pub fn for_exception(frame: &TrapFrame) -> SigInfo {
    let ip = frame.rip;
    match frame.vector {
        0 => SigInfo::fault(SIGFPE, FPE_INTDIV, ip),
        1 => SigInfo::fault(SIGTRAP, abi::signal::TRAP_TRACE, ip),
        // int3: rip is past the instruction; Linux's do_int3 sends a bare
        // SIGTRAP (SI_KERNEL).
        3 => SigInfo::new(SIGTRAP, SI_KERNEL),
        6 => SigInfo::fault(SIGILL, ILL_ILLOPN, ip),
        16 | 19 => SigInfo::fault(SIGFPE, FPE_FLTDIV, ip),
        17 => SigInfo::fault(SIGBUS, BUS_ADRALN, 0),
        // #GP and the other protection faults: SIGSEGV SI_KERNEL, no address.
        _ => SigInfo::new(SIGSEGV, SI_KERNEL),
    }
}

/// The `in name[start+len]` part of a fault report: the mapping holding
/// `ip`.
fn where_is(ip: u64) -> alloc::string::String {
    let me = current();
    let mm = me.mm();
    let name = me.name();
    drop(me);
    if let Some(mm) = mm {
        let space = mm.space.read();
        if let Some(v) = space.vmas.containing(ip) {
            let file = v.backing.object().map(|o| o.name().rsplit('/').next().unwrap_or("").into()).unwrap_or(name);
            return alloc::format!(" in {}[{:x}+{:x}]", file, v.start, v.end - v.start);
        }
    }
    alloc::string::String::new()
}

/// A user fault nothing resolved: report it if no handler will catch it,
/// and force its signal on the current task (delivered on the way back
/// to user mode: a handler may fix the cause and return to retry).
pub fn force_fault(frame: &TrapFrame, info: SigInfo) {
    let sig = info.signo as u32;
    let me = current();
    let (pid, name, unhandled) = {
        let i = me.inner.lock();
        (me.pid(), i.name.clone(), super::unhandled(&i, sig))
    };
    drop(me);
    if unhandled {
        let place = where_is(frame.rip);
        match frame.vector {
            // A page fault's SIGBUS (past the end of a file, an empty
            // hugetlb pool) is not reported: Linux's do_sigbus says nothing.
            14 if sig != abi::signal::SIGSEGV as u32 => {}
            14 => crate::ratelimited!(
                log::Level::Info,
                "{}[{}]: segfault at {:x} ip {:016x} sp {:016x} error {:x}{}",
                name,
                pid,
                info.addr(),
                frame.rip,
                frame.rsp,
                frame.error_code,
                place
            ),
            _ => crate::ratelimited!(
                log::Level::Info,
                "traps: {}[{}] trap {} ip:{:x} sp:{:x} error:{:x}{}",
                name,
                pid,
                arch::trap::exception_name(frame.vector),
                frame.rip,
                frame.rsp,
                frame.error_code,
                place
            ),
        }
    }
    super::force_current(info);
}
