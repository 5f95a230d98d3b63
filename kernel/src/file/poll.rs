//! Readiness of open files: the interface between a file that can make a
//! caller wait and everyone who waits on several files at once (poll,
//! select, epoll), modelled on Linux's `f_op->poll` and `poll_table`.
//!
//! ```text
//!   poller                         file (Inode::poll)               state change
//!   ------                         ------------------               ------------
//!   PollTable::new(waker) ---->    pt.wait(&queue)  -- hooks waker on queue
//!                          <----   mask (POLLIN ...)
//!   nothing ready: sleep                                   queue.wake_poll(key)
//!                                                            -> waker.wake(key)
//!   woken: ask every file again with PollTable::none()
//! ```
//!
//! A file answers `Inode::poll` with its current event mask and, for each
//! wait queue that a change of that mask will wake, calls
//! [`PollTable::wait`]. The poller's [`Wake`] object is hung on the queue
//! as a weak reference: it stays there until the poller drops it (the end
//! of a poll(2) call, an epoll item removed or its file closed), and the
//! queue forgets dead entries when it is next woken or hooked. Wake-ups
//! carry a key, the events that may have changed (0: any), so that an
//! edge-triggered epoll item only counts the wake-ups it asked for.
//!
//! The queues themselves (`proc::waitqueue::WaitQueue`) live one layer up,
//! with the scheduler; this layer only names what a queue must do
//! ([`PollQueue`]). Wake-ups may come from interrupt handlers (console
//! input, the timer tick): a [`Wake`] implementation must only take
//! `IrqLock`s.

use alloc::sync::Weak;

/// Something to tell when a wait queue is woken: a task in poll(2), an
/// epoll item. Called from task or interrupt context.
pub trait Wake: Send + Sync {
    /// `key`: the events that may have changed (0: unknown, any).
    fn wake(&self, key: u32);
}

/// A wait queue as a poller sees it.
pub trait PollQueue {
    /// Keep `waker` on the queue until it is dropped.
    fn hook(&self, waker: Weak<dyn Wake>);
}

/// What a poller hands to `Inode::poll` (Linux's `poll_table`): the
/// waker to hang on each queue the file names, or nothing when the caller
/// only wants the current mask.
pub struct PollTable {
    waker: Option<Weak<dyn Wake>>,
}

impl PollTable {
    /// Ask for the mask only (Linux passes a NULL table).
    pub const fn none() -> PollTable {
        PollTable { waker: None }
    }

    /// Ask for the mask and hook `waker` on the file's queues.
    pub fn new(waker: Weak<dyn Wake>) -> PollTable {
        PollTable { waker: Some(waker) }
    }

    /// Linux's `poll_wait`: a change of the file's events wakes `queue`.
    pub fn wait(&self, queue: &dyn PollQueue) {
        if let Some(w) = &self.waker {
            queue.hook(w.clone());
        }
    }
}
