//! timerfd_create(2): a timer that counts its expirations in a file
//! (cf. fs/timerfd.c).
//!
//! ```text
//!   settime(value, interval) -> expires = now + value
//!   tick / read / poll: now >= expires ->  ticks += 1 + missed intervals,
//!                                          expires += intervals (or disarm)
//!   read(8 bytes) -> ticks, ticks = 0   (waits while 0; EAGAIN non-blocking)
//! ```
//!
//! Times here are monotonic nanoseconds (`arch::time::uptime_ns`); the
//! system call converts the timer's clock (REALTIME, MONOTONIC, BOOTTIME)
//! and absolute times into them. Expiry is driven by the timer tick
//! (`tick`, called from `traps::timer`, 100 Hz): every live timerfd is in
//! `TIMERS`, and an expired one wakes its queue with POLLIN from the
//! interrupt. A read, poll or gettime between two ticks counts expirations
//! itself, so they are never late by a tick. Locks: `TIMERS` then a
//! timer's `state`, both `IrqLock`s (taken in the interrupt); no wake-up
//! runs with either held.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::errno::*;
use abi::fcntl::{O_NONBLOCK, O_RDWR};
use abi::poll::{POLLIN, POLLRDNORM};
use abi::stat::Stat;
use mm::sync::IrqLock;

use super::{Inode, OpenFile, PollTable};
use crate::proc::waitqueue::WaitQueue;

/// A timer's setting and count, in monotonic nanoseconds.
struct TimerState {
    /// Next expiry; `None`: disarmed.
    expires: Option<u64>,
    /// Period after the first expiry (0: one-shot).
    interval: u64,
    /// Expirations not read yet.
    ticks: u64,
}

impl TimerState {
    /// Count the expirations up to `now`; true if there were any.
    fn advance(&mut self, now: u64) -> bool {
        let Some(e) = self.expires else { return false };
        if now < e {
            return false;
        }
        if self.interval == 0 {
            self.ticks = self.ticks.saturating_add(1);
            self.expires = None;
        } else {
            let n = (now - e) / self.interval + 1;
            self.ticks = self.ticks.saturating_add(n);
            self.expires = e.checked_add(n.saturating_mul(self.interval));
        }
        true
    }

    /// Time to the next expiry and the interval, as timerfd_gettime
    /// reports them.
    fn remaining(&self, now: u64) -> (u64, u64) {
        (self.expires.map_or(0, |e| e.saturating_sub(now)), self.interval)
    }
}

pub struct TimerFd {
    /// The clock the caller named (the system call converts its times).
    pub clock: i32,
    state: IrqLock<TimerState>,
    nonblock: AtomicBool,
    wq: WaitQueue,
}

/// Every live timerfd, for the tick.
static TIMERS: IrqLock<Vec<Weak<TimerFd>>> = IrqLock::new(Vec::new());

fn now() -> u64 {
    arch::time::uptime_ns()
}

impl TimerFd {
    /// timerfd_settime: arm at monotonic time `expires` (`None`:
    /// disarm) with period `interval`; the unread count is dropped.
    /// Returns the old (time left, interval).
    pub fn settime(&self, expires: Option<u64>, interval: u64) -> (u64, u64) {
        let t = now();
        let old = {
            let mut s = self.state.lock();
            s.advance(t);
            let old = s.remaining(t);
            *s = TimerState { expires, interval, ticks: 0 };
            old
        };
        // An expiry already due counts at once (an absolute time past).
        if self.state.lock().advance(t) {
            self.wq.wake_poll(POLLIN | POLLRDNORM);
        }
        old
    }

    /// timerfd_gettime: (time left, interval) in nanoseconds.
    pub fn gettime(&self) -> (u64, u64) {
        let t = now();
        let mut s = self.state.lock();
        s.advance(t);
        s.remaining(t)
    }

    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        let take = || {
            let mut s = self.state.lock();
            s.advance(now());
            (s.ticks > 0).then(|| core::mem::take(&mut s.ticks))
        };
        let ticks = if nonblock {
            take().ok_or(EAGAIN)?
        } else {
            self.wq.wait_until(None, take)?.expect("timerfd: a wait without deadline timed out")
        };
        buf[..8].copy_from_slice(&ticks.to_ne_bytes());
        Ok(8)
    }
}

impl Inode for TimerFd {
    fn stat(&self) -> Stat {
        super::anon_inode_stat()
    }

    fn seekable(&self) -> bool {
        false
    }

    fn set_nonblock(&self, on: bool) {
        self.nonblock.store(on, Ordering::Relaxed);
    }

    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read(buf, self.nonblock.load(Ordering::Relaxed))
    }

    fn read_nonblock(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read(buf, true)
    }

    fn poll(&self, pt: &PollTable) -> Option<u32> {
        pt.wait(&self.wq);
        let mut s = self.state.lock();
        s.advance(now());
        Some(if s.ticks > 0 { POLLIN | POLLRDNORM } else { 0 })
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// A new, disarmed timerfd on `clock` (the caller checked it).
pub fn create(clock: i32, nonblock: bool) -> Arc<OpenFile> {
    let t = Arc::new(TimerFd {
        clock,
        state: IrqLock::new(TimerState { expires: None, interval: 0, ticks: 0 }),
        nonblock: AtomicBool::new(nonblock),
        wq: WaitQueue::new(),
    });
    {
        let mut all = TIMERS.lock();
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&t));
    }
    let flags = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
    OpenFile::new(t, flags, "anon_inode:[timerfd]")
}

/// The timer tick's part (from `traps::timer`, interrupt context): count
/// the expirations due and wake the readers and pollers of those timers.
pub fn tick() {
    let t = now();
    let due: Vec<Arc<TimerFd>> = {
        let mut all = TIMERS.lock();
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).filter(|tf| tf.state.lock().advance(t)).collect()
    };
    for tf in due {
        tf.wq.wake_poll(POLLIN | POLLRDNORM);
    }
}
