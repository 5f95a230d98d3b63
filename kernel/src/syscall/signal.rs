//! Signal system calls (cf. kernel/signal.c): rt_sigaction,
//! rt_sigprocmask, rt_sigpending, rt_sigsuspend, rt_sigtimedwait,
//! rt_sigqueueinfo, rt_tgsigqueueinfo, kill, tkill, tgkill, sigaltstack,
//! rt_sigreturn, pause, restart_syscall, and waitid. Signal sets are one
//! 64-bit word: `sigsetsize` must be 8 (rt_sigpending accepts less).

use abi::errno::*;
use abi::signal::{
    NSIG, SA_EXPOSE_TAGBITS, SA_NOCLDSTOP, SA_NOCLDWAIT, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_RESTORER,
    SA_SIGINFO, SI_KERNEL, SI_TKILL, SI_USER, SIG_BLOCK, SIG_DFL, SIG_IGN, SIG_SETMASK, SIG_UNBLOCK, SIGCONT, SIGSEGV,
    SigAction, SigInfo, StackT, sigmask,
};
use abi::wait::{
    P_ALL, P_PGID, P_PID, P_PIDFD, WALL, WCLONE, WCONTINUED, WEXITED, WNOHANG, WNOTHREAD, WNOWAIT, WSTOPPED,
};
use arch::trap::TrapFrame;

use super::SysResult;
use crate::proc::exit::{self, WaitFor};
use crate::proc::signal::{self, DefaultAction, UNBLOCKABLE, deliver, frame};
use crate::proc::waitqueue::WaitQueue;
use crate::proc::{self, Pid, current, sched};
use crate::usercopy::{read_user, write_user};

/// The sa_flags Linux keeps (`UAPI_SA_FLAGS`): unknown bits are cleared,
/// so a program can find out what is supported (SA_UNSUPPORTED).
const KNOWN_SA_FLAGS: u64 = SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND
    | SA_EXPOSE_TAGBITS
    | SA_RESTORER;

fn check_sig(sig: u32) -> Result<(), Errno> {
    if sig == 0 || sig > NSIG { Err(EINVAL) } else { Ok(()) }
}

pub fn rt_sigaction(sig: u32, act: u64, oact: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    check_sig(sig)?;
    let new: Option<SigAction> = if act != 0 { Some(read_user(act)?) } else { None };
    if new.is_some() && sigmask(sig) & UNBLOCKABLE != 0 {
        return Err(EINVAL);
    }
    let me = current();
    let old = {
        let mut i = me.inner.lock();
        let old = i.sig.action(sig);
        if let Some(mut n) = new {
            n.flags &= KNOWN_SA_FLAGS;
            n.mask &= !UNBLOCKABLE;
            i.sig.set_action(sig, n);
            // POSIX: a pending signal whose action becomes "ignore" is
            // discarded, blocked or not.
            let ignored = n.handler == SIG_IGN
                || (n.handler == SIG_DFL
                    && matches!(signal::default_action(sig), DefaultAction::Ignore | DefaultAction::Continue));
            if ignored {
                signal::flush(&me, &mut i, sigmask(sig));
            }
        }
        old
    };
    drop(me);
    if oact != 0 {
        write_user(oact, &old)?;
    }
    Ok(0)
}

pub fn rt_sigprocmask(how: u32, set: u64, oset: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let new: Option<u64> = if set != 0 { Some(read_user(set)?) } else { None };
    if new.is_some() && !matches!(how, SIG_BLOCK | SIG_UNBLOCK | SIG_SETMASK) {
        return Err(EINVAL);
    }
    let me = current();
    let old = {
        let mut i = me.inner.lock();
        let old = i.sig.blocked;
        if let Some(n) = new {
            let mask = match how {
                SIG_BLOCK => old | n,
                SIG_UNBLOCK => old & !n,
                _ => n,
            };
            signal::set_blocked(&mut i, mask);
        }
        old
    };
    drop(me);
    if oset != 0 {
        write_user(oset, &old)?;
    }
    Ok(0)
}

