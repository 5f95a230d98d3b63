//! The system calls that make anonymous files and act on them: signalfd,
//! signalfd4, eventfd, eventfd2, timerfd_create, timerfd_settime, timerfd_gettime,
//! pidfd_open, pidfd_send_signal (the files are `vfs::{eventfd, timerfd,
//! pidfd}`).
//!
//! timerfd times are converted here between the timer's clock and the
//! monotonic nanoseconds the timer counts in: a relative time starts now,
//! an absolute one (TFD_TIMER_ABSTIME) is taken as that clock's reading.

use abi::errno::*;
use abi::poll::{EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, PIDFD_NONBLOCK, TFD_CLOEXEC, TFD_NONBLOCK};
use abi::poll::{TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET};
use abi::signal::{NSIG, SFD_CLOEXEC, SFD_NONBLOCK, SI_TKILL, SI_USER, SigInfo};
use abi::time::{CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM};

use super::SysResult;
use super::fs::{file, install_file};
use super::time::now_ns;
use crate::proc::current;
use crate::usercopy::{read_user, write_user};
use crate::vfs::eventfd;
use crate::vfs::pidfd::{self, PidFd};
use crate::vfs::signalfd::{self, SignalFd};
use crate::vfs::timerfd::{self, TimerFd};

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// signalfd4(2): a new signalfd for the signals of `*mask` (fd -1), or a
/// new mask for an existing one (EINVAL if `fd` is not a signalfd).
/// `sizemask` must be 8.
pub fn signalfd4(fd: i32, mask: u64, sizemask: u64, flags: u32) -> SysResult {
    if sizemask != 8 || flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let set: u64 = read_user(mask)?;
    if fd == -1 {
        let f = signalfd::create(set, flags & SFD_NONBLOCK != 0);
        return install_file(f, flags & SFD_CLOEXEC != 0);
    }
    let f = file(fd)?;
    f.downcast::<SignalFd>().ok_or(EINVAL)?.set_mask(set);
    Ok(fd as u64)
}

pub fn eventfd2(count: u32, flags: u32) -> SysResult {
    if flags & !(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let f = eventfd::create(count, flags & EFD_SEMAPHORE != 0, flags & EFD_NONBLOCK != 0);
    install_file(f, flags & EFD_CLOEXEC != 0)
}

/// The clock a timerfd's times are read on (the alarm clocks are their
/// plain clocks here: nothing suspends).
fn timer_clock(clock: i32) -> i32 {
    match clock {
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        c => c,
    }
}

pub fn timerfd_create(clock: i32, flags: u32) -> SysResult {
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0
        || !matches!(
            clock,
            CLOCK_MONOTONIC | CLOCK_REALTIME | CLOCK_BOOTTIME | CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM
        )
    {
        return Err(EINVAL);
    }
    if matches!(clock, CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM) && !current().inner.lock().creds.is_root() {
        return Err(EPERM);
    }
    install_file(timerfd::create(timer_clock(clock), flags & TFD_NONBLOCK != 0), flags & TFD_CLOEXEC != 0)
}

/// A timespec's nanoseconds, if valid (seconds not negative, nanoseconds
/// below one second); huge values saturate.
fn timespec_ns([sec, nsec]: [i64; 2]) -> Option<u64> {
    (sec >= 0 && (0..NSEC_PER_SEC as i64).contains(&nsec))
        .then(|| (sec as u64).saturating_mul(NSEC_PER_SEC).saturating_add(nsec as u64))
}

/// An itimerspec { it_interval, it_value } in user memory from
/// nanoseconds.
fn put_itimerspec(addr: u64, (value, interval): (u64, u64)) -> Result<(), Errno> {
    let ts = |ns: u64| [(ns / NSEC_PER_SEC) as i64, (ns % NSEC_PER_SEC) as i64];
    let [a, b] = ts(interval);
    let [c, d] = ts(value);
    write_user(addr, &[a, b, c, d])
}

pub fn timerfd_settime(fd: i32, flags: u32, new: u64, old: u64) -> SysResult {
    let spec: [i64; 4] = read_user(new)?;
    let interval = timespec_ns([spec[0], spec[1]]);
    let value = timespec_ns([spec[2], spec[3]]);
    let (Some(interval), Some(value)) = (interval, value) else { return Err(EINVAL) };
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(EINVAL);
    }
    // EBADF if not open, EINVAL if not a timerfd.
    let f = file(fd)?;
    let tf = f.downcast::<TimerFd>().ok_or(EINVAL)?;
    let mono = arch::time::uptime_ns();
    let expires = match value {
        0 => None,
        v if flags & TFD_TIMER_ABSTIME != 0 => {
            let now = now_ns(tf.clock)?;
            Some(if v >= now { mono.saturating_add(v - now) } else { mono.saturating_sub(now - v) })
        }
        v => Some(mono.saturating_add(v)),
    };
    let prev = tf.settime(expires, interval);
    if old != 0 {
        put_itimerspec(old, prev)?;
    }
    Ok(0)
}

pub fn timerfd_gettime(fd: i32, curr: u64) -> SysResult {
    // EBADF if not open, EINVAL if not a timerfd.
    let f = file(fd)?;
    let tf = f.downcast::<TimerFd>().ok_or(EINVAL)?;
    put_itimerspec(curr, tf.gettime())?;
    Ok(0)
}

pub fn pidfd_open(pid: i32, flags: u32) -> SysResult {
    if flags & !PIDFD_NONBLOCK != 0 || pid <= 0 {
        return Err(EINVAL);
    }
    install_file(pidfd::open(pid as u32, flags & PIDFD_NONBLOCK != 0)?, true)
}

pub fn pidfd_send_signal(pidfd: i32, sig: i32, info: u64, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let f = file(pidfd)?;
    let pf = f.downcast::<PidFd>().ok_or(EBADF)?;
    let me = current();
    let info = if info != 0 {
        let i: SigInfo = read_user(info)?;
        if i.signo != sig {
            return Err(EINVAL);
        }
        // Only a process signalling itself may pretend to be the kernel
        // or kill(2).
        if pf.pid != me.pid() && (i.code >= 0 || i.code == SI_TKILL) {
            return Err(EPERM);
        }
        i
    } else {
        let uid = me.inner.lock().creds.uid;
        SigInfo::from_process(sig as u32, SI_USER, me.tgid(), uid)
    };
    if !(0..=NSIG as i32).contains(&sig) {
        return Err(EINVAL);
    }
    let target = pf.task().ok_or(ESRCH)?;
    if !super::signal::may_signal(&target, sig as u32) {
        return Err(EPERM);
    }
    if sig != 0 && !target.is_dead() {
        crate::proc::signal::send_info(target.pid(), info);
    }
    Ok(0)
}
