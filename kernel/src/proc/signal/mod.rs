//! Signals (cf. kernel/signal.c): what a process does with each signal,
//! which signals wait for it, and how they are sent.
//!
//! ```text
//!   kill / fault / timer / tty ──send──▶ pending (bits + queued siginfo)
//!                                         │  ignored ones dropped at send
//!   return to user mode ──deliver.rs──▶ lowest unblocked (faults first)
//!        │ SIG_DFL: ignore, stop (job control), or terminate
//!        │ handler: frame.rs builds Linux's rt_sigframe, mask += sa_mask
//!        ▼
//!   handler ── returns to sa_restorer ── rt_sigreturn ──▶ frame.rs restores
//! ```
//!
//! Standard signals (1..31) are pending at most once; real-time signals
//! (32..64) queue, each with its siginfo, up to RLIMIT_SIGPENDING entries
//! per process (the bookkeeping is the `signals` crate's, tested on the
//! host). SIGKILL and SIGSTOP can never be caught, blocked or
//! ignored. Init (pid 1) only gets signals it has a handler for, unless a
//! fault of its own forces one (Linux's SIGNAL_UNKILLABLE).
//!
//! A signal sent to a process (kill, timers, the tty, SIGCHLD) waits in
//! its thread group's shared set when it has several threads, and wakes
//! the threads that do not block it; one sent to a thread (tgkill, a
//! fault) waits in that task's own set. A thread takes its own signals
//! first, then the shared ones.
//!
//! Locks: the signal state lives in the task's `inner` lock (the group's
//! shared set in `ThreadGroup::state`, taken after it) (taken before
//! the timers' lock, `proc::timer::TIMERS`, when a timer's signal is
//! queued or dequeued); sending takes
//! the target's `inner` alone and never another task's while holding it
//! (the parent's SIGCHLD is sent after the child's lock is dropped). From
//! interrupt context (the tty's ^C, timers) a send only tries the lock;
//! when it is held the send waits in `DEFERRED` (an IrqLock) for the next
//! timer tick.

pub mod deliver;
pub mod frame;
mod report;

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::Errno;
use abi::resource::RLIMIT_SIGPENDING;
use abi::signal::{
    NSIG, SI_KERNEL, SI_TIMER, SI_USER, SIG_DFL, SIG_IGN, SIGCHLD, SIGCONT, SIGKILL, SigAction, SigInfo, sigmask,
};
use mm::sync::IrqLock;

use super::{Pid, SLEEPING, STOPPED, Task, TaskInner, current, sched};

pub use report::{for_exception, force_fault, name};
use signals::pending::Pushed;
pub use signals::{DefaultAction, STOP_MASK, SigPending, UNBLOCKABLE, default_action};

/// Why the kernel stopped a system call to deliver a signal, so that
/// `restart_syscall(2)` can go on with it (Linux's `restart_block`): the
/// function and its arguments.
#[derive(Clone, Copy)]
pub struct RestartBlock {
    pub call: fn(&[u64; 4]) -> Result<u64, Errno>,
    pub args: [u64; 4],
}

/// What a parent's wait has not yet been told about a child's job
/// control: the signal that stopped it (WUNTRACED) or that it continued
/// (WCONTINUED).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    pub stopped: Option<u32>,
    pub continued: bool,
}

/// Signal dispositions, masks and pending signals of a process.
#[derive(Clone)]
pub struct SignalState {
    /// The dispositions (Linux's `sighand_struct`), 2 KiB, shared by the
    /// tasks created with CLONE_SIGHAND; a leaf lock.
    actions: Arc<spin::Mutex<[SigAction; NSIG as usize]>>,
    pub blocked: u64,
    /// The mask rt_sigtimedwait unblocked its set from (Linux's
    /// `real_blocked`): those signals are not ignored while it waits.
    pub real_blocked: u64,
    pub pending: SigPending,
    /// The mask to put back on the way to user mode (rt_sigsuspend,
    /// ppoll, pselect6, epoll_pwait replaced it for their wait).
    pub saved_mask: Option<u64>,
    pub restart: Option<RestartBlock>,
    pub job: JobReport,
    /// A fault forced a signal on init: its default action applies to init
    /// too from now on (Linux clears SIGNAL_UNKILLABLE).
    pub init_killable: bool,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: Arc::new(spin::Mutex::new([SigAction::default(); NSIG as usize])),
            blocked: 0,
            real_blocked: 0,
            pending: SigPending::default(),
            saved_mask: None,
            restart: None,
            job: JobReport::default(),
            init_killable: false,
        }
    }
}

