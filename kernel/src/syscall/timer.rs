//! Timers: alarm, getitimer, setitimer, timer_create, timer_settime,
//! timer_gettime, timer_getoverrun, timer_delete. This file copies and
//! checks the user's structures (`struct itimerval`, `struct itimerspec`,
//! `struct sigevent`) and turns absolute times into relative ones; the
//! timers themselves are `proc::timer`'s.

use abi::errno::*;
use abi::signal::{NSIG, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_THREAD_ID, SigEvent};
use abi::time::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_THREAD_CPUTIME_ID, ITIMER_REAL, TIMER_ABSTIME,
};

use super::SysResult;
use crate::proc::current_tgid;
use crate::proc::timer::{self, Clock, Event, Setting};
use crate::usercopy::{read_user, write_user};

const NS_PER_SEC: u64 = 1_000_000_000;
const NS_PER_USEC: u64 = 1000;

/// Seconds and a sub-second part (`unit_ns` each, below `per_sec`) as
/// nanoseconds, or EINVAL if negative or not normalised (Linux's
/// `timeval_valid` / `timespec64_valid`). Past u64 the time clamps, as
/// Linux clamps to KTIME_MAX.
fn to_ns(sec: i64, frac: i64, unit_ns: u64) -> Result<u64, Errno> {
    let per_sec = (NS_PER_SEC / unit_ns) as i64;
    if sec < 0 || !(0..per_sec).contains(&frac) {
        return Err(EINVAL);
    }
    Ok((sec as u64).saturating_mul(NS_PER_SEC).saturating_add(frac as u64 * unit_ns))
}

/// A `struct itimerval` (interval, then value; each seconds and
/// microseconds) or `struct itimerspec` (the same in nanoseconds), by the
/// size of the sub-second unit.
fn read_setting(addr: u64, unit_ns: u64) -> Result<Setting, Errno> {
    let v: [i64; 4] = read_user(addr)?;
    Ok(Setting { interval_ns: to_ns(v[0], v[1], unit_ns)?, value_ns: to_ns(v[2], v[3], unit_ns)? })
}

fn write_setting(addr: u64, s: Setting, unit_ns: u64) -> Result<(), Errno> {
    let split = |ns: u64| [(ns / NS_PER_SEC) as i64, ((ns % NS_PER_SEC) / unit_ns) as i64];
    let (i, v) = (split(s.interval_ns), split(s.value_ns));
    write_user(addr, &[i[0], i[1], v[0], v[1]])
}

/// alarm(2): SIGALRM in `seconds` (0 cancels); returns the seconds left of
/// the previous alarm, rounded to the nearest second, but never 0 while
/// one was pending (Linux's `alarm_setitimer`).
pub fn alarm(seconds: u32) -> SysResult {
    let new = Setting { value_ns: seconds as u64 * NS_PER_SEC, interval_ns: 0 };
    let old = timer::set_itimer(current_tgid(), ITIMER_REAL, new)?;
    let (sec, ns) = (old.value_ns / NS_PER_SEC, old.value_ns % NS_PER_SEC);
    let round_up = (sec == 0 && ns != 0) || ns >= NS_PER_SEC / 2;
    Ok(sec + round_up as u64)
}

/// getitimer(2).
pub fn getitimer(which: i32, cur: u64) -> SysResult {
    let s = timer::get_itimer(current_tgid(), which)?;
    write_setting(cur, s, NS_PER_USEC)?;
    Ok(0)
}

/// setitimer(2). A NULL new value disarms, as Linux still allows; the old
/// value is written after the change.
pub fn setitimer(which: i32, new: u64, old: u64) -> SysResult {
    let s = if new == 0 { Setting::default() } else { read_setting(new, NS_PER_USEC)? };
    let prev = timer::set_itimer(current_tgid(), which, s)?;
    if old != 0 {
        write_setting(old, prev, NS_PER_USEC)?;
    }
    Ok(0)
}

/// The clock a POSIX timer on `clock_id` counts: EINVAL for no clock,
/// EOPNOTSUPP for the clocks Linux has no timers on.
fn timer_clock(clock_id: i32) -> Result<Clock, Errno> {
    match clock_id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => Ok(Clock::Wall),
        // One thread per process: the thread's CPU time is the process's.
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => Ok(Clock::Cpu),
        CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => Err(EOPNOTSUPP),
        _ => Err(EINVAL),
    }
}

/// What a `struct sigevent` asks for (Linux's `good_sigevent`): EINVAL for
/// an unknown notification, a signal outside 1..=64, or a SIGEV_THREAD_ID
/// thread that is not one of the caller's process.
fn event_of(ev: &SigEvent, pid: crate::proc::Pid) -> Result<Event, Errno> {
    let mut target = pid;
    match ev.notify {
        SIGEV_NONE => {}
        SIGEV_SIGNAL | SIGEV_THREAD | SIGEV_THREAD_ID => {
            if ev.notify == SIGEV_THREAD_ID {
                match crate::proc::task(ev.tid as u32) {
                    Some(t) if t.tgid() == pid && t.state() != crate::proc::ZOMBIE => target = t.pid(),
                    _ => return Err(EINVAL),
                }
            }
            if ev.signo <= 0 || ev.signo as u32 > NSIG {
                return Err(EINVAL);
            }
        }
        _ => return Err(EINVAL),
    }
    Ok(Event { notify: ev.notify, signo: ev.signo, value: ev.value, tid: target })
}

/// timer_create(2). A NULL sigevent means SIGEV_SIGNAL with SIGALRM and
/// the timer's id as si_value.
pub fn timer_create(clock_id: i32, sevp: u64, idp: u64) -> SysResult {
    let ev = if sevp != 0 { Some(read_user::<SigEvent>(sevp)?) } else { None };
    let clock = timer_clock(clock_id)?;
    let pid = current_tgid();
    let event = ev.map(|ev| event_of(&ev, pid)).transpose()?;
    let id = timer::timer_create(pid, clock, clock_id, event)?;
    if let Err(e) = write_user(idp, &id) {
        let _ = timer::timer_delete(pid, id);
        return Err(e);
    }
    Ok(0)
}

/// timer_settime(2): arm with a relative value, or with TIMER_ABSTIME a
/// time on the timer's clock (one already past fires at the next tick).
pub fn timer_settime(id: i32, flags: u32, new: u64, old: u64) -> SysResult {
    if new == 0 {
        return Err(EINVAL);
    }
    let mut s = read_setting(new, 1)?;
    let pid = current_tgid();
    if flags & TIMER_ABSTIME != 0 && s.value_ns != 0 {
        let now = super::time::now_ns(timer::timer_clock_id(pid, id)?)?;
        s.value_ns = s.value_ns.saturating_sub(now).max(1);
    }
    let prev = timer::timer_settime(pid, id, s)?;
    if old != 0 {
        write_setting(old, prev, 1)?;
    }
    Ok(0)
}

/// timer_gettime(2).
pub fn timer_gettime(id: i32, cur: u64) -> SysResult {
    let s = timer::timer_gettime(current_tgid(), id)?;
    write_setting(cur, s, 1)?;
    Ok(0)
}

/// timer_getoverrun(2).
pub fn timer_getoverrun(id: i32) -> SysResult {
    Ok(timer::timer_getoverrun(current_tgid(), id)? as u64)
}

/// timer_delete(2).
pub fn timer_delete(id: i32) -> SysResult {
    timer::timer_delete(current_tgid(), id)?;
    Ok(0)
}
