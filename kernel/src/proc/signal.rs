//! Signals, as far as this kernel takes them: dispositions and masks are
//! recorded (rt_sigaction, rt_sigprocmask), and a signal whose action is
//! to terminate ends the process with Linux's wait status. Handlers are
//! not run yet: a signal with a handler installed takes its default action
//! (terminate, or nothing for one whose default is to ignore, stop or
//! continue), and an ignored signal (SIG_IGN) is ignored.
//!
//! Faults become the signal Linux sends: a page fault or general
//! protection fault SIGSEGV (SIGBUS past the end of a mapped file), an
//! invalid opcode SIGILL, a divide error SIGFPE, int3 SIGTRAP, an
//! alignment check SIGBUS. A SIGSEGV is reported in Linux's form:
//!
//! ```text
//! hello[42]: segfault at ffffffff80000000 ip 0000000000401234 sp 00007ffffffde8 error 5 in hello[401000+2000]
//! ```

use abi::signal::{
    NSIG, SIG_DFL, SIG_IGN, SIGABRT, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGILL, SIGINT, SIGKILL, SIGSEGV, SIGSTOP,
    SIGTERM, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH,
};
use arch::trap::TrapFrame;

use super::{current, exit};

/// What the default action of `sig` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    Ignore,
    /// Stop/continue (no job control here: treated as ignore).
    Stop,
}

pub fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT | SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        _ => DefaultAction::Terminate,
    }
}

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

/// Whether `sig` with disposition `handler` ends the process. Handlers do
/// not run yet, so a caught signal takes its default action: it terminates
/// if that is the default, and is harmless if the default is to ignore
/// (SIGCHLD, SIGURG, SIGWINCH) or stop/continue (SIGCONT ...), as it would
/// be once the handler returned.
fn harmful(handler: u64, sig: u32) -> bool {
    handler != SIG_IGN && default_action(sig) == DefaultAction::Terminate
}

/// Queue `sig` for task `pid` (kill(2)); a sleeping task is woken so it
/// can act on it.
///
/// init (pid 1) is unkillable as in Linux (SIGNAL_UNKILLABLE): a signal
/// it has not caught is dropped, SIGKILL included, so no process can end
/// the machine's init (the OOM killer never picks it either).
pub fn send(pid: super::Pid, sig: u32) {
    let Some(t) = super::task(pid) else { return };
    if sig == 0 || sig > NSIG {
        return;
    }
    {
        let mut i = t.inner.lock();
        let handler = i.sig.actions[(sig - 1) as usize][0];
        if pid == 1 && handler == SIG_DFL {
            return;
        }
        if sig != SIGKILL && !harmful(handler, sig) {
            return;
        }
        i.sig.pending |= 1 << (sig - 1);
    }
    super::sched::wake(pid);
}

/// Terminal signals (^C) raised in interrupt context that found a task's
/// lock taken: (process group, signal), retried at the next timer tick.
static DEFERRED: mm::sync::IrqLock<alloc::vec::Vec<(super::Pid, u32)>> = mm::sync::IrqLock::new(alloc::vec::Vec::new());

/// Send `sig` to every process in group `pgid` from an interrupt handler
/// (the console's ISIG characters): never waits for a task's lock, which
/// the interrupted code may hold; if one is taken, the whole group is
/// tried again at the next tick (a pending signal is a bit, so a second
/// delivery changes nothing).
pub fn send_to_group_from_irq(pgid: super::Pid, sig: u32) {
    if !try_send_group(pgid, sig) {
        DEFERRED.lock().push((pgid, sig));
    }
}

fn try_send_group(pgid: super::Pid, sig: u32) -> bool {
    let mut woken = alloc::vec::Vec::new();
    for t in super::all_tasks() {
        if t.pid == 0 || t.state() == super::ZOMBIE {
            continue;
        }
        let Some(mut i) = t.inner.try_lock() else { return false };
        if i.pgid != pgid {
            continue;
        }
        let handler = i.sig.actions[(sig - 1) as usize][0];
        if (t.pid == 1 && handler == SIG_DFL) || !harmful(handler, sig) {
            continue;
        }
        i.sig.pending |= 1 << (sig - 1);
        woken.push(t.pid);
    }
    for pid in woken {
        super::sched::wake(pid);
    }
    true
}

/// Retry deferred terminal signals (from the timer tick).
pub fn flush_deferred() {
    let list = match DEFERRED.try_lock() {
        Some(mut d) if !d.is_empty() => core::mem::take(&mut *d),
        _ => return,
    };
    for (pgid, sig) in list {
        send_to_group_from_irq(pgid, sig);
    }
}

/// A fatal signal pending for the current task, if any (SIGKILL first,
/// then the lowest unblocked one).
pub fn pending_fatal() -> Option<u32> {
    let me = current();
    let i = me.inner.lock();
    let p = i.sig.pending;
    if p == 0 {
        return None;
    }
    if p & (1 << (SIGKILL - 1)) != 0 {
        return Some(SIGKILL);
    }
    let deliverable = p & !i.sig.blocked;
    (deliverable != 0).then(|| deliverable.trailing_zeros() + 1)
}

/// On the way back to user mode: act on a pending fatal signal.
pub fn check_pending(_frame: &mut TrapFrame) {
    if super::current_pid() == 0 {
        return;
    }
    if let Some(sig) = pending_fatal() {
        exit::do_exit(exit::status_signaled(sig));
    }
}

/// The signal a CPU exception from user mode turns into.
pub fn for_exception(vector: u64) -> Option<u32> {
    Some(match vector {
        0 => SIGFPE,      // #DE
        1 | 3 => SIGTRAP, // #DB, #BP
        4 | 5 => SIGSEGV, // #OF, #BR
        6 => SIGILL,      // #UD
        7 => SIGSEGV,     // #NM: no FPU (never with SSE enabled)
        10 | 11 | 12 | 13 => SIGSEGV,
        14 => SIGSEGV,
        16 | 19 => SIGFPE, // x87 / SIMD floating point
        17 => SIGBUS,      // #AC
        _ => return None,
    })
}

/// The `in name[start+len]` part of a fault report: the mapping holding
/// `ip`.
fn where_is(ip: u64) -> alloc::string::String {
    let me = current();
    let mm = me.mm();
    let name = me.name();
    drop(me);
    if let Some(mm) = mm {
        let space = mm.space.lock();
        if let Some(v) = space.vmas.containing(ip) {
            let file = v.backing.object().map(|o| o.name.rsplit('/').next().unwrap_or("").into()).unwrap_or(name);
            return alloc::format!(" in {}[{:x}+{:x}]", file, v.start, v.end - v.start);
        }
    }
    alloc::string::String::new()
}

/// A user fault that cannot be resolved: report it as Linux does and end
/// the process with `sig`.
pub fn fatal_fault(frame: &TrapFrame, sig: u32, addr: u64) -> ! {
    let me = current();
    let (pid, name) = (me.pid, me.name());
    drop(me);
    let place = where_is(frame.rip);
    match (frame.vector, sig) {
        (14, _) => crate::ratelimited!(
            log::Level::Info,
            "{}[{}]: segfault at {:x} ip {:016x} sp {:016x} error {:x}{}",
            name,
            pid,
            addr,
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
    // do_exit never returns: whatever this frame owns must go first.
    drop((name, place));
    exit::do_exit(exit::status_signaled(sig))
}
