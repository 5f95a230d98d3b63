//! Scheduling-class system calls (cf. kernel/sched/syscalls.c):
//! sched_setscheduler, sched_getscheduler, sched_setparam, sched_getparam,
//! sched_get_priority_max/min, sched_rr_get_interval, getpriority,
//! setpriority, and times. What the scheduler does with the class is in
//! `proc::sched::SchedParams`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::resource::{PRIO_PGRP, PRIO_PROCESS, PRIO_USER, RLIMIT_NICE, RLIMIT_RTPRIO};
use abi::sched::{
    MAX_RT_PRIO, SCHED_BATCH, SCHED_DEADLINE, SCHED_FIFO, SCHED_IDLE, SCHED_OTHER, SCHED_RESET_ON_FORK, SCHED_RR,
};

use super::SysResult;
use crate::proc::{self, Task, current, sched};
use crate::usercopy::{read_user, write_user};

/// The thread `pid` names (0: the caller); EINVAL for a negative pid,
/// ESRCH for none.
fn thread_arg(pid: i32) -> Result<Arc<Task>, Errno> {
    match pid {
        0 => Ok(current()),
        p if p > 0 => proc::task(p as u32).filter(|t| t.pid() != 0 && t.state() != proc::ZOMBIE).ok_or(ESRCH),
        _ => Err(EINVAL),
    }
}

/// Whether the caller may change `t`'s class (Linux's `check_same_owner`:
/// root, or an effective uid equal to the target's real or effective one).
fn may_change(t: &Task) -> bool {
    let me = current();
    if me.tgid() == t.tgid() {
        return true;
    }
    let (mine, theirs) = (me.inner.lock().creds.clone(), t.inner.lock().creds.clone());
    mine.is_root() || mine.euid == theirs.uid || mine.euid == theirs.euid
}

fn is_rt(policy: i32) -> bool {
    matches!(policy, SCHED_FIFO | SCHED_RR)
}

/// The priority range of a policy (EINVAL for an unknown one).
fn prio_range(policy: i32) -> Result<(i32, i32), Errno> {
    match policy {
        SCHED_FIFO | SCHED_RR => Ok((1, MAX_RT_PRIO)),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => Ok((0, 0)),
        // Deadline tasks are set with sched_setattr, which is not here.
        SCHED_DEADLINE => Ok((0, 0)),
        _ => Err(EINVAL),
    }
}

/// The core of sched_setscheduler and sched_setparam (Linux's
/// `__sched_setscheduler`): `policy` None keeps the current one.
fn set_scheduler(pid: i32, policy: Option<i32>, param: u64) -> SysResult {
    if pid < 0 || param == 0 {
        return Err(EINVAL);
    }
    let prio: i32 = read_user(param)?;
    let t = thread_arg(pid)?;
    let (policy, reset) = match policy {
        Some(p) => (p & !SCHED_RESET_ON_FORK, p & SCHED_RESET_ON_FORK != 0),
        None => (t.sched.policy(), t.sched.reset_on_fork()),
    };
    if policy == SCHED_DEADLINE {
        return Err(EINVAL);
    }
    let (lo, hi) = prio_range(policy)?;
    if prio < lo || prio > hi {
        return Err(EINVAL);
    }
    if !may_change(&t) {
        return Err(EPERM);
    }
    let (root, rtprio_limit) = {
        let me = current();
        let i = me.inner.lock();
        (i.creds.is_root(), i.rlimits[RLIMIT_RTPRIO].cur)
    };
    if !root {
        // Without CAP_SYS_NICE: real-time up to RLIMIT_RTPRIO and never
        // above the current priority when it is 0; no leaving SCHED_IDLE;
        // no clearing reset-on-fork.
        if is_rt(policy) {
            if policy != t.sched.policy() && rtprio_limit == 0 {
                return Err(EPERM);
            }
            if prio as u64 > rtprio_limit && prio > t.sched.rt_prio() as i32 {
                return Err(EPERM);
            }
        }
        if t.sched.policy() == SCHED_IDLE && policy != SCHED_IDLE {
            return Err(EPERM);
        }
        if t.sched.reset_on_fork() && !reset {
            return Err(EPERM);
        }
    }
    t.sched.set_policy(policy, prio as u8, reset);
    if t.pid() == current().pid() {
        // A lower class may have to give the CPU away now.
        sched::yield_now();
    }
    Ok(0)
}

pub fn sched_setscheduler(pid: i32, policy: i32, param: u64) -> SysResult {
    if policy < 0 {
        return Err(EINVAL);
    }
    set_scheduler(pid, Some(policy), param)
}

