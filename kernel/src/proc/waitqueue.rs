//! Wait queues: tasks sleeping until a condition on shared state holds
//! (cf. include/linux/wait.h, `wait_event_interruptible`).
//!
//! ```text
//!   reader:  irqs off; cond()? -> done.  else join queue, SLEEPING, schedule
//!   writer (task or interrupt handler):  change state, wake_all()
//! ```
//!
//! The condition is checked with interrupts off and the task marks itself
//! sleeping before they come back on (in `schedule`'s switch), so a wake-up
//! from an interrupt handler cannot fall between the check and the sleep.
//! A signal wakes the task too; the wait then ends with ERESTARTSYS, which
//! the way back to user mode turns into EINTR or a restart (SA_RESTART).
//! Conditions may take `IrqLock`s, never a lock an interrupt handler could
//! be holding.
//!
//! Besides tasks in `wait_until`, a queue holds hooks (`crate::file::Wake`)
//! that pollers hung on it through `PollTable::wait`: a task in poll(2),
//! select(2) or epoll_wait(2) ([`Poller`], one hook on every queue it
//! watches) or an epoll item. A wake-up removes the tasks and calls the
//! hooks, which stay until their owner drops them; dead ones are pruned
//! on the next wake-up or hook. The queue's lock (an `IrqLock`, taken in
//! interrupt handlers too) is never held while a task or hook is woken.
//!
//! ```text
//!   poller:  Poller::new(); poll each file with PollTable::new(poller) -> hooks;
//!            nothing ready: irqs off; woken flag? signal? else SLEEPING, schedule
//!   writer:  change state, wake_poll(POLLIN) -> Poller::wake: flag, sched::wake
//! ```

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::interrupts;

use abi::errno::{ERESTARTSYS, Errno};
use mm::sync::IrqLock;

use super::{Pid, SLEEPING, current, sched};
use crate::file::{PollQueue, Wake};

/// Who waits on a queue.
enum Waiter {
    /// A task in `wait_until`, removed by the wake-up.
    Task(Pid),
    /// A poller's hook, kept until its owner drops it.
    Hook(Weak<dyn Wake>),
}

pub struct WaitQueue {
    waiters: IrqLock<Vec<Waiter>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> WaitQueue {
        WaitQueue { waiters: IrqLock::new(Vec::new()) }
    }

    /// Wake every waiter (they re-check their conditions).
    pub fn wake_all(&self) {
        self.wake_poll(0);
    }

    /// Wake every waiter, telling hooks that the events in `key` may have
    /// changed (0: any).
    pub fn wake_poll(&self, key: u32) {
        let mut tasks = Vec::new();
        let mut hooks = Vec::new();
        let mut waiters = self.waiters.lock();
        waiters.retain(|w| match w {
            Waiter::Task(pid) => {
                tasks.push(*pid);
                false
            }
            Waiter::Hook(h) => match h.upgrade() {
                Some(h) => {
                    hooks.push(h);
                    true
                }
                None => false,
            },
        });
        release_if_empty(&mut waiters);
        drop(waiters);
        for pid in tasks {
            sched::wake(pid);
        }
        for h in hooks {
            h.wake(key);
        }
    }

    fn remove_task(&self, pid: Pid) {
        let mut w = self.waiters.lock();
        w.retain(|w| !matches!(w, Waiter::Task(p) if *p == pid));
        release_if_empty(&mut w);
    }

    /// Sleep until `cond` returns `Some`, or a signal is pending
    /// (ERESTARTSYS). `deadline` (in timer ticks) bounds the wait: at that tick
    /// `cond`'s last answer is `None` and the result is `Ok(None)`.
    pub fn wait_until<T>(&self, deadline: Option<u64>, cond: impl FnMut() -> Option<T>) -> Result<Option<T>, Errno> {
        self.wait(deadline, true, cond)
    }

    /// Sleep until `cond` returns `Some` or the `deadline` tick passes
    /// (`None`), whatever signals arrive (Linux's TASK_UNINTERRUPTIBLE, the
    /// "D" state): for waits that must not end early, such as a disk
    /// request whose buffer the device is still filling.
    pub fn wait_uninterruptible<T>(&self, deadline: Option<u64>, cond: impl FnMut() -> Option<T>) -> Option<T> {
        self.wait(deadline, false, cond).ok().flatten()
    }