/// rt_sigpending(2): the pending signals that are blocked (the others are
/// delivered on the way out of this call).
pub fn rt_sigpending(set: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize > 8 {
        return Err(EINVAL);
    }
    let pending = {
        let me = current();
        let i = me.inner.lock();
        signal::pending_set(&me, &i) & i.sig.blocked
    };
    let bytes = pending.to_le_bytes();
    crate::usercopy::copy_to_user(set, &bytes[..sigsetsize as usize])?;
    Ok(0)
}

/// Where pause and sigsuspend sleep: nothing wakes this queue, only
/// signals end the wait.
static PAUSED: WaitQueue = WaitQueue::new();

fn wait_for_signal() -> Errno {
    match PAUSED.wait_until(None, || None::<()>) {
        Err(_) => ERESTARTNOHAND,
        Ok(_) => ERESTARTNOHAND,
    }
}

/// pause(2): sleep until a signal is delivered; -1 EINTR after a handler.
pub fn pause() -> SysResult {
    Err(wait_for_signal())
}

/// rt_sigsuspend(2): wait with `mask` blocked; the old mask is back when
/// the handler returns.
pub fn rt_sigsuspend(mask: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let mask: u64 = read_user(mask)?;
    signal::set_restore_sigmask(mask);
    Err(wait_for_signal())
}

/// rt_sigtimedwait(2): take a signal of `set` (normally blocked) off the
/// pending set, waiting for one up to the timeout (EAGAIN when it
/// passes); another signal's handler interrupts with EINTR.
pub fn rt_sigtimedwait(uthese: u64, uinfo: u64, uts: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let set: u64 = read_user(uthese)?;
    let set = set & !UNBLOCKABLE;
    let timeout = if uts != 0 { Some(super::time::read_timespec(uts)?) } else { None };
    let me = current();
    let mut got = signal::dequeue_from(&me, &mut me.inner.lock(), set);
    if got.is_none() && timeout != Some(0) {
        {
            // Linux: the waited-for signals are unblocked while waiting,
            // and the real mask is remembered so they are not ignored.
            let mut i = me.inner.lock();
            i.sig.real_blocked = i.sig.blocked;
            let b = i.sig.blocked & !set;
            signal::set_blocked(&mut i, b);
        }
        let tick_ns = 1_000_000_000 / sched::HZ;
        // One tick more: the current tick has partly gone already.
        let deadline = timeout.map(|ns| sched::ticks().saturating_add(ns.div_ceil(tick_ns)).saturating_add(1));
        let _ = PAUSED.wait_until(deadline, || None::<()>);
        let mut i = me.inner.lock();
        let real = i.sig.real_blocked;
        i.sig.real_blocked = 0;
        signal::set_blocked(&mut i, real);
        got = signal::dequeue_from(&me, &mut i, set);
    }
    drop(me);
    match got {
        Some(info) => {
            if uinfo != 0 {
                write_user(uinfo, &info)?;
            }
            Ok(info.signo as u64)
        }
        None if timeout.is_some() && !signal::signal_pending() => Err(EAGAIN),
        None => Err(EINTR),
    }
}

/// Linux's `kill_ok_by_cred` and the SIGCONT-in-session rule.
pub(super) fn may_signal(target: &proc::Task, sig: u32) -> bool {
    let me = current();
    if me.tgid() == target.tgid() {
        return true;
    }
    let (my, my_sid) = {
        let i = me.inner.lock();
        (i.creds.clone(), i.sid)
    };
    let (tc, tsid) = {
        let i = target.inner.lock();
        (i.creds.clone(), i.sid)
    };
    my.is_root()
        || [my.uid, my.euid].iter().any(|u| *u == tc.uid || *u == tc.suid)
        || (sig == SIGCONT && tsid == my_sid)
}

/// Send `info` (signal number 0: only check) to each process of
/// `targets`: ESRCH if there are none, EPERM if none could be signalled,
/// else the first queueing error (EAGAIN).
fn send_to_all(targets: &[Pid], info: SigInfo) -> SysResult {
    send_to_each(targets, info, false)
}

