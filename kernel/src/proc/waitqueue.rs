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

use alloc::vec::Vec;

use x86_64::instructions::interrupts;

use abi::errno::{ERESTARTSYS, Errno};
use mm::sync::IrqLock;

use super::{Pid, SLEEPING, current, sched};

pub struct WaitQueue {
    pids: IrqLock<Vec<Pid>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> WaitQueue {
        WaitQueue { pids: IrqLock::new(Vec::new()) }
    }

    /// Wake every waiter (they re-check their conditions).
    pub fn wake_all(&self) {
        let pids = core::mem::take(&mut *self.pids.lock());
        for pid in pids {
            sched::wake(pid);
        }
    }

    /// Sleep until `cond` returns `Some`, or a signal is pending
    /// (ERESTARTSYS). `deadline` (in timer ticks) bounds the wait: at that tick
    /// `cond`'s last answer is `None` and the result is `Ok(None)`.
    pub fn wait_until<T>(
        &self,
        deadline: Option<u64>,
        mut cond: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>, Errno> {
        loop {
            let was_enabled = interrupts::are_enabled();
            interrupts::disable();
            if let Some(v) = cond() {
                restore(was_enabled);
                return Ok(Some(v));
            }
            if deadline.is_some_and(|d| sched::ticks() >= d) {
                restore(was_enabled);
                return Ok(None);
            }
            if super::signal::signal_pending() {
                restore(was_enabled);
                return Err(ERESTARTSYS);
            }
            let me = current();
            if super::current_pid() == 0 {
                // The idle task (kernel tests) cannot sleep: halt until the
                // next interrupt instead.
                drop(me);
                interrupts::enable_and_hlt();
                restore(was_enabled);
                continue;
            }
            let pid = me.pid;
            self.pids.lock().push(pid);
            if let Some(d) = deadline {
                sched::wake_at(d, pid);
            }
            me.set_state(SLEEPING);
            drop(me);
            sched::schedule();
            // Woken (or interrupted): leave the queue, look again.
            self.pids.lock().retain(|&p| p != pid);
            restore(was_enabled);
        }
    }
}

fn restore(was_enabled: bool) {
    if was_enabled {
        interrupts::enable();
    }
}