impl SignalState {
    pub fn action(&self, sig: u32) -> SigAction {
        self.actions.lock()[(sig - 1) as usize]
    }

    pub fn set_action(&self, sig: u32, act: SigAction) {
        self.actions.lock()[(sig - 1) as usize] = act;
    }

    /// The state a new task starts with: the parent's dispositions (the
    /// same table with CLONE_SIGHAND, a copy otherwise) and mask, nothing
    /// pending.
    pub fn for_child(&self, share_actions: bool) -> SignalState {
        let actions =
            if share_actions { self.actions.clone() } else { Arc::new(spin::Mutex::new(*self.actions.lock())) };
        SignalState { actions, blocked: self.blocked, ..SignalState::default() }
    }

    /// execve: handlers go back to the default (ignored signals stay
    /// ignored), the mask and pending signals stay, the alternate stack
    /// goes (in the caller). The table stops being shared (Linux's
    /// `unshare_sighand`).
    pub fn exec(&mut self) {
        let copy = *self.actions.lock();
        self.actions = Arc::new(spin::Mutex::new(copy));
        for a in self.actions.lock().iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            } else {
                *a = SigAction { handler: SIG_IGN, ..SigAction::default() };
            }
        }
        self.restart = None;
    }

    /// Signals with a handler (SigCgt) and ignored ones (SigIgn), as masks.
    pub fn caught_and_ignored(&self) -> (u64, u64) {
        let (mut cgt, mut ign) = (0, 0);
        for (n, a) in self.actions.lock().iter().enumerate() {
            match a.handler {
                SIG_DFL => {}
                SIG_IGN => ign |= 1 << n,
                _ => cgt |= 1 << n,
            }
        }
        (cgt, ign)
    }
}

/// Whether `sig` sent to `pid` would be dropped at once (Linux's
/// `sig_ignored`): not blocked, and ignored explicitly or by default, or
/// init's default.
fn ignored(pid: Pid, i: &TaskInner, sig: u32) -> bool {
    if (i.sig.blocked | i.sig.real_blocked) & sigmask(sig) != 0 {
        return false;
    }
    let handler = i.sig.action(sig).handler;
    if handler == SIG_IGN {
        return true;
    }
    if handler != SIG_DFL {
        return false;
    }
    if pid == 1 {
        return true;
    }
    matches!(default_action(sig), DefaultAction::Ignore | DefaultAction::Continue)
}

/// A POSIX timer's signal that did not enter (or left) the queue without
/// being delivered: the timer may queue it again (its overruns so far are
/// what timer_getoverrun reports).
fn not_queued(pid: Pid, info: &SigInfo) {
    if info.code == SI_TIMER {
        super::timer::collect_overrun(pid, info.pid() as i32);
    }
}

/// Drop the pending signals in `mask` of task `t`, and those of its
/// process (`i` is `t`'s inner state).
pub fn flush(t: &Task, i: &mut TaskInner, mask: u64) {
    let mut dropped = i.sig.pending.flush(mask);
    if let Some(mut g) = t.group.state.try_lock() {
        dropped.extend(g.shared.flush(mask));
    }
    for info in dropped {
        not_queued(t.tgid(), &info);
    }
}

/// The signals pending for task `t` (own and its process's).
pub fn pending_set(t: &Task, i: &TaskInner) -> u64 {
    i.sig.pending.set | t.group.shared_set()
}

