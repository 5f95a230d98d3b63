//! Waiting for several files at once: poll, ppoll, select, pselect6 (cf.
//! fs/select.c), and the timeout and signal-mask handling epoll_pwait
//! shares with them.
//!
//! ```text
//!   scan every file: OpenFile::poll(table)    first scan: table hooks a Poller
//!   any events? -> done                       on each file's wait queues
//!   timeout passed? -> 0
//!   signal pending? -> ERESTARTNOHAND (EINTR, or a restart with no handler;
//!                      poll with a timeout restarts with the time left)
//!   Poller::sleep(deadline) -> scan again (PollTable::none)
//! ```
//!
//! Timeouts are kept as an end time in monotonic nanoseconds and slept in
//! timer ticks (100 Hz), so a wait lasts at least what was asked. A zero
//! timeout scans once and hooks nothing. poll(2) with a timeout restarts
//! with its whole timeout after a signal with no handler (Linux restarts
//! it with the time left, through a restart block); ppoll, select and
//! pselect6 write the time left back to the caller's timespec or timeval
//! (unless the timeout was zero), so their restart waits only that.
//! A closed descriptor is POLLNVAL in poll and EBADF in select.

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::errno::*;
use abi::poll::POLLWRNORM;
use abi::poll::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDBAND, POLLRDNORM, POLLWRBAND, PollFd};
use abi::resource::RLIMIT_NOFILE;

use super::SysResult;
use crate::proc::current;
use crate::proc::sched::{self, HZ};
use crate::proc::waitqueue::Poller;
use crate::usercopy::{read_user, read_user_vec, write_user};
use crate::vfs::{OpenFile, PollTable};

const NSEC_PER_SEC: u64 = 1_000_000_000;
const TICK_NS: u64 = NSEC_PER_SEC / HZ;

/// How long a wait may last.
#[derive(Clone, Copy)]
pub(super) struct Timeout {
    /// End in monotonic nanoseconds; `None`: no end.
    end: Option<u64>,
    /// Zero: look once, never sleep (and never write the time left).
    zero: bool,
}

impl Timeout {
    pub(super) const NEVER: Timeout = Timeout { end: None, zero: false };

    pub(super) fn after_ns(ns: u64) -> Timeout {
        Timeout { end: Some(arch::time::uptime_ns().saturating_add(ns)), zero: ns == 0 }
    }

    /// From a millisecond count (poll, epoll_wait): negative waits forever.
    pub(super) fn from_ms(ms: i32) -> Timeout {
        if ms < 0 { Timeout::NEVER } else { Timeout::after_ns(ms as u64 * 1_000_000) }
    }

    /// From a user timespec (ppoll, pselect6, epoll_pwait2): NULL waits
    /// forever; EFAULT, and EINVAL for a negative or unnormalised one.
    pub(super) fn from_timespec(addr: u64) -> Result<Timeout, Errno> {
        if addr == 0 {
            return Ok(Timeout::NEVER);
        }
        let [sec, nsec]: [i64; 2] = read_user(addr)?;
        if sec < 0 || !(0..NSEC_PER_SEC as i64).contains(&nsec) {
            return Err(EINVAL);
        }
        Ok(Timeout::after_ns((sec as u64).saturating_mul(NSEC_PER_SEC).saturating_add(nsec as u64)))
    }

    pub(super) fn is_zero(&self) -> bool {
        self.zero
    }

    pub(super) fn expired(&self) -> bool {
        self.zero || self.end.is_some_and(|e| arch::time::uptime_ns() >= e)
    }

    /// The tick at which a sleep must end to see the end time.
    pub(super) fn deadline_tick(&self) -> Option<u64> {
        let left = self.end?.saturating_sub(arch::time::uptime_ns());
        Some(sched::ticks() + left.div_ceil(TICK_NS).max(1))
    }

    /// Nanoseconds left (0 once passed).
    fn left_ns(&self) -> u64 {
        self.end.map_or(0, |e| e.saturating_sub(arch::time::uptime_ns()))
    }
}

/// A user signal set argument (`sigsetsize` must be 8): `None` if the
/// pointer is NULL.
pub(super) fn read_sigset(ptr: u64, size: u64) -> Result<Option<u64>, Errno> {
    if ptr == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(EINVAL);
    }
    Ok(Some(read_user(ptr)?))
}