pub fn sched_setparam(pid: i32, param: u64) -> SysResult {
    set_scheduler(pid, None, param)
}

/// sched_getscheduler(2): the policy, with SCHED_RESET_ON_FORK if set.
pub fn sched_getscheduler(pid: i32) -> SysResult {
    let t = thread_arg(pid)?;
    let flag = if t.sched.reset_on_fork() { SCHED_RESET_ON_FORK } else { 0 };
    Ok((t.sched.policy() | flag) as u64)
}

/// sched_getparam(2): `struct sched_param { int sched_priority; }`.
pub fn sched_getparam(pid: i32, param: u64) -> SysResult {
    if pid < 0 || param == 0 {
        return Err(EINVAL);
    }
    let t = thread_arg(pid)?;
    write_user(param, &(t.sched.rt_prio() as i32))?;
    Ok(0)
}

pub fn sched_get_priority_max(policy: i32) -> SysResult {
    prio_range(policy).map(|(_, hi)| hi as u64)
}

pub fn sched_get_priority_min(policy: i32) -> SysResult {
    prio_range(policy).map(|(lo, _)| lo as u64)
}

/// sched_rr_get_interval(2): an RR task's slice (Linux's RR_TIMESLICE,
/// 100 ms), 0 for FIFO, one tick for the others (their turn here).
pub fn sched_rr_get_interval(pid: i32, tp: u64) -> SysResult {
    if pid < 0 {
        return Err(EINVAL);
    }
    let t = thread_arg(pid)?;
    let ns: u64 = match t.sched.policy() {
        SCHED_RR => 100_000_000,
        SCHED_FIFO => 0,
        _ => 1_000_000_000 / sched::HZ,
    };
    write_user(tp, &[(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64])?;
    Ok(0)
}

/// The threads getpriority/setpriority address: one task, the members of
/// a process group, or every task of a user (0: the caller's).
fn prio_targets(which: i32, who: i32) -> Result<Vec<Arc<Task>>, Errno> {
    let me = current();
    let list = match which {
        PRIO_PROCESS => alloc::vec![thread_arg(who)?],
        PRIO_PGRP => {
            let pgid = if who == 0 { me.leader().inner.lock().pgid } else { who as u32 };
            proc::pgrp::members(pgid).iter().flat_map(|p| proc::threads_of(p)).collect()
        }
        PRIO_USER => {
            let uid = if who == 0 { me.inner.lock().creds.uid } else { who as u32 };
            proc::all_threads()
                .into_iter()
                .filter(|t| t.pid() != 0 && t.state() != proc::ZOMBIE && t.inner.lock().creds.uid == uid)
                .collect()
        }
        _ => return Err(EINVAL),
    };
    if list.is_empty() { Err(ESRCH) } else { Ok(list) }
}

/// getpriority(2): 20 - the lowest nice value among the targets (1..40,
/// as the system call returns it; the C library turns it back).
pub fn getpriority(which: i32, who: i32) -> SysResult {
    let nice = prio_targets(which, who)?.iter().map(|t| t.sched.nice()).min().unwrap_or(0);
    Ok((20 - nice as i64) as u64)
}

/// setpriority(2): the nice value, clamped to -20..19, of every target;
/// lowering it needs root or RLIMIT_NICE (EACCES), another user's task
/// needs root (EPERM).
pub fn setpriority(which: i32, who: i32, nice: i32) -> SysResult {
    let targets = prio_targets(which, who)?;
    let nice = nice.clamp(-20, 19) as i8;
    let (root, nice_limit) = {
        let me = current();
        let i = me.inner.lock();
        (i.creds.is_root(), i.rlimits[RLIMIT_NICE].cur)
    };
    let mut result = Ok(0);
    for t in targets {
        if !may_change(&t) {
            result = Err(EPERM);
            continue;
        }
        // Linux's `can_nice`: 20 - nice within RLIMIT_NICE.
        if nice < t.sched.nice() && !root && (20 - nice as i64) as u64 > nice_limit {
            result = Err(EACCES);
            continue;
        }
        t.sched.set_nice(nice);
    }
    result
}

/// times(2): CPU time of the process and of its reaped children in clock
/// ticks (USER_HZ = 100 = HZ), and the ticks since boot.
pub fn times(buf: u64) -> SysResult {
    let me = current();
    let (ut, st) = me.process_times();
    let cu = me.leader().inner.lock().cusage;
    if buf != 0 {
        write_user(buf, &[ut, st, cu.utime, cu.stime])?;
    }
    Ok(sched::ticks())
}
