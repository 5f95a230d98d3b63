//! The way back to user mode (Linux's `exit_to_user_mode_loop`,
//! `get_signal` and x86's `arch_do_signal_or_restart`): every system call
//! and every trap from user mode ends here. Pending signals are taken one
//! at a time: ignored, stopping the process (job control), ending it, or
//! running a handler, whose frame goes on top of the interrupted state; a
//! second signal then nests its frame on top of the first handler's.
//!
//! A system call a signal interrupted returned one of the restart codes
//! (abi/src/errno.rs has the table): here it becomes EINTR or is
//! restarted, by pointing rip back at the `syscall` instruction with the
//! call's number in rax again, or at `restart_syscall` for calls that
//! left a [`super::RestartBlock`] (sleeps, whose time must not start
//! over).

use abi::errno::{EINTR, ERESTART_RESTARTBLOCK, Errno};
use abi::signal::{
    CLD_STOPPED, SA_NODEFER, SA_RESETHAND, SI_KERNEL, SIG_DFL, SIG_IGN, SIGKILL, SIGSEGV, SIGSTOP, SigAction, SigInfo,
    sigmask,
};
use arch::trap::TrapFrame;
use signals::restart::{Restart, decide};

use alloc::sync::Arc;

use super::super::{STOPPED, Task, current, current_pid, exit, pgrp, sched};
use super::{DefaultAction, JobReport, default_action, frame};

/// Trap hook: the return to user mode after an interrupt or exception.
pub fn trap_return(frame: &mut TrapFrame) {
    exit_to_user(frame, None);
}

/// The end of a system call: `result` is what the handler returned
/// (already in rax).
pub fn syscall_return(frame: &mut TrapFrame, nr: u64, result: Result<u64, Errno>) {
    let restart = match result {
        Err(e) if e.is_restart() => Some((nr, e)),
        _ => None,
    };
    exit_to_user(frame, restart);
}

/// Whether anything waits for the current task on its way out.
fn work_pending(t: &Task) -> bool {
    let i = t.inner.lock();
    super::pending_set(t, &i) & (!i.sig.blocked | sigmask(SIGKILL)) != 0
        || i.sig.saved_mask.is_some()
        || t.group.state.lock().stop.is_some()
}

fn exit_to_user(frame: &mut TrapFrame, mut restart: Option<(u64, Errno)>) {
    // A tick that found this task in the kernel asked for a switch: give
    // the CPU away before going back (Linux's TIF_NEED_RESCHED check).
    sched::resched_if_needed();
    if current_pid() == 0 || (!work_pending(&current()) && restart.is_none()) {
        return;
    }
    let was_enabled = x86_64::instructions::interrupts::are_enabled();
    x86_64::instructions::interrupts::enable();
    while let Some((info, act)) = get_signal() {
        if let Some((nr, e)) = restart.take() {
            apply_restart(frame, nr, decide(e, Some(act.flags)));
        }
        handle_signal(frame, &info, &act);
    }
    if let Some((nr, e)) = restart {
        // No handler ran: the call goes on as if nothing happened.
        apply_restart(frame, nr, decide(e, None));
    }
    let me = current();
    let mut i = me.inner.lock();
    if let Some(mask) = i.sig.saved_mask.take() {
        super::set_blocked(&mut i, mask);
    }
    drop(i);
    drop(me);
    if !was_enabled {
        x86_64::instructions::interrupts::disable();
    }
}

/// Carry out the restart rule: EINTR in rax, or the task pointed back at
/// its `syscall` instruction (2 bytes) with the call's number, or
/// restart_syscall's, in rax.
fn apply_restart(frame: &mut TrapFrame, nr: u64, r: Restart) {
    let again = match r {
        Restart::Eintr => {
            frame.rax = EINTR.to_syscall_return();
            return;
        }
        Restart::Keep => return,
        Restart::Again => nr,
        Restart::RestartBlock => abi::nr::RESTART_SYSCALL,
    };
    frame.rax = again;
    frame.rip = frame.rip.wrapping_sub(2);
}