/// What a send asks of the caller once the target's lock is dropped.
#[derive(Default)]
struct Effects {
    /// The signal became pending (signalfd readers look).
    queued: bool,
    wake: bool,
    /// Run a stopped task again (SIGCONT, SIGKILL).
    resume: bool,
    /// Tell the parent the task continued (CLD_CONTINUED).
    continued: bool,
    /// The signal went to the process's shared set: `sig` is it.
    shared: bool,
    sig: u32,
}

/// Queue `info` for the task whose inner state is `i` (Linux's
/// `prepare_signal` + `__send_signal_locked`). EAGAIN only for a
/// real-time signal from sigqueue that finds the queue full.
///
/// With `shared`, the signal is for `t`'s whole process and waits in the
/// group's set (`t` is then the leader, whose dispositions and mask
/// decide whether it is ignored, as in Linux's `sig_ignored`).
fn send_locked(t: &Task, i: &mut TaskInner, info: SigInfo, force: bool, shared: bool) -> Result<Effects, Errno> {
    let sig = info.signo as u32;
    let mut fx = Effects::default();
    let stopped = if shared { group_stopped(t) } else { t.state() == STOPPED };
    if sigmask(sig) & STOP_MASK != 0 {
        flush(t, i, sigmask(SIGCONT));
    } else if sig == SIGCONT {
        flush(t, i, STOP_MASK);
        if let Some(mut g) = t.group.state.try_lock() {
            g.stop = None;
        }
        if stopped {
            fx.resume = true;
            fx.continued = true;
            i.sig.job = JobReport { stopped: None, continued: true };
        }
    }
    if sig == SIGKILL && stopped {
        fx.resume = true;
    }
    let owner = t.tgid();
    if !force && ignored(owner, i, sig) {
        not_queued(owner, &info);
        return Ok(fx);
    }
    let limit = i.rlimits[RLIMIT_SIGPENDING].cur;
    fx.queued = true;
    let pushed = if shared {
        let Some(mut g) = t.group.state.try_lock() else { return Err(abi::errno::EAGAIN) };
        g.shared.push(info, limit)
    } else {
        i.sig.pending.push(info, limit)
    };
    match pushed {
        Ok(Pushed::Queued) => {}
        Ok(Pushed::BitOnly) => not_queued(owner, &info),
        Ok(Pushed::Coalesced) => {
            not_queued(owner, &info);
            fx.queued = false;
            return Ok(fx);
        }
        Err(e) => {
            not_queued(owner, &info);
            return Err(e);
        }
    }
    if force {
        // A fault's signal: blocked or ignored, it kills anyway (Linux's
        // `force_sig_info_to_task`).
        i.sig.init_killable = true;
        if i.sig.action(sig).handler == SIG_IGN || i.sig.blocked & sigmask(sig) != 0 {
            i.sig.set_action(sig, SigAction::default());
            i.sig.blocked &= !sigmask(sig);
        }
    }
    fx.wake = shared || i.sig.blocked & sigmask(sig) == 0 || sig == SIGKILL;
    Ok(fx)
}

/// Some thread of `t`'s process is stopped by job control.
fn group_stopped(t: &Task) -> bool {
    let tids = match t.group.state.try_lock() {
        Some(g) => g.threads.clone(),
        None => return t.state() == STOPPED,
    };
    tids.into_iter().filter_map(super::try_task).any(|x| x.state() == STOPPED)
}

/// Woken whenever a signal becomes pending for any task: signalfd readers
/// and pollers wait here (they look at their own task's pending set).
pub static QUEUED: super::waitqueue::WaitQueue = super::waitqueue::WaitQueue::new();

/// Act on a send's effects with no lock held.
fn apply(t: &Task, fx: Effects) {
    if fx.queued {
        QUEUED.wake_all();
    }
    if fx.shared {
        apply_group(t, fx);
        return;
    }
    if fx.resume && t.state() == STOPPED {
        if let Some(task) = super::task(t.pid()) {
            sched::add(task);
        }
    } else if fx.wake && t.state() == SLEEPING {
        sched::wake(t.pid());
    }
    if fx.continued {
        notify_parent_stop(t, abi::signal::CLD_CONTINUED, SIGCONT);
    }
}

