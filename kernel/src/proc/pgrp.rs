//! Process groups and sessions, as job control needs them (cf.
//! kernel/exit.c `will_become_orphaned_pgrp`, `kill_orphaned_pgrp`).
//!
//! A group is orphaned when no member has a parent in another group of
//! the same session: no shell is left that could continue it. Terminal
//! stop signals are then discarded, and a group that becomes orphaned
//! while a member is stopped gets SIGHUP and SIGCONT.
//!
//! The process table is walked by pid; each task's lock is taken alone,
//! one after the other, never two at once.

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::signal::{SI_KERNEL, SIGCONT, SIGHUP, SigInfo};

use super::{Pid, STOPPED, Task};

/// Live members of group `pgid`.
pub fn members(pgid: Pid) -> Vec<Arc<Task>> {
    super::all_tasks().into_iter().filter(|t| t.pid() != 0 && !t.is_dead() && t.inner.lock().pgid == pgid).collect()
}

/// (pgid, sid) of a task.
fn ids(pid: Pid) -> Option<(Pid, Pid)> {
    let t = super::task(pid)?;
    let i = t.inner.lock();
    Some((i.pgid, i.sid))
}

/// Whether group `pgid` is (or, without `ignore`, would be) orphaned.
pub fn is_orphaned(pgid: Pid, ignore: Option<Pid>) -> bool {
    for t in members(pgid) {
        if Some(t.pid()) == ignore {
            continue;
        }
        let (ppid, sid) = {
            let i = t.inner.lock();
            (i.ppid, i.sid)
        };
        if ppid <= 1 {
            continue;
        }
        if let Some((ppgid, psid)) = ids(ppid) {
            if ppgid != pgid && psid == sid {
                return false;
            }
        }
    }
    true
}

fn has_stopped(pgid: Pid) -> bool {
    members(pgid).iter().any(|t| t.state() == STOPPED)
}

/// Group `pgid` may have just been orphaned by the exit of `exiting`: if
/// so and a member is stopped, hang it up and continue it (POSIX).
pub fn orphan_check(pgid: Pid, exiting: Option<Pid>) {
    if is_orphaned(pgid, exiting) && has_stopped(pgid) {
        super::signal::kill_pgrp(pgid, SigInfo::new(SIGHUP, SI_KERNEL));
        super::signal::kill_pgrp(pgid, SigInfo::new(SIGCONT, SI_KERNEL));
    }
}

/// Whether any live task belongs to group `pgid`.
pub fn exists(pgid: Pid) -> bool {
    !members(pgid).is_empty()
}