/// The next signal that needs user code (Linux's `get_signal`): signals
/// with a default action are acted on here (ignored, stop, terminate);
/// returns the first one with a handler, with its action.
fn get_signal() -> Option<(SigInfo, SigAction)> {
    loop {
        let me = current();
        let group_stop = me.group.state.lock().stop;
        if let Some(sig) = group_stop {
            // Another thread took a stop signal: this one stops too.
            do_signal_stop(&me, sig, false);
            continue;
        }
        let mut i = me.inner.lock();
        let blocked = i.sig.blocked;
        let info = super::dequeue(&me, &mut i, blocked)?;
        let sig = info.signo as u32;
        let act = i.sig.action(sig);
        if act.handler == SIG_IGN {
            continue;
        }
        if act.handler != SIG_DFL {
            if act.flags & SA_RESETHAND != 0 {
                i.sig.set_action(sig, SigAction::default());
            }
            return Some((info, act));
        }
        let unkillable = me.tgid() == 1 && !i.sig.init_killable && sig != SIGKILL;
        match default_action(sig) {
            DefaultAction::Ignore | DefaultAction::Continue => continue,
            _ if unkillable => continue,
            DefaultAction::Stop => {
                let pgid = i.pgid;
                drop(i);
                // Terminal stops do not stop an orphaned group: nobody
                // could continue it (Linux's `is_current_pgrp_orphaned`).
                if sig != SIGSTOP && pgrp::is_orphaned(pgid, None) {
                    continue;
                }
                do_signal_stop(&me, sig, true);
            }
            DefaultAction::Terminate => {
                drop(i);
                drop(me);
                exit::do_group_exit(exit::status_signaled(sig));
            }
        }
    }
}

/// Stop until SIGCONT or SIGKILL (Linux's `do_signal_stop`). The thread
/// that took the signal (`first`) starts a group stop: the process's
/// other threads stop on their way to user mode, and the parent learns it
/// (SIGCHLD CLD_STOPPED, wait's WUNTRACED; the report sits with the
/// leader, which is what the parent waits for).
fn do_signal_stop(me: &Arc<Task>, sig: u32, first: bool) {
    let leader = me.leader();
    {
        // State and report change under the task's lock, which a sender of
        // SIGCONT holds while it looks at the state: no continue is lost.
        let mut i = me.inner.lock();
        if super::pending_set(me, &i) & sigmask(SIGKILL) != 0 {
            return;
        }
        {
            let mut g = me.group.state.lock();
            if !first && g.stop.is_none() {
                return;
            }
            if first && g.exit_status.is_none() && g.threads.len() > 1 {
                g.stop = Some(sig);
            }
        }
        if Arc::ptr_eq(me, &leader) {
            i.sig.job = JobReport { stopped: Some(sig), continued: false };
        }
        me.set_state(STOPPED);
    }
    if !Arc::ptr_eq(me, &leader) && first {
        leader.inner.lock().sig.job = JobReport { stopped: Some(sig), continued: false };
    }
    if first {
        for t in super::super::threads_of(me) {
            if t.pid() != me.pid() && t.state() == super::super::SLEEPING {
                sched::wake(t.pid());
            }
        }
        super::notify_parent_stop(&leader, CLD_STOPPED, sig);
    }
    while me.state() == STOPPED {
        sched::schedule();
    }
}

/// Run the handler of `info`: build its frame (with the mask to come
/// back to), then block the handler's mask and, unless SA_NODEFER, the
/// signal itself. A frame that cannot be written kills with SIGSEGV.
fn handle_signal(frame: &mut TrapFrame, info: &SigInfo, act: &SigAction) {
    let sig = info.signo as u32;
    let me = current();
    let oldmask = {
        let mut i = me.inner.lock();
        let saved = i.sig.saved_mask.take();
        saved.unwrap_or(i.sig.blocked)
    };
    drop(me);
    match frame::setup(frame, info, act, oldmask) {
        Ok(()) => {
            let me = current();
            let mut i = me.inner.lock();
            let mut mask = i.sig.blocked | act.mask;
            if act.flags & SA_NODEFER == 0 {
                mask |= sigmask(sig);
            }
            super::set_blocked(&mut i, mask);
        }
        Err(_) => {
            let me = current();
            {
                let mut i = me.inner.lock();
                super::set_blocked(&mut i, oldmask);
                if sig == SIGSEGV {
                    i.sig.set_action(SIGSEGV, SigAction::default());
                }
            }
            drop(me);
            super::force_current(SigInfo::new(SIGSEGV, SI_KERNEL));
        }
    }
}

/// restart_syscall(2): go on with the call a signal interrupted, or EINTR
/// if there is none.
pub fn restart_syscall() -> Result<u64, Errno> {
    let rb = current().inner.lock().sig.restart.take();
    match rb {
        Some(b) => (b.call)(&b.args),
        None => Err(EINTR),
    }
}

/// The restart code a sleep uses: remember how to go on.
pub fn restart_with(call: fn(&[u64; 4]) -> Result<u64, Errno>, args: [u64; 4]) -> Errno {
    current().inner.lock().sig.restart = Some(super::RestartBlock { call, args });
    ERESTART_RESTARTBLOCK
}
