//! signalfd(2): a file that reads the caller's pending signals of a mask
//! instead of having them delivered (cf. fs/signalfd.c).
//!
//! ```text
//!   read(n >= 128 bytes):  take pending signals in the mask of the *reading*
//!                          task, one `signalfd_siginfo` each (waits for the
//!                          first unless O_NONBLOCK: EAGAIN)
//!   poll:                  POLLIN while the polling task has one pending
//! ```
//!
//! The signals are normally blocked, so that only the file sees them.
//! Readers and pollers sleep on `proc::signal::QUEUED`, woken whenever any
//! signal becomes pending. The mask sits behind a spin lock of its own,
//! taken alone.

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::Pod;
use abi::errno::*;
use abi::fcntl::{O_NONBLOCK, O_RDWR};
use abi::poll::{POLLIN, POLLRDNORM};
use abi::signal::SignalfdSiginfo;
use abi::stat::Stat;

use super::{Inode, OpenFile, PollTable};
use crate::proc::current;
use crate::proc::signal::{self, QUEUED, UNBLOCKABLE};

const SIZE: usize = core::mem::size_of::<SignalfdSiginfo>();

pub struct SignalFd {
    mask: spin::Mutex<u64>,
    nonblock: AtomicBool,
}

impl SignalFd {
    /// Change the mask (signalfd on an existing fd); SIGKILL and SIGSTOP
    /// are never in it.
    pub fn set_mask(&self, mask: u64) {
        *self.mask.lock() = mask & !UNBLOCKABLE;
    }

    fn mask(&self) -> u64 {
        *self.mask.lock()
    }

    fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        let max = buf.len() / SIZE;
        if max == 0 {
            return Err(EINVAL);
        }
        let mask = self.mask();
        let take = || {
            let me = current();
            let mut i = me.inner.lock();
            signal::dequeue_from(&me, &mut i, mask)
        };
        let first = match take() {
            Some(info) => info,
            None if nonblock => return Err(EAGAIN),
            None => QUEUED.wait_until(None, take)?.ok_or(EAGAIN)?,
        };
        let mut n = 0;
        let mut next = Some(first);
        while let Some(info) = next {
            let s = SignalfdSiginfo::from_info(&info);
            buf[n * SIZE..(n + 1) * SIZE].copy_from_slice(s.as_bytes());
            n += 1;
            next = if n < max { take() } else { None };
        }
        Ok(n * SIZE)
    }
}

impl Inode for SignalFd {
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
        pt.wait(&QUEUED);
        let mask = self.mask();
        let pending = {
            let me = current();
            let i = me.inner.lock();
            signal::pending_set(&me, &i)
        };
        Some(if pending & mask != 0 { POLLIN | POLLRDNORM } else { 0 })
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// A new signalfd for `mask` (the caller checked the flags).
pub fn create(mask: u64, nonblock: bool) -> Arc<OpenFile> {
    let sfd = SignalFd { mask: spin::Mutex::new(mask & !UNBLOCKABLE), nonblock: AtomicBool::new(nonblock) };
    let flags = O_RDWR | if nonblock { O_NONBLOCK } else { 0 };
    OpenFile::new(Arc::new(sfd), flags, "anon_inode:[signalfd]")
}