/// A process-wide signal's wake-ups (Linux's `complete_signal`): every
/// thread that does not block it looks at it (the first to get there
/// takes it), stopped threads run again for SIGCONT and SIGKILL. From
/// interrupt context a thread whose lock is held is woken anyway.
fn apply_group(t: &Task, fx: Effects) {
    let tids = match t.group.state.try_lock() {
        Some(g) => g.threads.clone(),
        None => Vec::new(),
    };
    for x in tids.into_iter().filter_map(super::try_task) {
        if fx.resume && x.state() == STOPPED {
            sched::add(x.clone());
            continue;
        }
        let blocked = x.inner.try_lock().is_some_and(|i| i.sig.blocked & sigmask(fx.sig) != 0);
        if x.state() == SLEEPING && (!blocked || fx.sig == SIGKILL) {
            sched::wake(x.pid());
        }
    }
    if fx.continued {
        notify_parent_stop(t, abi::signal::CLD_CONTINUED, SIGCONT);
    }
}

/// Send to one thread.
fn send_to(t: &Task, info: SigInfo, force: bool) -> Result<(), Errno> {
    let fx = {
        let mut i = t.inner.lock();
        send_locked(t, &mut i, info, force, false)?
    };
    apply(t, fx);
    Ok(())
}

/// Send to the process `t` belongs to: to its only live thread, or to
/// the group's shared set.
fn send_to_process(t: &Task, info: SigInfo) -> Result<(), Errno> {
    let live = t.group.threads();
    match live.as_slice() {
        [] => Ok(()),
        [one] => match super::task(*one) {
            Some(x) => send_to(&x, info, false),
            None => Ok(()),
        },
        _ => {
            let leader = super::task(t.tgid()).ok_or(abi::errno::ESRCH)?;
            let fx = {
                let mut i = leader.inner.lock();
                send_locked(&leader, &mut i, info, false, true)?
            };
            apply(&leader, Effects { shared: true, sig: info.signo as u32, ..fx });
            Ok(())
        }
    }
}

/// Queue a signal for process `pid` (task context). Signals to a dead or
/// unknown pid vanish.
pub fn send_info(pid: Pid, info: SigInfo) {
    let _ = try_send_info(pid, info);
}

/// As [`send_info`], with sigqueue's error: EAGAIN when the real-time
/// queue is full.
pub fn try_send_info(pid: Pid, info: SigInfo) -> Result<(), Errno> {
    if pid == 0 || info.signo <= 0 || info.signo as u32 > NSIG {
        return Ok(());
    }
    match super::task(pid) {
        Some(t) => send_to_process(&t, info),
        None => Ok(()),
    }
}

/// Send to thread `tid` alone (tkill, tgkill, rt_tgsigqueueinfo).
pub fn send_to_thread(tid: Pid, info: SigInfo) -> Result<(), Errno> {
    match super::task(tid) {
        Some(t) if t.state() != super::ZOMBIE => send_to(&t, info, false),
        _ => Ok(()),
    }
}

/// A signal from the kernel itself (SI_KERNEL): OOM kills, SIGPIPE,
/// PR_SET_PDEATHSIG.
pub fn send(pid: Pid, sig: u32) {
    let code = if sig == SIGKILL { SI_KERNEL } else { SI_USER };
    send_info(pid, SigInfo::new(sig, code));
}

/// A signal from the kernel to one thread (SIGPIPE goes to the writer).
pub fn send_thread(tid: Pid, sig: u32) {
    let _ = send_to_thread(tid, SigInfo::new(sig, SI_USER));
}

/// A signal the current task's own fault raised: delivered even if
/// blocked or ignored (then with the default action).
pub fn force_current(info: SigInfo) {
    let me = current();
    let _ = send_to(&me, info, true);
}

/// Sends from interrupt context that found a task's lock taken, retried
/// at the next timer tick.
enum Deferred {
    Task(Pid, SigInfo),
    Thread(Pid, SigInfo),
    Group(Pid, SigInfo),
    /// A SIGCONT continued this task: its parent is still to be told.
    Continued(Pid),
}

