//! Thread groups (Linux's `signal_struct`): the tasks one process is made
//! of.
//!
//! `clone(CLONE_THREAD)` adds a task to its creator's group. The group's
//! id (tgid) is the pid of its first task, the leader, and is what
//! `getpid` returns; `gettid` returns the task's own pid. What belongs to
//! the process rather than to one thread lives in the leader's
//! `TaskInner` (parent, children, process group and session, wait status,
//! limits, usage of reaped children), and the leader stays in the process
//! table until the whole group is reaped, even after its own thread has
//! exited (Linux's `delay_group_leader`). Shared by pointer between the
//! threads: the address space, the descriptor table (CLONE_FILES), the
//! working directory (CLONE_FS) and the signal dispositions
//! (CLONE_SIGHAND). Per thread: registers, kernel stack, signal mask,
//! signals sent to that thread (tgkill), the alternate signal stack,
//! clear_child_tid and the robust list.
//!
//! ```text
//!   kill(tgid) ──▶ group.shared pending ──▶ any thread not blocking it takes it
//!   tgkill(tgid, tid) ──▶ that task's own pending
//!   exit          one thread ends; the last one ends the process
//!   exit_group    every thread ends with the caller's status
//!   fatal signal  = exit_group with the signal's status
//!   execve        the other threads end first (de_thread)
//! ```
//!
//! Locks: `GroupState` has its own spin lock, taken after a task's
//! `inner` lock and never around any other lock.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use abi::signal::{SI_KERNEL, SIGKILL, SigInfo};

use super::{Pid, SLEEPING, STOPPED, Task, sched};
use signals::SigPending;

/// One process's threads and what they share of signals and exit.
pub struct ThreadGroup {
    pub tgid: Pid,
    pub state: Mutex<GroupState>,
    /// The process has ended: its last thread stored the wait status and
    /// released what the process held (set last, so a parent waiting on
    /// another CPU never reaps a process half way through its exit).
    pub ended: core::sync::atomic::AtomicBool,
    /// The control group of the process (cgroup.procs moves it; a new
    /// process starts in the forking task's).
    pub cgroup: spin::Mutex<Arc<super::cgroup::Cgroup>>,
}

/// The mutable part of a [`ThreadGroup`].
#[derive(Default)]
pub struct GroupState {
    /// Threads that have not exited, in creation order.
    pub threads: Vec<Pid>,
    /// Set by exit_group, a fatal signal or execve: every thread exits,
    /// the process with this wait status (Linux's SIGNAL_GROUP_EXIT).
    pub exit_status: Option<i32>,
    /// A thread took SIGKILL and is on its way to `exit_status`: set in
    /// the same step that takes the signal off its pending set, so the
    /// process never looks alive in between (process_mrelease, fork).
    pub dying: Option<i32>,
    /// Signals sent to the process as a whole.
    pub shared: SigPending,
    /// A thread in execve waits here for the others to be gone.
    pub exec_waiter: Option<Pid>,
    /// A job-control stop in progress: the other threads stop on their
    /// way to user mode (Linux's group stop).
    pub stop: Option<u32>,
}

impl ThreadGroup {
    pub fn new(tgid: Pid) -> Arc<ThreadGroup> {
        let state = GroupState { threads: alloc::vec![tgid], ..GroupState::default() };
        Arc::new(ThreadGroup {
            tgid,
            state: Mutex::new(state),
            ended: core::sync::atomic::AtomicBool::new(false),
            cgroup: spin::Mutex::new(super::cgroup::for_new_process()),
        })
    }

    /// Live threads.
    pub fn threads(&self) -> Vec<Pid> {
        self.state.lock().threads.clone()
    }

    pub fn nr_threads(&self) -> usize {
        self.state.lock().threads.len()
    }

    /// The group is exiting (exit_group, fatal signal or execve).
    pub fn exiting(&self) -> Option<i32> {
        let st = self.state.lock();
        st.exit_status.or(st.dying)
    }

    /// Signals pending for the whole process.
    pub fn shared_set(&self) -> u64 {
        self.state.lock().shared.set
    }
}

/// Make every thread of `group` but `except` exit with `status` (Linux's
/// `zap_other_threads`): the first caller's status wins. Returns false if
/// the group was already exiting.
pub fn zap_others(group: &ThreadGroup, except: Pid, status: i32) -> bool {
    let others = {
        let mut st = group.state.lock();
        if st.exit_status.is_some() {
            return false;
        }
        st.exit_status = Some(status);
        st.stop = None;
        st.threads.iter().copied().filter(|&t| t != except).collect::<Vec<_>>()
    };
    for tid in others {
        kill_thread(tid);
    }
    true
}

/// SIGKILL to one thread, queued on the thread itself.
pub fn kill_thread(tid: Pid) {
    let Some(t) = super::task(tid) else { return };
    let _ = t.inner.lock().sig.pending.push(SigInfo::new(SIGKILL, SI_KERNEL), u64::MAX);
    wake_for_signal(&t);
}

/// Get a thread moving so that it looks at its signals: out of a sleep or
/// a stop.
pub fn wake_for_signal(t: &Arc<Task>) {
    match t.state() {
        SLEEPING => sched::wake(t.pid()),
        STOPPED => sched::add(t.clone()),
        _ => {}
    }
}

/// Remove the exiting thread `tid` from its group; returns how many
/// threads are left, and wakes an execve waiting for the last other one.
pub fn leave(group: &ThreadGroup, tid: Pid) -> usize {
    let (left, waiter) = {
        let mut st = group.state.lock();
        st.threads.retain(|&t| t != tid);
        let w = if st.threads.len() <= 1 { st.exec_waiter } else { None };
        (st.threads.len(), w)
    };
    if let Some(w) = waiter {
        sched::wake(w);
    }
    left
}
