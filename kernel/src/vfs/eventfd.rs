//! eventfd(2): a 64-bit counter as a file (cf. fs/eventfd.c).
//!
//! ```text
//!   write(8 bytes v):  count += v   (waits while count + v would pass 2^64 - 2)
//!   read(8 bytes):     count -> caller, count = 0        (waits while 0)
//!                      EFD_SEMAPHORE: 1 -> caller, count -= 1
//! ```
//!
//! Buffers shorter than 8 bytes are EINVAL, as is writing 2^64 - 1.
//! Readiness: POLLIN while the count is not 0, POLLOUT while a write of 1
//! fits (POLLERR, for a count the kernel itself overflowed, cannot happen
//! here: only write(2) adds). One wait queue,
//! woken with POLLIN by writes and POLLOUT by reads. The counter's lock is
//! an `IrqLock` (the wait conditions run with interrupts off).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::errno::*;
use abi::fcntl::{O_NONBLOCK, O_RDWR};
use abi::poll::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use abi::stat::Stat;
use mm::sync::IrqLock;

use super::{Inode, OpenFile, PollTable};
use crate::proc::waitqueue::WaitQueue;

/// The largest count (`ULLONG_MAX - 1`): a write that would pass it waits.
const MAX_COUNT: u64 = u64::MAX - 1;

pub struct EventFd {
    count: IrqLock<u64>,
    semaphore: bool,
    nonblock: AtomicBool,
    wq: WaitQueue,
}

/// Whether a call may wait.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blocking {
    Wait,
    NoWait,
}

impl EventFd {
    fn blocking(&self) -> Blocking {
        if self.nonblock.load(Ordering::Relaxed) { Blocking::NoWait } else { Blocking::Wait }
    }

    /// Wait (or not) until `step` succeeds.
    fn run<T>(&self, how: Blocking, mut step: impl FnMut() -> Option<T>) -> Result<T, Errno> {
        match how {
            Blocking::NoWait => step().ok_or(EAGAIN),
            Blocking::Wait => Ok(self.wq.wait_until(None, step)?.expect("eventfd: a wait without deadline timed out")),
        }
    }

    fn read(&self, buf: &mut [u8], how: Blocking) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        let v = self.run(how, || {
            let mut c = self.count.lock();
            if *c == 0 {
                return None;
            }
            let v = if self.semaphore { 1 } else { *c };
            *c -= v;
            Some(v)
        })?;
        self.wq.wake_poll(POLLOUT | POLLWRNORM);
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        Ok(8)
    }
}

impl Inode for EventFd {
    fn stat(&self) -> Stat {
        super::anon_inode_stat()
    }

    fn seekable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn set_nonblock(&self, on: bool) {
        self.nonblock.store(on, Ordering::Relaxed);
    }

    fn read_at(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read(buf, self.blocking())
    }

    fn read_nonblock(&self, _off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read(buf, Blocking::NoWait)
    }

    fn write_at(&self, _off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let Some(bytes) = buf.get(..8) else { return Err(EINVAL) };
        let v = u64::from_ne_bytes(bytes.try_into().expect("eventfd: 8 bytes"));
        if v == u64::MAX {
            return Err(EINVAL);
        }
        self.run(self.blocking(), || {
            let mut c = self.count.lock();
            (MAX_COUNT - *c >= v).then(|| *c += v)
        })?;
        self.wq.wake_poll(POLLIN | POLLRDNORM);
        Ok(8)
    }

    fn poll(&self, pt: &PollTable) -> Option<u32> {
        pt.wait(&self.wq);
        let c = *self.count.lock();
        let mut mask = 0;
        if c > 0 {
            mask |= POLLIN | POLLRDNORM;
        }
        if c < MAX_COUNT {
            mask |= POLLOUT | POLLWRNORM;
        }
        Some(mask)
    }
}

/// A new eventfd holding `count` (`flags`: EFD_SEMAPHORE, EFD_NONBLOCK;
/// the caller checked them).
pub fn create(count: u32, semaphore: bool, nonblock: bool) -> Arc<OpenFile> {
    let efd = EventFd {
        count: IrqLock::new(count as u64),
        semaphore,
        nonblock: AtomicBool::new(nonblock),
        wq: WaitQueue::new(),
    };
    let flags = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
    OpenFile::new(Arc::new(efd), flags, "anon_inode:[eventfd]")
}