static DEFERRED: IrqLock<Vec<Deferred>> = IrqLock::new(Vec::new());

/// [`send_info`] from an interrupt handler (timers): never waits for the
/// task's lock, which the interrupted code may hold.
pub fn send_info_from_irq(pid: Pid, info: SigInfo) {
    if !try_send_from_irq(pid, info) {
        DEFERRED.lock().push(Deferred::Task(pid, info));
    }
}

/// [`send_info_from_irq`] to one thread (a SIGEV_THREAD_ID timer).
pub fn send_thread_info_from_irq(tid: Pid, info: SigInfo) {
    if !try_send_thread_from_irq(tid, info) {
        DEFERRED.lock().push(Deferred::Thread(tid, info));
    }
}

fn try_send_thread_from_irq(tid: Pid, info: SigInfo) -> bool {
    let Some(found) = super::try_lookup(tid) else { return false };
    // A thread that is gone gets nothing.
    let Some(t) = found else { return true };
    if t.state() == super::ZOMBIE {
        return true;
    }
    let fx = {
        let Some(mut i) = t.inner.try_lock() else { return false };
        match send_locked(&t, &mut i, info, false, false) {
            Ok(fx) => fx,
            Err(_) => return true,
        }
    };
    if fx.continued {
        DEFERRED.lock().push(Deferred::Continued(t.tgid()));
    }
    apply(&t, Effects { continued: false, ..fx });
    true
}

fn try_send_from_irq(pid: Pid, info: SigInfo) -> bool {
    let Some(found) = super::try_lookup(pid) else { return false };
    let Some(t) = found else { return true };
    let Some(live) = t.group.state.try_lock().map(|g| g.threads.clone()) else { return false };
    let (t, shared) = match live.as_slice() {
        [] => return true,
        [one] if *one == t.pid() => (t, false),
        [one] => match super::try_task(*one) {
            Some(x) => (x, false),
            None => return false,
        },
        _ if t.is_leader() => (t, true),
        _ => match super::try_task(t.tgid()) {
            Some(x) => (x, true),
            None => return false,
        },
    };
    let fx = {
        let Some(mut i) = t.inner.try_lock() else { return false };
        match send_locked(&t, &mut i, info, false, shared) {
            Ok(fx) => Effects { shared, sig: info.signo as u32, ..fx },
            Err(_) => return !shared,
        }
    };
    if fx.continued {
        // The parent's lock may be held too: CLD_CONTINUED waits.
        DEFERRED.lock().push(Deferred::Continued(t.pid()));
    }
    apply(&t, Effects { continued: false, ..fx });
    true
}

/// Send `sig` to every process in group `pgid` from an interrupt handler
/// (the console's ^C, ^\, ^Z).
pub fn send_to_group_from_irq(pgid: Pid, sig: u32) {
    let info = SigInfo::new(sig, SI_KERNEL);
    if !try_send_group_from_irq(pgid, info) {
        DEFERRED.lock().push(Deferred::Group(pgid, info));
    }
}

fn try_send_group_from_irq(pgid: Pid, info: SigInfo) -> bool {
    let Some(tasks) = super::try_all_tasks() else { return false };
    let mut members = Vec::new();
    for t in tasks {
        if t.pid() == 0 || t.is_dead() {
            continue;
        }
        let Some(i) = t.inner.try_lock() else { return false };
        if i.pgid == pgid {
            drop(i);
            members.push(t);
        }
    }
    // A pending standard signal is a bit, so a second attempt at a task
    // that got it already changes nothing.
    members.into_iter().all(|t| try_send_from_irq(t.pid(), info))
}

/// Retry deferred sends (from the timer tick, after the tick's wake-ups).
pub fn flush_deferred() {
    let list = match DEFERRED.try_lock() {
        Some(mut d) if !d.is_empty() => core::mem::take(&mut *d),
        _ => return,
    };
    for d in list {
        match d {
            Deferred::Continued(pid) => {
                if !try_notify_continued_from_irq(pid) {
                    DEFERRED.lock().push(Deferred::Continued(pid));
                }
            }
            Deferred::Task(pid, info) => send_info_from_irq(pid, info),
            Deferred::Thread(tid, info) => send_thread_info_from_irq(tid, info),
            Deferred::Group(pgid, info) => {
                if !try_send_group_from_irq(pgid, info) {
                    DEFERRED.lock().push(Deferred::Group(pgid, info));
                }
            }
        }
    }
}

