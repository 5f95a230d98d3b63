//! The requests a device has in flight, by tag (virtio's head descriptor,
//! NVMe's command id), and the submitter's side of a request: queue it,
//! sleep until the completion interrupt has marked its tag, give it up
//! after `REQUEST_TIMEOUT_TICKS` (cf. blk-mq's tags and timeout handling).
//!
//! The table lives inside the driver's queue lock; the interrupt handler
//! calls [`Tags::complete`] under it and then wakes the wait queue.

use alloc::vec::Vec;

use abi::errno::{EIO, Errno};
use mm::sync::IrqLock;

use super::{Bio, REQUEST_TIMEOUT_TICKS, SECTOR};
use crate::proc::sched;
use crate::proc::waitqueue::WaitQueue;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    Waiting,
    Done(u16),
    /// Its submitter gave up: free it when the device answers.
    Abandoned,
}

pub struct Tags {
    slots: Vec<Slot>,
}

impl Tags {
    pub fn new(n: usize) -> Tags {
        Tags { slots: alloc::vec![Slot::Free; n] }
    }

    /// A free tag, if any.
    pub fn free_tag(&self) -> Option<u16> {
        self.slots.iter().position(|s| *s == Slot::Free).map(|i| i as u16)
    }

    /// The request with tag `t` was handed to the device.
    pub fn start(&mut self, t: u16) {
        self.slots[t as usize] = Slot::Waiting;
    }

    /// The device finished tag `t` with `status`. Returns true if its
    /// submitter had given up: the tag is free again at once (and what
    /// the driver keeps for it may go too).
    pub fn complete(&mut self, t: u16, status: u16) -> bool {
        let Some(s) = self.slots.get_mut(t as usize) else { return false };
        let abandoned = *s == Slot::Abandoned;
        *s = if abandoned { Slot::Free } else { Slot::Done(status) };
        abandoned
    }

    /// The status of finished tag `t` (the tag is free again), if done.
    fn take(&mut self, t: u16) -> Option<u16> {
        match self.slots[t as usize] {
            Slot::Done(st) => {
                self.slots[t as usize] = Slot::Free;
                Some(st)
            }
            _ => None,
        }
    }

    /// The submitter gives up on `t`: true if it had finished meanwhile
    /// (the tag is free now), false if the device still has it.
    fn abandon(&mut self, t: u16) -> bool {
        if self.take(t).is_some() {
            return true;
        }
        self.slots[t as usize] = Slot::Abandoned;
        false
    }
}

/// How often a waiting submitter looks for its completion itself.
const POLL_TICKS: u64 = 1 + sched::HZ / 20;

/// The submitter's side: `push` queues the request under the driver's
/// lock (None while the device has no room), `tags` reaches the tag table
/// in the locked state, `release` gives back what the driver holds for a
/// tag once its result is taken (virtio's descriptor chain: freed only
/// then, so that a new request cannot take the tag of a finished one
/// whose submitter has not looked yet); returns the device's status for
/// the request, or EIO (with a log line naming `disk`) if it never came.
/// `reap` looks at the device's completions as its interrupt handler
/// does: the wait calls it every [`POLL_TICKS`], so that a completion
/// whose interrupt was lost costs a poll period, not the request timeout
/// (a swap write stuck that long makes swapoff give up).
#[allow(clippy::too_many_arguments)]
pub fn issue_and_wait<S>(
    disk: &str,
    bio: &Bio,
    state: &IrqLock<S>,
    done: &WaitQueue,
    mut push: impl FnMut(&mut S) -> Option<u16>,
    tags: impl Fn(&mut S) -> &mut Tags,
    release: impl Fn(&mut S, u16),
    reap: impl Fn(),
) -> Result<u16, Errno> {
    let deadline = sched::ticks() + REQUEST_TIMEOUT_TICKS;
    let Some(t) = done.wait_uninterruptible(Some(deadline), || push(&mut state.lock())) else {
        log::warn!("block: {}: no room in the queue for {} sectors", disk, bio.bytes() / SECTOR);
        return Err(EIO);
    };
    let mut take = || {
        let mut s = state.lock();
        let st = tags(&mut s).take(t)?;
        release(&mut s, t);
        Some(st)
    };
    let mut taken = None;
    while taken.is_none() && sched::ticks() < deadline {
        let slice = (sched::ticks() + POLL_TICKS).min(deadline);
        taken = done.wait_uninterruptible(Some(slice), &mut take);
        if taken.is_none() {
            reap();
            taken = take();
        }
    }
    // A request that could not be queued before may fit now.
    done.wake_all();
    match taken {
        Some(st) => Ok(st),
        None => {
            {
                let mut s = state.lock();
                if tags(&mut s).abandon(t) {
                    release(&mut s, t);
                }
            }
            log::warn!(
                "block: {}: no answer to {:?} sector {} ({} sectors)",
                disk,
                bio.op,
                bio.sector,
                bio.bytes() / SECTOR
            );
            Err(EIO)
        }
    }
}

/// The log line and EIO of a request the device failed with `status`.
pub fn failed(disk: &str, bio: &Bio, status: u16) -> Errno {
    log::warn!(
        "block: {}: I/O error, {:?} sector {} ({} sectors): status {:#x}",
        disk,
        bio.op,
        bio.sector,
        bio.bytes() / SECTOR,
        status
    );
    EIO
}