    fn wait<T>(
        &self,
        deadline: Option<u64>,
        interruptible: bool,
        mut cond: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>, Errno> {
        loop {
            let was_enabled = interrupts::are_enabled();
            interrupts::disable();
            let me = current();
            let pid = me.pid();
            if pid == 0 {
                // The idle task (kernel tests) cannot sleep: halt until the
                // next interrupt instead.
                drop(me);
                if let Some(v) = cond() {
                    restore(was_enabled);
                    return Ok(Some(v));
                }
                if deadline.is_some_and(|d| sched::ticks() >= d) {
                    restore(was_enabled);
                    return Ok(None);
                }
                interrupts::enable_and_hlt();
                restore(was_enabled);
                continue;
            }
            // Queued and marked sleeping before looking (Linux's
            // `prepare_to_wait`): a waker on another CPU after the look
            // finds us and makes us runnable again.
            self.waiters.lock().push(Waiter::Task(pid));
            me.uninterruptible.store(!interruptible, Ordering::Relaxed);
            me.set_state(SLEEPING);
            let done = if let Some(v) = cond() {
                Some(Ok(Some(v)))
            } else if deadline.is_some_and(|d| sched::ticks() >= d) {
                Some(Ok(None))
            } else if interruptible && super::signal::signal_pending() {
                Some(Err(ERESTARTSYS))
            } else {
                None
            };
            if let Some(r) = done {
                me.uninterruptible.store(false, Ordering::Relaxed);
                me.set_state(super::RUNNABLE);
                drop(me);
                self.remove_task(pid);
                restore(was_enabled);
                return r;
            }
            if let Some(d) = deadline {
                sched::wake_at(d, pid);
            }
            drop(me);
            sched::schedule();
            // Woken (or interrupted): leave the queue, look again.
            self.remove_task(pid);
            if let Some(d) = deadline {
                sched::cancel_wake_at(d, pid);
            }
            restore(was_enabled);
        }
    }
}

impl PollQueue for WaitQueue {
    fn hook(&self, waker: Weak<dyn Wake>) {
        let mut w = self.waiters.lock();
        w.retain(|w| !matches!(w, Waiter::Hook(h) if h.strong_count() == 0));
        w.push(Waiter::Hook(waker));
    }
}

/// Woken when a task exits: pidfds hook their pollers here (Linux's
/// `signal->wait_pidfd`, one queue for all tasks since exits are rare and
/// a pidfd's poll re-checks its own task).
pub static TASK_EXIT: WaitQueue = WaitQueue::new();

/// A task waiting on several queues at once (poll, select, epoll_wait;
/// Linux's `poll_wqueues`): hooked on each through a `PollTable`, it
/// remembers whether any of them was woken since it last slept, so that a
/// wake-up between the poller's last look and its sleep is not lost.
pub struct Poller {
    pid: Pid,
    woken: AtomicBool,
}

impl Wake for Poller {
    fn wake(&self, _key: u32) {
        self.woken.store(true, Ordering::Release);
        sched::wake(self.pid);
    }
}

impl Poller {
    /// A poller for the current task.
    pub fn new() -> Arc<Poller> {
        Arc::new(Poller { pid: super::current_pid(), woken: AtomicBool::new(false) })
    }

    /// The hook to hand to `PollTable::new`.
    pub fn waker(self: &Arc<Self>) -> Weak<dyn Wake> {
        let w: Weak<Poller> = Arc::downgrade(self);
        w
    }

    /// Sleep until a queue this poller is hooked on is woken (since the
    /// last sleep), tick `deadline` comes, or a signal is pending
    /// (ERESTARTSYS; the caller turns it into its own restart code). Returns at
    /// once if one of these already happened; the caller looks again.
    pub fn sleep(&self, deadline: Option<u64>) -> Result<(), Errno> {
        let was_enabled = interrupts::are_enabled();
        interrupts::disable();
        let r = self.sleep_irqs_off(deadline);
        restore(was_enabled);
        r
    }

    fn sleep_irqs_off(&self, deadline: Option<u64>) -> Result<(), Errno> {
        if self.pid == 0 {
            if self.woken.swap(false, Ordering::AcqRel) || deadline.is_some_and(|d| sched::ticks() >= d) {
                return Ok(());
            }
            // The idle task (kernel tests) cannot sleep.
            interrupts::enable_and_hlt();
            return Ok(());
        }
        // Marked sleeping before looking at `woken`: a wake from another
        // CPU after the look makes us runnable again.
        let me = current();
        me.set_state(SLEEPING);
        if self.woken.swap(false, Ordering::AcqRel) || deadline.is_some_and(|d| sched::ticks() >= d) {
            me.set_state(super::RUNNABLE);
            return Ok(());
        }
        if super::signal::signal_pending() {
            me.set_state(super::RUNNABLE);
            return Err(ERESTARTSYS);
        }
        drop(me);
        if let Some(d) = deadline {
            sched::wake_at(d, self.pid);
        }
        sched::schedule();
        if let Some(d) = deadline {
            sched::cancel_wake_at(d, self.pid);
        }
        self.woken.store(false, Ordering::Release);
        Ok(())
    }
}

/// An empty queue gives its memory back: queues live as long as what they
/// belong to (some are static), and a burst of waiters must not leave a
/// grown list behind.
fn release_if_empty(w: &mut Vec<Waiter>) {
    if w.is_empty() && w.capacity() != 0 {
        *w = Vec::new();
    }
}

fn restore(was_enabled: bool) {
    if was_enabled {
        interrupts::enable();
    }
}