/// [`notify_parent_stop`] of a continue from interrupt context: false if
/// a lock it needs is held (nothing was sent then).
fn try_notify_continued_from_irq(pid: Pid) -> bool {
    let Some(t) = super::try_task(pid) else { return true };
    let (ppid, uid, utime, stime) = match t.inner.try_lock() {
        Some(i) => (i.ppid, i.creds.uid, i.utime, i.stime),
        None => return false,
    };
    let Some(parent) = super::try_task(ppid) else { return true };
    let act = match parent.inner.try_lock() {
        Some(i) => i.sig.action(SIGCHLD),
        None => return false,
    };
    if act.handler != SIG_IGN && act.flags & abi::signal::SA_NOCLDSTOP == 0 {
        let info = SigInfo::child(abi::signal::CLD_CONTINUED, pid, uid, SIGCONT as i32, utime, stime);
        if !try_send_from_irq(ppid, info) {
            return false;
        }
    }
    super::wake_process_from_irq(ppid);
    true
}

/// Send `info` to every member of process group `pgid` (kill(-pgid),
/// killpg, the orphaned-group SIGHUP); returns how many there were.
pub fn kill_pgrp(pgid: Pid, info: SigInfo) -> usize {
    let members = super::pgrp::members(pgid);
    for t in &members {
        let _ = send_to_process(t, info);
    }
    members.len()
}

/// Whether the current task has a signal it must act on before going
/// back to user mode: a blocking call then stops with a restart code.
pub fn signal_pending() -> bool {
    if super::current_pid() == 0 {
        return false;
    }
    let me = current();
    let i = me.inner.lock();
    // A group stop another thread started interrupts waits too, so that
    // this thread reaches the stop on its way out.
    pending_set(&me, &i) & (!i.sig.blocked | sigmask(SIGKILL)) != 0 || me.group.state.lock().stop.is_some()
}

/// A SIGKILL is pending (the process is dying): waits that must not be
/// interrupted by other signals still end.
pub fn fatal_pending() -> bool {
    if super::current_pid() == 0 {
        return false;
    }
    let me = current();
    let i = me.inner.lock();
    pending_set(&me, &i) & sigmask(SIGKILL) != 0
}

/// Replace the blocked set until this system call returns to user mode
/// (rt_sigsuspend, ppoll, pselect6, epoll_pwait): the old one comes back
/// then, or, if a handler runs, when it returns (it is in the frame).
pub fn set_restore_sigmask(mask: u64) {
    let me = current();
    let mut i = me.inner.lock();
    if i.sig.saved_mask.is_none() {
        i.sig.saved_mask = Some(i.sig.blocked);
    }
    i.sig.blocked = mask & !UNBLOCKABLE;
}

/// Put back the mask [`set_restore_sigmask`] replaced, now (the call was
/// not interrupted).
pub fn restore_sigmask() {
    let me = current();
    let mut i = me.inner.lock();
    if let Some(old) = i.sig.saved_mask.take() {
        set_blocked(&mut i, old);
    }
}

/// Set the blocked mask (rt_sigprocmask, sigreturn, handler entry).
pub fn set_blocked(i: &mut TaskInner, mask: u64) {
    i.sig.blocked = mask & !UNBLOCKABLE;
}

/// Take a pending signal in `set` of task `t` for rt_sigtimedwait.
pub fn dequeue_from(t: &Task, i: &mut TaskInner, set: u64) -> Option<SigInfo> {
    dequeue(t, i, !set)
}