/// Run `f` with `mask` as the blocked signals (ppoll, pselect6,
/// epoll_pwait), SIGKILL and SIGSTOP never blocked, then put the old set
/// back.
pub(super) fn with_sigmask(mask: Option<u64>, f: impl FnOnce() -> SysResult) -> SysResult {
    let Some(mask) = mask else { return f() };
    crate::proc::signal::set_restore_sigmask(mask);
    let r = f();
    // Interrupted: the handler runs with `mask` still in place and the old
    // one comes back when it returns. Otherwise the old mask is back now,
    // before any signal it blocks could be delivered.
    if !matches!(r, Err(e) if e == EINTR || e.is_restart()) {
        crate::proc::signal::restore_sigmask();
    }
    r
}

/// Sleep until a hooked queue fires or the timeout's tick; a pending
/// signal ends the call with ERESTARTNOHAND.
fn sleep(poller: &Poller, timeout: &Timeout) -> Result<(), Errno> {
    poller.sleep(timeout.deadline_tick()).map_err(|_| ERESTARTNOHAND)
}

/// The table for a scan: the first scan of a wait that may sleep hooks
/// the poller on every queue, later ones only ask.
fn table(poller: &Arc<Poller>, first: bool, timeout: &Timeout) -> PollTable {
    if first && !timeout.is_zero() { PollTable::new(poller.waker()) } else { PollTable::none() }
}

/// `poll_select_finish`: write the time left to the caller's timespec
/// (or timeval, `usec`), unless there is none or it was zero. A failed
/// write is ignored, as Linux does after the wait, but then the call
/// cannot restart: ERESTARTNOHAND becomes EINTR.
fn finish(r: SysResult, addr: u64, timeout: &Timeout, usec: bool) -> SysResult {
    if addr == 0 || timeout.is_zero() {
        return r;
    }
    let left = timeout.left_ns();
    let (sec, frac) = ((left / NSEC_PER_SEC) as i64, (left % NSEC_PER_SEC) as i64);
    let frac = if usec { frac / 1000 } else { frac };
    match write_user(addr, &[sec, frac]) {
        Err(_) if r == Err(ERESTARTNOHAND) => Err(EINTR),
        _ => r,
    }
}

/// The open file behind each descriptor (`None`: not open).
fn files_of(fds: impl Iterator<Item = i32>) -> Vec<Option<Arc<OpenFile>>> {
    let me = current();
    let i = me.inner.lock();
    fds.map(|fd| if fd < 0 { None } else { i.files.get(fd).ok() }).collect()
}

/// `do_sys_poll`.
fn do_poll(ufds: u64, nfds: u32, timeout: &Timeout) -> SysResult {
    if nfds as u64 > current().inner.lock().rlimits[RLIMIT_NOFILE].cur {
        return Err(EINVAL);
    }
    let n = nfds as usize;
    let size = core::mem::size_of::<PollFd>();
    let raw = read_user_vec(ufds, n * size)?;
    let mut pfds: Vec<PollFd> = Vec::new();
    pfds.try_reserve_exact(n).map_err(|_| ENOMEM)?;
    for c in raw.chunks_exact(size) {
        let fd = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
        let events = i16::from_ne_bytes([c[4], c[5]]);
        pfds.push(PollFd { fd, events, revents: 0 });
    }
    drop(raw);
    let files = files_of(pfds.iter().map(|p| p.fd));
    let poller = Poller::new();
    let mut first = true;
    let r = loop {
        let pt = table(&poller, first, timeout);
        first = false;
        let mut count = 0;
        for (p, f) in pfds.iter_mut().zip(&files) {
            let mask = match f {
                _ if p.fd < 0 => 0,
                None => POLLNVAL,
                Some(f) => f.poll(&pt) & (p.events as u16 as u32 | POLLERR | POLLHUP),
            };
            p.revents = mask as u16 as i16;
            count += (mask != 0) as u64;
        }
        if count > 0 || timeout.expired() {
            break Ok(count);
        }
        if let Err(e) = sleep(&poller, timeout) {
            break Err(e);
        }
    };
    // The revents go back even when a signal ended the wait (all 0 then).
    for (i, p) in pfds.iter().enumerate() {
        write_user(ufds + (i * size) as u64 + 6, &p.revents)?;
    }
    r
}

/// poll(2). Interrupted with a timeout and no handler run, it goes on
/// through restart_syscall with the time that is left, not the whole
/// timeout again (Linux's `do_restart_poll`).
pub fn poll(ufds: u64, nfds: u32, timeout_ms: i32) -> SysResult {
    poll_until(ufds, nfds, Timeout::from_ms(timeout_ms))
}

