//! Time: clock_gettime (MONOTONIC and REALTIME and their coarse and raw
//! variants, BOOTTIME), clock_getres, nanosleep, clock_nanosleep,
//! gettimeofday, time.

use abi::errno::*;
use abi::time::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_THREAD_CPUTIME_ID, TIMER_ABSTIME,
};

use super::SysResult;
use crate::proc::sched;
use crate::proc::waitqueue::WaitQueue;
use crate::usercopy::{read_user, write_user};

pub fn init() {
    crate::platform::clock::init();
}

/// Nanoseconds on `clock`.
pub(super) fn now_ns(clock: i32) -> Result<u64, Errno> {
    let mono = arch::time::uptime_ns();
    match clock {
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => Ok(mono),
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(crate::platform::clock::realtime_ns()),
        CLOCK_PROCESS_CPUTIME_ID => Ok(cpu_ns(&crate::proc::current(), false, CPUCLOCK_SCHED)),
        CLOCK_THREAD_CPUTIME_ID => Ok(cpu_ns(&crate::proc::current(), true, CPUCLOCK_SCHED)),
        c if c < 0 => cpu_clock_ns(c),
        _ => Err(EINVAL),
    }
}

/// The kinds of a CPU-time clock (low two bits of a dynamic clock id):
/// user+system, user only, scheduled time (user+system here).
const CPUCLOCK_PROF: i32 = 0;
const CPUCLOCK_VIRT: i32 = 1;
const CPUCLOCK_SCHED: i32 = 2;
/// Bit 2 of a dynamic clock id: one thread rather than the process.
const CPUCLOCK_PERTHREAD: i32 = 4;

/// A dynamic CPU clock (clock_getcpuclockid, pthread_getcpuclockid:
/// `(~pid << 3) | kind`, with CPUCLOCK_PERTHREAD for a thread): EINVAL
/// for a file-descriptor clock, an unknown task, a thread of another
/// process, or a process id that is not a leader's.
fn cpu_clock_ns(clock: i32) -> Result<u64, Errno> {
    let kind = clock & 3;
    if kind == 3 {
        return Err(EINVAL);
    }
    let thread = clock & CPUCLOCK_PERTHREAD != 0;
    let pid = !(clock >> 3) as u32;
    let me = crate::proc::current();
    let t = if pid == 0 { me.clone() } else { crate::proc::task(pid).ok_or(EINVAL)? };
    if thread && t.tgid() != me.tgid() {
        return Err(EINVAL);
    }
    if !thread && !t.is_leader() {
        return Err(EINVAL);
    }
    Ok(cpu_ns(&t, thread, kind))
}

/// CPU time of thread `t`, or of its whole process, in ns (tick
/// accounting: 1/HZ steps).
fn cpu_ns(t: &alloc::sync::Arc<crate::proc::Task>, thread: bool, kind: i32) -> u64 {
    // The scheduler's clock is exact (ns from the monotonic clock at
    // every switch); the user and profiling ones count ticks, as Linux's
    // utime and stime sampling does.
    if kind == CPUCLOCK_SCHED {
        return if thread { t.thread_cpu_ns() } else { t.process_cpu_ns() };
    }
    let (u, s) = if thread { t.thread_times() } else { t.process_times() };
    let ticks = match kind {
        CPUCLOCK_VIRT => u,
        CPUCLOCK_PROF | CPUCLOCK_SCHED => u.saturating_add(s),
        _ => 0,
    };
    ticks.saturating_mul(1_000_000_000 / sched::HZ)
}

fn put_timespec(addr: u64, ns: u64) -> Result<(), Errno> {
    write_user(addr, &[(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64])
}

pub fn clock_gettime(clock: i32, tp: u64) -> SysResult {
    let ns = now_ns(clock)?;
    put_timespec(tp, ns)?;
    Ok(0)
}

pub fn clock_getres(clock: i32, res: u64) -> SysResult {
    now_ns(clock)?;
    if res != 0 {
        put_timespec(res, 1)?;
    }
    Ok(0)
}

/// A timespec from user memory in nanoseconds (EINVAL for a negative
/// or unnormalised one). Times past u64 nanoseconds (584 years) clamp
/// there, as Linux's `timespec64_to_ktime` clamps to KTIME_MAX: a sleep
/// that long lasts until a signal.
pub(super) fn read_timespec(addr: u64) -> Result<u64, Errno> {
    let ts: [i64; 2] = read_user(addr)?;
    if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
        return Err(EINVAL);
    }
    Ok((ts[0] as u64).saturating_mul(1_000_000_000).saturating_add(ts[1] as u64))
}

/// Where sleeping tasks wait: nothing wakes the queue, the timer ends a
/// sleep at its deadline and a signal interrupts it.
static SLEEPERS: WaitQueue = WaitQueue::new();

/// Sleep until monotonic time `deadline` (ns); false if a signal came
/// first.
fn sleep_until(deadline: u64) -> bool {
    let tick_ns = 1_000_000_000 / sched::HZ;
    loop {
        let now = arch::time::uptime_ns();
        if now >= deadline {
            return true;
        }
        let ticks = sched::ticks().saturating_add((deadline - now).div_ceil(tick_ns));
        if SLEEPERS.wait_until(Some(ticks), || None::<()>).is_err() {
            return false;
        }
    }
}

/// A relative sleep until `deadline` that writes the time left to `rem`
/// when a signal interrupts it, and continues with the same deadline if
/// no handler ran (Linux's `hrtimer_nanosleep_restart`).
fn sleep_relative(deadline: u64, rem: u64) -> SysResult {
    if sleep_until(deadline) {
        return Ok(0);
    }
    if rem != 0 {
        put_timespec(rem, deadline.saturating_sub(arch::time::uptime_ns()))?;
    }
    Err(crate::proc::signal::deliver::restart_with(|a| sleep_relative(a[0], a[1]), [deadline, rem, 0, 0]))
}

pub fn nanosleep(req: u64, rem: u64) -> SysResult {
    let ns = read_timespec(req)?;
    sleep_relative(arch::time::uptime_ns().saturating_add(ns), rem)
}

/// clock_nanosleep(2): an absolute sleep interrupted by a handler gives
/// EINTR and otherwise restarts with the same time (no `rem`).
pub fn clock_nanosleep(clock: i32, flags: u32, req: u64, rem: u64) -> SysResult {
    if !matches!(clock, CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME) {
        return Err(if clock == CLOCK_THREAD_CPUTIME_ID { EINVAL } else { EOPNOTSUPP });
    }
    let ns = read_timespec(req)?;
    if flags & TIMER_ABSTIME != 0 {
        let now = now_ns(clock)?;
        let mono_now = arch::time::uptime_ns();
        if sleep_until(mono_now.saturating_add(ns.saturating_sub(now))) { Ok(0) } else { Err(ERESTARTNOHAND) }
    } else {
        nanosleep(req, rem)
    }
}

pub fn gettimeofday(tv: u64, _tz: u64) -> SysResult {
    if tv != 0 {
        let ns = now_ns(CLOCK_REALTIME)?;
        write_user(tv, &[(ns / 1_000_000_000) as i64, ((ns % 1_000_000_000) / 1000) as i64])?;
    }
    Ok(0)
}

pub fn time(tloc: u64) -> SysResult {
    let s = now_ns(CLOCK_REALTIME)? / 1_000_000_000;
    if tloc != 0 {
        write_user(tloc, &(s as i64))?;
    }
    Ok(s)
}