/// [`send_to_all`] to threads (`thread`) or processes.
fn send_to_each(targets: &[Pid], info: SigInfo, thread: bool) -> SysResult {
    let sig = info.signo as u32;
    let mut allowed = false;
    let mut result = Ok(0);
    let mut found = false;
    for &t in targets {
        let Some(task) = proc::task(t) else { continue };
        found = true;
        if !may_signal(&task, sig) {
            continue;
        }
        allowed = true;
        if sig != 0 {
            let sent = if thread { signal::send_to_thread(t, info) } else { signal::try_send_info(t, info) };
            if let Err(e) = sent {
                result = Err(e);
            }
        }
    }
    if !found {
        return Err(ESRCH);
    }
    if !allowed {
        return Err(EPERM);
    }
    result
}

/// The siginfo of kill(2) and tkill(2) from the caller.
fn user_info(sig: u32, code: i32) -> SigInfo {
    let me = current();
    let uid = me.inner.lock().creds.uid;
    SigInfo::from_process(sig, code, me.tgid(), uid)
}

/// Who kill(2)'s `pid` names: one process, the caller's group, every
/// process but init and the caller, or a group.
fn kill_targets(pid: i32) -> alloc::vec::Vec<Pid> {
    let me = current().leader();
    let my_pgid = me.inner.lock().pgid;
    let group = |g: Pid| proc::pgrp::members(g).iter().map(|t| t.pid()).collect();
    match pid {
        p if p > 0 => alloc::vec![p as Pid],
        0 => group(my_pgid),
        -1 => proc::all_tasks()
            .iter()
            .filter(|t| t.pid() > 1 && t.pid() != me.pid() && !t.is_dead() && !t.inner.lock().kthread)
            .map(|t| t.pid())
            .collect(),
        p => group(p.unsigned_abs()),
    }
}

pub fn kill(pid: i32, sig: i32) -> SysResult {
    if !(0..=NSIG as i32).contains(&sig) {
        return Err(EINVAL);
    }
    // -INT_MIN does not exist: Linux answers ESRCH.
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    let r = send_to_all(&kill_targets(pid), user_info(sig as u32, SI_USER));
    // Linux's kill(-1) reports success unless every target failed with an
    // error other than EPERM.
    if pid == -1 && r == Err(EPERM) { Ok(0) } else { r }
}

/// tkill(2): one thread.
pub fn tkill(tid: i32, sig: i32) -> SysResult {
    if tid <= 0 || !(0..=NSIG as i32).contains(&sig) {
        return Err(EINVAL);
    }
    send_to_each(&[live_thread(tid)?], user_info(sig as u32, SI_TKILL), true)
}

/// A thread that has not exited, by tid (ESRCH otherwise). A thread
/// leaves its group's list first thing in exit, before its joiner is told
/// (CLONE_CHILD_CLEARTID), so a joined thread is gone here even while
/// another CPU still runs the rest of its exit.
fn live_thread(tid: i32) -> Result<Pid, Errno> {
    match proc::task(tid as Pid) {
        Some(t) if t.state() != proc::ZOMBIE && t.pid() != 0 && t.group.threads().contains(&t.pid()) => Ok(t.pid()),
        _ => Err(ESRCH),
    }
}

/// Thread `tid` if it belongs to process `tgid` (ESRCH otherwise).
fn thread_of(tgid: i32, tid: i32) -> Result<Pid, Errno> {
    let t = live_thread(tid)?;
    match proc::task(t) {
        Some(x) if x.tgid() == tgid as Pid => Ok(t),
        _ => Err(ESRCH),
    }
}

/// tgkill(2): thread `tid` of process `tgid` (ESRCH if it is not one of
/// its threads).
pub fn tgkill(tgid: i32, tid: i32, sig: i32) -> SysResult {
    if tgid <= 0 || tid <= 0 || !(0..=NSIG as i32).contains(&sig) {
        return Err(EINVAL);
    }
    send_to_each(&[thread_of(tgid, tid)?], user_info(sig as u32, SI_TKILL), true)
}

/// The siginfo a program passes to rt_sigqueueinfo: it may not pose as
/// the kernel or kill(2) towards another process (EPERM).
fn queued_info(target: i32, sig: i32, uinfo: u64) -> Result<SigInfo, Errno> {
    if !(0..=NSIG as i32).contains(&sig) {
        return Err(EINVAL);
    }
    let mut info: SigInfo = read_user(uinfo)?;
    if (info.code >= 0 || info.code == SI_TKILL) && target as Pid != proc::current_pid() {
        return Err(EPERM);
    }
    info.signo = sig;
    Ok(info)
}