fn poll_until(ufds: u64, nfds: u32, timeout: Timeout) -> SysResult {
    match (do_poll(ufds, nfds, &timeout), timeout.end) {
        (Err(ERESTARTNOHAND), Some(end)) => {
            let restart = |a: &[u64; 4]| poll_until(a[0], a[1] as u32, Timeout { end: Some(a[2]), zero: false });
            Err(crate::proc::signal::deliver::restart_with(restart, [ufds, nfds as u64, end, 0]))
        }
        (r, _) => r,
    }
}

pub fn ppoll(ufds: u64, nfds: u32, tsp: u64, sigmask: u64, sigsetsize: u64) -> SysResult {
    let timeout = Timeout::from_timespec(tsp)?;
    let mask = read_sigset(sigmask, sigsetsize)?;
    let r = with_sigmask(mask, || do_poll(ufds, nfds, &timeout));
    finish(r, tsp, &timeout, false)
}

/// What select's three sets ask of poll's events (fs/select.c).
const POLLIN_SET: u32 = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
const POLLOUT_SET: u32 = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
const POLLEX_SET: u32 = POLLPRI;

/// An fd_set of `words` longs from user memory (all clear if NULL).
fn read_fd_set(addr: u64, words: usize) -> Result<Vec<u64>, Errno> {
    if addr == 0 {
        return Ok(alloc::vec![0; words]);
    }
    let raw = read_user_vec(addr, words * 8)?;
    Ok(raw.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().expect("select: 8 bytes"))).collect())
}

fn write_fd_set(addr: u64, set: &[u64]) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    for (i, w) in set.iter().enumerate() {
        write_user(addr + i as u64 * 8, w)?;
    }
    Ok(())
}

fn bit(set: &[u64], fd: usize) -> bool {
    set[fd / 64] & (1 << (fd % 64)) != 0
}

/// `core_sys_select`.
fn do_select(n: i32, inp: u64, outp: u64, exp: u64, timeout: &Timeout) -> SysResult {
    if n < 0 {
        return Err(EINVAL);
    }
    // Bits past the descriptor table's size are ignored, as Linux clips n.
    let n = (n as u64).min(current().inner.lock().files.max_fds()) as usize;
    let words = n.div_ceil(64);
    let sets = [read_fd_set(inp, words)?, read_fd_set(outp, words)?, read_fd_set(exp, words)?];
    let wanted: Vec<usize> = (0..n).filter(|&fd| sets.iter().any(|s| bit(s, fd))).collect();
    let files = files_of(wanted.iter().map(|&fd| fd as i32));
    let files: Vec<Arc<OpenFile>> = files.into_iter().collect::<Option<_>>().ok_or(EBADF)?;
    let mut res = [alloc::vec![0u64; words], alloc::vec![0u64; words], alloc::vec![0u64; words]];
    let poller = Poller::new();
    let mut first = true;
    let count = loop {
        let pt = table(&poller, first, timeout);
        first = false;
        let mut count = 0;
        for (&fd, f) in wanted.iter().zip(&files) {
            let mask = f.poll(&pt);
            for (k, want) in [POLLIN_SET, POLLOUT_SET, POLLEX_SET].into_iter().enumerate() {
                if bit(&sets[k], fd) && mask & want != 0 {
                    res[k][fd / 64] |= 1 << (fd % 64);
                    count += 1;
                }
            }
        }
        if count > 0 || timeout.expired() {
            break count;
        }
        sleep(&poller, timeout)?;
    };
    write_fd_set(inp, &res[0])?;
    write_fd_set(outp, &res[1])?;
    write_fd_set(exp, &res[2])?;
    Ok(count)
}

pub fn select(n: i32, inp: u64, outp: u64, exp: u64, tvp: u64) -> SysResult {
    let timeout = if tvp == 0 {
        Timeout::NEVER
    } else {
        let [sec, usec]: [i64; 2] = read_user(tvp)?;
        if sec < 0 || usec < 0 {
            return Err(EINVAL);
        }
        let ns = (sec as u64).saturating_mul(NSEC_PER_SEC).saturating_add((usec as u64).saturating_mul(1000));
        Timeout::after_ns(ns)
    };
    let r = do_select(n, inp, outp, exp, &timeout);
    finish(r, tvp, &timeout, true)
}

/// pselect6: the sixth argument points at { const sigset_t *ss; size_t
/// ss_len }.
pub fn pselect6(n: i32, inp: u64, outp: u64, exp: u64, tsp: u64, sig: u64) -> SysResult {
    let timeout = Timeout::from_timespec(tsp)?;
    let mask = if sig == 0 {
        None
    } else {
        let [ss, len]: [u64; 2] = read_user(sig)?;
        read_sigset(ss, len)?
    };
    let r = with_sigmask(mask, || do_select(n, inp, outp, exp, &timeout));
    finish(r, tsp, &timeout, false)
}
