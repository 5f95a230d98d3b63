//! Per-CPU run queues: where a woken task waits, which CPU it waits on,
//! and moving tasks between CPUs (cf. kernel/sched/core.c
//! `select_task_rq`, `ttwu_queue`, kernel/sched/fair.c `load_balance`).
//!
//! ```text
//!   CPU 0 queue: [B] [C]    current: A      wake D: an idle CPU allowed to
//!   CPU 1 queue: []         current: idle   run it (its last one first),
//!                                           else the least loaded one
//!   CPU 1 about to idle: pull one task from the busiest queue
//!   every 4th tick: a CPU running 2 fewer tasks than the busiest pulls one
//! ```
//!
//! A task is in at most one queue; `SchedParams::queued` says which (0:
//! none, c + 1: CPU c's), and changes only under that queue's lock. So a
//! waker that finds a task queued checks again under that lock: a picker
//! that drops a task no longer runnable (it went to sleep again) does so
//! under the same lock, and either sees the waker's RUNNABLE or has
//! already cleared `queued` (the waker then queues the task anew).
//!
//! Virtual runtimes are relative to their queue's `min_vruntime`: a fair
//! task moving from CPU a to CPU b is shifted by `min_b - min_a` (Linux's
//! `migrate_task_rq_fair`), so it neither jumps ahead of b's tasks nor
//! starves behind them.
//!
//! Locks: each queue's lock (an IrqLock) is taken alone: a task moving
//! between queues leaves one (lock, remove, unlock) and then enters the
//! other, never holding both. Taken before the slab locks (a queue may
//! grow). The counters beside the queues (`NR_QUEUED`, `IDLE_NOW`,
//! `MIN_VRUNTIME`) are atomics read without a lock, as hints.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use mm::percpu::MAX_CPUS;
use mm::sync::{IrqGuard, IrqLock};

use super::{RUNNABLE, Task};

/// One CPU's queue, its running task and its idle task.
pub(super) struct RunQueue {
    pub queue: VecDeque<Arc<Task>>,
    pub current: Option<Arc<Task>>,
    pub idle: Option<Arc<Task>>,
}

/// A run queue on a cache line of its own.
#[repr(align(64))]
struct Slot(IrqLock<RunQueue>);

static RQ: [Slot; MAX_CPUS] =
    [const { Slot(IrqLock::new(RunQueue { queue: VecDeque::new(), current: None, idle: None })) }; MAX_CPUS];

/// Per CPU: tasks waiting in its queue.
static NR_QUEUED: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// Per CPU: it runs its idle task (so a new runnable task should wake it).
pub(super) static IDLE_NOW: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(true) }; MAX_CPUS];
/// Per CPU: real-time priority of the running task (0: fair or idle), for
/// wake-up preemption.
pub(super) static CURR_RANK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: the queue's fair clock, never behind the smallest virtual
/// runtime of the tasks it picked (fair.rs `place`).
static MIN_VRUNTIME: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// CPU `c`'s run queue, locked.
pub(super) fn lock(c: usize) -> IrqGuard<'static, RunQueue> {
    RQ[c % MAX_CPUS].0.lock()
}

pub(super) fn try_lock(c: usize) -> Option<IrqGuard<'static, RunQueue>> {
    RQ[c % MAX_CPUS].0.try_lock()
}

pub(super) fn nr_queued(c: usize) -> usize {
    NR_QUEUED[c % MAX_CPUS].load(Ordering::Relaxed)
}

pub(super) fn min_vruntime(c: usize) -> u64 {
    MIN_VRUNTIME[c % MAX_CPUS].load(Ordering::Relaxed)
}

/// Move CPU `c`'s fair clock up to `v` (with its queue locked).
pub(super) fn advance_min_vruntime(c: usize, v: u64) {
    MIN_VRUNTIME[c % MAX_CPUS].fetch_max(v, Ordering::Relaxed);
}

/// Tasks CPU `c` runs or has waiting.
fn load(c: usize) -> usize {
    nr_queued(c) + !IDLE_NOW[c].load(Ordering::Relaxed) as usize
}

fn nr_cpus() -> usize {
    mm::percpu::nr_cpus().clamp(1, MAX_CPUS)
}

/// Queue `task` on CPU `c` (its queue locked as `q`) unless it is queued
/// somewhere already. A fair task coming from another CPU has its virtual
/// runtime moved to this queue's clock, then is placed (fair.rs `place`).
pub(super) fn enqueue_locked(q: &mut RunQueue, c: usize, task: &Arc<Task>) -> bool {
    let p = &task.sched;
    if p.queued.compare_exchange(0, c as u32 + 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return false;
    }
    let from = p.cpu.swap(c as u32, Ordering::Relaxed) as usize;
    if p.rt_prio() == 0 {
        if from != c {
            let (a, b) = (min_vruntime(from), min_vruntime(c));
            let v = super::fair::vruntime(p);
            p.vruntime.store(v.saturating_sub(a).saturating_add(b), Ordering::Relaxed);
        }
        super::fair::place(p, min_vruntime(c));
    }
    q.queue.push_back(task.clone());
    NR_QUEUED[c].fetch_add(1, Ordering::Relaxed);
    true
}

/// Take entry `i` out of CPU `c`'s queue (locked as `q`).
pub(super) fn dequeue_locked(q: &mut RunQueue, c: usize, i: usize) -> Option<Arc<Task>> {
    let t = q.queue.remove(i)?;
    t.sched.queued.store(0, Ordering::Release);
    NR_QUEUED[c].fetch_sub(1, Ordering::Relaxed);
    Some(t)
}