pub fn rt_sigqueueinfo(pid: i32, sig: i32, uinfo: u64) -> SysResult {
    let info = queued_info(pid, sig, uinfo)?;
    if pid <= 0 {
        return Err(ESRCH);
    }
    send_to_all(&[pid as Pid], info)
}

pub fn rt_tgsigqueueinfo(tgid: i32, tid: i32, sig: i32, uinfo: u64) -> SysResult {
    if tgid <= 0 || tid <= 0 {
        return Err(EINVAL);
    }
    let info = queued_info(tid, sig, uinfo)?;
    send_to_each(&[thread_of(tgid, tid)?], info, true)
}

/// sigaltstack(2), at the caller's user stack pointer `sp`: EPERM while
/// running on the current alternate stack, EINVAL for bad flags, ENOMEM
/// below MINSIGSTKSZ. The old stack is written only on success.
pub fn sigaltstack(frame: &TrapFrame, uss: u64, uoss: u64) -> SysResult {
    let new: Option<StackT> = if uss != 0 { Some(read_user(uss)?) } else { None };
    let me = current();
    let old = {
        let mut i = me.inner.lock();
        let old = i.altstack.to_user(frame.rsp);
        if let Some(n) = new {
            frame::set_alt_stack(&mut i, &n, frame.rsp)?;
        }
        old
    };
    drop(me);
    if uoss != 0 {
        write_user(uoss, &old)?;
    }
    Ok(0)
}

/// rt_sigreturn(2): back from a handler. A frame that cannot be read or
/// would load kernel segments or a bad FPU state kills with SIGSEGV.
pub fn rt_sigreturn(frame: &mut TrapFrame) -> SysResult {
    match frame::sigreturn(frame) {
        Ok(rax) => Ok(rax),
        Err(_) => {
            let pid = proc::current_pid();
            crate::ratelimited!(
                log::Level::Info,
                "{}[{}] bad frame in rt_sigreturn frame:{:x} ip:{:x} sp:{:x}",
                current().name(),
                pid,
                frame.rsp.wrapping_sub(8),
                frame.rip,
                frame.rsp
            );
            signal::force_current(SigInfo::new(SIGSEGV, SI_KERNEL));
            Ok(frame.rax)
        }
    }
}

pub fn restart_syscall() -> SysResult {
    deliver::restart_syscall()
}

/// waitid(2): `idtype` P_ALL, P_PID, P_PGID (0: the caller's group) or
/// P_PIDFD (the pidfd's process, which must be a child); `options` must ask for WEXITED, WSTOPPED or WCONTINUED. The
/// siginfo is zeroed when WNOHANG finds nothing.
pub fn waitid(idtype: u32, id: i64, infop: u64, options: u32, rusage: u64) -> SysResult {
    let known = WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE;
    if options & !known != 0 || options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
        return Err(EINVAL);
    }
    let id32 = id as i32;
    let who = match idtype {
        P_ALL => WaitFor::Any,
        P_PID if id32 > 0 => WaitFor::Pid(id32 as Pid),
        P_PGID if id32 == 0 => WaitFor::Group(current().inner.lock().pgid),
        P_PGID if id32 > 0 => WaitFor::Group(id32 as Pid),
        P_PIDFD => WaitFor::Pid(crate::vfs::pidfd::pidfd_pid(id32)?),
        _ => return Err(EINVAL),
    };
    let ev = exit::wait_event(who, options)?;
    if infop != 0 {
        let info = match ev {
            Some(e) => SigInfo::child(e.code, e.pid, e.uid, e.si_status, e.usage.utime, e.usage.stime),
            None => SigInfo::new(0, 0),
        };
        write_user(infop, &info)?;
    }
    if rusage != 0 {
        let usage = ev.map(|e| e.usage).unwrap_or_default();
        write_user(rusage, &usage.to_rusage())?;
    }
    Ok(0)
}
