//! The fair class's arithmetic (a small CFS, cf. kernel/sched/fair.c):
//! SCHED_OTHER, SCHED_BATCH and SCHED_IDLE tasks share the CPUs in
//! proportion to the weight of their nice value.
//!
//! Each task has a virtual runtime: the CPU time it used, in nanoseconds,
//! scaled by `NICE_0_WEIGHT / weight`, so a nice 19 task's (weight 15)
//! grows about 68 times faster than a nice 0 task's (1024). The picker runs
//! the runnable task with the smallest virtual runtime; the tick preempts a
//! task once another has a smaller one. A task that slept is placed no
//! further back than half a scheduling period behind the smallest virtual
//! runtime of the queue (`place`), so a long sleep earns only a short
//! advantage, and a fork child starts at its parent's.
//!
//! Time is charged at every switch and tick from the monotonic clock
//! (`arch::time::uptime_ns`), so a task that sleeps before the tick still
//! pays for what it ran. The values live in the task's `SchedParams` as
//! atomics and are only changed by the CPU running the task or, for a
//! queued one, under the scheduler lock.

use core::sync::atomic::Ordering;

use super::sched::SchedParams;

/// Weight of nice 0.
pub const NICE_0_WEIGHT: u64 = 1024;

/// Linux's `sched_prio_to_weight`: nice -20 .. 19, each step about 1.25x
/// (10% more or less CPU than a task one step away).
const PRIO_TO_WEIGHT: [u64; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, // -20 .. -11
    9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277, // -10 .. -1
    1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, // 0 .. 9
    110, 87, 70, 56, 45, 36, 29, 23, 18, 15, // 10 .. 19
];

/// SCHED_IDLE's weight (`WEIGHT_IDLEPRIO`).
const WEIGHT_IDLE: u64 = 3;

/// Half of the scheduling period (Linux's default 6 ms latency): how far
/// behind the queue's minimum a waking task may be placed.
const HALF_LATENCY_NS: u64 = 3_000_000;

/// How far behind in virtual time another fair task may be for a
/// sched_yield to give it the CPU (one tick).
pub const YIELD_GRAN_NS: u64 = 1_000_000_000 / super::sched::HZ;

/// The weight of a task with these parameters.
pub fn weight(p: &SchedParams) -> u64 {
    if p.policy() == abi::sched::SCHED_IDLE {
        return WEIGHT_IDLE;
    }
    PRIO_TO_WEIGHT[(p.nice() as i32 + 20).clamp(0, 39) as usize]
}

/// Virtual time for `ns` of CPU time at `weight`.
pub fn scale(ns: u64, weight: u64) -> u64 {
    ((ns as u128 * NICE_0_WEIGHT as u128) / weight.max(1) as u128) as u64
}

/// Charge the time since the task last started (or was charged) up to
/// `now`, and restart its clock there.
pub fn charge(p: &SchedParams, now: u64) {
    let start = p.exec_start.swap(now, Ordering::Relaxed);
    if start == 0 || now <= start {
        return;
    }
    p.sum_exec.fetch_add(now - start, Ordering::Relaxed);
    // Real-time tasks are not in the fair class: their virtual time is not
    // counted.
    if p.rt_prio() == 0 {
        p.vruntime.fetch_add(scale(now - start, weight(p)), Ordering::Relaxed);
    }
}

/// The task starts running at `now`.
pub fn start(p: &SchedParams, now: u64) {
    p.exec_start.store(now, Ordering::Relaxed);
}

/// The task stops running: charge it, and stop its clock.
pub fn stop(p: &SchedParams, now: u64) {
    charge(p, now);
    p.exec_start.store(0, Ordering::Relaxed);
}

/// A task joins the queue: not further back than half a period behind the
/// queue's smallest virtual runtime `min_vruntime`.
pub fn place(p: &SchedParams, min_vruntime: u64) {
    let floor = min_vruntime.saturating_sub(HALF_LATENCY_NS);
    p.vruntime.fetch_max(floor, Ordering::Relaxed);
}

/// CPU time used so far, ns, including the running stretch not charged
/// yet (read from any CPU; the two loads may straddle a charge, which
/// errs by at most that stretch, never backwards by more).
pub fn cpu_time_ns(p: &SchedParams) -> u64 {
    let start = p.exec_start.load(Ordering::Relaxed);
    let sum = p.sum_exec.load(Ordering::Relaxed);
    if start == 0 { sum } else { sum + arch::time::uptime_ns().saturating_sub(start) }
}

/// Take the CPU time counted so far out of the task (its exit folds it
/// into the process), charging the running stretch first.
pub fn take_cpu_time_ns(p: &SchedParams) -> u64 {
    charge(p, arch::time::uptime_ns());
    p.sum_exec.swap(0, Ordering::Relaxed)
}

pub fn vruntime(p: &SchedParams) -> u64 {
    p.vruntime.load(Ordering::Relaxed)
}