/// Drop the tasks of CPU `c`'s queue that are no longer runnable (they
/// went back to sleep after a wake-up queued them).
pub(super) fn prune_locked(q: &mut RunQueue, c: usize) {
    let mut i = 0;
    while i < q.queue.len() {
        if q.queue[i].state() == RUNNABLE {
            i += 1;
        } else {
            dequeue_locked(q, c, i);
        }
    }
}

/// Make a runnable task wait in a queue (once: a queued task stays where
/// it is), on the CPU [`select_cpu`] chooses; returns that CPU, or None if
/// it was queued already.
pub(super) fn enqueue(task: &Arc<Task>) -> Option<usize> {
    loop {
        let q = task.sched.queued.load(Ordering::Acquire) as usize;
        if q != 0 {
            let _g = lock(q - 1);
            if task.sched.queued.load(Ordering::Acquire) as usize == q {
                return None;
            }
            continue;
        }
        let c = select_cpu(task);
        let mut g = lock(c);
        if enqueue_locked(&mut g, c, task) {
            return Some(c);
        }
    }
}

/// The CPU a waking task should wait on (Linux's `select_task_rq`): the
/// one it still runs on (it woke before switching out), else an idle CPU
/// allowed to run it, its last CPU first and this CPU next (its cache may
/// still hold the task's data, or the waker's), else the allowed CPU with
/// the fewest tasks, its last CPU on a tie.
pub(super) fn select_cpu(task: &Task) -> usize {
    let n = nr_cpus();
    let last = task.sched.cpu.load(Ordering::Relaxed) as usize % n;
    if task.on_cpu() && task.allowed_on(last) {
        return last;
    }
    let me = mm::percpu::this_cpu() % n;
    let idle = |c: usize| task.allowed_on(c) && IDLE_NOW[c].load(Ordering::Relaxed) && nr_queued(c) == 0;
    if let Some(c) = [last, me].into_iter().chain(0..n).find(|&c| idle(c)) {
        return c;
    }
    let order = core::iter::once(last).chain((0..n).filter(|&c| c != last));
    order.filter(|&c| task.allowed_on(c)).min_by_key(|&c| load(c)).unwrap_or(last)
}

/// Pull one task CPU `c` may run from the busiest other queue, for `c` to
/// run next (Linux's `newidle_balance` when `idle`, else the periodic
/// `load_balance`: only when the busiest runs at least two more tasks).
/// No lock may be held.
pub(super) fn pull(c: usize, idle: bool) -> bool {
    let n = nr_cpus();
    let mine = if idle { 0 } else { load(c) };
    let busiest = (0..n).filter(|&b| b != c && nr_queued(b) > 0).max_by_key(|&b| load(b));
    let Some(b) = busiest else { return false };
    // An idle CPU with one task queued is about to run it.
    if load(b) < mine + 2 || (IDLE_NOW[b].load(Ordering::Relaxed) && nr_queued(b) < 2) {
        return false;
    }
    let task = {
        let Some(mut q) = try_lock(b) else { return false };
        // The most recently queued first: the others waited longer for `b`.
        let i = (0..q.queue.len()).rev().find(|&i| {
            let t = &q.queue[i];
            t.state() == RUNNABLE && !t.on_cpu() && t.allowed_on(c)
        });
        match i {
            Some(i) => dequeue_locked(&mut q, b, i),
            None => None,
        }
    };
    let Some(task) = task else { return false };
    let mut q = lock(c);
    // A waker may have queued it elsewhere meanwhile: then it waits there.
    enqueue_locked(&mut q, c, &task);
    true
}

/// A task running here that may no longer run here (sched_setaffinity):
/// queue it on a CPU it may run on, which picks it once this CPU has
/// switched away from it.
pub(super) fn push_away(task: &Arc<Task>) {
    requeue_if_misplaced(task);
    if let Some(c) = enqueue(task) {
        kick(c, task);
    }
}

/// If `task` waits on a CPU it may no longer run on, move it to one it may.
fn requeue_if_misplaced(task: &Arc<Task>) {
    let q = task.sched.queued.load(Ordering::Acquire) as usize;
    if q == 0 || task.allowed_on(q - 1) {
        return;
    }
    let taken = {
        let mut g = lock(q - 1);
        match g.queue.iter().position(|t| Arc::ptr_eq(t, task)) {
            Some(i) => dequeue_locked(&mut g, q - 1, i),
            None => None,
        }
    };
    if let Some(t) = taken {
        if let Some(c) = enqueue(&t) {
            kick(c, &t);
        }
    }
}

/// After queueing `task` on CPU `c`: make `c` look at its queue if it is
/// idle, or if `task` outranks what `c` runs (a real-time wake-up).
pub(super) fn kick(c: usize, task: &Task) {
    let preempt = task.sched.rt_prio() as u64 > CURR_RANK[c].load(Ordering::Relaxed);
    if preempt {
        super::sched::need_resched(c);
    }
    if c != mm::percpu::this_cpu() && (IDLE_NOW[c].load(Ordering::Relaxed) || preempt) {
        arch::ipi::send_reschedule(c);
    }
}

/// Every CPU but `me` runs its idle task and no queue holds a task.
pub(super) fn others_idle(me: usize) -> bool {
    (0..nr_cpus()).all(|c| (c == me || IDLE_NOW[c].load(Ordering::Relaxed)) && nr_queued(c) == 0)
}

/// A task whose affinity changed: if it waits on a CPU it may no longer
/// run on, move it to one it may; if it runs on one, make that CPU switch
/// (its `schedule` pushes the task away).
pub fn migrate_if_needed(task: &Arc<Task>) {
    requeue_if_misplaced(task);
    let c = task.sched.cpu.load(Ordering::Relaxed) as usize;
    if task.on_cpu() && !task.allowed_on(c) {
        super::sched::need_resched(c);
        if c != mm::percpu::this_cpu() {
            arch::ipi::send_reschedule(c);
        }
    }
}