/// Dequeue the next signal not in `blocked` (Linux's `dequeue_signal`):
/// the thread's own first, then its process's; SIGKILL before anything.
pub fn dequeue(t: &Task, i: &mut TaskInner, blocked: u64) -> Option<SigInfo> {
    let kill = sigmask(SIGKILL);
    // SIGKILL leaves a pending set and marks the process dying in one
    // step (under this task's lock, and the group's for a shared one):
    // a reader holding either never finds it alive and unkilled.
    let dying = Some(crate::proc::exit::status_signaled(SIGKILL));
    let mut info = if i.sig.pending.set & kill != 0 {
        t.group.state.lock().dying = dying;
        i.sig.pending.take(SIGKILL)
    } else if let Some(sig) = i.sig.pending.next(blocked) {
        i.sig.pending.take(sig)
    } else {
        let mut g = t.group.state.lock();
        let sig = if g.shared.set & kill != 0 { SIGKILL } else { g.shared.next(blocked)? };
        if sig == SIGKILL {
            g.dying = dying;
        }
        g.shared.take(sig)
    };
    if info.code == SI_TIMER {
        // A POSIX timer's signal learns its overrun count now, and the
        // timer may queue it again.
        info.set_overrun(super::timer::collect_overrun(t.tgid(), info.pid() as i32));
    }
    Some(info)
}

/// Tell `child`'s parent that it stopped or continued (Linux's
/// `do_notify_parent_cldstop`): SIGCHLD unless the parent set
/// SA_NOCLDSTOP or ignores it, and a wake-up for its wait.
pub fn notify_parent_stop(child: &Task, why: i32, sig: u32) {
    let (ppid, uid, utime, stime) = {
        let i = child.inner.lock();
        (i.ppid, i.creds.uid, i.utime, i.stime)
    };
    let Some(parent) = super::task(ppid) else { return };
    let act = parent.inner.lock().sig.action(SIGCHLD);
    if act.handler != SIG_IGN && act.flags & abi::signal::SA_NOCLDSTOP == 0 {
        let _ = send_to(&parent, SigInfo::child(why, child.pid(), uid, sig as i32, utime, stime), false);
    }
    super::wake_process(ppid);
}

/// Whether process `ppid` has children reaped at once (it ignores SIGCHLD
/// or set SA_NOCLDWAIT).
pub fn parent_autoreaps(ppid: Pid) -> bool {
    if ppid == 0 {
        return false;
    }
    let Some(parent) = super::task(ppid) else { return false };
    let act = parent.inner.lock().sig.action(SIGCHLD);
    act.handler == SIG_IGN || act.flags & abi::signal::SA_NOCLDWAIT != 0
}

/// Tell the parent of the exiting current task (Linux's
/// `do_notify_parent`); returns true if the child is to be reaped at once
/// (the parent ignores SIGCHLD or set SA_NOCLDWAIT).
pub fn notify_parent_exit(child: &Task, ppid: Pid, status: i32) -> bool {
    let (uid, utime, stime) = {
        let i = child.inner.lock();
        (i.creds.uid, i.utime + i.exited_threads.0, i.stime + i.exited_threads.1)
    };
    let Some(parent) = super::task(ppid) else { return false };
    if ppid == 0 {
        return false;
    }
    let act = parent.inner.lock().sig.action(SIGCHLD);
    let autoreap = act.handler == SIG_IGN || act.flags & abi::signal::SA_NOCLDWAIT != 0;
    let (code, st) = if status & 0x7f == 0 {
        (abi::signal::CLD_EXITED, (status >> 8) & 0xff)
    } else if status & 0x80 != 0 {
        (abi::signal::CLD_DUMPED, status & 0x7f)
    } else {
        (abi::signal::CLD_KILLED, status & 0x7f)
    };
    if act.handler != SIG_IGN {
        let _ = send_to(&parent, SigInfo::child(code, child.pid(), uid, st, utime, stime), false);
    }
    super::wake_process(ppid);
    autoreap
}

/// Whether `sig` with its current disposition would kill the task if
/// delivered now (fault reports only print for those).
pub fn unhandled(i: &TaskInner, sig: u32) -> bool {
    matches!(i.sig.action(sig).handler, SIG_DFL | SIG_IGN) || i.sig.blocked & sigmask(sig) != 0
}
